"""orchestrator_service.patterns: RE2 patterns written as for `re` keep `re`'s meaning on str.

Every character of Python's Unicode database is checked against `re`'s own classes (RE2's
tables may know characters Python's do not yet: those are left out, as `re` cannot match
them anyway).
"""

import re
import sys
import unicodedata

import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from orchestrator_service.patterns import compile_pattern

# Every character Python's Unicode database knows, one after the other.
_KNOWN = "".join(
    chr(code)
    for code in range(sys.maxunicode + 1)
    if not 0xD800 <= code <= 0xDFFF and unicodedata.category(chr(code)) != "Cn"
)


@pytest.mark.parametrize(
    "pattern", [r"\s", r"\S", r"\d", r"\D", r"\w", r"\W", r"[-\s\u200e]", r"[\d.]", r"[\w-]"]
)
def test_each_class_matches_what_re_matches_for_every_known_character(pattern: str) -> None:
    assert compile_pattern(pattern).findall(_KNOWN) == re.findall(pattern, _KNOWN)


def test_ignoring_case_differs_from_re_only_for_the_turkish_i() -> None:
    letters = "[a-z\xe1\xe9\xed\xf3\xfa\xf1]"  # every letter of the chat patterns
    ours = compile_pattern(letters, ignore_case=True).findall(_KNOWN)
    theirs = re.findall(letters, _KNOWN, re.IGNORECASE)
    assert set(theirs) - set(ours) == {"\u0130", "\u0131"} and set(ours) <= set(theirs)
    assert re.fullmatch("video", "v\u0131deo", re.IGNORECASE)
    assert not compile_pattern("video", ignore_case=True).fullmatch("v\u0131deo")


def test_a_bracket_first_in_a_class_is_literal_and_u_escapes_are_translated() -> None:
    assert compile_pattern(r"[]a]+").fullmatch("]a]")
    assert compile_pattern(r"[^]a]").fullmatch("b")
    assert not compile_pattern(r"[^]a]").fullmatch("]")
    assert compile_pattern(r"x\u2013y").fullmatch("x\u2013y")


def test_what_re2_cannot_do_is_refused_when_compiling() -> None:
    with pytest.raises(ValueError, match="inside a character class"):
        compile_pattern(r"[\S]")
    for pattern in (r"(a)\1", r"(?=a)", r"(?<!a)b", r"(?P<q>a)(?P=q)"):
        with pytest.raises(re2.error):
            compile_pattern(pattern)


def test_dollar_is_the_end_of_the_text_only() -> None:
    assert re.search(r"a$", "a\n")
    assert not compile_pattern(r"a$").search("a\n")
    assert compile_pattern(r"a$", multiline=True).search("a\nb")


@given(st.text(alphabet=st.sampled_from(" \t\n\u202f\xa0a1_-.#|:*[]()<>"), max_size=40))
def test_findall_and_sub_agree_with_re(text: str) -> None:
    pattern = r"^\s*\|?\s*:?-{3,}:?\s*\||\[[^\]\n]+\]\([^)\s]+\)|\w+\.\d+|\S+"
    ours = compile_pattern(pattern, multiline=True)
    theirs = re.compile(pattern, re.MULTILINE)
    assert ours.findall(text) == theirs.findall(text)
    assert ours.sub("X", text) == theirs.sub("X", text)
