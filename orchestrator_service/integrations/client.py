"""Talking to Google and Microsoft: every call goes through the SSRF guard, within a deadline
and a size cap, no faster than the integration's rate, and its failures become fixed phrases
(never the library's text, which may quote a token).

authlib builds the protocol's messages (the authorization URL with its S256 challenge, the
token requests); they go out on our own guarded httpx client, since authlib's async client is
built on another HTTP library than the guard's transport.
"""

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from authlib.common.urls import url_decode
from authlib.oauth2.client import OAuth2Client
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from orchestrator_service.errors import OrchestratorError
from orchestrator_service.integrations.providers import Provider
from orchestrator_service.outbound import TooLarge, failure, host_of, read_capped
from orchestrator_service.tools.ssrf import BlockedDestination, Guard, GuardedTransport


class IntegrationFailed(OrchestratorError):
    """A provider could not be reached or answered something unusable; the message says which
    and why, never with a token."""

    status_code = 502
    code = "integration_failed"


class GrantRevoked(Exception):
    """The provider refused the refresh token (`invalid_grant`): the user revoked access, or it
    expired. Only the user can fix it, by connecting again."""


class AccessExpired(Exception):
    """The provider refused the access token (401): refresh it and try once more."""


class Throttled(Exception):
    """The provider asked us to slow down (429, or 503 with Retry-After)."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class Gone(Exception):
    """The incremental cursor is no longer valid (Google 410 / 404 history, Graph 410): the
    provider wants a full resync."""


@dataclass(frozen=True)
class Limits:
    """How long one request may take and how much it may answer."""

    timeout: float
    max_bytes: int


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 1.0), 3600.0)
    except ValueError:
        return 30.0


def _unreachable(what: str, host: str, exc: Exception) -> IntegrationFailed:
    if isinstance(exc, TooLarge):
        return IntegrationFailed(f"{what} at {host} answered more than {exc.limit} bytes")
    if isinstance(exc, BlockedDestination):
        return IntegrationFailed(f"{what} at {host} is not an allowed destination")
    if isinstance(exc, TimeoutError):
        return IntegrationFailed(f"{what} at {host} did not answer in time")
    return IntegrationFailed(f"{what} at {host} could not be reached: {failure(exc)}")


@dataclass(frozen=True)
class Tokens:
    """What a token endpoint gave: the access token, maybe a new refresh token, its lifetime."""

    access_token: str
    refresh_token: str | None
    expires_in: float | None
    scopes: tuple[str, ...]


async def _fetch(
    http: httpx.AsyncClient, limits: Limits, method: str, url: str, **request: Any
) -> tuple[httpx.Response, bytes]:
    """One request within the deadline, its answer read up to the cap."""
    async with asyncio.timeout(limits.timeout), http.stream(method, url, **request) as response:
        return response, await read_capped(response, limits.max_bytes)


def _guarded(guard: Guard, limits: Limits) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=GuardedTransport(guard),
        timeout=limits.timeout,
        follow_redirects=False,
        trust_env=False,
    )


_UNREACHABLE = (httpx.HTTPError, TooLarge, BlockedDestination, TimeoutError)


def expiry(expires_in: float | None) -> datetime | None:
    """When a token given `expires_in` seconds ago expires (bounded: a provider's number is
    not trusted to fit a date)."""
    if expires_in is None:
        return None
    return datetime.now(UTC) + timedelta(seconds=max(0.0, min(expires_in, 10 * 365 * 86400)))


class OAuthClient:
    """The authorization code flow with PKCE (S256) and refreshes."""

    def __init__(self, *, guard: Guard, limits: Limits) -> None:
        self._guard = guard
        self._limits = limits

    async def authorization_url(
        self, provider: Provider, *, redirect_uri: str, state: str, code_verifier: str
    ) -> str:
        """Where to send the user for consent (state and S256 code challenge included)."""
        client = OAuth2Client(
            None,
            client_id=provider.client_id,
            scope=" ".join(provider.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )
        url, _ = client.create_authorization_url(
            provider.authorize_url,
            state=state,
            code_verifier=code_verifier,
            **provider.authorize_params,
        )
        return url

    async def exchange(
        self, provider: Provider, *, redirect_uri: str, code: str, code_verifier: str
    ) -> Tokens:
        """Trade an authorization code (and the PKCE verifier) for tokens."""
        body = prepare_token_request(
            "authorization_code", redirect_uri=redirect_uri, code=code, code_verifier=code_verifier
        )
        return await self._token_call(provider, body)

    async def refresh(self, provider: Provider, refresh_token: str) -> Tokens:
        """A new access token for a refresh token; `GrantRevoked` when the provider refuses."""
        body = prepare_token_request(
            "refresh_token", refresh_token=refresh_token, scope=" ".join(provider.scopes)
        )
        return await self._token_call(provider, body)

    async def _token_call(self, provider: Provider, body: str) -> Tokens:
        host = host_of(provider.token_url)
        form = {
            **dict(url_decode(body)),
            "client_id": provider.client_id or "",
            "client_secret": provider.client_secret or "",
        }
        headers = {"Accept": "application/json"}
        try:
            async with _guarded(self._guard, self._limits) as http:
                response, answer = await _fetch(
                    http, self._limits, "POST", provider.token_url, data=form, headers=headers
                )
        except _UNREACHABLE as exc:
            raise _unreachable("The token endpoint", host, exc) from None
        try:
            token = json.loads(answer)
        except ValueError:
            token = None
        if not isinstance(token, dict):
            raise IntegrationFailed(
                f"The token endpoint at {host} answered {response.status_code} without JSON"
            )
        if "error" in token or response.status_code >= 400:
            if token.get("error") == "invalid_grant":
                raise GrantRevoked()
            raise IntegrationFailed(
                f"The token endpoint at {host} refused ({response.status_code}): "
                f"{_oauth_code(token.get('error'))}"
            )
        return _tokens(token, host)


def _oauth_code(error: Any) -> str:
    """An OAuth error code as the provider sent it, if it looks like one (RFC 6749 codes are
    short ASCII words), else a placeholder: it goes into messages."""
    text = str(error or "")
    ok = 0 < len(text) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in text)
    return text if ok else "an unnamed error"


def _tokens(token: Any, host: str) -> Tokens:
    access = token.get("access_token") if isinstance(token, dict) else None
    if not isinstance(access, str) or not access:
        raise IntegrationFailed(f"The token endpoint at {host} answered without an access token")
    refresh = token.get("refresh_token")
    expires = token.get("expires_in")
    scope = token.get("scope")
    return Tokens(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_in=float(expires) if isinstance(expires, int | float) else None,
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
    )


class RateLimiter:
    """At most `per_second` requests, spaced evenly (one integration syncs in one job at a
    time, so a limiter per sync run holds its rate)."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0

    async def wait(self) -> None:
        """Sleep until the next request may go."""
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self._interval


class ApiClient:
    """GETs JSON from one provider's REST API with one access token."""

    def __init__(
        self, *, guard: Guard, limits: Limits, provider: Provider, access_token: str
    ) -> None:
        self._limits = limits
        self._provider = provider
        self.base = provider.api_base
        self.kind = provider.kind
        self.host = host_of(provider.api_base)
        self._http = _guarded(guard, limits)
        self._rate = RateLimiter(provider.requests_per_second)
        self.access_token = access_token

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def within(self, url: str) -> bool:
        """True when `url` lies under this provider's configured API base: links the provider
        hands back (Graph's nextLink and deltaLink) are followed only there."""
        base = httpx.URL(self._provider.api_base + "/")
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return False
        same_origin = (target.scheme, target.host, target.port) == (
            base.scheme,
            base.host,
            base.port,
        )
        return same_origin and target.path.startswith(base.path)

    async def get(self, url: str, params: dict[str, Any] | None = None) -> dict:
        """The JSON object at `url`; `AccessExpired`, `Throttled`, `Gone` or `IntegrationFailed`
        when it is not there to have."""
        host = host_of(url)
        await self._rate.wait()
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        try:
            response, answer = await _fetch(
                self._http, self._limits, "GET", url, params=params, headers=headers
            )
        except _UNREACHABLE as exc:
            raise _unreachable("The API", host, exc) from None
        status = response.status_code
        if status == 401:
            raise AccessExpired()
        if status == 429 or (status == 503 and "retry-after" in response.headers):
            raise Throttled(_retry_after(response))
        if status == 410:
            raise Gone()
        try:
            data = json.loads(answer)
        except ValueError:
            data = None
        if status == 403 and _rate_limited(data):
            raise Throttled(_retry_after(response))
        if status >= 400:
            raise IntegrationFailed(
                f"The API at {host} refused the request ({status})", details={"status": status}
            )
        if not isinstance(data, dict):
            raise IntegrationFailed(f"The API at {host} answered something that is not JSON")
        return data


def _rate_limited(data: Any) -> bool:
    """Google answers its per-user rate limits with 403 and a rateLimitExceeded reason."""
    error = data.get("error") if isinstance(data, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("reason") in ("rateLimitExceeded", "userRateLimitExceeded")
        for e in errors
    )
