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
