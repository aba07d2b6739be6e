-- A database as a team built it from seed 003 (003_80f25adc0cfa98fb.txt): the CREATE TABLE
-- statements of §5 verbatim, the §3 migration steps, the tables the seed only shows as
-- SQLAlchemy models (§2 business_assets, §4 rag_documents) as those models create them, and
-- the minimal tenants/users that §7 implies. chat_messages is left out: the seed never shows it.

CREATE TABLE tenants (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id INTEGER REFERENCES tenants(id),
    email VARCHAR(255) UNIQUE NOT NULL,
    role VARCHAR(50) DEFAULT 'user',
    created_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS credentials (
    id_uuid UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id INTEGER REFERENCES tenants(id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,  -- Encrypted AES-256
    category TEXT DEFAULT 'general',  -- openai, google, smtp
    scope TEXT DEFAULT 'global',  -- global o tenant
    created_at TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE(name, tenant_id)  -- Unicidad multi-tenant
);

CREATE TABLE IF NOT EXISTS agents (
    id SERIAL PRIMARY KEY,
    tenant_id INTEGER REFERENCES tenants(id),
    name TEXT NOT NULL,
    role TEXT DEFAULT 'sales',
    model_provider TEXT DEFAULT 'openai',
    model_version TEXT DEFAULT 'gpt-5-mini',
    temperature FLOAT DEFAULT 0.7,
    system_prompt_template TEXT NOT NULL,
    enabled_tools JSONB DEFAULT '[]',
    channels JSONB DEFAULT '["whatsapp", "instagram", "facebook", "web"]',
    config JSONB DEFAULT '{}',
    template_type VARCHAR(50) DEFAULT 'custom',
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS chat_conversations (
    id UUID PRIMARY KEY,
    tenant_id INTEGER REFERENCES tenants(id),
    channel VARCHAR(32) NOT NULL,  -- whatsapp, instagram, facebook, web
    channel_source VARCHAR(32) DEFAULT 'whatsapp',
    display_name VARCHAR(255),
    meta JSONB DEFAULT '{}',
    last_message_preview TEXT,
    last_message_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS tools (
    id SERIAL PRIMARY KEY,
    tenant_id INTEGER REFERENCES tenants(id),  -- NULL para Global
    name VARCHAR(255) NOT NULL,
    type VARCHAR(32) NOT NULL,  -- http, internal
    description TEXT,
    prompt_injection TEXT,
    response_guide TEXT,
    config JSONB DEFAULT '{}',
    service_url TEXT,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE(tenant_id, name)
);

CREATE TABLE business_assets (
    id VARCHAR NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(50) NOT NULL,
    asset_type VARCHAR(50) NOT NULL,
    content JSONB NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    is_active BOOLEAN NOT NULL
);

CREATE TABLE rag_documents (
    id VARCHAR NOT NULL PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    filename VARCHAR(255) NOT NULL,
    collection VARCHAR(100) NOT NULL,
    file_type VARCHAR(50) NOT NULL,
    file_path VARCHAR(500),
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
CREATE INDEX ix_rag_documents_tenant_id ON rag_documents (tenant_id);

-- §3 migration steps.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS template_type VARCHAR(50) DEFAULT 'custom';
CREATE INDEX IF NOT EXISTS idx_agents_tenant_active ON agents(tenant_id, is_active);
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS tool_config JSONB DEFAULT '{}'::jsonb;

-- Rows a running installation has.
INSERT INTO tenants (id, name) VALUES (1, 'Acme'), (2, 'Beta');
SELECT setval('tenants_id_seq', 2);
INSERT INTO users (tenant_id, email) VALUES (1, 'ana@acme.test');
-- The NULL trap: two global credentials with one name, which UNIQUE(name, tenant_id) allows.
INSERT INTO credentials (tenant_id, name, value, category) VALUES
    (NULL, 'OPENAI_API_KEY', 'ciphertext-1', 'openai'),
    (NULL, 'OPENAI_API_KEY', 'ciphertext-2', 'openai'),
    (1, 'SMTP_PASSWORD', 'ciphertext-3', 'smtp');
INSERT INTO agents (tenant_id, name, system_prompt_template, temperature)
    VALUES (1, 'Vendedor', 'Eres {{nombre}}', 0.4);
INSERT INTO tools (tenant_id, name, type, config) VALUES
    (NULL, 'get_current_time', 'internal', '{}'),
    (1, 'crm_lookup', 'http', '{"timeout": 5}');
INSERT INTO chat_conversations (id, tenant_id, channel, display_name)
    VALUES ('6f1c1f9e-4a43-4ad3-9b4e-3f6b1c8a2d10', 1, 'whatsapp', 'Cliente 1');
INSERT INTO business_assets (id, tenant_id, asset_type, content, created_at, is_active)
    VALUES ('ba-1', '1', 'branding', '{"color": "#123456"}', now(), true),
           ('ba-2', ' 2 ', 'roi', '{"x": 1}', now(), false);
INSERT INTO rag_documents (id, tenant_id, filename, collection, file_type, file_path, created_at)
    VALUES ('doc-1', 1, 'manual.pdf', 'General', 'pdf', '/data/manual.pdf', now());
