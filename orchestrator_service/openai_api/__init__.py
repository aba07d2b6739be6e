"""Agents behind the OpenAI chat-completions API: `/v1/models` and `/v1/chat/completions`."""
