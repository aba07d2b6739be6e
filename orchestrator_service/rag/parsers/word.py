"""Word (.docx): paragraphs and tables in document order."""

import io

import docx
from docx.table import Table

from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.limits import ParseLimits, over_limit
from orchestrator_service.rag.parsers.sniff import reading


def parse_docx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Paragraphs and tables as blocks separated by blank lines."""
    with reading("Word document"):
        document = docx.Document(io.BytesIO(data))
        items = list(document.iter_inner_content())
        blocks = [
            _table_text(item) if isinstance(item, Table) else item.text.strip() for item in items
        ]
        title = document.core_properties.title
    text = "\n\n".join(block for block in blocks if block)
    if not text:
        raise ParseError("The Word document has no text to index.")
    if len(text) > limits.max_characters:
        raise over_limit(
            "The Word document has", f"{limits.max_characters:,} characters", "max_characters"
        )
    tables = sum(1 for item in items if isinstance(item, Table))
    metadata: dict = {"paragraphs": len(items) - tables, "tables": tables}
    if title:
        metadata["title"] = title
    return ParsedDocument(kind="docx", text=text, metadata=metadata)


def _table_text(table: Table) -> str:
    """One line per row, cells joined by " | " (a merged cell is listed once)."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)
