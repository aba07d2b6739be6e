"""Keep secret values out of what the service answers, stores and logs.

The vault remembers every secret it seals or opens in a `SecretMemory`, under its owner (a
tenant, or None for the global credentials). Two kinds of scrubbing read it, both matching all
the secrets at once in linear time (Aho-Corasick, `ahocorasick_rs`), never with a regex:

- `SecretMemory.for_tenant(tenant_id)` scrubs what goes back to one tenant (tool outputs, run
  steps, stored messages, errors) with that tenant's secrets and the global ones only. Tenant
  B's outputs are never scrubbed with tenant A's secrets, so no output tells B whether a string
  is one of A's, and a short common value stored by A cannot change B's outputs.
- `install_log_scrubbing()` scrubs every log record with every remembered secret of every
  owner: logs reach operators, not tenants.

A secret is matched as written, trimmed, percent-encoded (as it goes into a URL),
JSON-escaped (as it sits in JSON text) and escaped as in the repr of bytes (as HTTP libraries
log header values at debug level). Values shorter than `MIN_LENGTH` are never matched:
they would scrub ordinary words. Structures are scrubbed string by string (keys too), never as
serialized JSON, so a replacement can never break their syntax.

Memory is bounded. An owner keeps at most `OWNER_MAX_SECRETS` secrets and
`OWNER_MAX_CHARS` characters of patterns, all owners together `TOTAL_MAX_CHARS`, the log
scrubber `LOG_MAX_SECRETS` and `LOG_MAX_CHARS`. Past a cap the least recently used secrets
(and, past the total, the least recently used tenants) are forgotten first; the global
credentials' own cap still applies to them, but they are never dropped for a tenant's. The vault
remembers a secret again each time it opens one, that is before every outbound call that
sends it, so what a call just sent is scrubbed from its answer whatever was forgotten.
"""

import functools
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ahocorasick_rs import AhoCorasick, MatchKind

MARKER = "[SECRET]"
MIN_LENGTH = 4
OWNER_MAX_SECRETS = 1_000
OWNER_MAX_CHARS = 1 << 20
TOTAL_MAX_CHARS = 32 << 20
LOG_MAX_SECRETS = 10_000
LOG_MAX_CHARS = 16 << 20
_HEAD = 8  # how much of a secret's start a stream must have seen to hold text back for it


def patterns_of(secret: str) -> tuple[str, ...]:
    """The forms in which `secret` is matched (none for a value shorter than MIN_LENGTH)."""
    if len(secret.strip()) < MIN_LENGTH:
        return ()
    forms = {secret, secret.strip()}
    encoded = set()
    for form in forms:
        encoded |= {
            quote(form, safe=""),
            json.dumps(form)[1:-1],
            json.dumps(form, ensure_ascii=False)[1:-1],
            *_as_logged_bytes(form),
        }
    return tuple(sorted(forms | encoded))


def _as_logged_bytes(form: str) -> set[str]:
    """How `form` shows inside the repr of bytes, as HTTP libraries log headers at debug level
    (in either quote style, which depends on the rest of the value)."""
    shown = repr(form.encode())
    inner = shown[2:-1]
    if shown[1] == '"':  # quoted with ", so its ' were left as they are
        return {inner, inner.replace("'", "\\'")}
    return {inner, inner.replace("\\'", "'")}


class _Matcher:
    """A compiled set of patterns."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = patterns
        self.automaton = (
            AhoCorasick(patterns, matchkind=MatchKind.LeftmostLongest) if patterns else None
        )
        self.longest = max(map(len, patterns), default=0)

    def scrub(self, text: str, cut: int | None = None) -> tuple[str, int]:
        """`text` with every match replaced by the marker, and its length; with `cut`, only the
        part before `cut` (extended to the end of a match that starts before it)."""
        stop = len(text) if cut is None else min(cut, len(text))
        if self.automaton is None:
            return text[:stop], stop
        parts, position = [], 0
        for _, start, end in self.automaton.find_matches_as_indexes(text):
            if start >= stop:
                break
            parts += (text[position:start], MARKER)
            position = end
        stop = max(stop, position)
        parts.append(text[position:stop])
        return "".join(parts), stop

    @functools.cached_property
    def _starts(self) -> tuple[AhoCorasick | None, list[int], frozenset[str]]:
        """The patterns' first `_HEAD` characters with the length of the longest pattern
        starting so, and every shorter start of a pattern."""
        longest: dict[str, int] = {}
        for pattern in self.patterns:
            head = pattern[:_HEAD]
            longest[head] = max(longest.get(head, 0), len(pattern))
        heads = sorted(longest)
        short = frozenset(p[:n] for p in self.patterns for n in range(1, min(len(p), _HEAD)))
        automaton = AhoCorasick(heads) if heads else None
        return automaton, [longest[h] for h in heads], short

    def final_end(self, text: str) -> int:
        """Where the part of `text` that no later text can turn into a secret ends: before the
        first place where a pattern that would not fit in `text` may be starting (its first
        `_HEAD` characters are there, or all the text left is a start of one)."""
        window = max(0, len(text) - max(self.longest - 1, 0))
        tail = text[window:]
        automaton, longest, short = self._starts
        starts = []
        if automaton is not None:
            starts = [
                s
                for head, s, _ in automaton.find_matches_as_indexes(tail, overlapping=True)
                if s + longest[head] > len(tail)
            ]
        starts += [p for p in range(max(0, len(tail) - _HEAD + 1), len(tail)) if tail[p:] in short]
        return window + min(starts, default=len(tail))


_EMPTY = _Matcher([])


class _SecretSet:
    """Secrets with their patterns, least recently used first, within a count and size cap.
    `version` changes whenever the set of patterns does."""

    def __init__(self, max_secrets: int, max_chars: int) -> None:
        self.max_secrets = max_secrets
        self.max_chars = max_chars
        self.secrets: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self.chars = 0
        self.version = 0

    def add(self, secret: str) -> int:
        """Remember `secret` (or mark it used); the change in characters held."""
        if secret in self.secrets:
            self.secrets.move_to_end(secret)
            return 0
        patterns = patterns_of(secret)
        if not patterns:
            return 0
        before = self.chars
        self.secrets[secret] = patterns
        self.chars += sum(map(len, patterns))
        self.version += 1
        while len(self.secrets) > 1 and (
            len(self.secrets) > self.max_secrets or self.chars > self.max_chars
        ):
            _, dropped = self.secrets.popitem(last=False)
            self.chars -= sum(map(len, dropped))
        return self.chars - before

    def patterns(self) -> set[str]:
        """Every pattern of every secret held."""
        return {p for patterns in self.secrets.values() for p in patterns}


class SecretMemory:
    """The secrets this process has seen, per owner, and a scrubber for each tenant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: OrderedDict[int | None, _SecretSet] = OrderedDict()
        self._owners[None] = _SecretSet(OWNER_MAX_SECRETS, OWNER_MAX_CHARS)
        self._chars = 0
        self._matchers: dict[int | None, tuple[tuple[int, int], _Matcher]] = {}

    def remember(self, owner: int | None, secret: str) -> None:
        """Remember a secret of `owner` (a tenant id, or None for a global credential)."""
        _LOG.add(secret)
        with self._lock:
            secrets = self._owners.get(owner)
            if secrets is None:
                secrets = self._owners[owner] = _SecretSet(OWNER_MAX_SECRETS, OWNER_MAX_CHARS)
            self._owners.move_to_end(owner)
            self._chars += secrets.add(secret)
            while self._chars > TOTAL_MAX_CHARS:
                victim = next((o for o in self._owners if o not in (None, owner)), None)
                if victim is None:
                    break
                self._chars -= self._owners.pop(victim).chars
                self._matchers.pop(victim, None)

    def for_tenant(self, tenant_id: int | None) -> "Scrubber":
        """A scrubber of the tenant's secrets and the global ones, as remembered at each use."""
        return Scrubber(lambda: self._matcher(tenant_id))

    def _matcher(self, tenant_id: int | None) -> _Matcher:
        with self._lock:
            own = self._owners.get(tenant_id) if tenant_id is not None else None
            shared = self._owners[None]
            version = (shared.version, own.version if own is not None else -1)
            cached = self._matchers.get(tenant_id)
            if cached is not None and cached[0] == version:
                return cached[1]
            patterns = shared.patterns() | (own.patterns() if own is not None else set())
        matcher = _Matcher(sorted(patterns)) if patterns else _EMPTY
        with self._lock:
            self._matchers[tenant_id] = (version, matcher)
        return matcher


class Scrubber:
    """Replaces the secrets of one tenant (and the global ones) by a marker."""

    def __init__(self, matcher: Callable[[], _Matcher]) -> None:
        self._matcher = matcher

    def text(self, text: str) -> str:
        """`text` with every secret replaced by the marker."""
        return self._matcher().scrub(text)[0] if text else text

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string in it (keys too) scrubbed and made
        storable: NUL characters and unpaired surrogates, which PostgreSQL and JSON refuse,
        are replaced."""
        matcher = self._matcher()

        def clean(item: Any) -> Any:
            if isinstance(item, str):
                return matcher.scrub(storable(item))[0]
            if isinstance(item, dict):
                return {clean(str(k)): clean(v) for k, v in item.items()}
            if isinstance(item, list | tuple):
                return [clean(v) for v in item]
            if isinstance(item, float) and not math.isfinite(item):
                return None
            return item

        return clean(value)

    def stream(self) -> "StreamScrubber":
        """A scrubber of text that arrives in pieces."""
        return StreamScrubber(self._matcher)


class StreamScrubber:
    """Scrubs streamed text: holds back only a tail that could still be the start of a
    secret, so a secret split across pieces is caught whole while ordinary text flows on."""

    def __init__(self, matcher: Callable[[], _Matcher]) -> None:
        self._matcher = matcher
        self._pending = ""

    def feed(self, piece: str) -> str:
        """The scrubbed text that is final once `piece` has arrived (maybe empty)."""
        self._pending += piece
        matcher = self._matcher()
        done, stop = matcher.scrub(self._pending, matcher.final_end(self._pending))
        self._pending = self._pending[stop:]
        return done

    def flush(self) -> str:
        """The rest, scrubbed, at the end of the stream."""
        rest, self._pending = self._pending, ""
        return self._matcher().scrub(rest)[0]


def storable(text: str) -> str:
    """`text` without what PostgreSQL and JSON cannot hold: NUL, unpaired surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


class _LogSecrets:
    """Every remembered secret of every owner, for log records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets = _SecretSet(LOG_MAX_SECRETS, LOG_MAX_CHARS)
        self._matcher: tuple[int, _Matcher] = (0, _EMPTY)

    def add(self, secret: str) -> None:
        with self._lock:
            self._secrets.add(secret)

    def matcher(self) -> _Matcher:
        with self._lock:
            version = self._secrets.version
            if self._matcher[0] == version:
                return self._matcher[1]
            patterns = sorted(self._secrets.patterns())
        matcher = _Matcher(patterns) if patterns else _EMPTY
        with self._lock:
            self._matcher = (version, matcher)
        return matcher


_LOG = _LogSecrets()


class _ScrubbingFactory:
    """A log record factory that scrubs the records another factory makes."""

    scrubs_secrets = True

    def __init__(self, factory: Callable[..., logging.LogRecord]) -> None:
        self._factory = factory

    def __call__(self, *args: object, **kwargs: object) -> logging.LogRecord:
        record = self._factory(*args, **kwargs)
        matcher = _LOG.matcher()
        if matcher.automaton is not None:
            record.msg = matcher.scrub(record.getMessage())[0]
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                trace = logging.Formatter().formatException(record.exc_info)
                record.exc_text = matcher.scrub(trace)[0]
                record.exc_info = None
        return record


def install_log_scrubbing() -> None:
    """Scrub secrets from every log record created from now on (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "scrubs_secrets", False):
        return
    logging.setLogRecordFactory(_ScrubbingFactory(factory))
