-- The top-level {field: scalar} and {field: {"$eq": scalar}} conditions of a filter, as one
-- object for `metadata @> ...`: exact for them (jsonb containment of a scalar is equality),
-- and '{}' (always true) when there are none.
CREATE OR REPLACE FUNCTION orch_containment(filter jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(key, CASE
               WHEN jsonb_typeof(value) = 'object' THEN value -> '$eq' ELSE value END), '{}')
    FROM jsonb_each(coalesce(filter, '{}'::jsonb))
    WHERE key NOT LIKE '$%' AND position('.' IN key) = 0
      AND CASE WHEN jsonb_typeof(value) = 'object'
               THEN value ? '$eq' AND jsonb_typeof(value -> '$eq') NOT IN ('object', 'array')
               ELSE jsonb_typeof(value) NOT IN ('object', 'array', 'null') END
$$;

CREATE OR REPLACE FUNCTION orch_chunk_visible(
    collection text, source_id text, generation text, metadata jsonb, filter jsonb
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (NOT (filter ? 'collections') OR filter -> 'collections' ? collection)
       AND (NOT (filter ? 'collection') OR collection = filter ->> 'collection')
       AND (NOT (filter ? 'source_id') OR source_id = filter ->> 'source_id')
       AND (NOT (filter ? 'sources') OR filter -> 'sources' ->> source_id = generation)
       AND (filter -> 'metadata' IS NULL OR orch_metadata_match(metadata, filter -> 'metadata'))
$$;

CREATE OR REPLACE FUNCTION match_documents(
    query_embedding vector(384), match_count integer, filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tenant integer;
    prefilter jsonb := orch_containment(filter -> 'metadata');
    found uuid[];
BEGIN
    IF filter IS NULL OR NOT (filter ? 'tenant_id') THEN
        RAISE EXCEPTION 'match_documents needs a tenant_id in its filter';
    END IF;
    tenant := (filter ->> 'tenant_id')::integer;
    IF (SELECT extversion FROM pg_extension WHERE extname = 'vector') >= '0.8' THEN
        PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
    ELSE
        PERFORM set_config(
            'hnsw.ef_search', greatest(40, least(1000, match_count * 4))::text, true
        );
    END IF;
    SELECT array_agg(q.id ORDER BY q.distance) INTO found FROM (
        SELECT d.id, d.embedding <=> query_embedding AS distance
        FROM documents d
        WHERE d.tenant_id = tenant
          AND d.metadata @> prefilter
          AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
        ORDER BY d.embedding <=> query_embedding
        LIMIT match_count
    ) q;
    IF coalesce(array_length(found, 1), 0) < match_count THEN
        -- The index gave fewer than k under this filter: rank the filtered rows exactly
        -- (adding 0 keeps the planner off the HNSW index).
        SELECT array_agg(q.id ORDER BY q.distance) INTO found FROM (
            SELECT d.id, (d.embedding <=> query_embedding) + 0 AS distance
            FROM documents d
            WHERE d.tenant_id = tenant
              AND d.metadata @> prefilter
              AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
            ORDER BY 2
            LIMIT match_count
        ) q;
    END IF;
    RETURN QUERY
    SELECT d.id, d.content, d.metadata, 1 - (d.embedding <=> query_embedding)
    FROM unnest(found) WITH ORDINALITY AS u(id, position)
    JOIN documents d ON d.id = u.id
    ORDER BY u.position;
END
$$
