"""An upload's form fields are refused with a 422 that says what is wrong, never a 500, when
they hold what PostgreSQL cannot store: a NUL character in the collection name, or a NUL or an
unpaired surrogate escaped inside the `metadata` JSON, or JSON nested thousands deep. Nothing
is kept from a refused upload."""

import json

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.helpers import Caller, error_of, sql
from tests.rag.helpers import DOCS


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"collection": "Ventas\x00Peru"}, "collection"),
        ({"metadata": json.dumps({"source": "crm\x00"})}, "metadata"),
        ({"metadata": '{"source": "\\ud800"}'}, "metadata"),
        ({"metadata": json.dumps({"tags": [{"deep": "\x00"}]})}, "metadata"),
        ({"metadata": json.dumps({"a\x00": 1})}, "metadata"),
        ({"metadata": '{"a":' * 5000 + "1" + "}" * 5000}, "metadata"),
    ],
    ids=["nul_collection", "nul_value", "lone_surrogate", "nested_nul", "nul_key", "deep"],
)
async def test_unstorable_form_fields_are_refused_clearly(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL, fields: dict, field: str
) -> None:
    response = await lenient_client.post(
        DOCS,
        headers=tenant_a.headers,
        files={"file": ("faq.txt", b"Las devoluciones son gratis.")},
        data=fields,
    )

    error = error_of(response, 422)
    assert field in error["message"]
    rows = await sql(fresh_db, "SELECT count(*) AS n FROM rag_documents")
    assert rows[0]["n"] == 0


async def test_ordinary_unicode_in_the_same_fields_is_kept(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    response = await client.post(
        DOCS,
        headers=tenant_a.headers,
        files={"file": ("faq.txt", b"Las devoluciones son gratis.")},
        data={"collection": "Atención ✓ \u202e", "metadata": json.dumps({"fuente": "CRM 🙂"})},
    )

    assert response.status_code == 202, response.text
    assert response.json()["collection"] == "Atención ✓ \u202e"
