"""System prompt templates: `{{ name }}` placeholders, checked when saved, rendered on demand."""

import re

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def template_variables(template: str) -> list[str]:
    """The variable names a template uses, in order; `ValueError` says what does not parse."""
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1).strip()
        if not _NAME.match(name):
            raise ValueError(
                f"placeholder {match.group(0)!r} at position {match.start()} is not a variable "
                "name (letters, digits, '_' and '.', not starting with a digit)"
            )
        if name not in names:
            names.append(name)
    leftover = _PLACEHOLDER.sub("", template)
    for token in ("{{", "}}"):
        if token in leftover:
            raise ValueError(f"unbalanced {token!r} in the template")
    return names


def render(template: str, variables: dict[str, object]) -> tuple[str, list[str]]:
    """The template with known variables filled in, and the names left missing (kept as-is)."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in variables:
            return str(variables[name])
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return _PLACEHOLDER.sub(fill, template), missing
