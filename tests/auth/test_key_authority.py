"""Authority only narrows: over every combination of creator (tenant key, user-bound key or
session) x creator role x creator scopes x requested role x requested scopes, no API key can be
created that may do anything its creator may not. What a key may do is computed the way every
request computes it: the key is authenticated into a Principal and asked `allows(scope)` for
every known scope (plus whether it approves secret destinations, the one role check beyond
scopes)."""

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import URL

from orchestrator_service.auth.authentication import authenticate
from orchestrator_service.auth.principal import ROLES, SCOPES, Principal, role_rank
from orchestrator_service.auth.service import issue_key
from orchestrator_service.bootstrap import Runtime
from tests.helpers import (
    PASSWORD,
    TEST_ACTOR,
    Caller,
    bearer,
    create_key,
    create_user,
    error_of,
    login,
    sql,
)

# Scope sets for creators and for requests: all, none, narrow ones with and without the right
# to mint keys, admin-only ones, every scope spelled out, and `*` beside a narrow one.
SCOPE_SETS: list[list[str]] = [
    ["*"],
    [],
    ["api_keys:write"],
    ["api_keys:read", "api_keys:write"],
    ["api_keys:write", "users:read"],
    ["api_keys:write", "credentials:write", "tools:write"],
    ["agents:read"],
    ["users:write", "audit:read"],
    sorted(SCOPES),
    ["*", "users:read"],
]
REQUESTED_ROLES: list[str | None] = [None, *ROLES]  # None: the caller's own role


def capabilities(principal: Principal) -> frozenset[str]:
    """Everything a principal may do: each scope it is allowed, and destination approval."""
    granted = {scope for scope in SCOPES if principal.allows(scope)}
    if principal.approves_destinations:
        granted.add("approve secret destinations")
    return frozenset(granted)


async def principal_of(runtime: Runtime, token: str) -> Principal:
    """The Principal a request bearing `token` gets."""
    async with runtime.sessionmaker.begin() as session:
        return await authenticate(session, f"Bearer {token}")


@dataclass
class Creator:
    """Someone who tries to mint keys."""

    label: str
    token: str


async def _tenant_key(runtime: Runtime, tenant_id: int, name: str, **fields) -> str:
    """A key issued directly (as the platform would), bypassing the creation rules under test."""
    async with runtime.sessionmaker.begin() as session:
        _, plaintext = await issue_key(
            session, tenant_id=tenant_id, name=name, actor=TEST_ACTOR, **fields
        )
    return plaintext


async def _creators(client: httpx.AsyncClient, runtime: Runtime, tenant: Caller) -> list[Creator]:
    """Every kind of creator: tenant keys of each role x scope set; keys bound to users of each
    role (an admin key bound to a lesser user is clamped to the user's role); a key whose user
    was demoted after it was made; and the sessions of users of each role."""
    creators = []
    for n, (role, scopes) in enumerate(itertools.product(ROLES, SCOPE_SETS)):
        if not scopes:
            continue  # an empty scope list can no longer be stored; see the 422 test
        token = await _tenant_key(
            runtime, tenant.tenant_id, f"creator {n}", role=role, scopes=scopes
        )
        creators.append(Creator(f"tenant key {role} {scopes}", token))
    for role in ROLES:
        user = await create_user(
            client, tenant.headers, f"{role}@example.com", password=PASSWORD, role=role
        )
        creators.append(Creator(f"session of a {role}", await login(client, user["email"])))
        for n, scopes in enumerate((["*"], ["api_keys:write", "users:read"])):
            token = await _tenant_key(
                runtime,
                tenant.tenant_id,
                f"bound {role} {n}",
                role="admin",
                scopes=scopes,
                user_id=uuid.UUID(user["id"]),
            )
            creators.append(Creator(f"admin key bound to a {role} {scopes}", token))
    demoted = await create_user(
        client, tenant.headers, "demoted@example.com", password=PASSWORD, role="admin"
    )
    token = await _tenant_key(
        runtime, tenant.tenant_id, "demoted's key", role="admin", user_id=uuid.UUID(demoted["id"])
    )
    response = await client.patch(
        f"/api/v1/users/{demoted['id']}", json={"role": "member"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    creators.append(Creator("key of an admin demoted to member", token))
    return creators


async def test_no_key_can_be_created_that_does_more_than_its_creator(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller
) -> None:
    creators = await _creators(client, runtime, tenant_a)
    failures: list[str] = []
    created = refused = 0

    for c, creator in enumerate(creators):
        mine = await principal_of(runtime, creator.token)
        allowed = capabilities(mine)
        for n, (role, scopes) in enumerate(itertools.product(REQUESTED_ROLES, SCOPE_SETS)):
            body: dict = {"name": f"minted {c}.{n}", "scopes": scopes}
            if role is not None:
                body["role"] = role
            response = await client.post(
                "/api/v1/api-keys", json=body, headers=bearer(creator.token)
            )
            if response.status_code != 201:
                refused += 1
                if response.status_code not in (403, 422):
                    failures.append(f"{creator.label} → {body}: {response.status_code}")
                continue
            created += 1
            minted = response.json()
            theirs = await principal_of(runtime, minted["api_key"])
            wider = capabilities(theirs) - allowed
            if not scopes:
                failures.append(f"{creator.label} → empty scopes were accepted: {minted}")
            if wider:
                failures.append(f"{creator.label} → {body} may also {sorted(wider)}")
            if role_rank(theirs.role) > role_rank(mine.role):
                failures.append(f"{creator.label} → {body} has role {theirs.role}")
            revoked = await client.delete(
                f"/api/v1/api-keys/{minted['id']}", headers=tenant_a.headers
            )
            assert revoked.status_code == 204

    assert not failures, "\n".join(failures)
    # Not vacuous: keys were minted (narrower ones) and wider ones refused.
    assert created > 100 and refused > 100, (created, refused)


async def test_an_empty_scope_list_is_refused_never_read_as_every_scope(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    minter = await create_key(
        client, tenant_a.headers, "minter", scopes=["api_keys:read", "api_keys:write"]
    )

    for headers in (tenant_a.headers, bearer(minter["api_key"])):
        response = await client.post(
            "/api/v1/api-keys", json={"name": "empty", "scopes": []}, headers=headers
        )
        error = error_of(response, 422, "validation_error")
        assert "scopes" in error["message"]
    assert await sql(fresh_db, "SELECT id FROM api_keys WHERE name = 'empty'") == []
    schema = (await client.get("/openapi.json")).json()
    scopes = schema["components"]["schemas"]["ApiKeyCreate"]["properties"]["scopes"]
    assert scopes["minItems"] == 1


async def test_issuing_a_key_with_no_scopes_is_refused_below_the_api_too(
    runtime: Runtime, tenant_a: Caller
) -> None:
    """The service function itself never turns [] into ["*"]."""
    try:
        await _tenant_key(runtime, tenant_a.tenant_id, "empty", role="admin", scopes=[])
    except Exception as exc:  # the class is checked just below
        assert type(exc).__name__ == "InvalidInput"
    else:
        raise AssertionError("a key with no scopes was issued")


async def test_a_key_cannot_mint_a_key_that_outlives_it(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    soon = datetime.now(UTC) + timedelta(days=1)
    minter = await create_key(
        client, tenant_a.headers, "short-lived", expires_at=soon.isoformat(), role="admin"
    )
    headers = bearer(minter["api_key"])

    forever = await create_key(client, headers, "inherits")
    later = await client.post(
        "/api/v1/api-keys",
        json={"name": "outlives", "expires_at": (soon + timedelta(days=30)).isoformat()},
        headers=headers,
    )
    earlier = await create_key(
        client, headers, "shorter", expires_at=(soon - timedelta(hours=1)).isoformat()
    )

    assert datetime.fromisoformat(forever["expires_at"]) == datetime.fromisoformat(
        minter["expires_at"]
    )
    error_of(later, 403, "forbidden")
    assert datetime.fromisoformat(earlier["expires_at"]) < soon
    # A session is a user, not a key: its keys may live as long as the user wants.
    user = await create_user(
        client, tenant_a.headers, "keeper@example.com", password=PASSWORD, role="admin"
    )
    lasting = await create_key(client, bearer(await login(client, user["email"])), "lasting")
    assert lasting["expires_at"] is None
