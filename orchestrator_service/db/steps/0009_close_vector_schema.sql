-- Supabase serves the `public` schema over its REST API to `anon` (the project's public key)
-- and `authenticated` (any signed-in end user), and its default privileges grant them every
-- new table and function there; PostgreSQL itself grants EXECUTE on every function to PUBLIC.
-- Chunks are readable and writable only by the service: row-level security on (no policy for
-- anyone else, so even a later grant returns no rows), every privilege revoked from PUBLIC,
-- anon and authenticated, and granted to `service_role`, which the PostgREST adapter uses.
-- On plain PostgreSQL those roles do not exist and the service's own role owns everything.

-- What is still open, for the boot check over PostgREST (which cannot read pg_catalog):
-- row-level security off on `documents`, or a privilege that PUBLIC, anon or authenticated
-- holds on it or on one of the functions the service's search runs.
CREATE OR REPLACE FUNCTION orch_exposure()
RETURNS TABLE (object text, problem text) LANGUAGE sql STABLE AS $$
    WITH objects AS (
        SELECT format('%I.%I', n.nspname, c.relname) AS object, c.relrowsecurity AS rls,
               coalesce(c.relacl, acldefault('r', c.relowner)) AS acl
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass('public.documents')
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

ALTER TABLE documents ENABLE ROW LEVEL SECURITY;

DO $$
DECLARE
    closed text[] := ARRAY['PUBLIC'] || ARRAY(
        SELECT quote_ident(rolname) FROM pg_roles
        WHERE rolname IN ('anon', 'authenticated') ORDER BY rolname
    );
    service boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role');
    grantees text := array_to_string(closed, ', ');
    fn text;
    ledger text;
BEGIN
    EXECUTE format('REVOKE ALL ON TABLE documents FROM %s', grantees);
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
        REVOKE ALL ON TABLE documents FROM service_role;
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE documents TO service_role;
        -- Supabase's service_role bypasses row-level security; a policy keeps it working
        -- where it does not.
        IF NOT EXISTS (
            SELECT 1 FROM pg_policy
            WHERE polrelid = 'documents'::regclass AND polname = 'orch_service_role'
        ) THEN
            CREATE POLICY orch_service_role ON documents
                FOR ALL TO service_role USING (true) WITH CHECK (true);
        END IF;
    END IF;
    -- The healer's ledger, where the healer keeps one (not on a database prepared by
    -- `orchestrator rag supabase-sql`): nobody but its owner reads or writes it either.
    FOREACH ledger IN ARRAY ARRAY['orchestrator_heal_steps', 'orchestrator_heal_state'] LOOP
        IF to_regclass(ledger) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', ledger);
            EXECUTE format('REVOKE ALL ON TABLE %I FROM %s', ledger, grantees);
        END IF;
    END LOOP;
END
$$