"""What every format module shares: the sniffing window, text decoding, the reader guard."""

import codecs
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

import lxml.etree

from orchestrator_service.rag.documents import ParseError

SNIFF = 8192  # characters looked at to recognise a text format


def decode(data: bytes) -> tuple[str, str] | None:
    """The text and its encoding, or None when the bytes are not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = data.decode("utf-16", errors="replace"), "utf-16"
    else:
        text, encoding = _decode_8bit(data)
    sample = text[:SNIFF]
    controls = sum(
        1 for char in sample if unicodedata.category(char) == "Cc" and char not in "\t\n\r\f\v"
    )
    if controls * 20 > len(sample):  # binary data decoded as latin-1 is ~25% control codes
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _decode_8bit(data: bytes) -> tuple[str, str]:
    # cp1252 before latin-1: Windows files are the usual non-UTF-8 text, and latin-1 would
    # turn their curly quotes and euro signs into control characters.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), encoding.removesuffix("-sig")
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


@contextmanager
def reading(label: str) -> Iterator[None]:
    """Report any failure of a third-party reader as a damaged file, except running out of
    memory, which the worker process reports as its memory limit."""
    try:
        yield
    except (ParseError, MemoryError):
        raise
    except Exception as error:  # readers raise many unrelated types on malformed input
        if _out_of_memory(error):
            raise MemoryError from error
        raise ParseError(
            f"The {label} is damaged and cannot be read. Open it, save or export it again, "
            "and upload the new copy."
        ) from error


def _out_of_memory(error: Exception) -> bool:
    """Whether libxml2 (under python-docx) failed to allocate: lxml then raises a syntax
    error that could not even say which."""
    message = getattr(error, "msg", "")  # SyntaxError's, without the position
    return isinstance(error, lxml.etree.XMLSyntaxError) and (
        message == "unknown error" or "Memory allocation failed" in message
    )
