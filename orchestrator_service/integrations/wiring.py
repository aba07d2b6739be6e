"""The integrations' collaborators, built once by the composition root."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.config import Settings
from orchestrator_service.credentials.vault import Vault
from orchestrator_service.integrations.client import Limits, OAuthClient
from orchestrator_service.integrations.service import Integrations
from orchestrator_service.integrations.store import WorkspaceStore
from orchestrator_service.integrations.sync import Syncer
from orchestrator_service.integrations.tokens import TokenStore
from orchestrator_service.tools.ssrf import Guard


def integration_services(
    settings: Settings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    vault: Vault,
    guard: Guard,
) -> dict[str, Any]:
    """The connecting service and the sync runner (the Runtime's `integrations`, `syncer`)."""
    limits = Limits(
        timeout=settings.integration_timeout, max_bytes=settings.integration_max_response_bytes
    )
    tokens = TokenStore(vault)
    oauth = OAuthClient(guard=guard, limits=limits)
    return {
        "integrations": Integrations(
            sessionmaker=sessionmaker, settings=settings, tokens=tokens, oauth=oauth
        ),
        "syncer": Syncer(
            sessionmaker=sessionmaker,
            settings=settings,
            tokens=tokens,
            oauth=oauth,
            guard=guard,
            limits=limits,
            store=WorkspaceStore(),
        ),
    }
