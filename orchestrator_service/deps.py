"""Typed request dependencies: the only place that reads what the composition root put on
`app.state`. Routers take these aliases and never touch the application object.

Every dependency is `async def`, even one that awaits nothing: FastAPI runs a plain `def`
dependency in its thread pool, a thread hop per call and per request (tests/test_deps.py keeps
it so)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Protocol

from fastapi import Depends, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator_service.agent_network.network import AgentNetworkPort
from orchestrator_service.agents.runs import AgentRunner
from orchestrator_service.audit.service import Actor
from orchestrator_service.auth.authentication import authenticate
from orchestrator_service.auth.passwords import Passwords
from orchestrator_service.auth.principal import Principal, TenantPrincipal
from orchestrator_service.auth.throttle import LoginThrottle
from orchestrator_service.channels.service import Channels
from orchestrator_service.config import Settings
from orchestrator_service.credentials.vault import Vault
from orchestrator_service.db.heal.healer import HealReport
from orchestrator_service.errors import Forbidden, Unauthorized
from orchestrator_service.http import request_id_var
from orchestrator_service.integrations.service import Integrations
from orchestrator_service.live.hub import LiveHub
from orchestrator_service.mail.sender import Mailer
from orchestrator_service.pagination import MAX_LIMIT, PageParams
from orchestrator_service.rag.deletion import DocumentDeleter
from orchestrator_service.rag.search import KnowledgeSearch
from orchestrator_service.storage import ObjectStore
from orchestrator_service.system_config.service import PlatformConfig
from orchestrator_service.tenants.quotas import Quotas
from orchestrator_service.tools.invoker import ToolRunner
from orchestrator_service.tools.ssrf import Guard


class Readiness(Protocol):
    """What readiness needs of a booted service."""

    heal_reports: dict[str, HealReport]
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    @property
    def healed(self) -> bool:
        """True when every database's heal verified."""
        ...


async def _readiness(request: Request) -> Readiness | None:
    return getattr(request.app.state, "runtime", None)


ReadinessDep = Annotated[Readiness | None, Depends(_readiness)]


async def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.runtime.sessionmaker


SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessionmaker)]


async def _session(sessionmaker: SessionmakerDep) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function" commits before the response is sent, so a failed commit is the response.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


async def _settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


async def _vault(request: Request) -> Vault:
    return request.app.state.runtime.vault


async def _files(request: Request) -> ObjectStore:
    return request.app.state.runtime.files


async def _knowledge(request: Request) -> KnowledgeSearch:
    return request.app.state.runtime.knowledge


async def _deleter(request: Request) -> DocumentDeleter:
    return request.app.state.runtime.deleter


async def _mailer(request: Request) -> Mailer:
    return request.app.state.runtime.mailer


async def _tools(request: Request) -> ToolRunner:
    return request.app.state.runtime.tools


async def _runs(request: Request) -> AgentRunner:
    return request.app.state.runtime.runs


async def _channels(request: Request) -> Channels:
    return request.app.state.runtime.channels


async def _passwords(request: Request) -> Passwords:
    return request.app.state.runtime.passwords


async def _login_throttle(request: Request) -> LoginThrottle:
    return request.app.state.runtime.login_throttle


async def _quotas(request: Request) -> Quotas:
    return request.app.state.runtime.quotas


async def _live(request: Request) -> LiveHub:
    return request.app.state.runtime.live


async def _network(request: Request) -> AgentNetworkPort:
    return request.app.state.runtime.network


async def _integrations(request: Request) -> Integrations:
    return request.app.state.runtime.integrations


async def _guard(request: Request) -> Guard:
    return request.app.state.runtime.guard


async def _platform_config(request: Request) -> PlatformConfig:
    return request.app.state.runtime.platform_config


SettingsDep = Annotated[Settings, Depends(_settings)]
VaultDep = Annotated[Vault, Depends(_vault)]
FilesDep = Annotated[ObjectStore, Depends(_files)]
KnowledgeDep = Annotated[KnowledgeSearch, Depends(_knowledge)]
DeleterDep = Annotated[DocumentDeleter, Depends(_deleter)]
ToolRunnerDep = Annotated[ToolRunner, Depends(_tools)]
MailerDep = Annotated[Mailer, Depends(_mailer)]
AgentRunnerDep = Annotated[AgentRunner, Depends(_runs)]
ChannelsDep = Annotated[Channels, Depends(_channels)]
PasswordsDep = Annotated[Passwords, Depends(_passwords)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(_login_throttle)]
QuotasDep = Annotated[Quotas, Depends(_quotas)]
LiveHubDep = Annotated[LiveHub, Depends(_live)]
AgentNetworkDep = Annotated[AgentNetworkPort, Depends(_network)]
IntegrationsDep = Annotated[Integrations, Depends(_integrations)]
GuardDep = Annotated[Guard, Depends(_guard)]
PlatformConfigDep = Annotated[PlatformConfig, Depends(_platform_config)]


async def _reads(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.runtime.reads


async def current_principal(
    request: Request, reads: Annotated[async_sessionmaker[AsyncSession], Depends(_reads)]
) -> Principal:
    """Resolve the bearer token into a Principal, or refuse with 401.

    Outside any transaction (each statement commits on its own): the key's `last_used_at`
    write holds no row lock into the handler (which may call out over HTTP), and the lookup
    costs no BEGIN and COMMIT round trips."""
    async with reads() as session:
        principal = await authenticate(session, request.headers.get("authorization", ""))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def still_valid(
    request: Request, sessionmaker: SessionmakerDep
) -> Callable[[], Awaitable[bool]]:
    """A check, for a long-lived response (an event stream), that the request's key or
    session still authenticates; False also when the database cannot tell."""
    header = request.headers.get("authorization", "")

    async def check() -> bool:
        try:
            async with sessionmaker.begin() as session:
                await authenticate(session, header)
        except (Unauthorized, SQLAlchemyError, OSError):
            return False
        return True

    return check


StillValidDep = Annotated[Callable[[], Awaitable[bool]], Depends(still_valid)]


async def platform_caller(request: Request, runtime: ReadinessDep) -> bool:
    """True when the request bears a valid platform-admin key. For public routes that tell a
    platform admin more: any other caller (no token, a bad one, a tenant's, or a database that
    cannot check it) simply gets less, never a 401."""
    header = request.headers.get("authorization")
    if not header or runtime is None or not runtime.healed:
        return False
    try:
        async with runtime.sessionmaker.begin() as session:
            principal = await authenticate(session, header)
    except (Unauthorized, SQLAlchemyError, OSError):
        return False
    return principal.is_platform_admin


PlatformCallerDep = Annotated[bool, Depends(platform_caller)]


async def request_info(request: Request) -> dict[str, str | None]:
    """Where a request came from, for the audit log."""
    return _where(request)


def _where(request: Request) -> dict[str, str | None]:
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
        "request_id": request_id_var.get(),
    }


async def current_actor(request: Request, principal: PrincipalDep) -> Actor:
    """The audit actor of this request."""
    return Actor.of(principal, **_where(request))


ActorDep = Annotated[Actor, Depends(current_actor)]
RequestInfo = Annotated[dict[str, str | None], Depends(request_info)]


def require(scope: str) -> Callable[..., Awaitable[TenantPrincipal]]:
    """A dependency admitting tenant principals whose role and scopes grant `scope`."""

    async def check(principal: PrincipalDep) -> TenantPrincipal:
        tenant_principal = principal.in_tenant()
        if tenant_principal is None:
            raise Forbidden("Platform-admin keys manage tenants; use a key of the tenant")
        if not principal.allows(scope):
            raise Forbidden(f"This requires the {scope!r} permission", details={"scope": scope})
        return tenant_principal

    return check


def tenant_or_global(scope: str) -> Callable[..., Awaitable[int | None]]:
    """A dependency giving whose objects the caller manages: its tenant's (if its role and
    scopes grant `scope`), or, for a platform-admin key, the global ones (None)."""

    async def owner(principal: PrincipalDep) -> int | None:
        if principal.is_platform_admin:
            return None
        if principal.tenant_id is None or not principal.allows(scope):
            raise Forbidden(f"This requires the {scope!r} permission", details={"scope": scope})
        return principal.tenant_id

    return owner


async def require_platform_admin(principal: PrincipalDep) -> Principal:
    """A dependency admitting platform-admin principals only."""
    if not principal.is_platform_admin:
        raise Forbidden("This requires a platform-admin key")
    return principal


PlatformAdmin = Annotated[Principal, Depends(require_platform_admin)]


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    """Read the pagination parameters of a list request."""
    return PageParams(limit=limit, cursor=cursor)


Paging = Annotated[PageParams, Depends(page_params)]
