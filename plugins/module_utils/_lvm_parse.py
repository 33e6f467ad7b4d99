# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parsers for LVM's JSON reports and its text metadata backups.

Covers `lvm fullreport --reportformat json --units b --nosuffix`, the separate `pvs`, `vgs` and
`lvs --reportformat json` reports (`json_std` too), the lv_attr string, and the LVM2 text
metadata that vgcfgbackup writes to /etc/lvm/backup and /etc/lvm/archive. Pure text in, plain
dicts and lists out; none runs a command or reads a file. Text that does not have the shape
LVM prints raises ParseError naming the offending line, wherever that line can be found.

A column that was not asked for (`-o`) comes back as None, never as a guess.
"""

from __future__ import annotations

import json
import math
import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import refuse_overlong_numbers, split_lines
from ansible_collections.lifeline.storage.plugins.module_utils._text import json_with_escapes

FULLREPORT_SOURCE = "lvm fullreport JSON"
METADATA_SOURCE = "LVM metadata backup"
# parse_lvm_report_json's kind, by the JSON key of the report's rows or the command's name.
_REPORT_KINDS = {"pv": "pv", "pvs": "pv", "vg": "vg", "vgs": "vg", "lv": "lv", "lvs": "lv"}

# LVM prints "-1" (or these words) for a number it could not determine (report/values.h).
_UNDEFINED_NUMBERS = ("-1", "unknown", "undefined", "undef")
# Every unsigned report number is printed as plain digits with --units b --nosuffix; "B" is the
# suffix --units b adds without --nosuffix.
_BYTES_RE = re.compile(r"^(?P<digits>\d+)B?$")
# Percent columns (data_percent, sync_percent, ...) are printed "%.2f", or "" when not applicable.
_PERCENT_RE = re.compile(r"^\d+(?:\.\d+)?$")
# The orphan pseudo volume group that some LVM versions name in reports.
_ORPHAN_VG_PREFIX = "#orphans"
# Missing PVs are reported with this name instead of a device.
_UNKNOWN_DEVICE = "[unknown]"


# ---------------------------------------------------------------------------------------------
# JSON reports: loading and locating
# ---------------------------------------------------------------------------------------------

def _line_at(text: str, number: int) -> tuple[int | None, str | None]:
    lines = split_lines(text)
    if not 1 <= number <= len(lines):
        return None, None
    return number, lines[number - 1]


def _first_line(text: str) -> tuple[int | None, str | None]:
    for number, line in enumerate(split_lines(text), 1):
        if line.strip():
            return number, line
    return None, None


def _locate(text: str, key: str, value=None) -> tuple[int | None, str | None]:
    """The first line holding `"key"` (and the value's JSON spelling, when given).

    json.loads keeps no positions, so an error about a value names the line by searching for it;
    LVM prints one row per line or one column per line, so the first match is the right line.
    """
    wanted = [json.dumps(key)] + ([json.dumps(value)] if value is not None else [])
    for number, line in enumerate(split_lines(text), 1):
        if all(piece in line for piece in wanted):
            return number, line
    return None, None


def _load_report(source: str, text: str) -> list[dict]:
    """The `report` list of an LVM JSON report, each entry a dict of lists of row dicts."""
    try:
        document = json.loads(json_with_escapes(text))
    except json.JSONDecodeError as error:
        raise ParseError(source, "not valid JSON (%s, column %d)" % (error.msg, error.colno),
                         *_line_at(text, error.lineno)) from None
    if not isinstance(document, dict) or not isinstance(document.get("report"), list):
        raise ParseError(source, "no 'report' list at the top level", *_first_line(text))
    for entry in document["report"]:
        if not isinstance(entry, dict):
            raise ParseError(source, "a 'report' entry is not an object: %r" % (entry,), *_locate(text, "report"))
        for kind, rows in entry.items():
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise ParseError(source, "%r is not a list of objects" % kind, *_locate(text, kind))
    return document["report"]


class _ColumnReader:
    """Turns report columns into plain values; knows the text so that errors can name a line."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text

    def fail(self, column: str, value, message: str) -> ParseError:
        return ParseError(self.source, "%s %s: %r" % (column, message, value),
                          *_locate(self.text, column, value if isinstance(value, str) else None))

    def string(self, row: dict, column: str) -> str | None:
        value = row.get(column)
        if value is None or value == "":
            return None
        if isinstance(value, list):
            # json_std prints string lists (tags) as arrays; the basic format joins them with ",".
            return ",".join(str(item) for item in value) or None
        return str(value)

    def number(self, row: dict, column: str) -> int | None:
        """A byte count or a count: digits, a trailing "B" allowed; "" and LVM's -1 are unknown."""
        value = row.get(column)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise self.fail(column, value, "is not a number")
        if isinstance(value, int):
            return None if value == -1 else value
        text = str(value).strip()
        if text in _UNDEFINED_NUMBERS:
            return None
        match = _BYTES_RE.match(text)
        if not match:
            raise self.fail(column, value, "is not a whole number of bytes or items"
                                           " (sizes need --units b --nosuffix)")
        return int(match.group("digits"))

    def percent(self, row: dict, column: str) -> float | None:
        """A percent column: "85.00" (json_std: 85.0); "" or null where it does not apply."""
        value = row.get(column)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise self.fail(column, value, "is not a percentage")
        if isinstance(value, (int, float)):
            if value == -1:
                return None
            # Compared before float(): a huge JSON integer would overflow it.
            if not (isinstance(value, int) or math.isfinite(value)) or not 0 <= value <= 100:
                raise self.fail(column, value, "is not a percentage between 0 and 100")
            return float(value)
        text = str(value).strip()
        if text in _UNDEFINED_NUMBERS:
            return None
        if not _PERCENT_RE.match(text):
            raise self.fail(column, value, "is not a percentage")
        number = float(text)
        if number > 100:
            raise self.fail(column, value, "is not a percentage between 0 and 100")
        return number

    def flag(self, row: dict, column: str, word: str) -> bool | None:
        """A binary column: "1" or its word is true, "0" or "" false (the word form is the
        default, "0"/"1" come with --binary); anything else LVM prints is unknown."""
        value = row.get(column)
        if isinstance(value, bool):
            return value
        if value in (1, "1", word):
            return True
        if value in (0, "0", ""):
            return False
        return None


def _attr_char(attr: str | None, position: int) -> str | None:
    if attr is None or len(attr) <= position:
        return None
    return attr[position]


def _flag_or_attr(reader: _ColumnReader, row: dict, column: str, word: str,
                  attr: str | None, position: int, letter: str) -> bool | None:
    """A binary column when it was reported, else the letter in the attr string."""
    if column in row:
        return reader.flag(row, column, word)
    char = _attr_char(attr, position)
    if char is None:
        return None
    return char == letter


def _visible_name(printed: str | None) -> tuple[str | None, bool | None]:
    """LVM prints hidden (internal) LVs in brackets: "[pool_tdata]" is pool_tdata, hidden."""
    if printed is None:
        return None, None
    if len(printed) > 2 and printed.startswith("[") and printed.endswith("]"):
        return printed[1:-1], True
    return printed, False


def _vg_name(reader: _ColumnReader, row: dict, group_vg: dict | None) -> str | None:
    """The row's vg_name column, else the VG of the fullreport group the row came in."""
    if "vg_name" in row:
        name = reader.string(row, "vg_name")
        return None if name is None or name.startswith(_ORPHAN_VG_PREFIX) else name
    return group_vg["name"] if group_vg else None


# ---------------------------------------------------------------------------------------------
# JSON reports: records
# ---------------------------------------------------------------------------------------------

def _pv_record(reader: _ColumnReader, row: dict, group_vg: dict | None) -> dict:
    attr = reader.string(row, "pv_attr")
    name = reader.string(row, "pv_name")
    return {
        "uuid": reader.string(row, "pv_uuid"),
        # A missing PV has no device; LVM prints "[unknown]" in its place.
        "name": None if name == _UNKNOWN_DEVICE else name,
        "vg_name": _vg_name(reader, row, group_vg),
        "vg_uuid": reader.string(row, "vg_uuid") if "vg_uuid" in row else (group_vg or {}).get("uuid"),
        "size_bytes": reader.number(row, "pv_size"),
        "free_bytes": reader.number(row, "pv_free"),
        "used_bytes": reader.number(row, "pv_used"),
        "dev_size_bytes": reader.number(row, "dev_size"),
        "pe_start_bytes": reader.number(row, "pe_start"),
        "pe_count": reader.number(row, "pv_pe_count"),
        "pe_alloc_count": reader.number(row, "pv_pe_alloc_count"),
        "attr": attr,
        # pv_attr (pvs(8)): 1 (d)uplicate/(a)llocatable/(u)sed, 2 e(x)ported, 3 (m)issing.
        "missing": _flag_or_attr(reader, row, "pv_missing", "missing", attr, 2, "m"),
        "duplicate": _flag_or_attr(reader, row, "pv_duplicate", "duplicate", attr, 0, "d"),
        "exported": _flag_or_attr(reader, row, "pv_exported", "exported", attr, 1, "x"),
    }


def _vg_record(reader: _ColumnReader, row: dict) -> dict:
    attr = reader.string(row, "vg_attr")
    extent_size = reader.number(row, "vg_extent_size")
    extent_count = reader.number(row, "vg_extent_count")
    free_count = reader.number(row, "vg_free_count")
    size = reader.number(row, "vg_size")
    free = reader.number(row, "vg_free")
    # vg_size and vg_free are defined as extents times extent size; a report that asked only for
    # the extent columns (libstorage-ng does) still says the sizes exactly.
    if size is None and None not in (extent_size, extent_count):
        size = extent_size * extent_count
    if free is None and None not in (extent_size, free_count):
        free = extent_size * free_count
    return {
        "uuid": reader.string(row, "vg_uuid"),
        "name": reader.string(row, "vg_name"),
        "attr": attr,
        "seqno": reader.number(row, "vg_seqno"),
        "extent_size_bytes": extent_size,
        "extent_count": extent_count,
        "free_extent_count": free_count,
        "size_bytes": size,
        "free_bytes": free,
        "pv_count": reader.number(row, "pv_count"),
        "lv_count": reader.number(row, "lv_count"),
        "snap_count": reader.number(row, "snap_count"),
        "missing_pv_count": reader.number(row, "vg_missing_pv_count"),
        # vg_attr (vgs(8)): 1 permissions, 2 resi(z)eable, 3 e(x)ported, 4 (p)artial, ...
        "partial": _flag_or_attr(reader, row, "vg_partial", "partial", attr, 3, "p"),
        "exported": _flag_or_attr(reader, row, "vg_exported", "exported", attr, 2, "x"),
    }


def _lv_active(reader: _ColumnReader, row: dict, attr: str | None) -> bool | None:
    """lv_active when reported ("active"/"" or "1"/"0"; "unknown" stays unknown), else lv_attr's
    state letter: LVM prints "-" there only when no device-mapper device exists, "h" for a
    historical (removed) LV and "X" when it could not tell (lib/metadata/lv.c)."""
    if "lv_active" in row:
        return reader.flag(row, "lv_active", "active")
    state = _attr_char(attr, 4)
    if state is None or state == "X":
        return None
    return state not in ("-", "h")


# lv_health_status words (lib/report/report.c) in decode_lv_attr's health words.
_HEALTH_STATUS_WORDS = {
    "partial": "partial", "refresh needed": "refresh_needed", "mismatches exist": "mismatches",
    "writemostly": "writemostly", "failed": "failed", "out_of_data": "out_of_data_space",
    "metadata_read_only": "metadata_read_only", "unknown": "unknown", "undefined": "unknown",
}
# The lv_attr position of the health letter (lvs(8): the ninth).
_ATTR_HEALTH = 8


def _lv_health(reader: _ColumnReader, row: dict, attr: str | None) -> str | None:
    """One health word: lv_health_status when reported, else lv_attr's health letter.

    "" (healthy) is "ok"; None means neither says. Both come from the same checks in LVM, in the
    same order: partial first, then, on RAID, refresh needed.
    """
    if "lv_health_status" in row:
        status = reader.string(row, "lv_health_status")
        return "ok" if status is None else _HEALTH_STATUS_WORDS.get(status, status)
    letter = _attr_char(attr, _ATTR_HEALTH)
    if letter is None:
        return None
    return "ok" if letter == "-" else _HEALTH.get(letter, letter)


def _health_says(health: str | None, word: str) -> bool | None:
    """Whether HEALTH is WORD; None when unknown, or when partial (checked first) hides it."""
    if health in (None, "unknown") or (health == "partial" and word != "partial"):
        return None
    return health == word


def _lv_record(reader: _ColumnReader, rows: list[dict], group_vg: dict | None,
               segtypes: list | None) -> dict:
    """One LV from its rows: lvs prints one row per segment when segment columns are asked for."""
    row = rows[0]
    name, hidden = _visible_name(reader.string(row, "lv_name"))
    attr = reader.string(row, "lv_attr")
    vg_name = _vg_name(reader, row, group_vg)
    full_name = reader.string(row, "lv_full_name")
    if full_name is None and None not in (vg_name, name):
        full_name = "%s/%s" % (vg_name, name)
    if vg_name is None and full_name is not None and "/" in full_name:
        vg_name = full_name.split("/", 1)[0]
    if segtypes is None and "segtype" in row:
        segtypes = [reader.string(each, "segtype") for each in rows]
    segment_count = reader.number(row, "seg_count")
    if segment_count is None and segtypes is not None:
        segment_count = len(segtypes)
    distinct = set(segtypes or [])
    health = _lv_health(reader, row, attr)
    return {
        "uuid": reader.string(row, "lv_uuid"),
        "name": name,
        "hidden": hidden,
        "vg_name": vg_name,
        "full_name": full_name,
        "path": reader.string(row, "lv_path"),
        "attr": attr,
        "attributes": decode_lv_attr(attr or ""),
        "size_bytes": reader.number(row, "lv_size"),
        # One type for the whole LV when every segment has the same; segtypes lists them all.
        "segtype": distinct.pop() if len(distinct) == 1 and None not in distinct else None,
        "segtypes": segtypes,
        "segment_count": segment_count,
        "pool_lv": _visible_name(reader.string(row, "pool_lv"))[0],
        "origin": _visible_name(reader.string(row, "origin"))[0],
        "active": _lv_active(reader, row, attr),
        "health_status": reader.string(row, "lv_health_status"),
        "partial": _health_says(health, "partial"),
        "refresh_needed": _health_says(health, "refresh_needed"),
        # Thin pools (and, in LVM's report, thin volumes and caches too).
        "data_percent": reader.percent(row, "data_percent"),
        "metadata_percent": reader.percent(row, "metadata_percent"),
        # Old-style snapshots; LVM prints 100.00 for an invalid one.
        "snap_percent": reader.percent(row, "snap_percent"),
        # RAID and mirror LVs; caches report their dirty share here.
        "sync_percent": reader.percent(row, "sync_percent" if "sync_percent" in row else "copy_percent"),
        "sync_action": reader.string(row, "raid_sync_action"),
    }


def _rows_per_lv(reader: _ColumnReader, rows: list[dict]) -> list[list[dict]]:
    """Rows grouped by LV, in first-seen order: by uuid, else by VG and name."""
    groups: dict[tuple, list[dict]] = {}
    for index, row in enumerate(rows):
        uuid = reader.string(row, "lv_uuid")
        if uuid is not None:
            key: tuple = ("uuid", uuid)
        elif reader.string(row, "lv_name") is not None:
            key = ("name", reader.string(row, "vg_name"), reader.string(row, "lv_name"))
        else:
            key = ("row", index)
        groups.setdefault(key, []).append(row)
    return list(groups.values())


def _fullreport_segtypes(reader: _ColumnReader, lv_rows: list[dict], seg_rows: list[dict]) -> list:
    """Each LV's segment types from the group's seg rows, or None where they cannot be matched.

    Seg rows carry lv_uuid only when it was asked for; without it they come in LV order,
    seg_count rows per LV, and are matched by position only when the counts add up exactly.
    """
    with_uuid = [reader.string(row, "lv_uuid") for row in seg_rows]
    if seg_rows and None not in with_uuid:
        by_uuid: dict[str, list] = {}
        for uuid, row in zip(with_uuid, seg_rows):
            by_uuid.setdefault(uuid, []).append(reader.string(row, "segtype"))
        return [by_uuid.get(reader.string(row, "lv_uuid")) for row in lv_rows]
    counts = [reader.number(row, "seg_count") for row in lv_rows]
    if not seg_rows or any(with_uuid) or None in counts or sum(counts) != len(seg_rows):
        return [None] * len(lv_rows)
    result, start = [], 0
    for count in counts:
        result.append([reader.string(row, "segtype") for row in seg_rows[start:start + count]])
        start += count
    return result


def _group_vg(reader: _ColumnReader, entry: dict) -> tuple[dict | None, list[dict]]:
    """The VG a fullreport group is about, and the VG records to report."""
    records = []
    for row in entry.get("vg", []):
        record = _vg_record(reader, row) if row else None
        if record is None or ("vg_name" in row and _vg_name(reader, row, None) is None):
            continue  # nothing selected, or the orphan PVs' pseudo volume group
        records.append(record)
    return (records[0] if len(records) == 1 else None), records


def parse_lvm_fullreport(text: str) -> dict:
    """Parse `lvm fullreport --reportformat json --units b --nosuffix` (any -o selection).

    Returns {"pvs": [...], "vgs": [...], "lvs": [...]} across all report groups (one group per VG).
    PVs and LVs without a vg_name column take the name of their group's VG. An object with no
    columns at all (what LVM prints for a kind none of whose columns was selected) is skipped.
    """
    refuse_overlong_numbers(FULLREPORT_SOURCE, text)
    reader = _ColumnReader(FULLREPORT_SOURCE, text)
    result: dict[str, list] = {"pvs": [], "vgs": [], "lvs": []}
    for entry in _load_report(FULLREPORT_SOURCE, text):
        group_vg, vg_records = _group_vg(reader, entry)
        result["vgs"].extend(vg_records)
        result["pvs"].extend(_pv_record(reader, row, group_vg) for row in entry.get("pv", []) if row)
        lv_rows = [row for row in entry.get("lv", []) if row]
        seg_rows = [row for row in entry.get("seg", []) if row]
        for row, segtypes in zip(lv_rows, _fullreport_segtypes(reader, lv_rows, seg_rows)):
            result["lvs"].append(_lv_record(reader, [row], group_vg, segtypes))
    return result


def parse_lvm_report_json(text: str, kind: str) -> list[dict]:
    """Parse `pvs`, `vgs` or `lvs --reportformat json --units b --nosuffix` (json_std too).

    kind is "pv", "vg" or "lv" (or the command's name). Records have the shapes of
    parse_lvm_fullreport's; an LV printed once per segment (segment columns selected) is one
    record whose segtypes lists its segments in order.
    """
    if kind not in _REPORT_KINDS:
        raise ValueError("kind must be one of %s, not %r" % (", ".join(sorted(_REPORT_KINDS)), kind))
    kind = _REPORT_KINDS[kind]
    source = "%ss --reportformat json" % kind
    refuse_overlong_numbers(source, text)
    report = _load_report(source, text)
    if not any(kind in entry for entry in report):
        raise ParseError(source, "no %r rows in the report (the output of another command?)" % kind,
                         *_first_line(text))
    reader = _ColumnReader(source, text)
    rows = [row for entry in report for row in entry.get(kind, []) if row]
    if kind == "pv":
        return [_pv_record(reader, row, None) for row in rows]
    if kind == "vg":
        return [_vg_record(reader, row) for row in rows]
    return [_lv_record(reader, group, None, None) for group in _rows_per_lv(reader, rows)]


# ---------------------------------------------------------------------------------------------
# lv_attr
# ---------------------------------------------------------------------------------------------

# The lv_attr letters, per position, as lvs(8) documents them (and lib/metadata/lv.c prints
# them). "-" means nothing to report in that position; "X" means LVM could not tell.
_VOLUME_TYPES = {
    "C": "cache", "m": "mirror", "M": "mirror_not_synced", "o": "origin", "O": "origin_merging",
    "g": "integrity", "r": "raid", "R": "raid_not_synced", "s": "snapshot", "S": "snapshot_merging",
    "p": "pvmove", "v": "virtual", "i": "image", "I": "image_out_of_sync", "l": "mirror_log",
    "c": "converting", "V": "thin_volume", "t": "thin_pool", "T": "thin_pool_data", "d": "vdo_pool",
    "D": "vdo_pool_data", "e": "metadata", "-": None,
}
_PERMISSIONS = {"w": "writeable", "r": "read_only", "R": "read_only_activation", "-": None}
_ALLOCATION_POLICIES = {"a": "anywhere", "c": "contiguous", "i": "inherited", "l": "cling", "n": "normal"}
_STATES = {
    "a": "active", "h": "historical", "s": "suspended", "I": "invalid_snapshot",
    "S": "invalid_suspended_snapshot", "m": "snapshot_merge_failed", "M": "suspended_snapshot_merge_failed",
    "d": "mapped_without_table", "i": "mapped_inactive_table", "c": "check_needed",
    "C": "suspended_check_needed", "X": "unknown", "-": None,
}
_TARGET_TYPES = {"C": "cache", "m": "mirror", "r": "raid", "s": "snapshot", "t": "thin", "u": "unknown",
                 "v": "virtual", "-": None}
_HEALTH = {
    "p": "partial", "r": "refresh_needed", "m": "mismatches", "w": "writemostly", "s": "reshaping",
    "R": "remove_after_reshape", "F": "failed", "D": "out_of_data_space", "M": "metadata_read_only",
    "E": "error", "X": "unknown", "-": None,
}
_FIXED_MINOR = {"m": True, "-": False}
_DEVICE_OPEN = {"o": True, "-": False, "X": None}
_ZERO = {"z": True, "-": False}
_SKIP_ACTIVATION = {"k": True, "-": False}
_LV_ATTR_POSITIONS = (
    ("volume_type", _VOLUME_TYPES), ("permissions", _PERMISSIONS), ("allocation_policy", None),
    ("fixed_minor", _FIXED_MINOR), ("state", _STATES), ("device_open", _DEVICE_OPEN),
    ("target_type", _TARGET_TYPES), ("zero", _ZERO), ("health", _HEALTH), ("skip_activation", _SKIP_ACTIVATION),
)


def decode_lv_attr(attr: str) -> dict:
    """Name the ten lv_attr letters (lvs(8) NOTES).

    Words for the documented letters; None where LVM printed "-" (nothing in that position) and
    True/False for the yes/no positions. "X" (LVM could not tell) is "unknown", or None in a
    yes/no position. A letter this parser does not know is kept as printed, not guessed at.
    Positions a shorter (older) attr string does not have are None. allocation_locked is the
    capitalised allocation policy: locked against allocation changes, as during pvmove.
    """
    decoded: dict = {}
    for position, (field, meanings) in enumerate(_LV_ATTR_POSITIONS):
        char = _attr_char(attr, position)
        if meanings is not None:
            decoded[field] = None if char is None else meanings.get(char, char)
            continue
        known = char is not None and char.lower() in _ALLOCATION_POLICIES
        decoded[field] = _ALLOCATION_POLICIES[char.lower()] if known else char
        decoded["allocation_locked"] = char.isupper() if known else None
    return decoded


# ---------------------------------------------------------------------------------------------
# LVM2 text metadata (/etc/lvm/backup, /etc/lvm/archive)
# ---------------------------------------------------------------------------------------------

# The config syntax LVM writes (lib/config): name = value, name { ... }, "strings" with \"
# and \\ escaped, [lists], # comments.
_METADATA_TOKEN_RE = re.compile(r"""
    (?P<blank>[ \t\r\f\v]+)
  | (?P<newline>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<unclosed>")
  | (?P<punct>[{}\[\]=,])
  | (?P<word>[A-Za-z0-9_.+\-]+)
""", re.VERBOSE | re.DOTALL)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_INTEGER_RE = re.compile(r"^-?\d+$")
_FLOAT_RE = re.compile(r"^-?\d+\.\d+$")
_TEXT_FORMAT_CONTENTS = "Text Format Volume Group"
_TYPE_NAMES = {int: "whole number", str: "string", list: "list of strings"}
_SECTOR_BYTES = 512  # the text format counts dev_size, pe_start and extent_size in sectors


class _Section:
    """A `name { ... }` block: its values and subsections by name, and where it opened."""

    def __init__(self, name: str, line_number: int | None) -> None:
        self.name = name
        self.line_number = line_number
        self.values: dict[str, tuple[object, int]] = {}
        self.sections: dict[str, _Section] = {}


class _MetadataReader:
    """A recursive-descent reader over the metadata tokens; errors name the line."""

    def __init__(self, text: str) -> None:
        self.lines = split_lines(text)
        self.tokens = self._tokenize(text)
        self.position = 0

    def fail(self, message: str, number: int | None) -> ParseError:
        if number is None or not 1 <= number <= len(self.lines):
            return ParseError(METADATA_SOURCE, message)
        return ParseError(METADATA_SOURCE, message, number, self.lines[number - 1])

    def _tokenize(self, text: str) -> list[tuple[str, str, int]]:
        tokens, number, offset = [], 1, 0
        while offset < len(text):
            match = _METADATA_TOKEN_RE.match(text, offset)
            if match is None:
                raise self.fail("unexpected character %r" % text[offset], number)
            kind, value = match.lastgroup, match.group()
            if kind == "unclosed":
                raise self.fail("a string opened here is never closed", number)
            if kind == "string":
                tokens.append(("string", _ESCAPE_RE.sub(r"\1", value[1:-1]), number))
            elif kind in ("punct", "word"):
                tokens.append((value if kind == "punct" else "word", value, number))
            number += value.count("\n")
            offset = match.end()
        return tokens

    def next(self) -> tuple[str, str, int] | None:
        if self.position >= len(self.tokens):
            return None
        self.position += 1
        return self.tokens[self.position - 1]

    def read_items(self, section: _Section, closed_by_brace: bool) -> None:
        while True:
            token = self.next()
            if token is None:
                if closed_by_brace:
                    raise self.fail("section %r opened here is never closed" % section.name, section.line_number)
                return
            kind, value, number = token
            if kind == "}":
                if not closed_by_brace:
                    raise self.fail("'}' closes no section", number)
                return
            if kind != "word":
                raise self.fail("expected a name, found %r" % value, number)
            if value in section.values or value in section.sections:
                raise self.fail("%r appears twice in section %r" % (value, section.name), number)
            follow = self.next()
            if follow is not None and follow[0] == "{":
                child = _Section(value, number)
                self.read_items(child, True)
                section.sections[value] = child
            elif follow is not None and follow[0] == "=":
                section.values[value] = (self.read_value(number), number)
            else:
                raise self.fail("expected '=' or '{' after %r" % value, number)

    def read_value(self, number: int):
        token = self.next()
        if token is None:
            raise self.fail("a value is missing at the end of the text", number)
        if token[0] == "[":
            return self.read_list(token[2])
        return self.scalar(token)

    def read_list(self, opened: int) -> list:
        items: list = []
        while True:
            token = self.next()
            if token is None:
                raise self.fail("a list opened here is never closed", opened)
            if token[0] == "]" and not items:
                return items
            items.append(self.scalar(token))
            separator = self.next()
            if separator is None:
                raise self.fail("a list opened here is never closed", opened)
            if separator[0] == "]":
                return items
            if separator[0] != ",":
                raise self.fail("expected ',' or ']' in a list, found %r" % separator[1], separator[2])

    def scalar(self, token: tuple[str, str, int]):
        kind, value, number = token
        if kind == "string":
            return value
        if kind == "word" and _INTEGER_RE.match(value):
            return int(value)
        if kind == "word" and _FLOAT_RE.match(value):
            return float(value)
        raise self.fail("expected a string or a number, found %r" % value, number)


def _typed(reader: _MetadataReader, section: _Section, key: str, kind: type, required: bool = False):
    """A value of the section with its expected type, None when absent and not required."""
    if key not in section.values:
        if required:
            raise reader.fail("section %r has no %s" % (section.name, key), section.line_number)
        return None
    value, number = section.values[key]
    if kind is list:
        valid = isinstance(value, list) and all(isinstance(item, str) for item in value)
    else:
        valid = isinstance(value, kind)
    if not valid:
        raise reader.fail("%s in section %r is not a %s: %r" % (key, section.name, _TYPE_NAMES[kind], value), number)
    return value


def _sectors_to_bytes(value: int | None) -> int | None:
    return None if value is None else value * _SECTOR_BYTES


def _metadata_pv(reader: _MetadataReader, pv: _Section) -> dict:
    if pv.sections:
        inner = next(iter(pv.sections.values()))
        raise reader.fail("section %r inside physical volume %r: a PV holds only values" % (inner.name, pv.name),
                          inner.line_number)
    flags = _typed(reader, pv, "flags", list) or []
    return {
        "name": pv.name,
        "uuid": _typed(reader, pv, "id", str, required=True),
        # The device the PV was on when the metadata was written; LVM itself calls it a hint.
        "device_hint": _typed(reader, pv, "device", str),
        "status": _typed(reader, pv, "status", list),
        "flags": flags,
        "missing": "MISSING" in flags,
        "dev_size_bytes": _sectors_to_bytes(_typed(reader, pv, "dev_size", int)),
        "pe_start_bytes": _sectors_to_bytes(_typed(reader, pv, "pe_start", int)),
        "pe_count": _typed(reader, pv, "pe_count", int),
    }


def _metadata_lv(reader: _MetadataReader, lv: _Section) -> dict:
    return {
        "name": lv.name,
        "uuid": _typed(reader, lv, "id", str),
        "status": _typed(reader, lv, "status", list),
        "segment_count": _typed(reader, lv, "segment_count", int),
        "creation_time": _typed(reader, lv, "creation_time", int),
    }


def _only_vg_section(reader: _MetadataReader, root: _Section) -> _Section:
    if not root.sections:
        raise reader.fail("no volume group section (cut off, or not LVM metadata)", None)
    if len(root.sections) > 1:
        second = list(root.sections.values())[1]
        raise reader.fail("more than one top-level section: %r" % second.name, second.line_number)
    return next(iter(root.sections.values()))


def parse_lvm_metadata_backup(text: str) -> dict:
    """Parse LVM2 text metadata: a /etc/lvm/backup or /etc/lvm/archive file, or the text of an
    on-disk metadata area (same format, volume group section first).

    The whole text must be well formed, so a file cut off inside any section is refused rather
    than half read. Sizes in the text are 512-byte sectors; they are returned in bytes.
    """
    refuse_overlong_numbers(METADATA_SOURCE, text)
    reader = _MetadataReader(text)
    root = _Section("(top level)", None)
    reader.read_items(root, False)
    vg = _only_vg_section(reader, root)
    contents = _typed(reader, root, "contents", str, required=True)
    if contents != _TEXT_FORMAT_CONTENTS:
        raise reader.fail("contents is %r, not %r" % (contents, _TEXT_FORMAT_CONTENTS), root.values["contents"][1])
    pv_section = vg.sections.get("physical_volumes")
    if pv_section is None:
        raise reader.fail("volume group %r has no physical_volumes section" % vg.name, vg.line_number)
    if pv_section.values:
        key, (_value, number) = next(iter(pv_section.values.items()))
        raise reader.fail("%r in physical_volumes is not a PV section" % key, number)
    lv_section = vg.sections.get("logical_volumes")
    return {
        "vg_name": vg.name,
        "vg_uuid": _typed(reader, vg, "id", str, required=True),
        "seqno": _typed(reader, vg, "seqno", int, required=True),
        "format": _typed(reader, vg, "format", str),
        "status": _typed(reader, vg, "status", list),
        "extent_size_bytes": _sectors_to_bytes(_typed(reader, vg, "extent_size", int)),
        "contents": contents,
        "version": _typed(reader, root, "version", int),
        "description": _typed(reader, root, "description", str),
        "creation_host": _typed(reader, root, "creation_host", str),
        "creation_time": _typed(reader, root, "creation_time", int),
        "pvs": [_metadata_pv(reader, pv) for pv in pv_section.sections.values()],
        "lvs": [_metadata_lv(reader, lv) for lv in (lv_section.sections.values() if lv_section else [])],
    }
