"""Tests of authentication, users, API keys, login sessions, the audit log and HTTP conventions."""
