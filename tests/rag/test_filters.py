"""Filter field names are checked by a scan; it accepts what the old regex did, except a
trailing newline, which `re`'s `$` let through."""

import re

from hypothesis import given
from hypothesis import strategies as st

from orchestrator_service.rag.filters import _field

OLD_FIELD = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")


KEY_PIECES = ["a", "Z", "_", "-", ".", "1", "é", "ß", "\u0663", " ", "\n", "$"]


@given(st.lists(st.sampled_from(KEY_PIECES), max_size=10).map("".join))
def test_field_names_are_accepted_as_before(key: str) -> None:
    expected = bool(OLD_FIELD.match(key)) and not key.endswith("\n")
    assert _field(key) == expected


def test_long_field_names() -> None:
    assert _field("a" + "_-" * 100_000 + ".b" * 100_000)
    assert not _field("a" + "_-" * 100_000 + "." + "b!" * 100_000)
    assert not _field("author.name\n")
