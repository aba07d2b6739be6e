"""CSV (and TSV): each row becomes a record of "column: value" lines."""

import csv
import io
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable

from orchestrator_service.patterns import compile_pattern
from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.parsers.sniff import SNIFF

_CSV_SUFFIXES = (".csv", ".tsv")
_QUOTES = ('"', "'")
# A match of one of csv.Sniffer's quote patterns: where it ends, and (quote, delimiter, space).
_Groups = tuple[str, str | None, str | None]
_Found = tuple[int, _Groups]


def csv_dialect(text: str, suffix: str) -> type[csv.Dialect] | None:
    """The CSV dialect when the text is a table: a named header and rows of its width."""
    sample = text[:SNIFF] if len(text) <= SNIFF else text[:SNIFF].rsplit("\n", 1)[0]
    try:
        dialect = _Sniffer().sniff(sample, delimiters=",;\t|")
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


class _Sniffer(csv.Sniffer):
    """`csv.Sniffer`, whose quote guess runs backtracking regexes (quadratic on some text),
    with that guess made by scans in O(n log n) that find the same matches."""

    def _guess_quote_and_delimiter(
        self, data: str, delimiters: str | None
    ) -> tuple[str, bool, str | None, int]:
        """What the stdlib's method returns: (quote, doublequote, delimiter, skipinitialspace)."""
        matches = _Quoted(data).matches()
        if not matches:
            return "", False, None, 0
        quotes = Counter(quote for quote, _, _ in matches)
        delims: Counter[str] = Counter()
        spaces = 0
        for _, delim, space in matches:
            if delim and (delimiters is None or delim in delimiters):
                delims[delim] += 1
            spaces += bool(space)
        quote = max(quotes, key=lambda key: quotes[key])
        if delims:
            delim = max(delims, key=lambda key: delims[key])
            skipinitialspace = delims[delim] == spaces
            if delim == "\n":  # most likely a file with a single column
                delim = ""
        else:  # a single column of quoted data
            delim, skipinitialspace = "", 0
        # An extra quote between delimiters: a double-quoted format.
        d = f"\\x{{{ord(delim):x}}}" if delim else ""
        extra_quote = compile_pattern(
            rf"(({d})|^)\W*{quote}[^{d}\n]*{quote}[^{d}\n]*{quote}\W*(({d})|$)", multiline=True
        )
        return quote, bool(extra_quote.search(data)), delim, skipinitialspace


class _Quoted:
    """Text between two equal quotes, found as `csv.Sniffer`'s four patterns find it.

    Tried in order until one matches (each as `re.findall`, with DOTALL and MULTILINE):
    `(D)( ?)(Q).*?(Q)(D)`, `(?:^|\\n)(Q).*?(Q)(D)( ?)`, `(D)( ?)(Q).*?(Q)(?:$|\\n)` and
    `(?:^|\\n)(Q).*?(Q)(?:$|\\n)`, where Q is a quote and D a delimiter: a character other than
    a word character, a newline or a quote, the same on both sides in the first. The lazy
    `.*?` ends at the first suitable closing quote, found by bisecting the positions of each
    kind of closing quote.
    """

    def __init__(self, data: str) -> None:
        self.data = data
        # Closing quotes, by quote: followed by a given character, by any delimiter, by a
        # line end.
        self.followed: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        self.before_delimiter: defaultdict[str, list[int]] = defaultdict(list)
        self.before_line_end: defaultdict[str, list[int]] = defaultdict(list)
        for k, char in enumerate(data):
            if char not in _QUOTES:
                continue
            after = data[k + 1 : k + 2]
            if after:
                self.followed[char, after].append(k)
            if _delimiter(after):
                self.before_delimiter[char].append(k)
            if after in ("", "\n"):
                self.before_line_end[char].append(k)

    def matches(self) -> list[_Groups]:
        """(quote, delimiter, space) of each match of the first pattern that has any."""
        for scan in (self._between_delimiters, self._after_line_start, self._before_line_end):
            found = self._findall(scan)
            if found:
                return found
        return self._findall(self._line)

    def _findall(self, scan: Callable[[int], _Found | None]) -> list[_Groups]:
        found = []
        i = 0
        while i < len(self.data):
            match = scan(i)
            if match is None:
                i += 1
            else:
                end, groups = match
                found.append(groups)
                i = end
        return found

    def _close(self, positions: list[int], opening: int) -> int | None:
        """The first of `positions` after the opening quote's."""
        index = bisect_right(positions, opening)
        return positions[index] if index < len(positions) else None

    def _opening_after_delimiter(self, i: int) -> tuple[str, int] | None:
        """(space, quote position) of `(D)( ?)(Q)` at `i`."""
        data = self.data
        if not _delimiter(data[i]):
            return None
        space = " " if data[i + 1 : i + 2] == " " else ""
        j = i + 1 + len(space)
        return (space, j) if data[j : j + 1] in _QUOTES else None

    def _opening_at_line_start(self, i: int) -> int | None:
        """The quote position of `(?:^|\\n)(Q)` at `i`."""
        data = self.data
        if (i == 0 or data[i - 1] == "\n") and data[i] in _QUOTES:
            return i
        if data[i] == "\n" and data[i + 1 : i + 2] in _QUOTES:
            return i + 1
        return None

    def _between_delimiters(self, i: int) -> _Found | None:
        opening = self._opening_after_delimiter(i)
        if opening is None:
            return None
        space, j = opening
        delim, quote = self.data[i], self.data[j]
        k = self._close(self.followed[quote, delim], j)
        return None if k is None else (k + 2, (quote, delim, space))

    def _after_line_start(self, i: int) -> _Found | None:
        j = self._opening_at_line_start(i)
        if j is None:
            return None
        quote = self.data[j]
        k = self._close(self.before_delimiter[quote], j)
        if k is None:
            return None
        space = " " if self.data[k + 2 : k + 3] == " " else ""
        return k + 2 + len(space), (quote, self.data[k + 1], space)

    def _before_line_end(self, i: int) -> _Found | None:
        opening = self._opening_after_delimiter(i)
        if opening is None:
            return None
        space, j = opening
        quote = self.data[j]
        k = self._close(self.before_line_end[quote], j)
        return None if k is None else (k + 1, (quote, self.data[i], space))

    def _line(self, i: int) -> _Found | None:
        j = self._opening_at_line_start(i)
        if j is None:
            return None
        quote = self.data[j]
        k = self._close(self.before_line_end[quote], j)
        return None if k is None else (k + 1, (quote, None, None))


def _delimiter(char: str) -> bool:
    """Whether `char` may delimit quoted text: not a word character, a newline or a quote."""
    return bool(char) and not (char.isalnum() or char in ("_", "\n", *_QUOTES))
