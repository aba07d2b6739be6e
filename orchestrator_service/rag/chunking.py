"""Split a ParsedDocument into chunks that fit the embedder's window.

Sizes are measured with the embedder's own tokenizer, special tokens ([CLS], [SEP])
included, so no chunk is ever truncated by the model. Text documents go through
`semantic-text-splitter` (Markdown-aware for Markdown). Chat exports become conversation
windows: consecutive turns rendered as "Author: text" lines, the next window repeating the
last one or two turns of the previous one, with authors, time span, media count and, for a
named participant, context/response pairs in each chunk's metadata.
"""

import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from itertools import groupby

from semantic_text_splitter import MarkdownSplitter, TextSplitter
from tokenizers import Tokenizer

from orchestrator_service.rag.documents import Chunk, ParsedDocument, ParseError, Turn
from orchestrator_service.rag.embedders.local import MAX_TOKENS, load_tokenizer

_OVERLAP_TURNS = 2  # at most this many lines of a window are repeated in the next one
_CONTEXT_TURNS = 4  # at most this many messages of others make a pair's context
_MIN_PIECE = 16  # a long turn is split into pieces of at least this many tokens


def chunk(
    document: ParsedDocument,
    *,
    max_tokens: int = MAX_TOKENS,
    overlap: int = 32,
    participant: str | None = None,
) -> list[Chunk]:
    """Chunks of at most `max_tokens` tokens (special tokens included), in document order."""
    capacity = max_tokens - _special_tokens()
    if capacity < _MIN_PIECE or not 0 <= overlap < capacity:
        raise ValueError(f"max_tokens={max_tokens} and overlap={overlap} leave no room for text")
    if document.kind == "whatsapp":
        chunks = _chat_chunks(document.turns, capacity, overlap, participant)
    else:
        chunks = _text_chunks(document, capacity, overlap)
    if not chunks:
        raise ParseError("The document has no text to index.")
    return chunks


def count_tokens(texts: list[str]) -> list[int]:
    """Tokens of each text as the model sees it, special tokens included."""
    return [len(encoding.ids) for encoding in _tokenizer().encode_batch(texts)]


@cache
def _tokenizer() -> Tokenizer:
    return load_tokenizer(for_counting=True)


@cache
def _special_tokens() -> int:
    """How many tokens the model adds around every text ([CLS] and [SEP] for MiniLM)."""
    return len(_tokenizer().encode("").ids)


@cache
def _splitter(
    capacity: int, overlap: int, markdown: bool = False
) -> TextSplitter | MarkdownSplitter:
    # The splitter counts tokens without special ones, hence capacity, not max_tokens.
    kind = MarkdownSplitter if markdown else TextSplitter
    return kind.from_huggingface_tokenizer(_tokenizer(), capacity, overlap=overlap)


def _bare_tokens(texts: list[str]) -> list[int]:
    encodings = _tokenizer().encode_batch(texts, add_special_tokens=False)
    return [len(encoding.ids) for encoding in encodings]


# Text documents ----------------------------------------------------------------------------


def _text_chunks(document: ParsedDocument, capacity: int, overlap: int) -> list[Chunk]:
    splitter = _splitter(capacity, overlap, document.kind == "md")
    pieces = splitter.chunk_indices(document.text)
    tokens = count_tokens([text for _, text in pieces])
    pages = document.metadata.get("page_offsets")
    return [
        Chunk(index, text, count, _page_span(pages, offset, text) if pages else {})
        for index, ((offset, text), count) in enumerate(zip(pieces, tokens, strict=True))
    ]


def _page_span(page_offsets: list[int], offset: int, text: str) -> dict:
    """The 1-based pages a chunk starting at character `offset` runs over."""
    first = bisect_right(page_offsets, offset)
    return {"first_page": first, "last_page": bisect_right(page_offsets, offset + len(text) - 1)}


# Chat exports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """A turn rendered as "Author: text", or one piece of a turn too long for a window."""

    turn: int  # index into the document's turns
    text: str
    tokens: int  # without special tokens


def _chat_chunks(
    turns: list[Turn], capacity: int, overlap: int, participant: str | None
) -> list[Chunk]:
    lines = _chat_lines(turns, capacity)
    if not lines:
        return []
    windows = _windows(lines, capacity, overlap)
    contents = ["\n".join(line.text for line in lines[start:end]) for start, end in windows]
    # Each turn is "introduced" by one window (the first to reach it): its media and the pair
    # it answers are counted there only, even when the next window repeats it.
    ends = [lines[end - 1].turn + 1 for _, end in windows[:-1]] + [len(turns)]
    media = [sum(t.media for t in turns[a:b]) for a, b in zip([0, *ends], ends, strict=False)]
    pairs = _pairs_by_window(_pairs(turns, participant), ends) if participant else None
    chunks = []
    for index, ((start, end), content, tokens) in enumerate(
        zip(windows, contents, count_tokens(contents), strict=True)
    ):
        window_pairs = None if pairs is None else pairs[index]
        metadata = _window_metadata(turns, lines[start:end], media[index], window_pairs)
        chunks.append(Chunk(index, content, tokens, metadata))
    return chunks


def _pairs_by_window(pairs: list[tuple[int, dict]], ends: list[int]) -> list[list[dict]]:
    """Pairs grouped by the window that introduces their response (`ends` are exclusive)."""
    grouped: list[list[dict]] = [[] for _ in ends]
    for turn, pair in pairs:
        grouped[bisect_right(ends, turn)].append(pair)
    return grouped


def _chat_lines(turns: list[Turn], capacity: int) -> list[_Line]:
    """Text turns as lines; media-only turns have no text and are left out."""
    texts = {index: f"{turn.author}: {turn.text}" for index, turn in enumerate(turns) if turn.text}
    counts = dict(zip(texts, _bare_tokens(list(texts.values())), strict=True))
    lines = []
    for index, text in texts.items():
        if counts[index] <= capacity:
            lines.append(_Line(index, text, counts[index]))
        else:
            lines.extend(_split_turn(index, turns[index], capacity))
    return lines


def _split_turn(index: int, turn: Turn, capacity: int) -> list[_Line]:
    """A turn longer than a window, as pieces that each repeat "Author:" when there is room."""
    prefix = f"{turn.author}:"
    room = capacity - _bare_tokens([prefix])[0]
    if room >= _MIN_PIECE:
        pieces = [f"{prefix} {piece}" for piece in _splitter(room, 0).chunks(turn.text)]
    else:
        pieces = _splitter(capacity, 0).chunks(f"{prefix} {turn.text}")
    return [
        _Line(index, piece, count)
        for piece, count in zip(pieces, _bare_tokens(pieces), strict=True)
    ]


def _windows(lines: list[_Line], capacity: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) ranges of lines, each fitting `capacity`, consecutive ones overlapping.

    Joining lines with newlines adds no tokens (a newline is whitespace to the tokenizer), so
    a window's size is the sum of its lines' sizes.
    """
    windows = []
    start = 0
    while True:
        end, total = start, 0
        while end < len(lines) and total + lines[end].tokens <= capacity:
            total += lines[end].tokens
            end += 1
        windows.append((start, end))
        if end == len(lines):
            return windows
        start = _next_start(lines, start, end, min(overlap, capacity - lines[end].tokens))


def _next_start(lines: list[_Line], start: int, end: int, budget: int) -> int:
    """Where the next window starts: back by up to two lines of at most `budget` tokens."""
    nxt = end
    while nxt > start + 1 and end - nxt < _OVERLAP_TURNS and lines[nxt - 1].tokens <= budget:
        budget -= lines[nxt - 1].tokens
        nxt -= 1
    return nxt


def _window_metadata(
    turns: list[Turn], window: list[_Line], media: int, pairs: list[dict] | None
) -> dict:
    """Authors, time span and turn count of a window, with its media count and pairs."""
    first, last = turns[window[0].turn], turns[window[-1].turn]
    metadata = {
        "authors": list(dict.fromkeys(turns[line.turn].author for line in window)),
        "first_timestamp": first.timestamp.isoformat() if first.timestamp else None,
        "last_timestamp": last.timestamp.isoformat() if last.timestamp else None,
        "turns": len({line.turn for line in window}),
        "media": media,
    }
    if pairs is not None:
        metadata["pairs"] = pairs
    return metadata


def _pairs(turns: list[Turn], participant: str) -> list[tuple[int, dict]]:
    """(index of the reply's first turn, {"context", "response"}) for each reply of `participant`.

    The context is the run of others' messages since the participant last wrote (its last
    few), the response the participant's consecutive messages that follow it.
    """
    hero = _name_key(participant)
    authors = {_name_key(turn.author): turn.author for turn in turns}
    if hero not in authors:
        raise ParseError(
            f"'{participant}' does not write in this chat. Its participants are: "
            f"{', '.join(authors.values())}."
        )
    texts = [(index, turn) for index, turn in enumerate(turns) if turn.text]
    pairs, context = [], []
    for is_hero, group in groupby(texts, key=lambda item: _name_key(item[1].author) == hero):
        run = list(group)
        if not is_hero:
            context = run[-_CONTEXT_TURNS:]
        elif context:
            pair = {
                "context": "\n".join(f"{turn.author}: {turn.text}" for _, turn in context),
                "response": "\n".join(turn.text for _, turn in run),
            }
            pairs.append((run[0][0], pair))
            context = []
    return pairs


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", " ".join(name.split())).casefold()
