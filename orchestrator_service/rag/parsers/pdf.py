"""PDF: the text layer of every page, with each page's offset in the joined text."""

import io

import pypdf

from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.limits import ParseLimits, over_limit
from orchestrator_service.rag.parsers.sniff import reading


def parse_pdf(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """The pages' text joined by blank lines; refuses encrypted and scanned PDFs."""
    with reading("PDF"):
        reader = pypdf.PdfReader(io.BytesIO(data))
        # An owner password alone (empty user password) still lets anyone read the text.
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(
                "The PDF is password-protected. Upload an unprotected copy (remove the "
                "password, or print it to a new PDF)."
            )
        if len(reader.pages) > limits.max_pages:
            raise over_limit("The PDF has", f"{limits.max_pages:,} pages", "max_pages")
        pages, characters = [], 0
        for page in reader.pages:
            pages.append((page.extract_text() or "").strip())
            characters += len(pages[-1])
            if characters > limits.max_characters:
                raise over_limit(
                    "The PDF has", f"{limits.max_characters:,} characters", "max_characters"
                )
        title = (reader.metadata or {}).get("/Title")
    if not any(pages):
        raise ParseError(
            "The PDF has no text layer (it looks scanned, or made of images). Run OCR on it "
            "first and upload the searchable PDF."
        )
    offsets, position = [], 0
    for page in pages:
        offsets.append(position)
        position += len(page) + 2
    metadata = {"pages": len(pages), "page_offsets": offsets}
    if title:
        metadata["title"] = str(title)
    return ParsedDocument(kind="pdf", text="\n\n".join(pages), metadata=metadata)
