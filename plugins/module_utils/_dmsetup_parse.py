# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parsers for `dmsetup table` and `dmsetup status` of snapshot targets.

Pure text in, plain dicts out. Both commands, run without a device name, print one line per
target, prefixed with the device's name: `NAME: START LENGTH TARGET ARGS...`. With no device at
all they print `No devices found`.
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import refuse_overlong_numbers, split_lines

TABLE_SOURCE = "dmsetup table"
STATUS_SOURCE = "dmsetup status"
NO_DEVICES = "No devices found"

_LINE_RE = re.compile(r"^(?P<name>\S+): (?P<start>\d+) (?P<length>\d+) (?P<target>\S+)(?: (?P<args>.*))?$")
_MAJOR_MINOR_RE = re.compile(r"^\d+:\d+$")
# A snapshot's status while valid: allocated/total sectors of the exception store, then its metadata sectors.
_SNAPSHOT_USE_RE = re.compile(r"^(?P<used>\d+)/(?P<total>\d+) (?P<metadata>\d+)$")


def _target_lines(source: str, text: str) -> list[dict]:
    refuse_overlong_numbers(source, text)
    lines = []
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip() or line.strip() == NO_DEVICES:
            continue
        match = _LINE_RE.match(line.rstrip())
        if not match:
            raise ParseError(source, "expected NAME: START LENGTH TARGET ARGS", number, line)
        lines.append({"number": number, "line": line, "name": match.group("name"), "start": int(match.group("start")),
                      "length": int(match.group("length")), "target": match.group("target"),
                      "args": (match.group("args") or "").split()})
    return lines


def parse_snapshot_tables(text: str) -> dict[str, dict]:
    """`dmsetup table` -> {name: {origin, cow, persistent, chunk_sectors, length_sectors}} for snapshot targets.

    origin and cow are MAJOR:MINOR, as the kernel prints them. Other targets are left out.
    """
    tables: dict[str, dict] = {}
    for entry in _target_lines(TABLE_SOURCE, text):
        if entry["target"] != "snapshot":
            continue
        args = entry["args"]
        if len(args) < 4 or not (_MAJOR_MINOR_RE.match(args[0]) and _MAJOR_MINOR_RE.match(args[1])) or not args[3].isdecimal():
            raise ParseError(TABLE_SOURCE, "expected ORIGIN COW P|N|PO CHUNK after snapshot", entry["number"], entry["line"])
        tables[entry["name"]] = {"origin": args[0], "cow": args[1], "persistent": args[2],
                                 "chunk_sectors": int(args[3]), "length_sectors": entry["length"]}
    return tables


def parse_snapshot_status(text: str) -> dict[str, dict]:
    """`dmsetup status` -> {name: {valid, state, used_sectors, total_sectors, metadata_sectors}} for snapshot targets.

    state is `active` while the exception store has room, else the kernel's word (`Invalid` when
    it overflowed or failed, `Overflow` when a merge overflowed it); the counts are None then.
    """
    statuses: dict[str, dict] = {}
    for entry in _target_lines(STATUS_SOURCE, text):
        if entry["target"] != "snapshot":
            continue
        words = " ".join(entry["args"])
        use = _SNAPSHOT_USE_RE.match(words)
        if use:
            statuses[entry["name"]] = {"valid": True, "state": "active", "used_sectors": int(use.group("used")),
                                       "total_sectors": int(use.group("total")),
                                       "metadata_sectors": int(use.group("metadata"))}
        elif words in ("Invalid", "Overflow", "Merge failed"):
            statuses[entry["name"]] = {"valid": False, "state": words, "used_sectors": None, "total_sectors": None,
                                       "metadata_sectors": None}
        else:
            raise ParseError(STATUS_SOURCE, "expected USED/TOTAL METADATA, Invalid or Overflow", entry["number"], entry["line"])
    return statuses
