# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the helpers the md output parsers share.

The parsers (_mdstat_parse, _mdadm_parse, _mdadm_conf_parse) take a tool's text and return
plain dicts and lists; none runs a command or reads a file. Text that does not have the shape
the kernel or mdadm prints raises ParseError with the 1-based line number and the line, so a
collector can say exactly what it did not understand instead of reporting a half-read array as
healthy. The line numbering and whole-number conversion behind that live here.
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError


def split_lines(text: str) -> list[str]:
    """Lines as an editor numbers them: only \\n (and \\r\\n) end a line."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# int() refuses a string of more digits than this (Python's default int_max_str_digits) with a
# plain ValueError; no size or count a tool prints comes near it.
MAX_DIGITS = 4300
_OVERLONG_NUMBER_RE = re.compile(r"\d{%d,}" % (MAX_DIGITS + 1))


def refuse_overlong_numbers(source: str, text: str) -> None:
    """Raise ParseError at the first line holding a number int() would refuse for its length."""
    if not _OVERLONG_NUMBER_RE.search(text):
        return
    for number, line in enumerate(split_lines(text), 1):
        if _OVERLONG_NUMBER_RE.search(line):
            raise ParseError(source, "a number of more than %d digits" % MAX_DIGITS, number, line)


def line_at(text: str, number: int | None) -> str | None:
    """Line NUMBER of TEXT; "" for the end of the text just after its last newline, as JSON errors name it."""
    lines = split_lines(text)
    if number is None or not 1 <= number <= len(lines) + 1:
        return None
    return lines[number - 1] if number <= len(lines) else ""


def to_int(source: str, value: str, what: str, number: int, line: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ParseError(source, "%s is not a whole number: %r" % (what, value), number, line) from None
