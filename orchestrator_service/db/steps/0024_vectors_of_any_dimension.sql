-- Several embedders side by side (issue 16): vectors of any dimension in one table, each
-- model searched through HNSW indexes of its own.
--
-- The column becomes untyped `vector` (changing only its type modifier: no table rewrite).
-- An HNSW index needs a dimension, so every vector index is now a partial expression index on
-- `embedding::vector(n)` over one model's rows: a shared one per model and one per (tenant,
-- model) past a size threshold, both built and dropped by the reconciler. A partial index's
-- predicate is tested before its expression is computed, so rows of other models never meet
-- the cast. Search ranks by `embedding::vector(<dimension of the query>)` with the tenant and
-- the model as literals, which is what lets the planner prove an index's predicate.

-- The column, on a store from before (vector(384)) or an adopted one (LangChain's
-- vector(1536)): indexes bound to its dimension (the shared HNSW index, the per-tenant ones
-- of step 0010) are dropped first; the reconciler builds their per-model successors.
DO $$
DECLARE
    bound text;
BEGIN
    IF (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
        WHERE a.attrelid = 'documents'::regclass AND a.attname = 'embedding') <> 'vector' THEN
        FOR bound IN
            SELECT format('%I.%I', n.nspname, c.relname)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = 'embedding'
            WHERE i.indrelid = 'documents'::regclass AND a.attnum = ANY (i.indkey::int2[])
        LOOP
            EXECUTE 'DROP INDEX ' || bound;
        END LOOP;
        ALTER TABLE documents ALTER COLUMN embedding TYPE vector;
    END IF;
END
$$;

-- Replaced by orch_model_index_state(): the per-tenant indexes they list are gone.
DROP FUNCTION IF EXISTS orch_tenant_index_state();
DROP FUNCTION IF EXISTS orch_tenant_indexes();
DROP FUNCTION IF EXISTS orch_tenant_index(integer);

-- The name of a model's HNSW index at a dimension: shared (tenant NULL) or one tenant's. A
-- short hash stands for the model id, so any id fits PostgreSQL's 63-byte names.
CREATE OR REPLACE FUNCTION orch_model_index_name(tenant integer, model text, dims integer)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN tenant IS NULL THEN 'documents_hnsw_m_' ELSE 'documents_hnsw_t' || tenant || '_' END
           || substr(md5(model), 1, 12) || '_' || dims
$$;

-- The row estimate of a valid index of `documents` named `name`; NULL if there is none.
CREATE OR REPLACE FUNCTION orch_valid_index(name text) RETURNS real
LANGUAGE sql STABLE AS $$
    SELECT c.reltuples FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
    WHERE c.relname = name AND i.indrelid = 'documents'::regclass
      AND i.indisvalid AND i.indisready
$$;

-- The dimension each model's vectors have (NULL: no vector of it yet), read from one of its
-- rows through ix_documents_model_dimensions. Writers check it, so a model never mixes two.
CREATE OR REPLACE FUNCTION orch_model_dimensions(models text[])
RETURNS TABLE (embedding_model text, dimensions integer) LANGUAGE sql STABLE AS $$
    SELECT m.model, (SELECT vector_dims(d.embedding) FROM documents d
                     WHERE d.embedding_model = m.model LIMIT 1)
    FROM unnest(models) AS m(model)
$$;

-- Chunks per (tenant, model, dimension) and per (model, dimension) (tenant NULL), each with
-- its HNSW index if there is one (`building`: another session is building it concurrently
-- right now); an index whose rows are gone is listed with 0 chunks. For the reconciler.
CREATE OR REPLACE FUNCTION orch_model_index_state()
RETURNS TABLE (tenant_id integer, embedding_model text, dimensions integer, chunks bigint,
               index_name text, valid boolean, building boolean)
LANGUAGE sql STABLE AS $$
    WITH per_tenant AS (
        SELECT d.tenant_id, d.embedding_model::text AS model,
               vector_dims(d.embedding) AS dims, count(*) AS chunks
        FROM documents d GROUP BY 1, 2, 3
    ), sizes AS (
        SELECT p.tenant_id, p.model, p.dims, p.chunks,
               orch_model_index_name(p.tenant_id, p.model, p.dims) AS index_name
        FROM per_tenant p
        UNION ALL
        SELECT NULL, p.model, p.dims, sum(p.chunks)::bigint,
               orch_model_index_name(NULL, p.model, p.dims)
        FROM per_tenant p GROUP BY p.model, p.dims
    ), own AS (
        SELECT c.relname::text AS index_name,
               substring(c.relname FROM '^documents_hnsw_t([0-9]+)_')::integer AS tenant_id,
               i.indisvalid AND i.indisready AS valid,
               EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                       WHERE p.index_relid = c.oid) AS building
        FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE i.indrelid = 'documents'::regclass
          AND c.relname ~ '^documents_hnsw_(t[0-9]+|m)_[0-9a-f]{12}_[0-9]+$'
    )
    SELECT coalesce(s.tenant_id, o.tenant_id), s.model, s.dims, coalesce(s.chunks, 0),
           o.index_name, o.valid, coalesce(o.building, false)
    FROM sizes s FULL OUTER JOIN own o ON o.index_name = s.index_name
    ORDER BY 1 NULLS FIRST, 2, 3, 5
$$;

-- The k nearest visible chunks of one tenant among the vectors of the query's dimension (of
-- `embedding_model` when the filter names one), as step 0010's but for vectors of any
-- dimension: the tenant's own index for the model when it has one; the model's shared index
-- for a tenant too large to rank exactly; else (and when an index cannot fill k) an exact
-- ranking of the tenant's rows of that dimension. A dimension no model has finds nothing.
CREATE OR REPLACE FUNCTION match_documents(
    query_embedding vector, match_count integer, filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- Below this many chunks an exact ranking of the tenant's rows beats the shared graph.
    exact_below constant integer := 5000;
    tenant integer;
    dims integer := vector_dims(query_embedding);
    prefilter jsonb := orch_containment(filter -> 'metadata');
    model text := filter ->> 'embedding_model';
    index_rows real;
    found uuid[];
BEGIN
    IF filter IS NULL OR NOT (filter ? 'tenant_id') THEN
        RAISE EXCEPTION 'match_documents needs a tenant_id in its filter';
    END IF;
    tenant := (filter ->> 'tenant_id')::integer;
    IF model IS NOT NULL THEN
        index_rows := orch_valid_index(orch_model_index_name(tenant, model, dims));
        IF index_rows IS NULL
           AND (SELECT count(*) FROM (SELECT 1 FROM documents d WHERE d.tenant_id = tenant
                                      LIMIT exact_below) small) >= exact_below THEN
            index_rows := orch_valid_index(orch_model_index_name(NULL, model, dims));
        END IF;
    END IF;
    IF (SELECT extversion FROM pg_extension WHERE extname = 'vector') >= '0.8' THEN
        PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
    ELSE
        -- A floor of 100 candidates (step 0008), 200 in a graph of more than 200,000 rows.
        PERFORM set_config(
            'hnsw.ef_search',
            greatest(CASE WHEN index_rows > 200000 THEN 200 ELSE 100 END,
                     least(1000, match_count * 4))::text,
            true
        );
    END IF;
    IF index_rows IS NOT NULL THEN
        -- The tenant, the model and the dimension as literals, so the planner can prove the
        -- partial index's predicate and match its expression. Every row the predicate covers
        -- has that dimension: the valid index holds each of them cast to it.
        EXECUTE format($query$
            SELECT array_agg(q.id ORDER BY q.distance) FROM (
                SELECT d.id, d.embedding::vector(%1$s) <=> $1 AS distance
                FROM documents d
                WHERE d.tenant_id = %2$s AND d.embedding_model = %3$L
                  AND d.metadata @> $2
                  AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, $3)
                  AND (SELECT true FROM visible_documents v
                       WHERE v.tenant_id = d.tenant_id AND v.source_id = d.source_id
                         AND d.generation IN (v.generation, v.previous_generation))
                ORDER BY d.embedding::vector(%1$s) <=> $1
                LIMIT $4
            ) q $query$, dims, tenant, model)
        INTO found USING query_embedding, prefilter, filter, match_count;
    END IF;
    IF coalesce(array_length(found, 1), 0) < match_count THEN
        -- Exact: the dimension test comes first, so no row of another dimension is compared
        -- (adding 0 keeps the planner off the HNSW indexes).
        SELECT array_agg(q.id ORDER BY q.distance) INTO found FROM (
            SELECT d.id, (d.embedding <=> query_embedding) + 0 AS distance
            FROM documents d
            WHERE d.tenant_id = tenant
              AND (model IS NULL OR d.embedding_model = model)
              AND vector_dims(d.embedding) = dims
              AND d.metadata @> prefilter
              AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
              AND (SELECT true FROM visible_documents v
                   WHERE v.tenant_id = d.tenant_id AND v.source_id = d.source_id
                     AND d.generation IN (v.generation, v.previous_generation))
            ORDER BY 2
            LIMIT match_count
        ) q;
    END IF;
    RETURN QUERY
    SELECT d.id, d.content, d.metadata || jsonb_build_object('generation', d.generation),
           1 - (d.embedding <=> query_embedding)
    FROM unnest(found) WITH ORDINALITY AS u(id, position)
    JOIN documents d ON d.id = u.id
    ORDER BY u.position;
END
$$;

-- Step 0011's hybrid search, its full-text side kept to the vectors of the query's dimension
-- (each of its hits is also ranked by distance to the query).
CREATE OR REPLACE FUNCTION hybrid_match_documents(
    query_embedding vector, query_text text, match_count integer,
    filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision, score double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tenant integer;
    dims integer := vector_dims(query_embedding);
    model text := filter ->> 'embedding_model';
    pool integer := greatest(match_count * 4, 20);
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
        FROM (SELECT * FROM documents d
              WHERE d.tenant_id = tenant AND d.content_tsv @@ text_query LIMIT 10000) d
        WHERE (model IS NULL OR d.embedding_model = model)
          AND vector_dims(d.embedding) = dims
          AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
          AND (SELECT true FROM visible_documents v
               WHERE v.tenant_id = d.tenant_id AND v.source_id = d.source_id
                 AND d.generation IN (v.generation, v.previous_generation))
        ORDER BY ts_rank_cd(d.content_tsv, text_query) DESC, d.id
        LIMIT pool
    ), fused AS (
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
