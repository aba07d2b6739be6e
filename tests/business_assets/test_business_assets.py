"""/api/v1/business-assets: CRUD of a tenant's JSON content, validation, tenant scoping."""

from tests.helpers import Caller, error_of, sql

BRANDING = {"colors": ["#0a7", "#fff"], "logo": {"url": "https://cdn.example/logo.svg"}}


async def create_asset(client, caller: Caller, **fields) -> dict:
    """Create a business asset through the API and return its body."""
    response = await client.post("/api/v1/business-assets", headers=caller.headers, json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def test_asset_crud(client, tenant_a: Caller) -> None:
    branding = await create_asset(client, tenant_a, asset_type="branding", content=BRANDING)
    script = await create_asset(
        client, tenant_a, asset_type="scripts", content={"greeting": "¡Hola!"}
    )
    assert branding["content"] == BRANDING and branding["is_active"] is True
    path = f"/api/v1/business-assets/{branding['id']}"

    assert (await client.get(path, headers=tenant_a.headers)).json() == branding
    listed = await client.get("/api/v1/business-assets", headers=tenant_a.headers)
    assert {a["id"] for a in listed.json()["items"]} == {branding["id"], script["id"]}
    only_scripts = await client.get(
        "/api/v1/business-assets", headers=tenant_a.headers, params={"asset_type": "scripts"}
    )
    assert [a["id"] for a in only_scripts.json()["items"]] == [script["id"]]

    changed = await client.patch(
        path, headers=tenant_a.headers, json={"content": {"colors": ["#000"]}, "is_active": False}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["content"] == {"colors": ["#000"]}
    assert changed.json()["is_active"] is False
    assert changed.json()["asset_type"] == "branding"

    assert (await client.delete(path, headers=tenant_a.headers)).status_code == 204
    error_of(await client.get(path, headers=tenant_a.headers), 404, "not_found")


async def test_another_tenants_asset_is_404(client, tenant_a: Caller, tenant_b: Caller) -> None:
    asset = await create_asset(client, tenant_a, asset_type="roi", content={"payback_months": 6})
    path = f"/api/v1/business-assets/{asset['id']}"

    error_of(await client.get(path, headers=tenant_b.headers), 404, "not_found")
    error_of(
        await client.patch(path, headers=tenant_b.headers, json={"is_active": False}),
        404,
        "not_found",
    )
    error_of(await client.delete(path, headers=tenant_b.headers), 404, "not_found")
    listed = await client.get("/api/v1/business-assets", headers=tenant_b.headers)
    assert listed.json()["items"] == []
    assert (await client.get(path, headers=tenant_a.headers)).json() == asset


async def test_an_unknown_asset_id_is_404(client, tenant_a: Caller) -> None:
    for asset_id in ("no-such-asset", "00000000-0000-0000-0000-000000000000"):
        response = await client.get(f"/api/v1/business-assets/{asset_id}", headers=tenant_a.headers)
        error_of(response, 404, "not_found")


async def test_invalid_asset_is_422_and_stores_nothing(
    client, tenant_a: Caller, fresh_db, subtests
) -> None:
    cases = {
        "bad type": ({"asset_type": "bad type!", "content": {}}, "body.asset_type"),
        "empty type": ({"asset_type": "", "content": {}}, "body.asset_type"),
        "long type": ({"asset_type": "x" * 51, "content": {}}, "body.asset_type"),
        "list content": ({"asset_type": "branding", "content": [1, 2]}, "body.content"),
        "no content": ({"asset_type": "branding"}, "body.content"),
        "null content": ({"asset_type": "branding", "content": None}, "body.content"),
        "unknown field": ({"asset_type": "branding", "content": {}, "owner": 2}, "body.owner"),
    }
    for name, (body, location) in cases.items():
        with subtests.test(msg=name):
            response = await client.post(
                "/api/v1/business-assets", headers=tenant_a.headers, json=body
            )
            assert location in error_of(response, 422, "validation_error")["message"]
    assert (await sql(fresh_db, "SELECT count(*) AS n FROM business_assets"))[0]["n"] == 0


async def test_invalid_asset_update_is_422_and_changes_nothing(
    client, tenant_a: Caller, subtests
) -> None:
    asset = await create_asset(client, tenant_a, asset_type="branding", content=BRANDING)
    path = f"/api/v1/business-assets/{asset['id']}"
    cases = {
        "bad type": {"asset_type": "no spaces allowed"},
        "list content": {"content": ["a"]},
        "null content": {"content": None},
        "null is_active": {"is_active": None},
        "unknown field": {"tenant_id": 99},
    }
    for name, fields in cases.items():
        with subtests.test(msg=name):
            response = await client.patch(path, headers=tenant_a.headers, json=fields)
            assert next(iter(fields)) in error_of(response, 422, "validation_error")["message"]
    assert (await client.get(path, headers=tenant_a.headers)).json() == asset
