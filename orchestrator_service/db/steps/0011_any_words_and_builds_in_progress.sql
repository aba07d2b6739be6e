-- Hybrid search whose full-text side finds something on a paraphrase (issue 16), and tenant
-- indexes being built by another session left alone (issue 15).
--
-- Until now the full-text side was websearch_to_tsquery in Spanish OR English, each of which
-- ANDs every word of the question: a question rarely holds every word of its passage, so the
-- full-text list was empty and hybrid equalled vector search. Now it matches ANY of the
-- question's words, stemmed in the tenant's language (search passes it in the filter as
-- `language`), ranked by ts_rank_cd (passages holding more of the words, closer together,
-- first), and its list is fused with the vector list by weighted reciprocal rank fusion, with
-- the constant and the weight tuned on the tuning half of bench/quality.py's Spanish set.

-- The question's words as one tsquery of alternatives (`a | b | c`), stemmed and stripped of
-- stop words in `language`: 'es' Spanish, 'en' English, anything else both, keeping only the
-- words that neither language counts as a stop word (English would keep Spanish's "de", "la",
-- "que", which match every Spanish passage). NULL when no word is left (matches nothing).
CREATE OR REPLACE FUNCTION orch_any_words(query text, language text)
RETURNS tsquery LANGUAGE sql IMMUTABLE AS $$
    WITH spanish AS (
        SELECT w.lexeme, w.positions FROM unnest(to_tsvector('spanish', query)) w
        WHERE language IS DISTINCT FROM 'en'
    ), english AS (
        SELECT w.lexeme, w.positions FROM unnest(to_tsvector('english', query)) w
        WHERE language IS DISTINCT FROM 'es'
    ), words AS (
        SELECT s.lexeme FROM spanish s
        WHERE language = 'es' OR EXISTS (SELECT 1 FROM english e WHERE e.positions && s.positions)
        UNION
        SELECT e.lexeme FROM english e
        WHERE language = 'en' OR EXISTS (SELECT 1 FROM spanish s WHERE s.positions && e.positions)
    )
    -- Each lexeme quoted for tsquery's input syntax (backslash and quote escaped), so no word
    -- of the question is read as an operator.
    SELECT string_agg(
        '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''', ' | ' ORDER BY lexeme
    )::tsquery
    FROM words
$$;

CREATE OR REPLACE FUNCTION hybrid_match_documents(
    query_embedding vector(384), query_text text, match_count integer,
    filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision, score double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tenant integer;
    model text := filter ->> 'embedding_model';
    pool integer := greatest(match_count * 4, 20);
    -- Tuned on the tuning half of bench/quality.py's Spanish set: the largest full-text
    -- weight (with its k) that costs paraphrased questions nothing. There any heavier weight
    -- lowered recall@5 and MRR, so the full-text list reorders close vector ranks and never
    -- outvotes the vector list.
    rrf_k constant integer := 5;
    lexical_weight constant double precision := 0.05;
    text_query tsquery := orch_any_words(query_text, filter ->> 'language');
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
        -- The LIMIT (like step 0010's OFFSET 0) keeps the text match first: left free, the
        -- planner may start from the visibility rows of a tenant with few documents.
        -- Any word matches far more rows than all of them did: the ranking sees at most
        -- 10,000 matching chunks of the tenant, so its cost stays bounded in a large tenant.
        FROM (SELECT * FROM documents d
              WHERE d.tenant_id = tenant AND d.content_tsv @@ text_query LIMIT 10000) d
        WHERE (model IS NULL OR d.embedding_model = model)
          AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
          AND (SELECT true FROM visible_documents v
               WHERE v.tenant_id = d.tenant_id AND v.source_id = d.source_id
                 AND d.generation IN (v.generation, v.previous_generation))
        ORDER BY ts_rank_cd(d.content_tsv, text_query) DESC, d.id
        LIMIT pool
    ), fused AS (
        -- Weighted reciprocal rank fusion: the full-text list counts for a twentieth.
        SELECT coalesce(s.id, l.id) AS id, s.similarity,
               coalesce(1.0 / (rrf_k + s.rank), 0)
               + coalesce(lexical_weight / (rrf_k + l.rank), 0) AS score
        FROM semantic s FULL OUTER JOIN lexical l ON s.id = l.id
    )
    SELECT d.id, d.content, d.metadata || jsonb_build_object('generation', d.generation),
           coalesce(f.similarity, 1 - (d.embedding <=> query_embedding)),
           f.score::double precision
    FROM fused f JOIN documents d ON d.id = f.id
    ORDER BY f.score DESC, d.id
    LIMIT match_count;
END
$$;

-- Chunks per tenant and each tenant's own index, now with `building`: another session (a
-- replica's reconciler, an operator in the SQL editor) is building it CONCURRENTLY right now.
-- Such an index is INVALID until the build ends; the reconciler must neither rebuild nor drop
-- it (that would wait for, or undo, the other build). A function of its own, since step
-- 0010's orch_tenant_indexes() keeps its return type: the printed SQL runs twice unchanged.
CREATE OR REPLACE FUNCTION orch_tenant_index_state()
RETURNS TABLE (tenant_id integer, chunks bigint, index_name text, valid boolean, building boolean)
LANGUAGE sql STABLE AS $$
    WITH sizes AS (
        SELECT d.tenant_id, count(*) AS chunks FROM documents d GROUP BY d.tenant_id
    ), own AS (
        SELECT substr(c.relname, length('documents_hnsw_tenant_') + 1)::integer AS tenant_id,
               c.relname::text AS index_name, i.indisvalid AND i.indisready AS valid,
               EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                       WHERE p.index_relid = c.oid) AS building
        FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE i.indrelid = 'documents'::regclass
          AND c.relname ~ '^documents_hnsw_tenant_[0-9]+$'
    )
    SELECT coalesce(s.tenant_id, o.tenant_id), coalesce(s.chunks, 0), o.index_name, o.valid,
           coalesce(o.building, false)
    FROM sizes s FULL OUTER JOIN own o ON o.tenant_id = s.tenant_id
    ORDER BY 1
$$;

-- Closed like the other search functions (step 0010): a new function is executable by
-- PUBLIC until revoked.
DO $$
DECLARE
    closed text[] := ARRAY['PUBLIC'] || ARRAY(
        SELECT quote_ident(rolname) FROM pg_roles
        WHERE rolname IN ('anon', 'authenticated') ORDER BY rolname
    );
    service boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role');
    grantees text := array_to_string(closed, ', ');
    fn text;
BEGIN
    FOR fn IN
        SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.oid = (SELECT relnamespace FROM pg_class WHERE oid = 'documents'::regclass)
          AND (p.proname IN ('match_documents', 'hybrid_match_documents')
               OR p.proname LIKE 'orch\_%')
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %s', fn, grantees);
        IF service THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', fn);
        END IF;
    END LOOP;
END
$$
