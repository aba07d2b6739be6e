"""Linear-time regular expressions for text a user supplied: RE2, read like Python's `re`.

Python's `re` backtracks: a pattern such as `^\\s*\\|?\\s*-{3,}` takes time polynomial in the
length of some inputs, holding the GIL all the while. RE2 matches in time linear in the text,
whatever the pattern. Every pattern the package applies to uploaded or requested text is
compiled here (a ruff rule bans `re` in the package); a check as plain as a character set
is better written as a loop or a `str` method.

`compile_pattern` takes a pattern written for `re` and keeps its meaning on `str`: RE2's `\\d`,
`\\s` and `\\w` are ASCII-only, so they are spelled out as the classes `re` matches (equal for
every character of Python's Unicode database, which the tests check), and `\\uXXXX` becomes
RE2's `\\x{XXXX}`. Two differences remain: under `ignore_case`, RE2 folds case by Unicode's
simple case folding, so `i` no longer matches the Turkish dotless i (U+0131) and dotted
capital I (U+0130); and `$` is the end of the text only, where `re` also matches before a
final newline. RE2 has no backreferences or lookaround: compiling a pattern that uses them
fails.
"""

from collections.abc import Iterator
from typing import Any, Protocol

import re2

# What `re` matches on str: str.isspace(), str.isdecimal(), str.isalnum() or "_".
_SPACE = r"\t-\r\x1c-\x1f\x{85}\p{Z}"
_CLASSES = {"s": _SPACE, "d": r"\p{Nd}", "w": r"\p{L}\p{N}_"}


class Match(Protocol):
    """A match: its groups by number or name."""

    def __getitem__(self, group: int | str, /) -> str | Any:
        """The text of a group (None when it did not take part, hence `Any` as in `re`)."""
        ...

    def start(self, group: int = 0, /) -> int:
        """Where the match (or a group) starts in the text."""
        ...

    def end(self, group: int = 0, /) -> int:
        """Where the match (or a group) ends in the text."""
        ...

    def group(self, group: int | str = 0, /) -> str | Any:
        """The text of a group, as `match[group]`."""
        ...


class Pattern(Protocol):
    """A compiled RE2 pattern, with the methods of `re.Pattern` the package uses."""

    def search(self, text: str, /) -> Match | None:
        """The first match anywhere in the text."""
        ...

    def fullmatch(self, text: str, /) -> Match | None:
        """A match of the whole text."""
        ...

    def findall(self, text: str, /) -> list:
        """Every non-overlapping match, as `re.findall` lists them."""
        ...

    def finditer(self, text: str, /) -> Iterator[Match]:
        """Every non-overlapping match, in order."""
        ...

    def sub(self, replacement: str, text: str, /) -> str:
        """The text with every non-overlapping match replaced."""
        ...


def compile_pattern(pattern: str, *, ignore_case: bool = False, multiline: bool = False) -> Pattern:
    """An RE2 pattern for `pattern` written as for `re` (see the module docstring)."""
    flags = "i" * ignore_case + "m" * multiline
    translated = _translate(pattern)
    return re2.compile(f"(?{flags}){translated}" if flags else translated)


def _translate(pattern: str) -> str:
    """`pattern` with `re`'s Unicode classes and `\\u` escapes in RE2's syntax."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escape = pattern[i + 1]
            if escape in _CLASSES:
                inner = _CLASSES[escape]
                out.append(inner if in_class else f"[{inner}]")
            elif escape.lower() in _CLASSES:
                if in_class:
                    raise ValueError(f"\\{escape} inside a character class: list what it keeps")
                out.append(f"[^{_CLASSES[escape.lower()]}]")
            elif escape == "u":
                out.append(f"\\x{{{pattern[i + 2 : i + 6]}}}")
                i += 4
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            opening = "[^" if pattern.startswith("[^", i) else "["
            if pattern.startswith("]", i + len(opening)):  # a "]" first in a class is literal
                opening += "]"
            out.append(opening)
            i += len(opening)
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)
