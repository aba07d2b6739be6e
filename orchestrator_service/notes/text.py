"""A note's content as plain text, for search and highlights: HTML reduced to its text (no
tags, no scripts or styles), control characters dropped."""

from html.parser import HTMLParser

# Control characters other than tab and newline: never searched, never highlighted.
_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)} | {127: None}
_SKIPPED = frozenset({"script", "style", "template", "head"})


class _TextOf(HTMLParser):
    """Collects the text of an HTML document, outside scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """The text an HTML document shows."""
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    return "".join(parts for parts in parser.parts)


def plain_text(content: str, content_type: str) -> str:
    """What search reads of a note's content."""
    text = html_text(content) if content_type == "html" else content
    return text.translate(_CONTROL)
