"""The console in headless Chromium against the service served on loopback: sign-in, a
credential whose value never comes back, uploads by drag and drop with progress seen moving to
`ready`, a search that finds the upload, an agent created and run with its answer streamed
into the page, and a second tenant who sees nothing of the first. Screenshots of the main
pages go to the test's output directory."""

import base64
import json
import uuid
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from orchestrator_service.tenants import service as tenant_service
from tests.agents.helpers import add_catalogue_model
from tests.console.conftest import Embeddings, Served
from tests.helpers import PASSWORD, TEST_ACTOR, new_tenant
from tests.scripted_model import Call, Say, ScriptedModel

RARE = "quetzalcoatlus"
SENTENCE = "El comité revisa cada contrato de suministro con el área legal antes de firmarlo."


def long_document() -> str:
    """A text of well over one embedding batch (64 chunks), one paragraph naming RARE."""
    paragraphs = [f"Párrafo {i}. " + " ".join([SENTENCE] * 12) for i in range(420)]
    paragraphs[200] = f"El fósil de {RARE} se guarda en la sala norte del museo."
    return "\n\n".join(paragraphs)


async def go(page: Page, section: str) -> None:
    """Open a console section from the navigation and wait until its controls are wired."""
    async with page.expect_navigation():
        await page.get_by_role("link", name=section).click()
    await page.wait_for_selector("body[data-ready]")


async def drop_files(page: Page, files: dict[str, str]) -> None:
    """Drop files onto the drop zone as a user dragging them from their desktop would."""
    await page.evaluate(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, text] of Object.entries(files)) {
                transfer.items.add(new File([text], name, { type: "text/plain" }));
            }
            const zone = document.getElementById("dropzone");
            for (const type of ["dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true }));
            }
        }""",
        files,
    )


async def progress_of(page: Page, filename: str) -> tuple[str, str]:
    """The (status, progress label) the documents table shows for a file."""
    row = page.locator(f'tr[data-document="{filename}"]')
    status = await row.locator("[data-status]").inner_text()
    return status, await row.locator("[data-progress]").inner_text()


def recorded_bodies(har: Path) -> list[tuple[str, str]]:
    """(URL, body) of every response the browser received, from Playwright's HAR record."""
    entries = json.loads(har.read_text())["log"]["entries"]
    bodies = []
    for entry in entries:
        content = entry["response"].get("content", {})
        text = content.get("text", "")
        if content.get("encoding") == "base64":
            text = base64.b64decode(text).decode("utf-8", "replace")
        bodies.append((entry["request"]["url"], text))
    return bodies


async def test_a_tenant_works_through_the_console(
    browser: Browser,
    served: Served,
    embeddings: Embeddings,
    model: ScriptedModel,
    output_path: str,
) -> None:
    shots = Path(output_path)
    shots.mkdir(parents=True, exist_ok=True)
    tenant = await served.run(new_tenant(served.runtime, "console-a"))
    email, secret, rotated = "ana@example.org", f"sk-{uuid.uuid4().hex}", f"sk-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=served.base_url, headers=tenant.headers) as api:
        user = await api.post(
            "/api/v1/users", json={"email": email, "password": PASSWORD, "role": "admin"}
        )
        assert user.status_code == 201, user.text
        await add_catalogue_model(api, tenant, "scripted-1")

    har = shots / "network.har"
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, record_har_path=har, record_har_content="embed"
    )
    page = await context.new_page()
    seen_pages: list[str] = []

    # Sign in with email and password.
    await page.goto(f"{served.base_url}/console/documents")
    await expect(page).to_have_url(f"{served.base_url}/console/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.locator("#flash")).to_contain_text("Error:")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(f"{served.base_url}/console/documents")
    await page.wait_for_selector("body[data-ready]")
    await expect(page.locator("#whoami")).to_contain_text(email)

    # A credential: created, then rotated; its value never comes back.
    await go(page, "Credentials")
    await page.get_by_label("Name").fill("OPENAI_API_KEY")
    await page.get_by_label("Category").fill("openai")
    await page.get_by_label("Allowed hosts (comma-separated)").fill("127.0.0.1")
    await page.get_by_label("Value", exact=False).fill(secret)
    await page.get_by_role("button", name="Save credential").click()
    await expect(page.locator("#flash")).to_contain_text("Done: Credential created")
    await expect(page.locator("#credentials")).to_contain_text("OPENAI_API_KEY")
    await expect(page.get_by_label("Value", exact=False)).to_have_value("")
    await page.get_by_role("button", name="Edit or rotate OPENAI_API_KEY").click()
    await expect(page.get_by_label("Name")).to_have_value("OPENAI_API_KEY")
    await page.get_by_label("Value", exact=False).fill(rotated)
    await page.get_by_role("button", name="Save credential").click()
    await expect(page.locator("#flash")).to_contain_text("Done: Credential updated and rotated")
    await page.screenshot(path=shots / "credentials.png", full_page=True)
    seen_pages.append(await page.content())

    # Two files dropped at once; the long one stands part-way while the stand-in holds its
    # second embedding batch, then moves on to ready.
    embeddings.hold = True
    await go(page, "Documents")
    await drop_files(page, {"contratos.txt": long_document(), "nota.txt": "Una nota corta."})
    await expect(page.locator("#upload-results")).to_contain_text("Uploaded: contratos.txt")
    await expect(page.locator("#upload-results")).to_contain_text("Uploaded: nota.txt")
    await page.wait_for_function(
        """() => {
            const row = document.querySelector('tr[data-document="contratos.txt"]');
            const label = row && row.querySelector("[data-progress]");
            const m = label && label.textContent.match(/^(\\d+)\\/(\\d+) chunks$/);
            return m && Number(m[1]) > 0 && Number(m[1]) < Number(m[2]);
        }"""
    )
    status, partial = await progress_of(page, "contratos.txt")
    assert status == "processing", status
    await page.screenshot(path=shots / "documents-progress.png", full_page=True)
    embeddings.release()
    await expect(page.locator('tr[data-document="contratos.txt"] [data-status]')).to_have_text(
        "ready", timeout=60_000
    )
    await expect(page.locator('tr[data-document="nota.txt"] [data-status]')).to_have_text(
        "ready", timeout=60_000
    )
    status, final = await progress_of(page, "contratos.txt")
    done, total = final.split()[0].split("/")
    assert done == total and int(total) > 64, final
    assert partial != final  # seen moving, without a reload
    await page.get_by_label("Status").select_option("ready")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#documents tbody tr")).to_have_count(2)
    await page.screenshot(path=shots / "documents.png", full_page=True)

    # A search finds the rare word, highlighted, in the long document.
    await go(page, "Search")
    await page.get_by_label("Query").fill(RARE)
    await page.get_by_label("Top k").fill("3")
    await page.get_by_role("button", name="Search").click()
    first = page.locator("#results li").first
    await expect(first).to_contain_text("contratos.txt")
    await expect(first.locator("mark")).to_have_text(RARE)
    await page.get_by_label("Mode").select_option("hybrid")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#results li").first.locator("mark")).to_have_text(RARE)
    await page.screenshot(path=shots / "search.png", full_page=True)

    # An agent: created (the template check names its variables), then run with the answer
    # streamed into the page and the tool call shown.
    await go(page, "Agents")
    await page.get_by_label("Name").fill("Concierge")
    await page.get_by_label("System prompt template").fill("You are {{ bot }} of {{ company }}.")
    await page.get_by_label("Model provider").fill("openai_compatible")
    await page.get_by_label("Model", exact=True).fill("scripted-1")
    await page.get_by_label("Model API base URL").fill(model.base_url)
    await page.get_by_label("get_current_time").check()
    await page.get_by_role("button", name="Save agent").click()
    await expect(page.locator("#flash")).to_contain_text("Done: Agent created")
    await expect(page.locator("#template-check")).to_contain_text("bot, company")
    await expect(page.locator("#agents")).to_contain_text("Concierge")
    answer = "Hola Rosa, en Lima son las diez de la mañana."
    model.play(Call("get_current_time", {"timezone": "America/Lima"}), Say(answer))
    await page.get_by_label("Template variables").fill(
        json.dumps({"bot": "Ana", "company": "Acme"})
    )
    await page.get_by_label("Message", exact=True).fill("¿Qué hora es en Lima?")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#conversation li.tool")).to_contain_text("get_current_time")
    await expect(page.locator("[data-answer]")).to_have_text(answer)
    await expect(page.locator("#flash")).to_contain_text("Done: Run finished")
    await page.get_by_role("button", name="Show steps of execution").first.click()
    await expect(page.locator("#steps")).to_contain_text("get_current_time")
    await page.screenshot(path=shots / "agents.png", full_page=True)

    # A key, shown once; the audit log lists what happened.
    await go(page, "API keys and users")
    await page.get_by_label("Name").fill("ci key")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("[data-new-key]")).to_be_visible()
    await go(page, "Audit log")
    await expect(page.locator("#audit")).to_contain_text("rag_document")
    await page.get_by_label("Resource type").fill("credential")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("#audit tbody")).not_to_contain_text("rag_document")
    await page.screenshot(path=shots / "audit.png", full_page=True)
    seen_pages.append(await page.content())

    await context.close()  # writes the HAR
    bodies = recorded_bodies(har)
    urls = {url for url, _ in bodies}
    assert any(url.endswith("/console/api/credentials") for url in urls)
    assert any("/runs" in url for url in urls)
    for url, body in [*bodies, *(("page", html) for html in seen_pages)]:
        for value in (secret, rotated):
            assert value not in body, url


async def test_a_second_tenant_sees_nothing_of_the_first(
    browser: Browser, served: Served, output_path: str
) -> None:
    first = await served.run(new_tenant(served.runtime, "console-first"))
    second = await served.run(new_tenant(served.runtime, "console-second"))
    async with httpx.AsyncClient(base_url=served.base_url, headers=first.headers) as api:
        made = [
            await api.post(
                "/api/v1/credentials",
                json={"name": "FIRST_SECRET_NAME", "value": "sk-first-0123456789"},
            ),
            await api.post(
                "/api/v1/agents",
                json={"name": "First agent", "system_prompt_template": "Hi"},
            ),
            await api.post(
                "/api/v1/rag/documents",
                files={"file": ("first-plan.txt", b"the first tenant's plan")},
            ),
        ]
        assert [r.status_code for r in made] == [201, 201, 202]

    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{served.base_url}/console/login")
    await page.get_by_label("API key").fill(second.api_key)
    await page.get_by_role("button", name="Sign in with key").click()
    await expect(page).to_have_url(f"{served.base_url}/console/documents")
    for name, table, shown in (
        ("Documents", "#documents", "Nothing here yet"),
        ("Credentials", "#credentials", "Nothing here yet"),
        ("Agents", "#agents", "Nothing here yet"),
        ("Audit log", "#audit", "console-second"),  # its own creation only
    ):
        await go(page, name)
        await expect(page.locator(f"{table} tbody")).to_contain_text(shown)
        content = await page.content()
        for trace in ("FIRST_SECRET_NAME", "First agent", "first-plan.txt", "console-first"):
            assert trace not in content, (name, trace)
    # What a tenant names things is shown as text, never run as markup.
    async with httpx.AsyncClient(base_url=served.base_url, headers=second.headers) as api:
        hostile = '<img src=x onerror="window.pwned=1">.txt'
        uploaded = await api.post("/api/v1/rag/documents", files={"file": (hostile, b"x y z")})
        assert uploaded.status_code == 202, uploaded.text
    await go(page, "Documents")
    await expect(page.locator("#documents tbody")).to_contain_text("<img src=x")
    assert await page.evaluate("() => window.pwned") is None
    assert await page.locator("#documents img").count() == 0
    # The platform link is for platform operators only.
    await expect(page.get_by_role("link", name="Platform")).to_be_hidden()
    await context.close()

    # A platform operator sees the tenants and each database's heal report.
    platform_key = await served.run(_platform_key(served))
    operator = await browser.new_page()
    await operator.goto(f"{served.base_url}/console/login")
    await operator.get_by_label("API key").fill(platform_key)
    await operator.get_by_role("button", name="Sign in with key").click()
    await go(operator, "Platform")
    await expect(operator.locator("#tenants")).to_contain_text("console-first")
    await expect(operator.locator("[data-heal]").first).to_contain_text("applied")
    await operator.screenshot(path=Path(output_path) / "platform.png", full_page=True)
    await operator.close()


async def _platform_key(served: Served) -> str:
    async with served.runtime.sessionmaker.begin() as session:
        return await tenant_service.create_platform_key(
            session, name="console operator", actor=TEST_ACTOR
        )
