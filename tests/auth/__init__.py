"""Tests of authentication: API keys, password login and session tokens, secrets at rest."""
