"""Token-aware chunking: window limits with special tokens, overlap, no lost text, chat windows.

Token counts are checked against the embedder's own tokenizer, independently of the module.
"""

import itertools
import random
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from orchestrator_service.rag.chunking import chunk
from orchestrator_service.rag.documents import Chunk, ParsedDocument, ParseError, Turn
from orchestrator_service.rag.embedders.local import MAX_TOKENS, load_tokenizer
from orchestrator_service.rag.parsers import parse

SAMPLES = Path(__file__).parent / "samples"
TOKENIZER = load_tokenizer(for_counting=True)
PROSE = (
    "el cliente pidió un café con leche mientras la tienda abría sus puertas y los "
    "empleados preparaban pedidos para la entrega urgente de la mañana siguiente"
)
WORDS = PROSE.split()


def tokens(text: str) -> int:
    """What the model sees, [CLS] and [SEP] included."""
    return len(TOKENIZER.encode(text).ids)


def sentences(count: int, seed: int = 7, words: tuple[int, int] = (4, 30)) -> list[str]:
    """Numbered Spanish sentences of varied length, each one unique."""
    rng = random.Random(seed)
    return [
        f"Frase {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(*words))) + "."
        for i in range(count)
    ]


def assert_well_formed(chunks: list[Chunk], max_tokens: int) -> None:
    """Sequential indexes, real token counts, none over the window."""
    assert chunks
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.content.strip()
        assert c.tokens == tokens(c.content)
        assert c.tokens <= max_tokens


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


# Text documents ----------------------------------------------------------------------------


def test_a_50k_character_text_fits_the_window_and_loses_no_sentence() -> None:
    parts = sentences(700)
    text = " ".join(parts)
    assert len(text) > 50_000

    chunks = chunk(ParsedDocument(kind="txt", text=text))

    assert_well_formed(chunks, MAX_TOKENS)
    assert max(c.tokens for c in chunks) > MAX_TOKENS - 40  # windows are filled, not tiny
    for sentence in parts:
        assert any(sentence in c.content for c in chunks), sentence


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    # The splitter repeats whole sentences that fit the overlap, so these are short.
    text = " ".join(sentences(400, words=(3, 8)))

    chunks = chunk(ParsedDocument(kind="txt", text=text), overlap=32)

    assert len(chunks) > 10
    for previous, following in itertools.pairwise(chunks):
        start = previous.content.find(following.content.split(". ")[0] + ".")
        repeated = previous.content[start:]
        assert start > 0
        assert following.content.startswith(repeated)
        assert tokens(repeated) - 2 <= 32


def test_without_overlap_the_chunks_are_the_text_cut_in_order() -> None:
    text = " ".join(sentences(300))

    chunks = chunk(ParsedDocument(kind="txt", text=text), overlap=0)

    assert squeeze("".join(c.content for c in chunks)) == squeeze(text)


@pytest.mark.parametrize("max_tokens", [64, 128, 256])
def test_very_long_words_are_cut_to_the_window(max_tokens: int) -> None:
    text = " ".join(
        [
            "a" * 5000,  # one [UNK] to WordPiece
            "ab/" * 3000,  # punctuation makes this one "word" 6000 tokens
            "漢字" * 1500,  # one token per CJK character
            "https://example.com/" + "segmento-" * 800,
            "supercalifragilisticoespialidoso" * 100,
        ]
    )

    chunks = chunk(ParsedDocument(kind="txt", text=text), max_tokens=max_tokens, overlap=0)

    assert_well_formed(chunks, max_tokens)
    assert squeeze("".join(c.content for c in chunks)) == squeeze(text)


def test_markdown_is_split_at_its_sections() -> None:
    sections = [f"## Sección {n}\n\n" + " ".join(sentences(12, seed=n)) for n in range(8)]

    chunks = chunk(ParsedDocument(kind="md", text="# Manual\n\n" + "\n\n".join(sections)))

    assert_well_formed(chunks, MAX_TOKENS)
    assert sum(c.content.startswith("## Sección") for c in chunks) >= 4


def test_pdf_chunks_carry_their_pages() -> None:
    pages = [" ".join(sentences(40, seed=n)) for n in range(3)]
    offsets = [0]
    for page in pages[:-1]:
        offsets.append(offsets[-1] + len(page) + 2)
    document = ParsedDocument(
        kind="pdf", text="\n\n".join(pages), metadata={"pages": 3, "page_offsets": offsets}
    )

    chunks = chunk(document)

    assert_well_formed(chunks, MAX_TOKENS)
    for c in chunks:
        first, last = c.metadata["first_page"], c.metadata["last_page"]
        assert 1 <= first <= last <= 3
        assert c.content in "\n\n".join(pages[first - 1 : last])
    assert chunks[0].metadata["first_page"] == 1
    assert chunks[-1].metadata["last_page"] == 3


@pytest.mark.parametrize("text", ["", " \n\t "])
def test_a_document_without_text_is_refused(text: str) -> None:
    with pytest.raises(ParseError):
        chunk(ParsedDocument(kind="txt", text=text))


@pytest.mark.parametrize(("max_tokens", "overlap"), [(256, 254), (256, -1), (10, 0)])
def test_impossible_sizes_are_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="no room"):
        chunk(ParsedDocument(kind="txt", text="hola"), max_tokens=max_tokens, overlap=overlap)


# Chat exports ------------------------------------------------------------------------------


def test_a_small_chat_is_one_window_with_its_pairs() -> None:
    document = parse((SAMPLES / "ios_brackets.txt").read_bytes(), "_chat.txt")

    [window] = chunk(document, participant="juan")  # names match regardless of case

    assert window.content.split("\n")[:2] == ["Ana: hola Juan", "Juan: ¡Hola Ana! ¿Cómo estás?"]
    assert "omitida" not in window.content
    assert "adjunto" not in window.content
    assert window.metadata == {
        "authors": ["Ana", "Juan"],
        "first_timestamp": "2023-12-31T21:15:07",
        "last_timestamp": "2024-01-01T00:00:45",
        "turns": 6,
        "media": 3,
        "pairs": [
            {"context": "Ana: hola Juan", "response": "¡Hola Ana! ¿Cómo estás?"},
            {
                "context": "Ana: Bien, preparando la cena.\nLa receta lleva:\n- arroz\n- gambas",
                "response": "¡Qué buena pinta!",
            },
            {"context": "Ana: ¡Feliz año nuevo!", "response": "¡Feliz año! Te quiero mucho."},
        ],
    }


def test_a_group_chat_pairs_use_everyone_since_the_participant_last_wrote() -> None:
    document = parse((SAMPLES / "android_24h_dayfirst.txt").read_bytes(), "chat.txt")

    [window] = chunk(document, participant="Juan")

    assert window.metadata["pairs"] == [
        {
            "context": "Ana: hola a todos\nLuis: ¿Quién trae el vino?",
            "response": "Yo llevo el vino\ny también el pan.\nGenial",
        },
        {"context": "Luis: ¡Feliz año!", "response": "¡Igualmente, Luis!"},
    ]


def long_chat(rounds: int) -> list[Turn]:
    """Ana asks, Luis sometimes adds something or a photo, Juan answers in one or two messages."""
    rng = random.Random(11)
    start = datetime(2024, 3, 1, 9, 0)
    turns: list[Turn] = []

    def say(author: str, text: str, media: bool = False) -> None:
        turns.append(Turn(author, text, start + timedelta(minutes=len(turns)), media))

    for i in range(rounds):
        say("Ana", f"pregunta {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(2, 6))))
        if i % 3 == 0:
            say("Luis", f"comentario {i}")
        if i % 4 == 0:
            say("Luis", "", media=True)
        say("Juan", f"respuesta {i}: " + " ".join(rng.choices(WORDS, k=rng.randint(1, 5))))
        if i % 5 == 0:
            say("Juan", f"y además {i}")
    return turns


def shared_lines(previous: list[str], following: list[str]) -> list[str]:
    """The longest run of lines ending `previous` that also starts `following`."""
    for size in range(min(len(previous), len(following)), 0, -1):
        if previous[-size:] == following[:size]:
            return previous[-size:]
    return []


def test_long_chats_become_overlapping_windows_with_every_pair_once() -> None:
    turns = long_chat(120)
    document = ParsedDocument(kind="whatsapp", turns=turns)

    chunks = chunk(document, max_tokens=64, overlap=32, participant="Juan")

    assert_well_formed(chunks, 64)
    assert len(chunks) > 20
    for previous, following in itertools.pairwise(chunks):
        repeated = shared_lines(previous.content.split("\n"), following.content.split("\n"))
        assert 1 <= len(repeated) <= 2  # one or two turns ...
        assert sum(tokens(line) - 2 for line in repeated) <= 32  # ... within the overlap
        assert previous.metadata["first_timestamp"] <= following.metadata["first_timestamp"]
    for turn in turns:
        if turn.text:
            assert any(f"{turn.author}: {turn.text}" in c.content for c in chunks)
    assert sum(c.metadata["media"] for c in chunks) == sum(t.media for t in turns)

    pairs = [pair for c in chunks for pair in c.metadata["pairs"]]
    assert [pair["response"].split(":")[0] for pair in pairs] == [
        f"respuesta {i}" for i in range(120)
    ]
    for i, pair in enumerate(pairs):
        assert pair["context"].startswith(f"Ana: pregunta {i}:")
        if i % 5 == 0:
            assert pair["response"].endswith(f"\ny además {i}")


def test_window_metadata_matches_its_lines() -> None:
    turns = long_chat(30)

    chunks = chunk(ParsedDocument(kind="whatsapp", turns=turns), max_tokens=64)

    stamp = {f"{t.author}: {t.text}": t.timestamp.isoformat() for t in turns if t.text}
    for c in chunks:
        lines = c.content.split("\n")
        assert c.metadata["first_timestamp"] == stamp[lines[0]]
        assert c.metadata["last_timestamp"] == stamp[lines[-1]]
        assert c.metadata["authors"] == list(dict.fromkeys(line.split(":")[0] for line in lines))
        assert "pairs" not in c.metadata


def test_a_turn_longer_than_the_window_is_split_and_keeps_its_author() -> None:
    speech = " ".join(sentences(60))
    turns = [
        Turn("Ana", "¿Me cuentas la historia?", datetime(2024, 1, 1, 10, 0)),
        Turn("Juan", speech, datetime(2024, 1, 1, 10, 1)),
        Turn("Ana", "¡Qué historia!", datetime(2024, 1, 1, 10, 2)),
    ]

    chunks = chunk(ParsedDocument(kind="whatsapp", turns=turns), participant="Juan")

    assert_well_formed(chunks, MAX_TOKENS)
    pieces = [line for c in chunks for line in c.content.split("\n") if line.startswith("Juan: ")]
    assert len(pieces) > 3
    for sentence in sentences(60):
        assert any(sentence in piece for piece in pieces)
    [pair] = [pair for c in chunks for pair in c.metadata["pairs"]]
    assert pair == {"context": "Ana: ¿Me cuentas la historia?", "response": speech}


def test_an_unknown_participant_is_refused_with_the_real_names() -> None:
    document = parse((SAMPLES / "android_12h.txt").read_bytes(), "chat.txt")

    with pytest.raises(ParseError, match="participants are: Ana, Juan"):
        chunk(document, participant="Pedro")


def test_a_chat_of_only_media_has_nothing_to_index() -> None:
    turns = [Turn("Ana", "", datetime(2024, 1, 1), media=True)]

    with pytest.raises(ParseError, match="no text"):
        chunk(ParsedDocument(kind="whatsapp", turns=turns))
