"""A vector database as seed 003's deployments hold it: the table and function of LangChain's
SupabaseVectorStore guide (langchain_supabase.sql, verbatim), with rows written the way its
`addDocuments` reaches the table: an upsert of {content, embedding, metadata} through
PostgREST, which runs it as the INSERT ... json_populate_recordset below (the id is the
table's bigserial)."""

import hashlib
import json
from pathlib import Path

import asyncpg
import numpy as np
from sqlalchemy.engine import URL

from orchestrator_service.db.urls import asyncpg_dsn

LANGCHAIN_SQL = (Path(__file__).parent / "langchain_supabase.sql").read_text()
DIMENSIONS = 1536

# PostgREST's translation of `from('documents').upsert(rows)`: the body as one JSON array,
# typed by the table's own row type.
_UPSERT = """
INSERT INTO documents (content, embedding, metadata)
SELECT b.content, b.embedding, b.metadata
FROM json_populate_recordset(NULL::documents, $1::json) AS b
ON CONFLICT (id) DO UPDATE
SET content = EXCLUDED.content, embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata
"""


def vector(text: str) -> list[float]:
    """A unit vector of 1536 dimensions that depends only on `text` (an OpenAI stand-in's)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    values = np.random.default_rng(seed).standard_normal(DIMENSIONS)
    return (values / np.linalg.norm(values)).tolist()


async def build_langchain_table(url: URL, rows: list[tuple[str, dict]]) -> None:
    """LangChain's table and function, and `rows` (content, metadata) added in that order."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(LANGCHAIN_SQL)
        body = [{"content": c, "embedding": vector(c), "metadata": m} for c, m in rows]
        await conn.execute(_UPSERT, json.dumps(body))
    finally:
        await conn.close()


def seed_rows(a: int, b: int) -> list[tuple[str, dict]]:
    """Chunks of tenants `a` and `b` as seed 003 wrote them (tenant, document and collection
    in the metadata), then the rows adoption must leave for the reconciler: a document the
    metadata database no longer has, a chunk of `b` naming `a`'s document, a tenant that is
    not an integer, and no tenant at all. Old ids 1 to 9, in this order."""

    def meta(tenant: object, source: str, collection: str = "General") -> dict:
        return {"tenant_id": tenant, "source_id": source, "collection": collection}

    return [
        ("La clínica abre de lunes a viernes de 9 a 18 horas.", meta(a, "doc-a1")),
        ("Una limpieza dental cuesta 40 euros.", meta(a, "doc-a1")),
        ("Aceptamos pagos con tarjeta y Bizum.", meta(a, "doc-a2", "Pagos")),
        ("La tienda envía pedidos a toda España en 48 horas.", meta(b, "doc-b1")),
        ("Las devoluciones son gratuitas durante 30 días.", meta(str(b), "doc-b1")),
        ("Un fragmento de un documento que ya no existe.", meta(a, "doc-gone")),
        ("Fragmento de B que dice ser del documento de A.", meta(b, "doc-a1")),
        ("Fragmento con un tenant que no es un número.", meta("acme", "doc-a1")),
        ("Fragmento sin tenant en sus metadatos.", {"source": "chat-export.txt"}),
    ]


async def seed_documents(url: URL, a: int, b: int) -> None:
    """The three documents of tenants `a` and `b` as seed 003's `rag_documents` held them
    (healed forward: status `queued` from the column's default, no generation, no model)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.executemany(
            "INSERT INTO rag_documents (id, tenant_id, filename, collection, file_type) "
            "VALUES ($1, $2, $3, $4, 'txt')",
            [
                ("doc-a1", a, "horario.txt", "General"),
                ("doc-a2", a, "pagos.txt", "Pagos"),
                ("doc-b1", b, "envios.txt", "General"),
            ],
        )
    finally:
        await conn.close()


async def seed_metadata(url: URL) -> tuple[int, int]:
    """Two tenants and their documents (`seed_documents`); their ids."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        a = await conn.fetchval("INSERT INTO tenants (name) VALUES ('Clínica') RETURNING id")
        b = await conn.fetchval("INSERT INTO tenants (name) VALUES ('Tienda') RETURNING id")
    finally:
        await conn.close()
    await seed_documents(url, a, b)
    return a, b


async def run_script(url: URL, script: str) -> None:
    """Run a SQL script of several statements, as a SQL editor does."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(script)
    finally:
        await conn.close()
