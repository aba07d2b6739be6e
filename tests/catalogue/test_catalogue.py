"""The model catalogue over the API: the seeded platform models, platform keys managing
them, tenants adding their own and turning platform models off, and the refusals (negative
prices, limits that contradict, other tenants' models, destinations only admins choose)."""

import httpx

from tests.helpers import Caller, create_key, error_of

MODELS = "/api/v1/models"


def _own(model: str = "llama3", **fields: object) -> dict:
    return {
        "name": f"Local {model}",
        "provider": "ollama",
        "model": model,
        "context_window": 8192,
        "max_output_tokens": 2048,
        **fields,
    }


async def _listed(client: httpx.AsyncClient, caller: Caller, **params: object) -> dict:
    response = await client.get(MODELS, headers=caller.headers, params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return {m["model"]: m for m in response.json()["items"]}


async def test_the_default_catalogue_is_seeded_with_prices_and_capabilities(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    listed = await _listed(client, tenant_a)
    assert {"gpt-5-mini", "claude-sonnet-4-5", "gemini-2.5-flash"} <= set(listed)
    mini = listed["gpt-5-mini"]  # the agents' default model
    assert (mini["provider"], mini["scope"], mini["enabled"]) == ("openai", "platform", True)
    assert (mini["input_price_per_million"], mini["output_price_per_million"]) == (0.25, 2.0)
    assert mini["supports_tools"] and mini["supports_streaming"]
    embedding = listed["text-embedding-3-small"]
    assert embedding["supports_embeddings"] and embedding["dimensions"] == 1536
    assert {m["provider"] for m in listed.values()} == {"openai", "anthropic", "google"}
    google = await _listed(client, tenant_a, provider="google")
    assert set(google) == {m for m, e in listed.items() if e["provider"] == "google"}


async def test_platform_keys_manage_platform_models_and_tenants_only_see_them(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    body = _own("mistral-large", provider="mistral", input_price_per_million=2)
    created = await client.post(MODELS, headers=platform_admin.headers, json=body)
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["scope"] == "platform"
    for tenant in (tenant_a, tenant_b):
        assert (await _listed(client, tenant))["mistral-large"]["enabled"] is True
        url = f"{MODELS}/{model['id']}"
        error_of(await client.patch(url, headers=tenant.headers, json={"status": "disabled"}), 404)
        error_of(await client.delete(url, headers=tenant.headers), 404)
    changed = await client.patch(
        f"{MODELS}/{model['id']}",
        headers=platform_admin.headers,
        json={"output_price_per_million": 6.5, "status": "deprecated"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["output_price_per_million"] == 6.5
    assert (await _listed(client, tenant_a))["mistral-large"]["enabled"] is False
    # A platform key sees the platform's models only, and cannot turn one off "for a tenant".
    assert "mistral-large" in await _listed(client, platform_admin)
    refused = await client.post(f"{MODELS}/{model['id']}/disable", headers=platform_admin.headers)
    error_of(refused, 403)


async def test_a_tenants_own_models_are_its_own(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    created = await client.post(MODELS, headers=tenant_a.headers, json=_own())
    assert created.status_code == 201, created.text
    mine = created.json()
    assert mine["scope"] == "tenant" and mine["enabled"]
    assert "llama3" not in await _listed(client, tenant_b)
    assert "llama3" not in await _listed(client, platform_admin)
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"name": "stolen"}} if method == "PATCH" else {}
        response = await client.request(
            method, f"{MODELS}/{mine['id']}", headers=tenant_b.headers, **kwargs
        )
        error_of(response, 404, "not_found")
    # B may add a model of the same provider id: catalogues are per tenant.
    assert (await client.post(MODELS, headers=tenant_b.headers, json=_own())).status_code == 201
    error_of(await client.post(MODELS, headers=tenant_a.headers, json=_own()), 409, "conflict")
    deleted = await client.delete(f"{MODELS}/{mine['id']}", headers=tenant_a.headers)
    assert deleted.status_code == 204
    assert "llama3" in await _listed(client, tenant_b)


async def test_omitted_and_null_fields_take_their_defaults(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found by the API fuzz test: an entry without a name was a 500."""
    body = {"provider": "groq", "model": "0", "context_window": 1, "max_output_tokens": 1}
    created = await client.post(MODELS, headers=tenant_a.headers, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "0" and created.json()["status"] == "active"
    nulls = {**_own(), "name": None, "status": None, "supports_tools": None, "model_type": None}
    created = await client.post(MODELS, headers=tenant_a.headers, json=nulls)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["name"], entry["status"], entry["model_type"]) == ("llama3", "active", "chat")
    assert entry["supports_tools"] is True


async def test_bad_catalogue_entries_are_refused_with_what_is_wrong(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    cases = {
        "negative input price": _own(input_price_per_million=-0.01),
        "negative output price": _own(output_price_per_million=-5),
        "absurd price": _own(input_price_per_million=1e12),
        "zero context": _own(context_window=0),
        "unknown provider": _own(provider="skynet"),
        "blank model id": _own(model="   "),
        "a base URL that is not http": _own(base_url="file:///etc/passwd"),
        "price as text": _own(input_price_per_million="free"),
        "price as boolean": _own(input_price_per_million=True),
        "context as boolean": _own(context_window=True),
        "dimensions as boolean": _own(dimensions=True),
    }
    for case, body in cases.items():
        response = await client.post(MODELS, headers=tenant_a.headers, json=body)
        assert response.status_code == 422, f"{case}: {response.text}"
    bigger = _own(max_output_tokens=10_000, context_window=4096)
    error = error_of(await client.post(MODELS, headers=tenant_a.headers, json=bigger), 422)
    assert "max_output_tokens" in error["message"]
    not_json = await client.post(
        MODELS,
        headers={**tenant_a.headers, "Content-Type": "application/json"},
        content=b'{"name": "x", "provider": "ollama", "model": "m", "context_window": 10, '
        b'"max_output_tokens": 5, "input_price_per_million": NaN}',
    )
    assert not_json.status_code in (400, 422), not_json.text
    listed = await _listed(client, tenant_a)
    assert not any(m["scope"] == "tenant" for m in listed.values()), "a refused entry was kept"
    created = await client.post(MODELS, headers=tenant_a.headers, json=_own())
    patched = await client.patch(
        f"{MODELS}/{created.json()['id']}",
        headers=tenant_a.headers,
        json={"input_price_per_million": -1},
    )
    error_of(patched, 422)
    shrunk = await client.patch(
        f"{MODELS}/{created.json()['id']}", headers=tenant_a.headers, json={"context_window": 100}
    )
    error_of(shrunk, 422)
    assert (await _listed(client, tenant_a))["llama3"]["context_window"] == 8192


async def test_only_an_admin_changes_the_tenants_catalogue(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Entries decide where calls go, with which key and at what price (so what budgets
    count): a member could otherwise shadow a platform model with a free one of its own."""
    member = Caller(
        api_key=(await create_key(client, tenant_a.headers, "member", role="member"))["api_key"],
        tenant_id=tenant_a.tenant_id,
    )
    shadow = _own("gpt-5-mini", provider="openai", input_price_per_million=0)
    for body in (shadow, _own(base_url="http://10.0.0.5:11434/v1"), _own()):
        error_of(
            await client.post(MODELS, headers=member.headers, json=body),
            403,
            "destination_approval_required",
        )
    created = await client.post(
        MODELS, headers=tenant_a.headers, json=_own(base_url="http://10.0.0.5:11434/v1")
    )
    assert created.status_code == 201, created.text
    url = f"{MODELS}/{created.json()['id']}"
    repointed = await client.patch(
        url, headers=member.headers, json={"base_url": "http://169.254.169.254/"}
    )
    error_of(repointed, 403, "destination_approval_required")
    error_of(await client.delete(url, headers=member.headers), 403)
    error_of(await client.post(f"{url}/disable", headers=member.headers), 403)
    mini = (await _listed(client, tenant_a))["gpt-5-mini"]
    error_of(await client.post(f"{MODELS}/{mini['id']}/disable", headers=member.headers), 403)
    assert (await _listed(client, member))["llama3"]["base_url"] == "http://10.0.0.5:11434/v1"


async def test_a_tenant_turns_platform_models_off_for_itself_only(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    sonnet = (await _listed(client, tenant_a))["claude-sonnet-4-5"]
    off = await client.post(f"{MODELS}/{sonnet['id']}/disable", headers=tenant_a.headers)
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert (await _listed(client, tenant_a))["claude-sonnet-4-5"]["enabled"] is False
    assert (await _listed(client, tenant_b))["claude-sonnet-4-5"]["enabled"] is True
    usable = await _listed(client, tenant_a, enabled=True)
    assert "claude-sonnet-4-5" not in usable and "gpt-5-mini" in usable
    assert set(await _listed(client, tenant_a, enabled=False)) == {"claude-sonnet-4-5"}
    again = await client.post(f"{MODELS}/{sonnet['id']}/disable", headers=tenant_a.headers)
    assert again.status_code == 200  # idempotent
    on = await client.post(f"{MODELS}/{sonnet['id']}/enable", headers=tenant_a.headers)
    assert on.json()["enabled"] is True
    assert (await _listed(client, tenant_a))["claude-sonnet-4-5"]["enabled"] is True
    viewer = Caller(
        api_key=(await create_key(client, tenant_a.headers, "viewer", role="viewer"))["api_key"],
        tenant_id=tenant_a.tenant_id,
    )
    error_of(await client.post(f"{MODELS}/{sonnet['id']}/disable", headers=viewer.headers), 403)
