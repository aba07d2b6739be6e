-- `api` (the OpenAI-compatible door) became a channel an agent must list to answer there.
-- Every agent answered there before, and no list could have left it out, so every existing
-- agent gets it; its owners remove it to close that door. Idempotent: agents that list it
-- already are left alone.
UPDATE agents
SET channels = COALESCE(channels, '[]'::jsonb) || '["api"]'::jsonb
WHERE NOT (COALESCE(channels, '[]'::jsonb) ? 'api')
