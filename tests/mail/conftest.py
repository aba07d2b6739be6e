"""Fixtures of the mail tests: the network fence (loopback only) beside their own SMTP spy."""

from tests.network import network  # noqa: F401 (autouse fence)
