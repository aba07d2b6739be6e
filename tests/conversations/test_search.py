"""Full-text search over a tenant's conversations and messages (seeds 000 and 002): Spanish
and English stemming, ranking, highlights as segments, filters and pages, the tenant's own
conversations only, odd query syntax never an error, and the GIN indexes in use."""

import asyncpg
import httpx
import pytest

from orchestrator_service.db.urls import asyncpg_dsn
from tests.helpers import PASSWORD, Caller, create_user, error_of, login, sql

SEARCH = "/api/v1/conversations/search"


async def _conversation(
    client: httpx.AsyncClient, caller: Caller, title: str, *messages: tuple[str, str], **extra
) -> str:
    """A conversation with these (role, content) messages; its id."""
    made = await client.post(
        "/api/v1/conversations", headers=caller.headers, json={"title": title, **extra}
    )
    assert made.status_code == 201, made.text
    for role, content in messages:
        added = await client.post(
            f"/api/v1/conversations/{made.json()['id']}/messages",
            headers=caller.headers,
            json={"role": role, "content": content},
        )
        assert added.status_code == 201, added.text
    return made.json()["id"]


async def _search(client: httpx.AsyncClient, caller: Caller, q: str, **params) -> dict:
    response = await client.get(SEARCH, headers=caller.headers, params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _marked(hit: dict) -> list[str]:
    return [s["text"] for s in hit["highlight"] if s["match"]]


async def test_spanish_and_english_words_are_found_by_their_stems(client, tenant_a: Caller) -> None:
    spanish = await _conversation(
        client,
        tenant_a,
        "Pedido de zapatos",
        ("user", "Quiero cambiar los zapatos que compré ayer"),
        ("assistant", "Claro, podemos cambiarlos por otra talla"),
    )
    english = await _conversation(
        client, tenant_a, "Shipping", ("user", "My parcels were shipped to the wrong city")
    )

    es = await _search(client, tenant_a, "cambio de zapato", language="es")
    shoes = await _search(client, tenant_a, "zapato", language="es")
    en = await _search(client, tenant_a, "parcel shipping", language="en")

    # Every word must match (cambi & zapat): only the user's message has both stems.
    ((hit,),) = [es["items"]]
    assert (hit["conversation_id"], hit["kind"], hit["role"]) == (spanish, "message", "user")
    assert hit["language"] == "es"
    assert set(_marked(hit)) == {"cambiar", "zapatos"}
    kinds = sorted((h["kind"], h["role"] or "") for h in shoes["items"])
    assert kinds == [("message", "user"), ("title", "")]
    assert {h["conversation_id"] for h in en["items"]} == {english}
    assert set(_marked(en["items"][0])) >= {"parcels", "shipped"}
    both = await _search(client, tenant_a, "zapatos shipped or zapatos")
    assert spanish in {h["conversation_id"] for h in both["items"]}


async def test_hits_are_ranked_and_paged(client, tenant_a: Caller) -> None:
    strong = await _conversation(
        client, tenant_a, "Factura", ("user", "factura factura: la factura no llegó, la factura")
    )
    weak = await _conversation(
        client,
        tenant_a,
        "Otro tema",
        ("user", "hola, una pregunta sobre envíos, horarios y al final algo de una factura"),
    )

    first = await _search(client, tenant_a, "factura", language="es", limit=1)
    second = await _search(
        client, tenant_a, "factura", language="es", limit=1, cursor=first["next_cursor"]
    )
    rest = await _search(
        client, tenant_a, "factura", language="es", limit=5, cursor=second["next_cursor"]
    )

    ordered = [h["conversation_id"] for h in first["items"] + second["items"] + rest["items"]]
    assert ordered[0] == strong
    assert set(ordered) == {strong, weak}
    assert len(ordered) == 3  # strong's message and title, weak's message
    ranks = [h["rank"] for h in first["items"] + second["items"] + rest["items"]]
    assert ranks == sorted(ranks, reverse=True)
    assert rest["next_cursor"] is None


async def test_filters_narrow_the_hits(client, tenant_a: Caller) -> None:
    web = await _conversation(client, tenant_a, "reembolso web", channel="web")
    await _conversation(client, tenant_a, "reembolso whatsapp", channel="whatsapp")

    found = await _search(client, tenant_a, "reembolso", channel="web")
    later = await _search(client, tenant_a, "reembolso", since="2999-01-01T00:00:00Z")

    assert [h["conversation_id"] for h in found["items"]] == [web]
    assert later["items"] == []


async def test_another_tenants_conversations_are_never_found(
    client, tenant_a: Caller, tenant_b: Caller
) -> None:
    await _conversation(client, tenant_a, "secreto", ("user", "el código secreto es girasol"))

    assert (await _search(client, tenant_b, "girasol"))["items"] == []
    assert (await _search(client, tenant_b, "secreto"))["items"] == []
    assert len((await _search(client, tenant_a, "girasol"))["items"]) == 1


async def _user(client: httpx.AsyncClient, admin: Caller, email: str) -> Caller:
    """A member of the admin's tenant, calling through a session of theirs."""
    await create_user(client, admin.headers, email, role="member", password=PASSWORD)
    return Caller(api_key=await login(client, email), tenant_id=admin.tenant_id)


async def test_another_users_private_conversations_are_never_found(
    client, tenant_a: Caller
) -> None:
    alice = await _user(client, tenant_a, "alice-search@example.com")
    bob = await _user(client, tenant_a, "bob-search@example.com")
    await _conversation(
        client, alice, "privado", ("user", "mi clave es tulipán"), visibility="private"
    )

    assert (await _search(client, bob, "tulipán"))["items"] == []
    assert (await _search(client, bob, "privado"))["items"] == []
    assert (await _search(client, tenant_a, "tulipán"))["items"] == []  # a key of no user
    assert len((await _search(client, alice, "tulipán"))["items"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "!!!",
        "a & | b",
        "(((",
        "'",
        '"unclosed phrase',
        "foo:*",
        "-",
        "or or or",
        "\\",
        "<script>alert(1)</script>",
        "le 😀 ñandú",
        "x" * 500,
        "el la de",  # only stop words
    ],
)
async def test_odd_query_syntax_is_never_an_error(client, tenant_a: Caller, query: str) -> None:
    await _conversation(client, tenant_a, "ñandú", ("user", "vi un ñandú y un zorro"))

    response = await client.get(SEARCH, headers=tenant_a.headers, params={"q": query})

    assert response.status_code == 200, response.text
    assert isinstance(response.json()["items"], list)


async def test_stored_text_cannot_fake_a_highlight(client, tenant_a: Caller) -> None:
    await _conversation(
        client, tenant_a, "marcas", ("user", "texto \ue000falso\ue001 y luego girasoles")
    )

    (hit,) = (await _search(client, tenant_a, "girasoles"))["items"]

    assert _marked(hit) == ["girasoles"]
    assert "\ue000" not in "".join(s["text"] for s in hit["highlight"])


async def test_bad_input_is_422(client, tenant_a: Caller) -> None:
    cases = [
        {"q": ""},
        {"q": "x" * 501},
        {"q": "a\u0000b"},
        {"q": "x", "language": "fr"},
        {"q": "x", "cursor": "not-a-cursor"},
        {"q": "x", "limit": 0},
    ]
    for params in cases:
        response = await client.get(SEARCH, headers=tenant_a.headers, params=params)
        assert response.status_code == 422, f"{params}: {response.text}"
    error_of(
        await client.get(
            SEARCH, headers=tenant_a.headers, params={"q": "x", "cursor": "YXQ6OTk5OTk"}
        ),
        422,
        "invalid_input",
    )


async def test_the_healer_made_the_gin_indexes_and_search_uses_them(fresh_db, runtime) -> None:
    rows = await sql(
        fresh_db,
        "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%fts%' "
        "ORDER BY indexname",
    )
    assert {r["indexname"] for r in rows} == {
        "ix_chat_conversations_title_fts_en",
        "ix_chat_conversations_title_fts_es",
        "ix_chat_messages_content_fts_en",
        "ix_chat_messages_content_fts_es",
    }
    assert all("USING gin" in r["indexdef"] for r in rows)
    conn = await asyncpg.connect(asyncpg_dsn(fresh_db))
    try:
        # An empty table is scanned whatever the indexes: forbid that to see the index chosen.
        await conn.execute("SET enable_seqscan = off")
        plan = await conn.fetch(
            "EXPLAIN SELECT id FROM chat_messages WHERE to_tsvector('spanish'::regconfig, "
            "content) @@ websearch_to_tsquery('spanish'::regconfig, 'zapatos')"
        )
    finally:
        await conn.close()
    assert "ix_chat_messages_content_fts_es" in "\n".join(r[0] for r in plan)
