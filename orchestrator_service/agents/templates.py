"""System prompt templates: `{{ name }}` placeholders, checked when saved, rendered on demand.

A placeholder runs from `{{` to the first `}}` after it, found with `str.find` (a template is
member text: no regex runs on it).
"""

from collections.abc import Iterator
from string import ascii_letters, digits

_FIRST = frozenset(ascii_letters + "_")
_REST = frozenset(ascii_letters + digits + "_.")


def _placeholders(template: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each `{{ ... }}`, left to right, not overlapping."""
    position = 0
    while (start := template.find("{{", position)) != -1:
        end = template.find("}}", start + 2)
        if end == -1:
            return
        position = end + 2
        yield start, position


def _is_name(name: str) -> bool:
    return bool(name) and name[0] in _FIRST and all(char in _REST for char in name)


def template_variables(template: str) -> list[str]:
    """The variable names a template uses, in order; `ValueError` says what does not parse."""
    names: list[str] = []
    leftover: list[str] = []
    position = 0
    for start, end in _placeholders(template):
        name = template[start + 2 : end - 2].strip()
        if not _is_name(name):
            raise ValueError(
                f"placeholder {template[start:end]!r} at position {start} is not a variable "
                "name (letters, digits, '_' and '.', not starting with a digit)"
            )
        if name not in names:
            names.append(name)
        leftover.append(template[position:start])
        position = end
    leftover.append(template[position:])
    for token in ("{{", "}}"):
        if token in "".join(leftover):
            raise ValueError(f"unbalanced {token!r} in the template")
    return names


def render(template: str, variables: dict[str, object]) -> tuple[str, list[str]]:
    """The template with known variables filled in, and the names left missing (kept as-is)."""
    missing: list[str] = []
    pieces: list[str] = []
    position = 0
    for start, end in _placeholders(template):
        name = template[start + 2 : end - 2].strip()
        if name in variables:
            filled = str(variables[name])
        else:
            filled = template[start:end]
            if name not in missing:
                missing.append(name)
        pieces += [template[position:start], filled]
        position = end
    pieces.append(template[position:])
    return "".join(pieces), missing
