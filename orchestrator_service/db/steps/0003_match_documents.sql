CREATE OR REPLACE FUNCTION match_documents(
    query_embedding vector(384), match_count integer, filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision
) LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF filter IS NULL OR NOT (filter ? 'tenant_id') THEN
        RAISE EXCEPTION 'match_documents needs a tenant_id in its filter';
    END IF;
    RETURN QUERY
    SELECT d.id, d.content, d.metadata, 1 - (d.embedding <=> query_embedding)
    FROM documents d
    WHERE d.tenant_id = (filter ->> 'tenant_id')::integer
      AND (NOT (filter ? 'collection') OR d.collection = filter ->> 'collection')
      AND (NOT (filter ? 'source_id') OR d.source_id = filter ->> 'source_id')
    ORDER BY d.embedding <=> query_embedding
    LIMIT match_count;
END
$$
