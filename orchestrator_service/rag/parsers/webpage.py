"""HTML: the visible text, with line breaks at block elements, and the page title."""

from html.parser import HTMLParser

from orchestrator_service.patterns import compile_pattern
from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.parsers.sniff import SNIFF

_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
_HTML_ROOT = compile_pattern(r"<(?:!doctype\s+html|html|head|body)[\s>]", ignore_case=True)
_TAG = compile_pattern(r"</?[a-z][a-z0-9]*[\s/>]", ignore_case=True)
_BLANK_LINES = compile_pattern(r"\n{3,}")


def looks_like_html(text: str, suffix: str) -> bool:
    """Whether the text is HTML: any tag under an HTML suffix, else a leading root element."""
    sample = text[:SNIFF]
    if suffix in _HTML_SUFFIXES:
        return bool(_TAG.search(sample))
    return sample.lstrip().startswith("<") and bool(_HTML_ROOT.search(sample))


class _HTMLText(HTMLParser):
    """Collects visible text, with line breaks at block elements, and the page title."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template", "svg"})
    _PARAGRAPHS = frozenset(
        {"address", "article", "aside", "blockquote", "div", "dl", "figcaption", "footer"}
        | {"form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol"}
        | {"p", "pre", "section", "table", "title", "ul"}
    )
    # What starts an element: a blank line for blocks, a line break for items, a space for cells.
    _BREAKS = (
        dict.fromkeys(_PARAGRAPHS, "\n\n")
        | dict.fromkeys(("br", "dd", "dt", "li", "tr"), "\n")
        | {"td": " ", "th": " "}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._hidden += tag in self._HIDDEN
        self._in_title = self._in_title or tag == "title"
        self.parts.append(self._BREAKS.get(tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        self._in_title = self._in_title and tag != "title"
        if tag in self._PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
            if self._in_title:
                self.title.append(data)


def parse_html(text: str) -> ParsedDocument:
    """The page's visible text, tidied, with its title in the metadata."""
    extractor = _HTMLText()
    extractor.feed(text)
    extractor.close()
    body = _tidy("".join(extractor.parts))
    if not body:
        raise ParseError("The HTML page has no visible text to index.")
    title = " ".join("".join(extractor.title).split())
    return ParsedDocument(kind="html", text=body, metadata={"title": title} if title else {})


def _tidy(text: str) -> str:
    """Collapse spaces inside lines and keep at most one blank line between blocks."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
