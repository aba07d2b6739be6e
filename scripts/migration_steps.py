"""Ordered, idempotent migration steps, applied once each and recorded in the heal ledger.

A step is needed only for what `create_all` and the healer's safe repair cannot do on their own:
renames, backfills, type conversions, constraints on existing data. Append new steps at the end;
never edit one that has shipped (the healer reports an edited step as drift and does not re-run
it). Each step must be safe to run on a database that already has the change, because a fresh
database gets the models' current shape from `create_all` before the steps run.
"""

from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

from orchestrator_service.db.heal.steps import Step

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
)
