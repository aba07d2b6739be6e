"""Bilingual (Spanish + English) full-text search over generated tsvector columns: the column
expression, the query, the rank and a highlight that cannot carry markup."""

import html
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, case, cast, func, literal
from sqlalchemy.dialects.postgresql import REGCONFIG

# to_tsvector refuses a result over 1 MB: a vector covers the first characters only.
SEARCHED_CHARS = 200_000
# ts_headline reads the whole text it is given: only this much of each hit is highlighted.
HIGHLIGHTED_CHARS = 20_000
CONFIGS = ("spanish", "english")
# Highlight delimiters no text keeps (control characters are stripped before they are used),
# turned into <mark> only after the text around them is HTML-escaped.
_START, _STOP = "\x02", "\x03"
_OPTIONS = f"StartSel={_START}, StopSel={_STOP}, MaxFragments=2, MaxWords=25, MinWords=8"


def bilingual_vector(weighted: list[tuple[str, str]]) -> str:
    """The SQL of a Spanish + English tsvector over `(column, weight)` pairs (for `Computed`)."""
    return " || ".join(
        f"setweight(to_tsvector('{config}'::regconfig, left(coalesce({column}, ''), "
        f"{SEARCHED_CHARS})), '{weight}')"
        for column, weight in weighted
        for config in CONFIGS
    )


def bilingual_query(text: str) -> ColumnElement:
    """The query of a search box (websearch syntax), matching Spanish or English stems."""
    es, en = (func.websearch_to_tsquery(cast(literal(c), REGCONFIG), text) for c in CONFIGS)
    return es.op("||")(en)


def rank(vector: Any, query: ColumnElement) -> ColumnElement:
    """ts_rank_cd, normalized by document length (flag 1: divided by 1 + log(length))."""
    return func.ts_rank_cd(vector, query, cast(literal(1), Integer))


def headline(text_column: Any, text: str) -> ColumnElement:
    """The best fragment of `text_column` for `text`, with delimiters only `safe_highlight`
    understands: Spanish when its stems matched, else English."""
    source = func.translate(func.left(text_column, HIGHLIGHTED_CHARS), _START + _STOP, "")
    spanish, english = (
        func.ts_headline(
            cast(literal(c), REGCONFIG),
            source,
            func.websearch_to_tsquery(cast(literal(c), REGCONFIG), text),
            cast(literal(_OPTIONS), String),
        )
        for c in CONFIGS
    )
    return case((func.strpos(spanish, _START) > 0, spanish), else_=english)


def safe_highlight(fragment: str | None) -> str | None:
    """A headline as HTML: the text escaped, the matched words in <mark>."""
    if fragment is None:
        return None
    escaped = html.escape(fragment, quote=True)
    return escaped.replace(_START, "<mark>").replace(_STOP, "</mark>")
