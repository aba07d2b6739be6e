-- Search whose cost does not grow with the tenant's number of documents (issue 15).
--
-- `visible_documents` (created from the models by the healer, or by `orchestrator rag
-- supabase-sql`) says which generation of each document search may return; the search
-- functions join it per candidate row instead of taking the tenant's whole ready-set as an
-- argument. A tenant past a size threshold gets an HNSW index of its own (a partial index,
-- built by the reconciler), which the search uses through a literal tenant id; a small tenant
-- without one is ranked exactly, which costs less than walking the shared graph for it.

-- Everything but the tenant (kept as a plain column predicate so its indexes are used), now
-- with `exclude`: {source_id: [generation, ...]} that the caller found stale in the metadata.
CREATE OR REPLACE FUNCTION orch_chunk_visible(
    collection text, source_id text, generation text, metadata jsonb, filter jsonb
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (NOT (filter ? 'collections') OR filter -> 'collections' ? collection)
       AND (NOT (filter ? 'collection') OR collection = filter ->> 'collection')
       AND (NOT (filter ? 'source_id') OR source_id = filter ->> 'source_id')
       AND (NOT (filter ? 'sources') OR filter -> 'sources' ->> source_id = generation)
       AND (NOT (filter ? 'exclude')
            OR NOT coalesce(filter -> 'exclude' -> source_id ? generation, false))
       AND (filter -> 'metadata' IS NULL OR orch_metadata_match(metadata, filter -> 'metadata'))
$$;

-- The valid HNSW index of one tenant's chunks, if the reconciler has built one, and how many
-- rows it holds.
CREATE OR REPLACE FUNCTION orch_tenant_index(tenant integer, OUT name text, OUT tuples real)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, c.reltuples
    FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
    WHERE c.relname = 'documents_hnsw_tenant_' || tenant
      AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = 'documents'::regclass)
      AND i.indisvalid AND i.indisready
$$;

-- Chunks per tenant and each tenant's own index (name, valid), for the reconciler.
CREATE OR REPLACE FUNCTION orch_tenant_indexes()
RETURNS TABLE (tenant_id integer, chunks bigint, index_name text, valid boolean)
LANGUAGE sql STABLE AS $$
    WITH sizes AS (
        SELECT d.tenant_id, count(*) AS chunks FROM documents d GROUP BY d.tenant_id
    ), own AS (
        SELECT substr(c.relname, length('documents_hnsw_tenant_') + 1)::integer AS tenant_id,
               c.relname::text AS index_name, i.indisvalid AND i.indisready AS valid
        FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE i.indrelid = 'documents'::regclass
          AND c.relname ~ '^documents_hnsw_tenant_[0-9]+$'
    )
    SELECT coalesce(s.tenant_id, o.tenant_id), coalesce(s.chunks, 0), o.index_name, o.valid
    FROM sizes s FULL OUTER JOIN own o ON o.tenant_id = s.tenant_id
    ORDER BY 1
$$;

-- Make `generation` searchable for a document: the generation it displaces stays a candidate
-- (as `previous_generation`) until `orch_delete_source` removes its chunks.
CREATE OR REPLACE FUNCTION orch_publish(tenant integer, source text, new_generation text)
RETURNS void LANGUAGE sql VOLATILE AS $$
    INSERT INTO visible_documents AS v (tenant_id, source_id, generation)
    VALUES (tenant, source, new_generation)
    ON CONFLICT (tenant_id, source_id) DO UPDATE
    SET generation = EXCLUDED.generation,
        previous_generation = CASE WHEN v.generation = EXCLUDED.generation
                                   THEN v.previous_generation ELSE v.generation END,
        updated_at = now()
$$;

-- Delete a document's chunks, all of them or all but `keep`, in one transaction with its
-- visibility: all hides the document, `keep` leaves exactly that generation visible (if it
-- was one of the two). Returns how many chunks went.
CREATE OR REPLACE FUNCTION orch_delete_source(tenant integer, source text, keep text)
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    deleted integer;
BEGIN
    IF keep IS NULL THEN
        DELETE FROM visible_documents v WHERE v.tenant_id = tenant AND v.source_id = source;
    ELSE
        DELETE FROM visible_documents v
        WHERE v.tenant_id = tenant AND v.source_id = source
          AND v.generation <> keep AND v.previous_generation IS DISTINCT FROM keep;
        UPDATE visible_documents v SET generation = keep, previous_generation = NULL,
                                       updated_at = now()
        WHERE v.tenant_id = tenant AND v.source_id = source
          AND (v.generation <> keep OR v.previous_generation IS NOT NULL);
    END IF;
    DELETE FROM documents d
    WHERE d.tenant_id = tenant AND d.source_id = source AND (keep IS NULL OR d.generation <> keep);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;

-- Every visibility row, for the reconciler.
CREATE OR REPLACE FUNCTION orch_visibility()
RETURNS TABLE (tenant_id integer, source_id text, generation text, previous_generation text)
LANGUAGE sql STABLE AS $$
    SELECT v.tenant_id, v.source_id::text, v.generation::text, v.previous_generation::text
    FROM visible_documents v
$$;

-- The k nearest visible chunks of one tenant, with `generation` added to each row's metadata
-- (search checks it against the metadata database). Visibility is a scalar subquery per
-- candidate row, never EXISTS: the planner may turn EXISTS into a hash join with the tenant's
-- visibility rows, which loses the index order and ranks every chunk (k=40 for a tenant of
-- 1,000 documents of 100 chunks each took 25 times k=10). The tenant's own HNSW index when it has
-- one; an exact ranking when the tenant is small; else the shared index, and an exact ranking
-- of the tenant's filtered rows if the shared index cannot fill k.
CREATE OR REPLACE FUNCTION match_documents(
    query_embedding vector(384), match_count integer, filter jsonb DEFAULT '{}'::jsonb
) RETURNS TABLE (
    id uuid, content text, metadata jsonb, similarity double precision
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- Below this many chunks an exact ranking of the tenant's rows beats the shared graph.
    exact_below constant integer := 5000;
    tenant integer;
    prefilter jsonb := orch_containment(filter -> 'metadata');
    model text := filter ->> 'embedding_model';
    own_index text;
    own_rows real;
    found uuid[];
BEGIN
    IF filter IS NULL OR NOT (filter ? 'tenant_id') THEN
        RAISE EXCEPTION 'match_documents needs a tenant_id in its filter';
    END IF;
    tenant := (filter ->> 'tenant_id')::integer;
    SELECT t.name, t.tuples INTO own_index, own_rows FROM orch_tenant_index(tenant) t;
    IF (SELECT extversion FROM pg_extension WHERE extname = 'vector') >= '0.8' THEN
        PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
    ELSE
        -- A floor of 100 candidates (step 0008), 200 in a graph of more than 200,000 rows:
        -- at 400,000 chunks 100 gave recall@10 0.976 (bench/search_scale.py).
        PERFORM set_config(
            'hnsw.ef_search',
            greatest(CASE WHEN own_rows > 200000 THEN 200 ELSE 100 END,
                     least(1000, match_count * 4))::text,
            true
        );
    END IF;
    IF own_index IS NOT NULL THEN
        -- The tenant as a literal, so the planner can prove the partial index's predicate.
        EXECUTE format($query$
            SELECT array_agg(q.id ORDER BY q.distance) FROM (
                SELECT d.id, d.embedding <=> $1 AS distance
                FROM documents d
                WHERE d.tenant_id = %s
                  AND ($2 IS NULL OR d.embedding_model = $2)
                  AND d.metadata @> $3
                  AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, $4)
                  AND (SELECT true FROM visible_documents v
                       WHERE v.tenant_id = d.tenant_id AND v.source_id = d.source_id
                         AND d.generation IN (v.generation, v.previous_generation))
                ORDER BY d.embedding <=> $1
                LIMIT $5
            ) q $query$, tenant)
        INTO found USING query_embedding, model, prefilter, filter, match_count;
    ELSIF (SELECT count(*) FROM (SELECT 1 FROM documents d WHERE d.tenant_id = tenant
                                 LIMIT exact_below) small) >= exact_below THEN
        SELECT array_agg(q.id ORDER BY q.distance) INTO found FROM (
            SELECT d.id, d.embedding <=> query_embedding AS distance
            FROM documents d
            WHERE d.tenant_id = tenant
              AND (model IS NULL OR d.embedding_model = model)
              AND d.metadata @> prefilter
              AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
              AND (SELECT true FROM visible_documents v
                   WHERE v.tenant_id = d.tenant_id AND v.source_id = d.source_id
                     AND d.generation IN (v.generation, v.previous_generation))
            ORDER BY d.embedding <=> query_embedding
            LIMIT match_count
        ) q;
    END IF;
    IF coalesce(array_length(found, 1), 0) < match_count THEN
        -- A small tenant, or an index that gave fewer than k under this filter: rank the
        -- tenant's filtered rows exactly (adding 0 keeps the planner off the HNSW indexes).
        SELECT array_agg(q.id ORDER BY q.distance) INTO found FROM (
            SELECT d.id, (d.embedding <=> query_embedding) + 0 AS distance
            FROM documents d
            WHERE d.tenant_id = tenant
              AND (model IS NULL OR d.embedding_model = model)
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
        -- OFFSET 0 keeps the text match first: left free, the planner may start from the
        -- visibility rows of a tenant with few documents and test every chunk of them.
        FROM (SELECT * FROM documents d
              WHERE d.tenant_id = tenant AND d.content_tsv @@ text_query OFFSET 0) d
        WHERE (model IS NULL OR d.embedding_model = model)
          AND orch_chunk_visible(d.collection, d.source_id, d.generation, d.metadata, filter)
          AND (SELECT true FROM visible_documents v
               WHERE v.tenant_id = d.tenant_id AND v.source_id = d.source_id
                 AND d.generation IN (v.generation, v.previous_generation))
        ORDER BY ts_rank_cd(d.content_tsv, text_query) DESC, d.id
        LIMIT pool
    ), fused AS (
        -- Reciprocal rank fusion with the customary k = 60.
        SELECT coalesce(s.id, l.id) AS id, s.similarity,
               coalesce(1.0 / (60 + s.rank), 0) + coalesce(1.0 / (60 + l.rank), 0) AS score
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

-- orch_exposure() of step 0009, now over both tables.
CREATE OR REPLACE FUNCTION orch_exposure()
RETURNS TABLE (object text, problem text) LANGUAGE sql STABLE AS $$
    WITH objects AS (
        SELECT format('%I.%I', n.nspname, c.relname) AS object, c.relrowsecurity AS rls,
               coalesce(c.relacl, acldefault('r', c.relowner)) AS acl
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid IN (to_regclass('public.documents'), to_regclass('public.visible_documents'))
        UNION ALL
        SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
               NULL, coalesce(p.proacl, acldefault('f', p.proowner))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
          AND (p.proname IN ('match_documents', 'hybrid_match_documents')
               OR p.proname LIKE 'orch\_%')
    ), grants AS (
        SELECT o.object, a.privilege_type,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname END AS grantee
        FROM objects o
        CROSS JOIN LATERAL aclexplode(o.acl) AS a
        LEFT JOIN pg_roles r ON r.oid = a.grantee
    )
    SELECT object, 'row-level security is off' FROM objects WHERE rls IS FALSE
    UNION ALL
    SELECT object, string_agg(privilege_type, ', ' ORDER BY privilege_type)
                   || ' granted to ' || grantee
    FROM grants
    WHERE grantee IN ('PUBLIC', 'anon', 'authenticated')
    GROUP BY object, grantee
    ORDER BY 1, 2
$$;

-- Closed like `documents` in step 0009: the new table and every search function.
ALTER TABLE visible_documents ENABLE ROW LEVEL SECURITY;

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
    EXECUTE format('REVOKE ALL ON TABLE visible_documents FROM %s', grantees);
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
    IF service THEN
        REVOKE ALL ON TABLE visible_documents FROM service_role;
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE visible_documents TO service_role;
        IF NOT EXISTS (
            SELECT 1 FROM pg_policy
            WHERE polrelid = 'visible_documents'::regclass AND polname = 'orch_service_role'
        ) THEN
            CREATE POLICY orch_service_role ON visible_documents
                FOR ALL TO service_role USING (true) WITH CHECK (true);
        END IF;
    END IF;
END
$$
