"""Markdown and plain text: kept as written, told apart by Markdown markers."""

from orchestrator_service.patterns import compile_pattern
from orchestrator_service.rag.documents import ParsedDocument
from orchestrator_service.rag.parsers.sniff import SNIFF

_MARKDOWN_SUFFIXES = (".md", ".markdown")
_MARKDOWN = compile_pattern(
    r"^#{1,6}\s+\S|^```|^\s*\|?\s*:?-{3,}:?\s*\||\[[^\]\n]+\]\([^)\s]+\)|\*\*[^*\n]+\*\*",
    multiline=True,
)


def parse_plain(text: str, suffix: str) -> ParsedDocument:
    """The stripped text, as Markdown under a Markdown suffix or with two markers, else plain."""
    kind = "md" if _looks_like_markdown(text, suffix) else "txt"
    return ParsedDocument(kind=kind, text=text.strip())


def _looks_like_markdown(text: str, suffix: str) -> bool:
    return suffix in _MARKDOWN_SUFFIXES or len(_MARKDOWN.findall(text[:SNIFF])) >= 2
