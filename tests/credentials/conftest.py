"""Fixtures of the credentials tests: the auth tests' lenient client (a 500 is a response)."""

from tests.auth.conftest import lenient_client  # noqa: F401 (a fixture, used by name)
