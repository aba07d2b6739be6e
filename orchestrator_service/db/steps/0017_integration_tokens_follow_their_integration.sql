-- An integration's OAuth tokens (credentials of category 'integration_token', named
-- 'integration:<integration id>:<what>') go with it however its row is deleted: revoked by
-- its user, deleted by an admin, or cascaded from its user's or tenant's deletion.
CREATE OR REPLACE FUNCTION orch_drop_integration_tokens() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM credentials
    WHERE tenant_id = OLD.tenant_id
      AND category = 'integration_token'
      AND name LIKE 'integration:' || OLD.id::text || ':%';
    RETURN OLD;
END
$$;

DROP TRIGGER IF EXISTS orch_integration_tokens ON integrations;
CREATE TRIGGER orch_integration_tokens
    AFTER DELETE ON integrations
    FOR EACH ROW EXECUTE FUNCTION orch_drop_integration_tokens();
