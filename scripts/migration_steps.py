"""Ordered, idempotent migration steps, applied once each and recorded in the heal ledger.

A step is needed only for what `create_all` and the healer's safe repair cannot do on their own:
renames, backfills, type conversions, constraints on existing data. Append new steps at the end;
never edit one that has shipped (the healer reports an edited step as drift and does not re-run
it). Each step must be safe to run on a database that already has the change, because a fresh
database gets the models' current shape from `create_all` before the steps run.
"""

from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

from orchestrator_service.db.heal.steps import Step

SEARCH_FUNCTIONS_SQL = r"""
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
"""

FILTER_PREFILTER_SQL = r"""
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
"""

EF_SEARCH_FLOOR_SQL = r"""
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
        -- A floor of 100: at 40 some queries landed in the wrong region of the graph
        -- (recall@10 0.970-0.994 across builds); 100 gave 0.999 for about 1 ms.
        PERFORM set_config(
            'hnsw.ef_search', greatest(100, least(1000, match_count * 4))::text, true
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
"""

STEPS: tuple[Step, ...] = (
    Step(
        id="0001_business_assets_tenant_id_integer",
        description=(
            "Seed 003 declared business_assets.tenant_id VARCHAR(50); convert it to the INTEGER "
            "tenant id with a foreign key, refusing if any row does not name an existing tenant."
        ),
        sql=r"""
DO $$
DECLARE
    current_type text;
    bad_rows bigint;
BEGIN
    SELECT format_type(a.atttypid, a.atttypmod) INTO current_type
    FROM pg_attribute a
    WHERE a.attrelid = to_regclass('public.business_assets')
      AND a.attname = 'tenant_id' AND NOT a.attisdropped;
    IF current_type IS NULL OR current_type = 'integer' THEN
        RETURN;
    END IF;
    SELECT count(*) INTO bad_rows
    FROM business_assets b
    WHERE b.tenant_id IS NULL
       OR b.tenant_id !~ '^\s*[0-9]{1,9}\s*$'
       OR NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = trim(b.tenant_id)::integer);
    IF bad_rows > 0 THEN
        RAISE EXCEPTION 'business_assets.tenant_id: % row(s) do not hold the id of an existing '
            'tenant; fix or delete them, then boot again', bad_rows;
    END IF;
    ALTER TABLE business_assets
        ALTER COLUMN tenant_id TYPE integer USING trim(tenant_id)::integer;
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'public.business_assets'::regclass AND contype = 'f'
          AND confrelid = 'public.tenants'::regclass
    ) THEN
        ALTER TABLE business_assets ADD CONSTRAINT fk_business_assets_tenant_id_tenants
            FOREIGN KEY (tenant_id) REFERENCES tenants (id);
    END IF;
END
$$
""",
    ),
    Step(
        id="0002_pgqueuer_install",
        description=(
            "Install the tables of the job queue (pgqueuer) that runs ingestion. Its script has "
            "no IF NOT EXISTS, so the step is skipped where the queue is already installed; a "
            "pgqueuer upgrade changes the script and is reported as an edited step."
        ),
        sql=QueryBuilderEnvironment().build_install_query(create_schema=False),
        skip_if="SELECT to_regclass('public.pgqueuer') IS NOT NULL",
    ),
    Step(
        id="0003_match_documents",
        database="vectors",
        description=(
            "match_documents(query_embedding, match_count, filter): the LangChain-compatible "
            "search RPC, with its LIMIT inside (so the HNSW index is used) and refusing to run "
            "without a tenant_id in the filter."
        ),
        sql="""
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
""",
    ),
    Step(
        id="0004_users_username_unique_per_tenant",
        description=(
            "Usernames became unique per tenant (a global rule revealed other tenants' users); "
            "drop the global constraint that earlier versions created. The healer adds the "
            "per-tenant one."
        ),
        sql="ALTER TABLE users DROP CONSTRAINT IF EXISTS uq_users_username",
    ),
    Step(
        id="0005_search_functions",
        database="vectors",
        description=(
            "Search for issue 7: orch_metadata_match (the one implementation of the metadata "
            "filter grammar, used by both adapters), match_documents with ready-only sources, "
            "collections and metadata filters and a complete filtered top-k (iterative scans on "
            "pgvector 0.8, else a raised ef_search and an exact re-query), and "
            "hybrid_match_documents (full text in Spanish and English fused by RRF)."
        ),
        sql=SEARCH_FUNCTIONS_SQL,
    ),
    Step(
        id="0006_orch_sources",
        database="vectors",
        description=(
            "orch_sources(): every (tenant, document, generation) in the store with its chunk "
            "count, in one grouped scan, for the reconciler (an RPC on Supabase)."
        ),
        sql="""
CREATE OR REPLACE FUNCTION orch_sources()
RETURNS TABLE (tenant_id integer, source_id text, generation text, chunks integer)
LANGUAGE sql STABLE AS $$
    SELECT d.tenant_id, d.source_id::text, d.generation::text, count(*)::integer
    FROM documents d
    GROUP BY d.tenant_id, d.source_id, d.generation
$$
""",
    ),
    Step(
        id="0007_filter_prefilter",
        database="vectors",
        description=(
            "Faster filtered search: the scalar equalities of a metadata filter become one "
            "jsonb containment test (`@>`, evaluated in C) that runs before the general "
            "grammar function, which then sees only the rows that can match."
        ),
        sql=FILTER_PREFILTER_SQL,
    ),
    Step(
        id="0008_match_documents_ef_search_floor",
        database="vectors",
        description=(
            "match_documents on pgvector < 0.8 searches at least 100 HNSW candidates (was 40), "
            "which keeps recall@10 near 0.999 (bench/search.py) for about a millisecond."
        ),
        sql=EF_SEARCH_FLOOR_SQL,
    ),
)
