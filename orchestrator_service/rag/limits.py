"""Caps on what parsing one upload may expand into, each a setting named in its error."""

from dataclasses import dataclass

from orchestrator_service.rag.documents import ParseError


@dataclass(frozen=True)
class ParseLimits:
    """What one upload may expand into; the defaults are those of the ORCH_INGEST_ settings
    (config.py cannot import this module: tests/test_config.py checks they agree)."""

    max_expanded_mb: int = 512  # a zip's members, uncompressed (a zip bomb)
    max_docx_xml_mb: int = 64  # a Word document's text and markup, word/document.xml
    max_pages: int = 2000  # of a PDF
    max_characters: int = 10_000_000  # of text, decoded or extracted
    max_chat_messages: int = 200_000  # of a WhatsApp export


def over_limit(what: str, limit: str, setting: str) -> ParseError:
    """The failure of an upload that goes over a limit: what, how far, and which setting."""
    return ParseError(
        f"{what} more than {limit} (limit ORCH_INGEST_{setting.upper()}). Split it into "
        "smaller files and upload those.",
        details={"limit": f"ORCH_INGEST_{setting.upper()}"},
    )
