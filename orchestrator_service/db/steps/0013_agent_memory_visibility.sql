ALTER TABLE agent_memory ADD COLUMN IF NOT EXISTS visibility VARCHAR(16) NOT NULL DEFAULT 'tenant';
ALTER TABLE agent_memory ALTER COLUMN visibility SET DEFAULT 'private'
