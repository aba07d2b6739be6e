"""Webhook tests: short retries, a loopback receiver the guard lets through, and the network
fence."""

from collections.abc import Iterator

import pytest

from orchestrator_service.config import Settings
from tests.network import network  # noqa: F401 (the fence, for every test here)
from tests.webhooks.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with quick retries, a small answer cap and a short deadline."""
    return settings.model_copy(
        update={
            "webhook_retry_base_seconds": 0.05,
            "webhook_retry_max_seconds": 0.2,
            "webhook_max_attempts": 3,
            "webhook_disable_after": 4,
            "webhook_timeout_seconds": 1.5,
            "webhook_max_response_bytes": 1024,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint on loopback."""
    with Receiver() as endpoint:
        yield endpoint
