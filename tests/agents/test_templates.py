"""Prompt templates are member text: placeholders are found by scans, not by a regex.

The lazy pattern they replaced, `\\{\\{(.*?)\\}\\}` with DOTALL, is quadratic on a template of
many `{{` and no `}}` (the body limit allows a megabyte of them); it serves here as the
reference the scans must agree with.
"""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator_service.agents.templates import render, template_variables

OLD_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
OLD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
VARIABLES = {"name": "Ana", "user.city": "Lima"}


def old_variables(template: str) -> list[str]:
    """template_variables as it was, on `re`."""
    names: list[str] = []
    for match in OLD_PLACEHOLDER.finditer(template):
        name = match.group(1).strip()
        if not OLD_NAME.match(name):
            raise ValueError(
                f"placeholder {match.group(0)!r} at position {match.start()} is not a variable "
                "name (letters, digits, '_' and '.', not starting with a digit)"
            )
        if name not in names:
            names.append(name)
    leftover = OLD_PLACEHOLDER.sub("", template)
    for token in ("{{", "}}"):
        if token in leftover:
            raise ValueError(f"unbalanced {token!r} in the template")
    return names


def old_render(template: str, variables: dict[str, object]) -> tuple[str, list[str]]:
    """render as it was, on `re`."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name in variables:
            return str(variables[name])
        if name not in missing:
            missing.append(name)
        return match.group(0)

    return OLD_PLACEHOLDER.sub(fill, template), missing


def outcome(function, *args: object) -> object:
    """What a call returns, or the message of the ValueError it raises."""
    try:
        return function(*args)
    except ValueError as error:
        return ("ValueError", str(error))


@given(
    st.lists(
        st.sampled_from(["{", "}", "{{", "}}", "name", "user.city", "1x", " ", "\n", "."]),
        max_size=16,
    ).map("".join)
)
def test_placeholders_are_found_as_the_regex_found_them(template: str) -> None:
    assert outcome(template_variables, template) == outcome(old_variables, template)
    assert render(template, VARIABLES) == old_render(template, VARIABLES)


def test_a_megabyte_of_openings_is_refused_as_unbalanced() -> None:
    template = "{{" * 500_000
    with pytest.raises(ValueError, match=r"unbalanced '\{\{'"):
        template_variables(template)
    assert render(template, VARIABLES) == (template, [])


def test_many_placeholders_render_in_one_pass() -> None:
    template = "Hola {{ name }} de {{user.city}}; " * 100_000
    assert template_variables(template) == ["name", "user.city"]
    rendered, missing = render(template + "{{ unknown }}", VARIABLES)
    assert rendered == "Hola Ana de Lima; " * 100_000 + "{{ unknown }}"
    assert missing == ["unknown"]
