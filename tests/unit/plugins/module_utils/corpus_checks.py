# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks every parser's corpus tests share: each recorded output parses, or fails at the line
it is known to be malformed at; and each fixture file has exactly one provenance line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError


def assert_parses_or_fails_at(parser, text: str, expected_invalid: tuple[int, str] | None) -> None:
    """PARSER accepts TEXT, or, when EXPECTED_INVALID is (line number, reason), names that line."""
    if expected_invalid is None:
        parser(text)
        return
    line_number = expected_invalid[0]
    with pytest.raises(ParseError) as raised:
        parser(text)
    line = text.split("\n")[line_number - 1]
    assert raised.value.line_number == line_number
    assert raised.value.line == line
    assert repr(line) in str(raised.value)


def assert_inventory(fixtures: Path, names: list[str], count: int, expected_invalid) -> None:
    """COUNT fixtures, each listed once in SOURCES.md, every expected-invalid name among them."""
    assert len(names) == count
    assert set(expected_invalid) <= set(names), "an expected-invalid entry names a missing fixture"
    listed = re.findall(r"^- `([^`]+)`", (fixtures / "SOURCES.md").read_text(), re.MULTILINE)
    assert sorted(listed) == sorted(names), "every fixture needs exactly one provenance line in SOURCES.md"
