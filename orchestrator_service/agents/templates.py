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


# Prompt template families (`agents.template_type`): each frames the agent's own rendered
# template (`{{ prompt }}`) with the conventions of a kind of agent. `custom` adds nothing.
# A stored type this service does not know (seed data) is read as `custom`.
FAMILIES: dict[str, str] = {
    "custom": "{{ prompt }}",
    "sales": (
        "You are {{ agent_name }}, a sales agent. Answer what customers ask about products, "
        "prices and availability from what you know or what your tools return; never invent a "
        "price, a stock level or a discount. When a customer is ready to buy, say what the "
        "next step is.\n\n{{ prompt }}"
    ),
    "support": (
        "You are {{ agent_name }}, a customer support agent. Find out what went wrong, solve "
        "it step by step, and confirm it is solved; when you cannot solve it, say so and say "
        "who can.\n\n{{ prompt }}"
    ),
    "assistant": (
        "You are {{ agent_name }}, a personal assistant. Be brief, act with the tools you have "
        "when asked to, and ask before doing anything that cannot be undone.\n\n{{ prompt }}"
    ),
}
DEFAULT_FAMILY = "custom"


def frame(template_type: str | None, *, agent_name: str, prompt: str) -> str:
    """The agent's rendered prompt inside its template family's frame."""
    family = FAMILIES.get(template_type or DEFAULT_FAMILY, FAMILIES[DEFAULT_FAMILY])
    framed, _ = render(family, {"prompt": prompt, "agent_name": agent_name})
    return framed
