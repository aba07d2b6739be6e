"""The API keeps answering while hostile uploads are processed.

A real `orchestrator serve` (its job worker included) is sent one upload per regex's worst
case (the 8 KB of newlines that froze the service, chat lines that are quadratic for the old
clean-up patterns, a quote storm for the CSV sniffer, a page of blank lines), a zip bomb, two
chat-line bombs (millions of messages; a flood under the character cap), a Word document with
a huge document.xml and a PDF of 3,000 pages. While they are processed, `/health/live` and an
ordinary search are asked again and again, each with a generous client timeout: every one
must answer (they are counted; no time is asserted). Every document must end `ready` or
`failed`, the hostile ones failing with the limit they went over named.
"""

import asyncio
import io
import signal
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from pypdf import PdfWriter
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import boot
from orchestrator_service.config import Settings
from tests.helpers import ORCHESTRATOR, cli_env, finish, free_port, new_tenant, url_string
from tests.helpers import wait_ready as wait_until_ready
from tests.rag.helpers import DOCS, huge_docx

PROBE_TIMEOUT = 120.0  # seconds: generous; a frozen service would not answer at all
ROUNDS = 5000  # of probes, 0.2 s apart at least, before giving up on the documents


def chat_line(i: int) -> str:
    """A short chat line, its timestamp and author varying with `i`."""
    return f"{1 + i % 28}/{1 + i // 28 % 12}/21, {i // 60 % 24}:{i % 60:02d} - u{i % 7}: m{i}\n"


def zipped(name: str, text: str) -> bytes:
    """`text` as the one member of a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def chat_bomb(messages: int) -> bytes:
    """A WhatsApp export of `messages` short lines; 600 distinct ones repeated (a block that
    fits deflate's window), so 3 million lines zip to about half a megabyte."""
    block = "".join(chat_line(i) for i in range(600))
    return zipped("_chat.txt", block * (messages // 600))


def zip_bomb(megabytes: int) -> bytes:
    """A zip of `megabytes` MiB of zeros (about 1 KB each, compressed)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(megabytes):
            member.write(bytes(1 << 20))
    return buffer.getvalue()


def many_pages(pages: int) -> bytes:
    """A PDF of `pages` blank pages."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def long_chat() -> bytes:
    """A chat whose lines are the old clean-up patterns' worst cases: 200,000 characters
    without a space (the attachment pattern), spaces before a notice that is not there (the
    edited mark), and a timestamp followed by spaces that never close (the stamp)."""
    run = 200_000
    lines = [
        "1/5/21, 10:00 - Ana: hola",
        "1/5/21, 10:01 - Luis: " + "a" * run,
        "1/5/21, 10:02 - Ana: vale" + " " * run + "<x",
        "1/5/21, 10:03" + " " * run + "x",
        "1/5/21, 10:04 - Luis: adiós",
    ]
    return "\n".join(lines).encode()


def hostile_cases() -> dict[str, tuple[bytes, str | None]]:
    """Each upload, and the setting it must fail naming (None: it must end ready)."""
    return {
        # One per regex's worst case (the old patterns' time on them in brackets).
        "newlines.txt": (b"\n" * 8000 + b"a", None),  # Markdown sniff (cubic)
        "long_lines_chat.txt": (long_chat(), None),  # chat clean-up and stamp (quadratic)
        "quotes.csv": (b'"\n' * 4096, None),  # csv.Sniffer's quote guess (quadratic)
        "blank_lines.html": (("<html><body>" + "<p>x</p>\n\n\n" * 20_000).encode(), None),
        # Bombs: each stopped by the cap it goes over, before it is expanded.
        "zip_bomb.zip": (zip_bomb(600), "ORCH_INGEST_MAX_EXPANDED_MB"),  # 0.6 MB -> 600 MiB
        "chat_bomb.zip": (chat_bomb(3_000_000), "ORCH_INGEST_MAX_CHARACTERS"),  # 0.5 MB, 74 MB
        "chat_flood.zip": (chat_bomb(250_200), "ORCH_INGEST_MAX_CHAT_MESSAGES"),
        "huge_body.docx": (huge_docx(2_000_000), "ORCH_INGEST_MAX_DOCX_XML_MB"),  # 70 MB XML
        "pages.pdf": (many_pages(3000), "ORCH_INGEST_MAX_PAGES"),
    }


@dataclass
class Probe:
    """Answers to one request, asked again and again: how many, and the slowest."""

    answers: int = 0
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0

    async def ask(self, send) -> None:
        """Send once; count the answer (a 200) or the failure."""
        started = time.perf_counter()
        try:
            response = await send()
        except httpx.HTTPError as error:
            self.failures.append(type(error).__name__)
            return
        self.slowest = max(self.slowest, time.perf_counter() - started)
        if response.status_code == 200:
            self.answers += 1
        else:
            self.failures.append(str(response.status_code))


@pytest.fixture
def hostile_settings(settings: Settings, vectors_db: URL) -> Settings:
    """The test database and its vector store."""
    return settings.model_copy(update={"vector_database_url": SecretStr(url_string(vectors_db))})


async def test_the_api_keeps_answering_while_hostile_uploads_are_processed(
    hostile_settings: Settings, fresh_db: URL, vectors_db: URL, tmp_path: Path
) -> None:
    async with boot(hostile_settings) as runtime:
        tenant = await new_tenant(runtime, "hostile")
    env = cli_env(
        tmp_path,
        ORCH_DATABASE_URL=url_string(fresh_db),
        ORCH_VECTOR_DATABASE_URL=url_string(vectors_db),
    )
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [ORCHESTRATOR, "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    health, search = Probe(), Probe()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=PROBE_TIMEOUT, headers=tenant.headers
        ) as client:
            await wait_until_ready(client, server)
            ordinary = await upload_all(
                client, {"faq.txt": (b"Our office in Lima opens at nine.", None)}
            )
            await until_finished(client, ordinary, [])
            cases = hostile_cases()
            ids = await upload_all(client, cases)

            async def probe() -> None:
                await health.ask(lambda: client.get("/health/live"))
                await search.ask(
                    lambda: client.post(
                        "/api/v1/rag/search", json={"query": "When does the office open?"}
                    )
                )

            documents = await until_finished(client, ids, [probe])
    finally:
        server.send_signal(signal.SIGTERM)
        await finish(server, timeout=120)
        log.close()

    print(
        f"\n/health/live: {health.answers} answers, slowest {health.slowest:.2f} s; "
        f"search: {search.answers} answers, slowest {search.slowest:.2f} s"
    )
    assert health.failures == [] and search.failures == []
    assert health.answers >= len(cases) and search.answers >= len(cases)
    for name, (_, limit) in cases.items():
        document = documents[ids[name]]
        if limit is None:
            assert document["status"] == "ready", (name, document["error"])
        else:
            assert document["status"] == "failed", name
            assert f"(limit {limit})" in document["error"], (name, document["error"])


async def upload_all(
    client: httpx.AsyncClient, cases: dict[str, tuple[bytes, str | None]]
) -> dict[str, str]:
    """Upload each case; their document ids by name."""
    ids = {}
    for name, (data, _) in cases.items():
        response = await client.post(DOCS, files={"file": (name, data)})
        assert response.status_code == 202, (name, response.text)
        ids[name] = response.json()["id"]
    return ids


async def until_finished(client: httpx.AsyncClient, ids: dict[str, str], probes: list) -> dict:
    """Run the probes, round after round, until every document is ready or failed (at most
    ROUNDS rounds); the documents by id."""
    pending, finished = set(ids.values()), {}
    for _ in range(ROUNDS):
        if not pending:
            return finished
        for probe in probes:
            await probe()
        for document_id in list(pending):
            body = (await client.get(f"{DOCS}/{document_id}")).json()
            if body["status"] in ("ready", "failed"):
                finished[document_id] = body
                pending.discard(document_id)
        await asyncio.sleep(0.2)
    raise AssertionError(f"still processing after {ROUNDS} rounds: {pending}")
