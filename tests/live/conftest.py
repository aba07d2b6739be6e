"""Fixtures of the live-event tests: the network fence (loopback only)."""

from tests.network import network  # noqa: F401 (autouse fence)
