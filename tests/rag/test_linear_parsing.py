"""The parsers' patterns on their worst cases, and against the `re` patterns they replaced.

Each worst case is an input on which the old pattern backtracks for minutes or more (the
8 KB of newlines that froze the service, long chat lines for the clean-up patterns, ...):
the test asserts what parsing returns, never how long it took. Hypothesis then checks, on
generated text, that every pattern matches exactly what the `re` pattern it replaced matched
(written out below as they were), the Turkish dotless and dotted i aside (see patterns.py).
"""

import csv
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator_service.rag.parsers import parse, webpage, whatsapp
from orchestrator_service.rag.parsers import text as text_parser
from orchestrator_service.rag.parsers.tabular import _Sniffer, csv_dialect

OLD_MARKDOWN = re.compile(
    r"^#{1,6}\s+\S|^```|^\s*\|?\s*:?-{3,}:?\s*\||\[[^\]\n]+\]\([^)\s]+\)|\*\*[^*\n]+\*\*",
    re.MULTILINE,
)
OLD_HTML_ROOT = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
OLD_TAG = re.compile(r"</?[a-z][a-z0-9]*[\s/>]", re.IGNORECASE)
OLD_STAMP = re.compile(
    r"\[?(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4}),?\s+"
    r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)"
    r"(?:\s*(?P<meridiem>[ap])\.?\s*m\.?)?"
    r"(?P<close>\]\s*|\s+[-\u2013]\s+)(?P<rest>.*)",
    re.IGNORECASE,
)
OLD_MEDIA_ONLY = re.compile(
    r"<?(?:media omitted|multimedia omitido|medios omitidos|archivo omitido"
    r"|(?:image|video|audio|sticker|gif|document|contact card) omitted"
    r"|(?:imagen|v[ií]deo|audio|sticker|gif|documento) omitid[oa]|tarjeta de contacto omitida)>?",
    re.IGNORECASE,
)
OLD_ATTACHMENT = re.compile(
    r"<(?:attached|adjunto|archivo adjunto):\s*[^>]+>"
    r"|\S+\.\w{2,4} \((?:file attached|archivo adjunto)\)",
    re.IGNORECASE,
)
OLD_EDITED = re.compile(
    r"[\s\u200e]*<(?:this message was edited|se editó este mensaje\.?)>$", re.IGNORECASE
)
OLD_DELETED = re.compile(
    r"(?:this message was deleted|you deleted this message|se eliminó este mensaje"
    r"|eliminaste este mensaje|este mensaje fue eliminado)\.?",
    re.IGNORECASE,
)
OLD_BLANK_LINES = re.compile(r"\n{3,}")


def pieces(*fragments: str, max_size: int = 30) -> st.SearchStrategy[str]:
    """Text made of the fragments a pattern cares about (and a few it does not)."""
    alphabet = st.sampled_from([*fragments, "a", "Z", "7", " ", "\n", "\u202f", "\xa0", "é"])
    return st.lists(alphabet, max_size=max_size).map("".join)


# The worst cases ---------------------------------------------------------------------------


def test_eight_thousand_newlines_and_a_letter_is_plain_text() -> None:
    document = parse(b"\n" * 8000 + b"a", "notes.txt")
    assert (document.kind, document.text) == ("txt", "a")


@pytest.mark.parametrize(
    "data",
    [
        b" " * 8000 + b"|",  # the table rule's \s*\|?\s*, around and around
        b"\n" * 4000 + b"|" * 4000 + b"-",
        b"[" * 8000,  # a link that never closes
        b"**" + b"*a" * 4000,
        b"# " + b" " * 8000,
    ],
)
def test_markdown_sniffing_on_its_worst_cases_finds_no_marker(data: bytes) -> None:
    assert text_parser._MARKDOWN.findall(data.decode()) == []
    assert parse(data, "notes.txt").kind == "txt"


def test_markdown_markers_in_a_huge_text_are_counted_as_before() -> None:
    text = ("\n" * 5000 + "# Title\n" + " " * 5000 + "**bold** [a](b)\n") * 20
    assert len(text_parser._MARKDOWN.findall(text)) == 60


def test_html_sniffing_on_a_wall_of_angle_brackets() -> None:
    text = "<" * 100_000 + "html>"
    assert webpage._HTML_ROOT.search(text)
    assert webpage.looks_like_html("<" * 100_000, ".html") is False
    assert webpage._tidy("x" + "\n" * 100_000 + "y") == "x\n\ny"


def test_chat_clean_up_on_long_lines() -> None:
    n = 200_000
    word = "a" * n  # \S+\.\w{2,4} tried from every position: quadratic in `re`
    assert whatsapp._ATTACHMENT.sub("", word + ".pdf (file attached)") == ""
    assert whatsapp._ATTACHMENT.sub("", word) == word
    assert whatsapp._ATTACHMENT.sub("", "<attached: " + "x" * n) == "<attached: " + "x" * n
    spaces = " " * n  # [\s\u200e]* before a notice that is not there: quadratic in `re`
    assert whatsapp._EDITED.sub("", spaces + "<x") == spaces + "<x"
    assert whatsapp._EDITED.sub("", "hola" + spaces + "<this message was edited>") == "hola"
    assert not whatsapp._MEDIA_ONLY.fullmatch("<media omitted" * 20_000)
    assert not whatsapp._DELETED.fullmatch("this message was deleted" * 20_000)
    assert not whatsapp._STAMP.fullmatch("1" * n)
    assert not whatsapp._STAMP.fullmatch("1/1/21, 1:01" + " " * n)


def test_a_chat_of_long_messages_parses_to_its_turns() -> None:
    body = "\n".join(
        f"1/{day}/21, 10:0{day} - Ana: " + "palabra " * 30_000 + "x" * 50_000 + " "
        for day in range(1, 6)
    )
    document = parse(body.encode(), "chat.txt")
    assert document.kind == "whatsapp"
    assert [turn.author for turn in document.turns] == ["Ana"] * 5
    assert all(turn.text.endswith("x" * 50_000) for turn in document.turns)


@pytest.mark.parametrize(
    "sample",
    ['"\n' * 4096, ',"a' * 2730, ',"' * 4096, ' "a' * 2730, ',"' + '",' * 4000],
)
def test_csv_sniffing_on_quote_storms_finds_what_the_stdlib_finds(sample: str) -> None:
    assert _Sniffer()._guess_quote_and_delimiter(
        sample, ",;\t|"
    ) == csv.Sniffer()._guess_quote_and_delimiter(sample, ",;\t|")


def test_csv_sniffing_on_a_long_row_of_doubled_quotes() -> None:
    text = 'name,notes\n"a","' + '"" ' * 2500 + '"\n"b","c"\n"d","e"\n'
    dialect = csv_dialect(text, ".csv")
    assert dialect is not None and dialect.delimiter == "," and dialect.doublequote
    assert vars(_Sniffer().sniff(text)) == vars(csv.Sniffer().sniff(text))


# Same matches as the patterns they replaced --------------------------------------------------


@given(pieces("#", "```", "|", "-", ":", "[", "]", "(", ")", "**", "*", "\t"))
def test_markdown_sniff_matches_as_before(text: str) -> None:
    assert text_parser._MARKDOWN.findall(text) == OLD_MARKDOWN.findall(text)


@given(pieces("<", ">", "/", "!doctype", "html", "HEAD", "body", "b1", "\t"))
def test_html_sniffs_match_as_before(text: str) -> None:
    assert bool(webpage._HTML_ROOT.search(text)) == bool(OLD_HTML_ROOT.search(text))
    assert bool(webpage._TAG.search(text)) == bool(OLD_TAG.search(text))


@given(pieces("\n", "\n\n", "\n\n\n", "x"))
def test_blank_lines_collapse_as_before(text: str) -> None:
    assert webpage._BLANK_LINES.sub("\n\n", text) == OLD_BLANK_LINES.sub("\n\n", text)


STAMP_PIECES = pieces(
    *"0123456789",
    "\u0663",
    "/",
    ".",
    "-",
    ":",
    ",",
    "[",
    "]",
    " - ",
    " \u2013 ",
    "a",
    "p",
    "m",
    "M",
    ".",
    "Ana: ",
    max_size=25,
)


@given(STAMP_PIECES)
@example("12/31/21, 11:59\u202fp.\u00a0m. - Ana: hola")
@example("[2021-03-04 10.15.30] Bob: x")
@example("\u0663/\u0663/\u0662\u0661, \u0661:\u0660\u0661 - Ana: hola")  # Arabic-Indic
def test_the_chat_timestamp_matches_as_before(line: str) -> None:
    ours, theirs = whatsapp._STAMP.fullmatch(line), OLD_STAMP.fullmatch(line)
    assert bool(ours) == bool(theirs)
    if ours and theirs:
        for group in ("date", "time", "meridiem", "close", "rest"):
            assert ours[group] == theirs[group]


@given(
    pieces(
        "<",
        ">",
        "media omitted",
        "image omitted",
        "Video omitido",
        "vídeo omitida",
        "contact card",
        " omitted",
        "<attached: ",
        "archivo adjunto",
        "foto.jpg",
        ".pdf",
        " (file attached)",
        "\u200e",
        "<this message was edited>",
        "<se editó este mensaje.>",
        "this message was deleted",
        "Eliminaste este mensaje.",
    )
)
def test_the_chat_clean_up_matches_as_before(text: str) -> None:
    assert whatsapp._ATTACHMENT.sub("", text) == OLD_ATTACHMENT.sub("", text)
    assert whatsapp.without_edited_marker(text) == OLD_EDITED.sub("", text)
    assert bool(whatsapp._MEDIA_ONLY.fullmatch(text)) == bool(OLD_MEDIA_ONLY.fullmatch(text))
    assert bool(whatsapp._DELETED.fullmatch(text)) == bool(OLD_DELETED.fullmatch(text))


@settings(max_examples=300)
@given(pieces('"', "'", ",", ";", "\t", "|", " ", "\n", "_", '""', max_size=40), st.booleans())
def test_the_quote_guess_finds_what_the_stdlib_finds(sample: str, any_delimiter: bool) -> None:
    delimiters = None if any_delimiter else ",;\t|"

    def guess(sniffer: csv.Sniffer) -> object:
        return sniffer._guess_quote_and_delimiter(sample, delimiters)

    assert guess(_Sniffer()) == guess(csv.Sniffer())
