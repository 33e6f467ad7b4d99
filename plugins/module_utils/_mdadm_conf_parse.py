# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parser for mdadm ARRAY lines.

Covers `mdadm --examine --scan [--verbose]`, `mdadm --detail --scan` and mdadm.conf. Pure text
in, plain dicts and lists out; see _parse_common for the ParseError contract.
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import split_lines, to_int

SCAN_SOURCE = "mdadm ARRAY lines (--examine --scan, --detail --scan, mdadm.conf)"


# ---------------------------------------------------------------------------------------------
# ARRAY lines: mdadm --examine --scan [--verbose], mdadm --detail --scan, mdadm.conf
# ---------------------------------------------------------------------------------------------

_KEYWORD_RE = re.compile(r"^[A-Za-z][A-Za-z_-]*$")


def _conf_words(number: int, line: str) -> list[str]:
    """Split a line into words as mdadm.conf does: blanks separate, quotes group, # comments."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = None
    for char in line:
        if quote is not None:
            if char == quote:
                quote = None
            else:
                word.append(char)
            continue
        if char in "'\"":
            quote = char
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif char == "#" and not in_word:
            break
        else:
            word.append(char)
            in_word = True
    if quote is not None:
        raise ParseError(SCAN_SOURCE, "unclosed %s quote" % quote, number, line)
    if in_word:
        words.append("".join(word))
    return words


def _is_array_keyword(word: str) -> bool:
    # mdadm.conf(5): keywords are case-insensitive and may be shortened to three letters.
    lowered = word.lower()
    return lowered == "inactive-array" or (len(lowered) >= 3 and "array".startswith(lowered))


def _new_scan_entry(inactive: bool) -> dict:
    return {"device": None, "uuid": None, "level": None, "metadata": None, "num_devices": None, "name": None,
            "container": None, "member": None, "spares": None, "devices": [], "inactive": inactive, "raw": {}}


def _add_scan_word(entry: dict, where: dict, word: str, first: bool, number: int, line: str) -> None:
    key, equals, value = word.partition("=")
    if not equals:
        if first and entry["device"] is None:
            entry["device"] = word
            return
        raise ParseError(SCAN_SOURCE, "%r is not key=value" % word, number, line)
    if not key:
        raise ParseError(SCAN_SOURCE, "%r has no key before '='" % word, number, line)
    if any(existing.lower() == key.lower() for existing in entry["raw"]):
        raise ParseError(SCAN_SOURCE, "%s given twice for one array" % key, number, line)
    entry["raw"][key] = value
    where[key.lower()] = (number, line)


def _finish_scan_entry(entry: dict, where: dict) -> dict:
    values = {key.lower(): value for key, value in entry["raw"].items()}
    for name in ("uuid", "level", "metadata", "name", "container", "member"):
        entry[name] = values.get(name)
    for name, key in (("num_devices", "num-devices"), ("spares", "spares")):
        if key in values:
            number, line = where[key]
            entry[name] = to_int(SCAN_SOURCE, values[key], key, number, line)
    if values.get("devices"):
        entry["devices"] = [device for device in values["devices"].split(",") if device]
    return entry


def parse_mdadm_examine_scan(text: str) -> list[dict]:
    """Parse ARRAY lines from `mdadm --examine --scan [--verbose]`, `--detail --scan` or mdadm.conf.

    A line starting with a blank continues the previous one (devices=, spares=). Lines for other
    mdadm.conf keywords (DEVICE, MAILADDR, HOMEHOST, CREATE, ...) and their continuations are
    not ARRAY entries and are left out; comments start with #.
    """
    entries: list[dict] = []
    entry: dict | None = None
    where: dict[str, tuple[int, str]] = {}
    in_statement = False
    for number, line in enumerate(split_lines(text), 1):
        words = _conf_words(number, line)
        if not words:
            continue
        if line[:1].isspace():
            if not in_statement:
                raise ParseError(SCAN_SOURCE, "continuation line with no line before it to continue", number, line)
            if entry is not None:
                for word in words:
                    _add_scan_word(entry, where, word, False, number, line)
            continue
        if entry is not None:
            entries.append(_finish_scan_entry(entry, where))
            entry = None
        if not _KEYWORD_RE.match(words[0]):
            raise ParseError(SCAN_SOURCE, "line does not start with a keyword such as ARRAY", number, line)
        in_statement = True
        if not _is_array_keyword(words[0]):
            continue
        entry = _new_scan_entry(words[0].lower() == "inactive-array")
        where = {}
        for position, word in enumerate(words[1:]):
            _add_scan_word(entry, where, word, position == 0, number, line)
    if entry is not None:
        entries.append(_finish_scan_entry(entry, where))
    return entries
