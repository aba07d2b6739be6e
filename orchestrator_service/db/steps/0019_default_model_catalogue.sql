-- The default platform model catalogue, seeded once: from then on platform admins own it
-- (a model they delete stays deleted). Prices are US dollars per million tokens.
INSERT INTO ai_models (
    name, provider, model, model_type, status, context_window, max_output_tokens,
    input_price_per_million, output_price_per_million,
    supports_tools, supports_streaming, supports_vision, supports_embeddings, dimensions
) VALUES
    ('GPT-5', 'openai', 'gpt-5', 'chat', 'active', 400000, 128000, 1.25, 10, true, true, true, false, NULL),
    ('GPT-5 mini', 'openai', 'gpt-5-mini', 'chat', 'active', 400000, 128000, 0.25, 2, true, true, true, false, NULL),
    ('GPT-4o', 'openai', 'gpt-4o', 'chat', 'active', 128000, 16384, 2.5, 10, true, true, true, false, NULL),
    ('GPT-4o mini', 'openai', 'gpt-4o-mini', 'chat', 'active', 128000, 16384, 0.15, 0.6, true, true, true, false, NULL),
    ('OpenAI embeddings (small)', 'openai', 'text-embedding-3-small', 'embedding', 'active', 8191, 1, 0.02, 0, false, false, false, true, 1536),
    ('Claude Sonnet 4.5', 'anthropic', 'claude-sonnet-4-5', 'chat', 'active', 200000, 64000, 3, 15, true, true, true, false, NULL),
    ('Claude Haiku 4.5', 'anthropic', 'claude-haiku-4-5', 'chat', 'active', 200000, 64000, 1, 5, true, true, true, false, NULL),
    ('Claude Opus 4.1', 'anthropic', 'claude-opus-4-1', 'chat', 'active', 200000, 32000, 15, 75, true, true, true, false, NULL),
    ('Gemini 2.5 Pro', 'google', 'gemini-2.5-pro', 'chat', 'active', 1048576, 65536, 1.25, 10, true, true, true, false, NULL),
    ('Gemini 2.5 Flash', 'google', 'gemini-2.5-flash', 'chat', 'active', 1048576, 65536, 0.3, 2.5, true, true, true, false, NULL),
    ('Gemini 2.0 Flash', 'google', 'gemini-2.0-flash', 'chat', 'active', 1048576, 8192, 0.1, 0.4, true, true, true, false, NULL)
ON CONFLICT DO NOTHING;
