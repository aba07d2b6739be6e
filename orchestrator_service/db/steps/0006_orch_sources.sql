CREATE OR REPLACE FUNCTION orch_sources()
RETURNS TABLE (tenant_id integer, source_id text, generation text, chunks integer)
LANGUAGE sql STABLE AS $$
    SELECT d.tenant_id, d.source_id::text, d.generation::text, count(*)::integer
    FROM documents d
    GROUP BY d.tenant_id, d.source_id, d.generation
$$
