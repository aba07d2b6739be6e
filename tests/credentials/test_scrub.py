"""Scrubbing per tenant: each tenant's outputs are scrubbed with its own secrets and the global
ones only, structures string by string, streams across their pieces, in linear time, within
bounded memory; logs with every secret."""

import json
import logging
from urllib.parse import quote

import pytest

from orchestrator_service.credentials import scrub
from orchestrator_service.credentials.scrub import MARKER, SecretMemory

A, B = 1, 2
SECRET_A = "sk-tenantA-Ocelot-55c1d9e0"
SECRET_B = "sk-tenantB-Jackal-0b7e42aa"
GLOBAL = "sk-platform-Heron-e3f9a871"


@pytest.fixture
def memory() -> SecretMemory:
    """A memory holding one secret of tenant A, one of tenant B and one global one."""
    memory = SecretMemory()
    memory.remember(A, SECRET_A)
    memory.remember(B, SECRET_B)
    memory.remember(None, GLOBAL)
    return memory


def test_a_tenant_is_scrubbed_of_its_own_and_the_global_secrets_only(memory) -> None:
    text = f"a={SECRET_A} b={SECRET_B} g={GLOBAL}"

    assert memory.for_tenant(A).text(text) == f"a={MARKER} b={SECRET_B} g={MARKER}"
    # Tenant B's output keeps A's value as it is: scrubbing it would tell B it is a secret.
    assert memory.for_tenant(B).text(text) == f"a={SECRET_A} b={MARKER} g={MARKER}"


def test_short_common_secrets_corrupt_no_other_tenant(memory) -> None:
    for common in ("a", "the", "1234", '": "', "{}", "null"):
        memory.remember(A, common)
    answer = {"the": 'a "1234" of the {} null', "list": ["1234", None, 1234]}

    assert memory.for_tenant(B).value(answer) == answer
    # Tenant A's own output loses only its own value of at least MIN_LENGTH characters.
    assert memory.for_tenant(A).value(answer) == {
        "the": f'a "{MARKER}" of the {{}} {MARKER}',
        "list": [MARKER, None, 1234],
    }


def test_structures_are_scrubbed_string_by_string_never_as_json(memory) -> None:
    # A secret made of JSON syntax would break serialized JSON; strings keep their structure.
    memory.remember(A, '", "')
    answer = {"k": 'x", "y', f"key {SECRET_A}": [f"v {SECRET_A}", {"n": 1.5, "ok": True}]}

    scrubbed = memory.for_tenant(A).value(answer)

    assert scrubbed == {
        "k": f"x{MARKER}y",
        f"key {MARKER}": [f"v {MARKER}", {"n": 1.5, "ok": True}],
    }
    json.dumps(scrubbed)


def test_encoded_forms_of_a_secret_are_scrubbed_too() -> None:
    memory = SecretMemory()
    secret = 'pa ss"wörd\\%&/ü  '
    memory.remember(A, secret)
    forms = [
        secret,
        secret.strip(),  # as a header carries it
        quote(secret, safe=""),  # as a URL carries it
        json.dumps(secret)[1:-1],  # as JSON text carries it
        json.dumps(secret, ensure_ascii=False)[1:-1],
    ]

    for form in forms:
        assert memory.for_tenant(A).text(f"<{form}>") == f"<{MARKER}>", form


def test_values_are_made_storable() -> None:
    scrubbed = (
        SecretMemory()
        .for_tenant(A)
        .value({"nul": "a\x00b", "surrogate": "x\ud800y", "nan": float("nan"), "inf": float("inf")})
    )

    assert scrubbed == {"nul": "a\ufffdb", "surrogate": "x?y", "nan": None, "inf": None}
    json.dumps(scrubbed, allow_nan=False).encode()


def test_a_secret_split_across_streamed_pieces_is_caught_whole(memory) -> None:
    text = f"Your key is {SECRET_A}, and {GLOBAL}; bye {SECRET_A[:-1]}"
    for size in (1, 2, 3, 7, 40):
        stream = memory.for_tenant(A).stream()
        pieces = [text[i : i + size] for i in range(0, len(text), size)]

        emitted = [stream.feed(piece) for piece in pieces] + [stream.flush()]

        # Nothing was let out early: the pieces add up to the scrubbed whole.
        assert "".join(emitted) == memory.for_tenant(A).text(text), size


def test_a_stream_holds_back_only_what_may_start_a_secret(memory) -> None:
    long_secret = "-----BEGIN PRIVATE KEY-----" + "k" * 4_000
    memory.remember(A, long_secret)
    stream = memory.for_tenant(A).stream()

    # Ordinary text flows on at once, whatever the length of the tenant's secrets.
    assert stream.feed("Hello, ") == "Hello, "
    assert stream.feed("a short one: sk-ten") == "a short one: "
    assert stream.feed(f"{SECRET_A[6:]}!") == f"{MARKER}!"
    # Text holding the start of a secret waits until it cannot be that secret any more.
    assert stream.feed(" -----BEGIN PUBLIC KEY----- ") == " "
    assert stream.feed("k" * 4_100) == "-----BEGIN PUBLIC KEY----- " + "k" * 4_100
    assert stream.feed(f" {long_secret[:100]}") == " "
    assert stream.feed(f"{long_secret[100:]} bye") == f"{MARKER} bye"
    assert stream.flush() == ""


def test_a_secret_is_scrubbed_as_soon_as_it_is_remembered(memory) -> None:
    scrubber = memory.for_tenant(A)
    later = "sk-tenantA-Lynx-8d0c3f11"
    assert scrubber.text(later) == later

    memory.remember(A, later)

    assert scrubber.text(later) == MARKER


def test_each_owner_is_bounded_by_count_and_size(monkeypatch) -> None:
    monkeypatch.setattr(scrub, "OWNER_MAX_SECRETS", 3)
    monkeypatch.setattr(scrub, "OWNER_MAX_CHARS", 10_000)
    memory = SecretMemory()
    secrets = [f"secret-number-{i:04d}" for i in range(5)]
    for secret in secrets:
        memory.remember(A, secret)
    # Past the cap the least recently used are forgotten; using one again keeps it.
    memory.remember(A, secrets[2])
    memory.remember(A, "secret-number-late")

    kept = [s for s in secrets if memory.for_tenant(A).text(s) == MARKER]
    assert kept == [secrets[2], secrets[4]]

    monkeypatch.setattr(scrub, "OWNER_MAX_CHARS", 200)
    sized = SecretMemory()
    for i in range(20):
        sized.remember(A, f"{i:02d}-" + "x" * 30)
    owner = sized._owners[A]
    assert owner.chars <= 200 and len(owner.secrets) < 20


def test_all_tenants_together_are_bounded_and_the_global_secrets_stay(monkeypatch) -> None:
    monkeypatch.setattr(scrub, "TOTAL_MAX_CHARS", 2_000)
    memory = SecretMemory()
    memory.remember(None, GLOBAL)
    for tenant in range(1, 201):
        memory.remember(tenant, f"tenant-{tenant:03d}-secret-value")

    assert memory._chars <= 2_000
    # The least recently used tenants were forgotten first; the global secrets were not.
    assert memory.for_tenant(1).text(f"tenant-001-secret-value {GLOBAL}") == (
        f"tenant-001-secret-value {MARKER}"
    )
    assert memory.for_tenant(200).text("tenant-200-secret-value") == MARKER


def test_matching_reads_the_text_once() -> None:
    memory = SecretMemory()
    # Patterns sharing a long prefix with the text: trying them one by one at every position
    # would compare about 4e9 characters here; a linear-time matcher reads 4 MB once.
    for i in range(1_000):
        memory.remember(A, "a" * 1_000 + f"{i:04d}")
    scrubber = memory.for_tenant(A)
    scrubber.text("compiles the patterns")
    text = "a" * 4_000_000
    assert scrubber.text(text) == text


def test_log_records_are_scrubbed_of_every_tenants_secrets(memory, caplog) -> None:
    caplog.set_level(logging.INFO)
    scrub.install_log_scrubbing()

    logging.getLogger("tests.scrub").info("a=%s b=%s g=%s", SECRET_A, SECRET_B, GLOBAL)
    try:
        raise ValueError(f"failed with {quote(SECRET_B, safe='')}")
    except ValueError:
        logging.getLogger("tests.scrub").exception("oops")

    assert f"a={MARKER} b={MARKER} g={MARKER}" in caplog.records[0].getMessage()
    assert SECRET_B not in caplog.text and "failed with" in caplog.text


def test_a_secret_in_logged_bytes_is_scrubbed_in_either_quote_style(caplog) -> None:
    # Found by the property test: HTTP libraries log header values as the repr of bytes.
    memory = SecretMemory()
    secret = "x'\"\\sk-tenantA-Marmot-7a1c"
    memory.remember(A, secret)
    caplog.set_level(logging.DEBUG)
    scrub.install_log_scrubbing()

    for value in (secret, f"Bearer {secret}", f'say "{secret}"', f"it's {secret}"):
        logging.getLogger("tests.scrub").debug("headers=%r", [(b"X-Key", value.encode())])

    assert all("sk-tenantA-Marmot" not in r.getMessage() for r in caplog.records)
    assert all(MARKER in r.getMessage() for r in caplog.records)
