"""CSV (and TSV): each row becomes a record of "column: value" lines."""

import csv
import io

from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.parsers.sniff import SNIFF

_CSV_SUFFIXES = (".csv", ".tsv")


def csv_dialect(text: str, suffix: str) -> type[csv.Dialect] | None:
    """The CSV dialect when the text is a table: a named header and rows of its width."""
    sample = text[:SNIFF] if len(text) <= SNIFF else text[:SNIFF].rsplit("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        rows = [row for row in csv.reader(io.StringIO(sample), dialect) if row]
    except csv.Error:
        return None
    if suffix in _CSV_SUFFIXES:
        return dialect
    header = rows[0] if rows else []
    tabular = (
        len(rows) >= 3
        and len(header) >= 2
        and all(len(row) == len(header) for row in rows)
        and all(0 < len(cell.strip()) <= 64 for cell in header)
    )
    return dialect if tabular else None


def parse_csv(text: str, dialect: type[csv.Dialect]) -> ParsedDocument:
    """One record per non-empty row, separated by blank lines."""
    try:
        rows = [
            row
            for row in csv.reader(io.StringIO(text), dialect)
            if any(cell.strip() for cell in row)
        ]
    except csv.Error as error:
        raise ParseError(f"The CSV file cannot be read ({error}). Check its quoting.") from error
    header = [cell.strip() or f"column {i}" for i, cell in enumerate(rows[0], 1)]
    records = [record for row in rows[1:] if (record := _csv_record(header, row))]
    if not records:
        raise ParseError("The CSV file has a header but no rows to index.")
    metadata = {"columns": header, "rows": len(records), "delimiter": dialect.delimiter}
    return ParsedDocument(kind="csv", text="\n\n".join(records), metadata=metadata)


def _csv_record(header: list[str], row: list[str]) -> str:
    """A row as "header: value" lines; cells beyond the header get "column N"."""
    names = header + [f"column {i}" for i in range(len(header) + 1, len(row) + 1)]
    return "\n".join(
        f"{name}: {cell.strip()}" for name, cell in zip(names, row, strict=False) if cell.strip()
    )
