CREATE OR REPLACE FUNCTION orch_metadata_match(metadata jsonb, filter jsonb)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    key text;
    condition jsonb;
    op text;
    operand jsonb;
    field jsonb;
    holds boolean;
BEGIN
    IF filter IS NULL OR filter = '{}'::jsonb THEN
        RETURN true;
    END IF;
    FOR key, condition IN SELECT * FROM jsonb_each(filter) LOOP
        IF key = '$and' THEN
            IF EXISTS (SELECT 1 FROM jsonb_array_elements(condition) c
                       WHERE NOT orch_metadata_match(metadata, c)) THEN
                RETURN false;
            END IF;
        ELSIF key = '$or' THEN
            IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(condition) c
                           WHERE orch_metadata_match(metadata, c)) THEN
                RETURN false;
            END IF;
        ELSE
            field := metadata #> string_to_array(key, '.');
            IF jsonb_typeof(condition) <> 'object' THEN
                condition := jsonb_build_object('$eq', condition);
            END IF;
            FOR op, operand IN SELECT * FROM jsonb_each(condition) LOOP
                -- An assignment, not an IF condition: plpgsql would end the IF at the
                -- first THEN inside the CASE.
                holds := CASE op
                    WHEN '$eq' THEN field IS NOT NULL AND field = operand
                    WHEN '$ne' THEN field IS DISTINCT FROM operand
                    WHEN '$in' THEN field IS NOT NULL AND EXISTS (
                        SELECT 1 FROM jsonb_array_elements(operand) v WHERE v = field)
                    WHEN '$nin' THEN field IS NULL OR NOT EXISTS (
                        SELECT 1 FROM jsonb_array_elements(operand) v WHERE v = field)
                    WHEN '$gt' THEN jsonb_typeof(field) = jsonb_typeof(operand)
                        AND field > operand
                    WHEN '$gte' THEN jsonb_typeof(field) = jsonb_typeof(operand)
                        AND field >= operand
                    WHEN '$lt' THEN jsonb_typeof(field) = jsonb_typeof(operand)
                        AND field < operand
                    WHEN '$lte' THEN jsonb_typeof(field) = jsonb_typeof(operand)
                        AND field <= operand
                END;
                IF NOT coalesce(holds, false) THEN
                    RETURN false;
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

-- Everything but the tenant (kept as a plain column predicate so its index is used).
CREATE OR REPLACE FUNCTION orch_chunk_visible(
    collection text, source_id text, generation text, metadata jsonb, filter jsonb
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (NOT (filter ? 'collections') OR filter -> 'collections' ? collection)
       AND (NOT (filter ? 'collection') OR collection = filter ->> 'collection')
       AND (NOT (filter ? 'source_id') OR source_id = filter ->> 'source_id')
       AND (NOT (filter ? 'sources') OR filter -> 'sources' ->> source_id = generation)
       AND orch_metadata_match(metadata, filter -> 'metadata')
$$;

CREATE OR REPLACE FUNCTION match_documents(
    query_embedding vector(384), match_count integer, filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tenant integer;
    found uuid[];
BEGIN
    IF filter IS NULL OR NOT (filter ? 'tenant_id') THEN
        RAISE EXCEPTION 'match_documents needs a tenant_id in its filter';
    END IF;
    tenant := (filter ->> 'tenant_id')::integer;
    IF (SELECT extversion FROM pg_extension WHERE extname = 'vector') >= '0.8' THEN
        -- pgvector 0.8: the index keeps scanning until enough rows pass the filter.
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
$$;

CREATE OR REPLACE FUNCTION hybrid_match_documents(
    query_embedding vector(384), query_text text, match_count integer,
    filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision, score double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tenant integer;
    pool integer := greatest(match_count * 4, 20);
    text_query tsquery := websearch_to_tsquery('spanish', query_text)
                          || websearch_to_tsquery('english', query_text);
BEGIN
    IF filter IS NULL OR NOT (filter ? 'tenant_id') THEN
        RAISE EXCEPTION 'hybrid_match_documents needs a tenant_id in its filter';
    END IF;
    tenant := (filter ->> 'tenant_id')::integer;
    RETURN QUERY
    WITH semantic AS (
        SELECT m.id, m.similarity, row_number() OVER (ORDER BY m.similarity DESC) AS rank
        FROM match_documents(query_embedding, pool, filter) m
    ), lexical AS (
        SELECT d.id, row_number() OVER (
            ORDER BY ts_rank_cd(d.content_tsv, text_query) DESC, d.id
        ) AS rank
        FROM documents d
        WHERE d.tenant_id = tenant
          AND d.content_tsv @@ text_query
          AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
        ORDER BY ts_rank_cd(d.content_tsv, text_query) DESC, d.id
        LIMIT pool
    ), fused AS (
        -- Reciprocal rank fusion with the customary k = 60.
        SELECT coalesce(s.id, l.id) AS id, s.similarity,
               coalesce(1.0 / (60 + s.rank), 0) + coalesce(1.0 / (60 + l.rank), 0) AS score
        FROM semantic s FULL OUTER JOIN lexical l ON s.id = l.id
    )
    SELECT d.id, d.content, d.metadata,
           coalesce(f.similarity, 1 - (d.embedding <=> query_embedding)),
           f.score::double precision
    FROM fused f JOIN documents d ON d.id = f.id
    ORDER BY f.score DESC, d.id
    LIMIT match_count;
END
$$
