# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parsers for mdadm's per-device and per-array reports.

Covers `mdadm --examine` (one block per device), `mdadm --detail` (human output, one array) and
`mdadm --detail --export` (KEY=VALUE). Pure text in, plain dicts and lists out; see
_parse_common for the ParseError contract.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import refuse_overlong_numbers, split_lines, to_int

DETAIL_EXPORT_SOURCE = "mdadm --detail --export"
DETAIL_SOURCE = "mdadm --detail"
EXAMINE_SOURCE = "mdadm --examine"


# ---------------------------------------------------------------------------------------------
# mdadm --detail --export
# ---------------------------------------------------------------------------------------------

_EXPORT_LINE_RE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_.:+@-]*)=(?P<value>.*)$")
_EXPORT_DEVICE_RE = re.compile(r"^MD_DEVICE_(?P<key>.+)_(?P<field>ROLE|DEV)$")


def parse_mdadm_detail_export(text: str) -> dict:
    """Parse `mdadm --detail --export /dev/mdX` (KEY=VALUE lines).

    Device entries come from MD_DEVICE_<key>_ROLE / _DEV pairs; the <key> part is spelled
    differently by different mdadm versions ("sda1", "dev_sda1", "ev_sda1"), so the device's
    name is taken from the _DEV path when there is one.
    """
    refuse_overlong_numbers(DETAIL_EXPORT_SOURCE, text)
    raw: dict[str, str] = {}
    where: dict[str, tuple[int, str]] = {}
    devices: dict[str, dict] = {}
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        match = _EXPORT_LINE_RE.match(line)
        if not match:
            raise ParseError(DETAIL_EXPORT_SOURCE, "expected KEY=VALUE", number, line)
        key, value = match.group("key"), match.group("value")
        if key in raw:
            raise ParseError(DETAIL_EXPORT_SOURCE, "%s appears twice (output of more than one array?)" % key,
                             number, line)
        raw[key] = value
        where[key] = (number, line)
        device_match = _EXPORT_DEVICE_RE.match(key)
        if device_match:
            entry = devices.setdefault(device_match.group("key"), {
                "name": None, "device": None, "role": None, "key": device_match.group("key")})
            if device_match.group("field") == "DEV":
                entry["device"] = value
                entry["name"] = posixpath.basename(value) or None
            else:
                entry["role"] = value
    for entry in devices.values():
        if entry["name"] is None:
            entry["name"] = entry["key"]
    raid_devices = None
    if "MD_DEVICES" in raw:
        number, line = where["MD_DEVICES"]
        raid_devices = to_int(DETAIL_EXPORT_SOURCE, raw["MD_DEVICES"], "MD_DEVICES", number, line)
    return {
        "level": raw.get("MD_LEVEL"),
        "raid_devices": raid_devices,
        "metadata": raw.get("MD_METADATA"),
        "uuid": raw.get("MD_UUID"),
        "name": raw.get("MD_NAME"),
        "devname": raw.get("MD_DEVNAME"),
        "container": raw.get("MD_CONTAINER"),
        "member": raw.get("MD_MEMBER"),
        "devices": list(devices.values()),
        "raw": raw,
    }


# ---------------------------------------------------------------------------------------------
# mdadm --examine and mdadm --detail (human output): shared line reader
# ---------------------------------------------------------------------------------------------

# "/dev/sda1:" at the start of a line, no blanks: one device (examine) or array (detail).
_BLOCK_HEADER_RE = re.compile(r"^(?P<device>[^\s\[\]][^\s]*):\s*$")
# "Key : value" with a blank before the colon; the value may be empty ("Member Arrays :").
_FIELD_RE = re.compile(r"^\s*(?P<key>[A-Za-z][^:]*?)\s+:(?:\s(?P<value>.*))?$")
# "[Volume0]:" (imsm) or an indented "Bad Block Management Log:" heading.
_SECTION_RE = re.compile(r"^(?:\[(?P<bracketed>[^\]]+)\]|\s+(?P<plain>[A-Za-z][^:]*?[^\s:])):\s*$")
_MEMBER_TABLE_RE = re.compile(r"^\s*Number\s+Major\s+Minor\s+Raid(?:Device|Disk)(?:\s+State)?\s*$")
_DDF_TABLE_RE = re.compile(r"^\s*Number\s+RefNo\s+Size\s+Device\s+Type/State\s*$")
_DDF_ROW_RE = re.compile(r"^\s*(?P<number>\d+)\s+(?P<refno>[0-9a-fA-F]+)\s+(?P<size>\d+)K\s+"
                         r"(?:(?P<device>/\S+)\s+)?(?P<type_state>\S.*?)\s*$")
_NUMBER_OR_DASH_RE = re.compile(r"^(?:\d+|-)$")
_STATE_WORD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_LOCAL_HOST_RE = re.compile(r"^(?P<value>.*?)\s*\(local to host [^)]*\)$")
_SIZE_RE = re.compile(r"^(?P<number>\d+)(?:\s*(?P<unit>sectors|KiB|K)\b)?")
_PERCENT_RE = re.compile(r"^(?P<percent>\d+)% complete")
_CHUNK_RE = re.compile(r"^(?P<size>\d+)\s*(?:K|KiB)?$")


def _dash_or_int(source: str, value: str, what: str, number: int, line: str) -> int | None:
    if value == "-":
        return None
    return to_int(source, value, what, number, line)


def _member_row(source: str, number: int, line: str) -> dict | None:
    """A row of the `Number Major Minor RaidDevice State` table, or None if it is not one.

    --detail rows have four number columns; 0.90 --examine rows have one more in front: the
    slot in the superblock's table, or "this" for the examined device itself.
    """
    tokens = line.split()
    leading = 0
    while leading < len(tokens) and _NUMBER_OR_DASH_RE.match(tokens[leading]):
        leading += 1
    this = bool(tokens) and tokens[0] == "this"
    if this:
        columns, rest, label = tokens[1:5], tokens[5:], "this"
        if len(columns) < 4 or not all(_NUMBER_OR_DASH_RE.match(column) for column in columns):
            return None
    elif leading >= 5:
        columns, rest, label = tokens[1:5], tokens[5:], tokens[0]
    elif leading == 4:
        columns, rest, label = tokens[0:4], tokens[4:], None
    else:
        return None
    device = rest[-1] if rest and rest[-1].startswith("/") else None
    words = rest[:-1] if device is not None else rest
    for word in words:
        if not _STATE_WORD_RE.match(word):
            raise ParseError(source, "device state %r is not a word" % word, number, line)
    row = {
        "number": _dash_or_int(source, columns[0], "Number", number, line),
        "major": _dash_or_int(source, columns[1], "Major", number, line),
        "minor": _dash_or_int(source, columns[2], "Minor", number, line),
        "raid_device": _dash_or_int(source, columns[3], "RaidDevice", number, line),
        "state": list(words),
        "device": device,
    }
    if label is not None:
        row["this"] = label == "this"
        row["slot"] = None if label in ("this", "-") else int(label)
    return row


def _ddf_row(number: int, line: str) -> dict | None:
    match = _DDF_ROW_RE.match(line)
    if not match:
        return None
    return {
        "number": int(match.group("number")),
        "ref_no": match.group("refno"),
        "size_kib": int(match.group("size")),
        "device": match.group("device"),
        "type_state": match.group("type_state"),
    }


def _read_blocks(source: str, text: str) -> list[dict]:
    """Split mdadm's human output into per-device blocks of fields and table rows.

    Each block: device, line_number, pairs [(section, key, value, number, line)], members
    (rows of a Number/Major/Minor table) and ddf_disks (rows of a DDF Physical Disks table).
    A line indented under a field with no key of its own continues that field's value.
    """
    blocks: list[dict] = []
    block: dict | None = None
    section: str | None = None
    table: str | None = None
    previous = "blank"
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            section = None
            previous = "blank"
            continue
        header = _BLOCK_HEADER_RE.match(line)
        if header:
            if any(seen["device"] == header.group("device") for seen in blocks):
                raise ParseError(source, "device %s appears twice" % header.group("device"), number, line)
            block = {"device": header.group("device"), "line_number": number, "pairs": [],
                     "members": [], "ddf_disks": []}
            blocks.append(block)
            section, table, previous = None, None, "header"
            continue
        if block is None:
            raise ParseError(source, "expected a device line such as '/dev/sda1:' first", number, line)
        if _MEMBER_TABLE_RE.match(line):
            table, previous = "members", "table"
            continue
        if _DDF_TABLE_RE.match(line):
            table, previous = "ddf", "table"
            continue
        if table is not None:
            row = _member_row(source, number, line) if table == "members" else _ddf_row(number, line)
            if row is not None:
                block["members" if table == "members" else "ddf_disks"].append(row)
                previous = "row"
                continue
            if not _FIELD_RE.match(line):
                raise ParseError(source, "cannot read this row of the device table", number, line)
            table = None
        field = _FIELD_RE.match(line)
        if field:
            value = (field.group("value") or "").strip()
            block["pairs"].append([section, field.group("key").strip(), value, number, line])
            previous = "field"
            continue
        heading = _SECTION_RE.match(line)
        if heading:
            section = heading.group("bracketed") or heading.group("plain")
            previous = "section"
            continue
        if line[:1].isspace() and previous == "field":
            pair = block["pairs"][-1]
            pair[2] = (pair[2] + " " + line.strip()).strip()
            continue
        raise ParseError(source, "unrecognised line", number, line)
    return blocks


class _Fields:
    """First value of each key outside any section, with the line it came from."""

    def __init__(self, source: str, pairs: list) -> None:
        self.source = source
        self.values: dict[str, str] = {}
        self.lines: dict[str, tuple[int, str]] = {}
        for section, key, value, number, line in pairs:
            if section is None and key not in self.values:
                self.values[key] = value
                self.lines[key] = (number, line)

    def text(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if value else None

    def first_word(self, key: str) -> str | None:
        value = self.text(key)
        return value.split()[0] if value else None

    def without_local_host(self, key: str) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        match = _LOCAL_HOST_RE.match(value)
        return match.group("value") if match else value

    def integer(self, key: str) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        number, line = self.lines[key]
        return to_int(self.source, value.split()[0], key, number, line)

    def size(self, key: str, unit: str) -> int | None:
        """A size in `unit` ("sectors" or "KiB"); a bare number is in KiB, as mdadm prints it."""
        value = self.text(key)
        if value is None or value == "unknown":
            return None
        match = _SIZE_RE.match(value)
        if not match:
            number, line = self.lines[key]
            raise ParseError(self.source, "%s is not a size: %r" % (key, value), number, line)
        amount = int(match.group("number"))
        given = "sectors" if match.group("unit") == "sectors" else "KiB"
        if given == unit:
            return amount
        return amount * 2 if unit == "sectors" else amount // 2

    def chunk_kib(self, key: str) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        match = _CHUNK_RE.match(value)
        if not match:
            number, line = self.lines[key]
            raise ParseError(self.source, "%s is not a size in KiB: %r" % (key, value), number, line)
        return int(match.group("size"))

    def events(self, key: str) -> int | None:
        """An event count; 0.90 arrays print it as HIGH.LOW 32-bit halves ("0.18" is 18)."""
        value = self.text(key)
        if value is None:
            return None
        number, line = self.lines[key]
        if "." in value:
            high, low = value.split(".", 1)
            return (to_int(self.source, high, key, number, line) << 32) + to_int(self.source, low, key, number, line)
        return to_int(self.source, value, key, number, line)

    def percent(self, key: str) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        match = _PERCENT_RE.match(value)
        if not match:
            number, line = self.lines[key]
            raise ParseError(self.source, "%s is not 'N%% complete': %r" % (key, value), number, line)
        return int(match.group("percent"))


def _field_list(pairs: list) -> list[list]:
    return [[section, key, value] for section, key, value, _number, _line in pairs]


def _sections(pairs: list) -> dict[str, dict]:
    sections: dict[str, dict] = {}
    for section, key, value, _number, _line in pairs:
        if section is not None:
            sections.setdefault(section, {}).setdefault(key, value)
    return sections


# ---------------------------------------------------------------------------------------------
# mdadm --examine
# ---------------------------------------------------------------------------------------------

_MD_MAGIC = "a92b4efc"
_DDF_MAGIC = "de11de11"
_ROLE_RE = re.compile(r"^(?P<kind>active|replacement)\s+device\s+(?P<slot>\d+)$", re.IGNORECASE)


def _superblock_kind(magic: str | None, fields: _Fields) -> str | None:
    if magic is None:
        return "mbr" if fields.text("MBR Magic") else None
    lowered = magic.lower()
    if lowered == _MD_MAGIC:
        return "md"
    if lowered == _DDF_MAGIC:
        return "ddf"
    if lowered.startswith("intel raid ism"):
        return "imsm"
    return "unknown"


def _role_from_text(role: str) -> dict:
    match = _ROLE_RE.match(role.strip())
    if match:
        return {"kind": match.group("kind").lower(), "slot": int(match.group("slot"))}
    lowered = role.strip().lower()
    if lowered in ("spare", "journal", "faulty"):
        return {"kind": lowered, "slot": None}
    return {"kind": "unknown", "slot": None}


def _role_from_row(row: dict) -> dict:
    """The role a 0.90 superblock's "this" row gives the examined device."""
    words = set(row["state"])
    if "faulty" in words:
        return {"kind": "faulty", "slot": None}
    if "spare" in words:
        return {"kind": "spare", "slot": None}
    if "active" in words or "sync" in words:
        return {"kind": "active", "slot": row["raid_device"]}
    return {"kind": "unknown", "slot": None}


def _checksum(value: str | None) -> tuple[str | None, bool | None]:
    if value is None:
        return None, None
    words = value.split()
    if "correct" in words:
        return words[0], True
    if "expected" in words:
        return words[0], False
    return words[0], None


def _empty_examine(device: str) -> dict:
    keys = ("magic", "version", "feature_map", "array_uuid", "name", "creation_time", "level", "raid_devices",
            "avail_dev_size_sectors", "array_size_kib", "used_dev_size_sectors", "data_offset_sectors",
            "super_offset_sectors", "recovery_offset_sectors", "state", "device_uuid", "update_time",
            "checksum", "checksum_ok", "events", "events_raw", "chunk_kib", "layout", "device_role",
            "array_state", "superblock", "this_device", "internal_bitmap")
    result: dict = {key: None for key in keys}
    result.update({"device": device, "flags": [], "role": {"kind": "unknown", "slot": None},
                   "devices": [], "physical_disks": [], "fields": {}, "sections": {}, "field_list": []})
    return result


def _examine_block(block: dict) -> dict:
    fields = _Fields(EXAMINE_SOURCE, block["pairs"])
    result = _empty_examine(block["device"])
    result["fields"] = dict(fields.values)
    result["sections"] = _sections(block["pairs"])
    result["field_list"] = _field_list(block["pairs"])
    result["physical_disks"] = block["ddf_disks"]
    result["magic"] = fields.text("Magic")
    result["version"] = fields.text("Version")
    result["superblock"] = _superblock_kind(result["magic"], fields)
    result["checksum"], result["checksum_ok"] = _checksum(fields.text("Checksum"))
    rows = block["members"]
    this_rows = [row for row in rows if row.get("this")]
    result["devices"] = [row for row in rows if not row.get("this")]
    result["this_device"] = this_rows[0] if this_rows else None
    if result["superblock"] == "imsm":
        # The container's UUID, as `mdadm --examine --scan` prints it for the container.
        result["array_uuid"] = fields.first_word("UUID")
    if result["superblock"] not in ("md", None):
        return result
    result["feature_map"] = fields.text("Feature Map")
    result["array_uuid"] = fields.first_word("Array UUID") or fields.first_word("UUID")
    result["name"] = fields.without_local_host("Name")
    result["creation_time"] = fields.text("Creation Time")
    result["level"] = fields.text("Raid Level")
    result["raid_devices"] = fields.integer("Raid Devices")
    result["avail_dev_size_sectors"] = fields.size("Avail Dev Size", "sectors")
    result["array_size_kib"] = fields.size("Array Size", "KiB")
    result["used_dev_size_sectors"] = fields.size("Used Dev Size", "sectors")
    result["data_offset_sectors"] = fields.size("Data Offset", "sectors")
    result["super_offset_sectors"] = fields.size("Super Offset", "sectors")
    result["recovery_offset_sectors"] = fields.size("Recovery Offset", "sectors")
    result["state"] = fields.text("State")
    result["device_uuid"] = fields.first_word("Device UUID")
    result["flags"] = (fields.text("Flags") or "").split()
    result["update_time"] = fields.text("Update Time")
    result["events"] = fields.events("Events")
    result["events_raw"] = fields.text("Events")
    result["chunk_kib"] = fields.chunk_kib("Chunk Size")
    result["layout"] = fields.text("Layout")
    result["device_role"] = fields.text("Device Role")
    result["array_state"] = fields.first_word("Array State")
    # Where md keeps the write-intent bitmap, such as "8 sectors from superblock"; absent without one.
    result["internal_bitmap"] = fields.text("Internal Bitmap")
    if result["device_role"] is not None:
        result["role"] = _role_from_text(result["device_role"])
    elif result["this_device"] is not None:
        result["role"] = _role_from_row(result["this_device"])
    return result


def parse_mdadm_examine(text: str) -> dict[str, dict]:
    """Parse `mdadm --examine DEV...`: one entry per `/dev/xxx:` block, keyed by that path.

    md 1.x and 0.90 superblocks are mapped to named keys; DDF and IMSM container metadata keep
    magic, version and checksum (and, for IMSM, the container UUID) and everything else in
    fields / sections / field_list. A block with no Magic line is kept as well: `--examine` on
    an md array prints the array (--detail) view, and on a partitioned disk only "MBR Magic".
    """
    refuse_overlong_numbers(EXAMINE_SOURCE, text)
    return {block["device"]: _examine_block(block) for block in _read_blocks(EXAMINE_SOURCE, text)}


# ---------------------------------------------------------------------------------------------
# mdadm --detail
# ---------------------------------------------------------------------------------------------

_CONTAINER_RE = re.compile(r"^(?P<container>\S+), member (?P<member>\S+)$")
_STATE_NOTE_RE = re.compile(r"^(?P<word>.*?)\s*\((?P<note>[^)]*)\)$")
_SYNC_STATUS_KEYS = (("rebuild_status", "Rebuild Status"), ("resync_status", "Resync Status"),
                     ("reshape_status", "Reshape Status"), ("check_status", "Check Status"))


def _state_flags(state: str | None) -> list[str]:
    """Split "clean, degraded, recovering" into words; "resyncing (DELAYED)" gives two."""
    flags: list[str] = []
    for part in (state or "").split(","):
        part = part.strip()
        match = _STATE_NOTE_RE.match(part)
        if match:
            flags.extend(piece for piece in (match.group("word"), match.group("note")) if piece)
        elif part:
            flags.append(part)
    return flags


def parse_mdadm_detail(text: str) -> dict:
    """Parse `mdadm --detail /dev/mdX` (one array)."""
    refuse_overlong_numbers(DETAIL_SOURCE, text)
    blocks = _read_blocks(DETAIL_SOURCE, text)
    if not blocks:
        raise ParseError(DETAIL_SOURCE, "no '/dev/mdX:' line: empty output", 1, "")
    if len(blocks) > 1:
        raise ParseError(DETAIL_SOURCE, "more than one array in one output; parse them one at a time",
                         blocks[1]["line_number"], blocks[1]["device"] + ":")
    block = blocks[0]
    if block["ddf_disks"]:
        raise ParseError(DETAIL_SOURCE, "a DDF physical disk table is not part of --detail output",
                         block["line_number"], block["device"] + ":")
    fields = _Fields(DETAIL_SOURCE, block["pairs"])
    container = member = None
    if fields.text("Container"):
        match = _CONTAINER_RE.match(fields.text("Container") or "")
        if not match:
            number, line = fields.lines["Container"]
            raise ParseError(DETAIL_SOURCE, "Container is not 'PATH, member N'", number, line)
        container, member = match.group("container"), match.group("member")
    state = fields.text("State")
    result = {
        "device": block["device"],
        "version": fields.text("Version"),
        "level": fields.text("Raid Level"),
        "array_size_kib": fields.size("Array Size", "KiB"),
        "used_dev_size_kib": fields.size("Used Dev Size", "KiB"),
        "raid_devices": fields.integer("Raid Devices"),
        "total_devices": fields.integer("Total Devices"),
        "state": state,
        "state_flags": _state_flags(state),
        "active_devices": fields.integer("Active Devices"),
        "working_devices": fields.integer("Working Devices"),
        "failed_devices": fields.integer("Failed Devices"),
        "spare_devices": fields.integer("Spare Devices"),
        "uuid": fields.first_word("UUID"),
        "name": fields.without_local_host("Name"),
        "events": fields.events("Events"),
        "events_raw": fields.text("Events"),
        "consistency_policy": fields.text("Consistency Policy"),
        "creation_time": fields.text("Creation Time"),
        "update_time": fields.text("Update Time"),
        "layout": fields.text("Layout"),
        "chunk_kib": fields.chunk_kib("Chunk Size") if fields.text("Chunk Size") else fields.chunk_kib("Rounding"),
        "intent_bitmap": fields.text("Intent Bitmap"),
        "container": container,
        "member": member,
        "member_arrays": (fields.text("Member Arrays") or "").split() if "Member Arrays" in fields.values else None,
        "devices": block["members"],
        "fields": dict(fields.values),
        "field_list": _field_list(block["pairs"]),
    }
    for name, key in _SYNC_STATUS_KEYS:
        result[name] = fields.percent(key)
    return result
