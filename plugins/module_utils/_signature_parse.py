# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parsers for what is written on a device (wipefs, blkid, sfdisk).

The one implementation of signature detection, shared by the `disks` subset of storage_facts
and by the disk_guard pre-install gate. Pure text in, plain dicts and lists out; none runs a
command. Text that does not have the shape the tool prints raises ParseError with the 1-based
line number and the line, so a caller reports "not understood" instead of "blank".

wipefs lists every signature it finds, at every offset; `blkid -p` reports one superblock and
refuses (exit 8, "ambivalent result") when it finds two, so wipefs is the gate's primary source
and blkid the source of identities (UUID_SUB, partition-entry tags) wipefs does not print.
"""

from __future__ import annotations

import json
import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import MAX_DIGITS, line_at, split_lines, to_int
from ansible_collections.lifeline.storage.plugins.module_utils._text import json_with_escapes

WIPEFS_SOURCE = "wipefs --json"
BLKID_EXPORT_SOURCE = "blkid -o export"
BLKID_UDEV_SOURCE = "blkid -o udev"
BLKID_FULL_SOURCE = "blkid"
BLKID_JSON_SOURCE = "blkid --output json"
SFDISK_SOURCE = "sfdisk --json"

# Everything classify_signature can answer. There is no "blank": a signature is never blank.
KINDS = ("filesystem", "swap", "crypto", "raid", "lvm", "partition_table", "other")

# blkid tags that are numbers: magic offsets in bytes, partition entries in 512-byte sectors.
INTEGER_TAGS = frozenset(("SBMAGIC_OFFSET", "PTMAGIC_OFFSET", "PART_ENTRY_OFFSET", "PART_ENTRY_SIZE",
                          "PART_ENTRY_NUMBER"))


# ---------------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------------

_LVM_TYPES = frozenset(("lvm2_member", "lvm1_member"))
_SWAP_TYPES = frozenset(("swap", "swsuspend"))
_CRYPTO_TYPES = frozenset(("crypto_luks", "bitlocker", "cs_fvault2"))
_RAID_TYPES = frozenset(("linux_raid_member", "drbd", "vmfs_volume_member", "ubi"))
_JOURNAL_TYPES = frozenset(("jbd", "xfs_external_log"))
# Names that need no USAGE to be known: blkid's default (cache) output prints none.
_FILESYSTEM_TYPES = frozenset((
    "apfs", "bcachefs", "befs", "bfs", "btrfs", "cramfs", "erofs", "exfat", "ext2", "ext3", "ext4",
    "ext4dev", "f2fs", "gfs", "gfs2", "hfs", "hfsplus", "hpfs", "iso9660", "jfs", "minix", "mpool",
    "msdos", "nilfs2", "nss", "ntfs", "ocfs2", "refs", "reiser4", "reiserfs", "romfs", "scoutfs_data",
    "scoutfs_meta", "squashfs", "squashfs3", "udf", "ufs", "ubifs", "vfat", "vmfs", "vxfs", "xfs",
    "zfs_member", "zonefs"))
# "minix" is also a partition table name; without a usage it is read as the file system.
_PARTITION_TABLE_TYPES = frozenset(("gpt", "pmbr", "dos", "mac", "atari", "bsd", "sgi", "sun", "solaris",
                                    "unixware", "aix"))


def classify_signature(sig_type: str, usage: str | None) -> str:
    """Map a blkid/wipefs TYPE (and USAGE when known) to one of KINDS; unknown types are "other"."""
    name = (sig_type or "").strip().lower()
    use = (usage or "").strip().lower()
    if use == "partition-table":  # wipefs's usage for every partition table it lists
        return "partition_table"
    if name in _LVM_TYPES:  # blkid files LVM physical volumes under usage "raid"
        return "lvm"
    if name in _SWAP_TYPES:  # usage "other" in blkid
        return "swap"
    if name in _CRYPTO_TYPES or use == "crypto":
        return "crypto"
    if name.endswith("_raid_member") or name in _RAID_TYPES or use == "raid":
        return "raid"
    if name in _JOURNAL_TYPES:
        # blkid says usage "other", but an external journal belongs to a file system on another
        # device: losing it loses that file system's journal.
        return "filesystem"
    if use == "filesystem" or name in _FILESYSTEM_TYPES:
        return "filesystem"
    if not use and name in _PARTITION_TABLE_TYPES:
        return "partition_table"
    return "other"


def signatures_from_blkid_tags(tags: dict) -> list[dict]:
    """The signatures one device's blkid tags show, from any blkid form parsed below.

    TYPE is the superblock blkid recognised, PTTYPE the partition table. PARTUUID and
    PART_ENTRY_* describe the device's place in its parent's table, not something written on
    the device, so a partition with only those tags has no signature.
    Each: {type, usage, uuid, uuid_sub, label, version, kind}.
    """
    found = []
    if tags.get("TYPE"):
        found.append({"type": tags["TYPE"], "usage": tags.get("USAGE"), "uuid": tags.get("UUID"),
                      "uuid_sub": tags.get("UUID_SUB"), "label": tags.get("LABEL"),
                      "version": tags.get("VERSION"), "kind": classify_signature(tags["TYPE"], tags.get("USAGE"))})
    if tags.get("PTTYPE"):
        found.append({"type": tags["PTTYPE"], "usage": "partition-table", "uuid": tags.get("PTUUID"),
                      "uuid_sub": None, "label": None, "version": None, "kind": "partition_table"})
    return found


# ---------------------------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------------------------

def _load_json(source: str, text: str):
    try:
        return json.loads(json_with_escapes(text))
    except ValueError as error:
        number = getattr(error, "lineno", None)
        raise ParseError(source, "not valid JSON (%s)" % getattr(error, "msg", error), number,
                         line_at(text, number)) from None


def _where(text: str, key: str, value) -> tuple[int | None, str | None]:
    """The line holding `"key": value`, so an error on a JSON value can name its line.

    None when no line or several lines hold it: naming a wrong line would mislead.
    """
    pattern = re.compile(r'"%s"\s*:\s*%s' % (re.escape(key), re.escape(json.dumps(value))))
    found = [(number, line) for number, line in enumerate(split_lines(text), 1) if pattern.search(line)]
    return found[0] if len(found) == 1 else (None, None)


def _fail_at(source: str, text: str, key: str, value, message: str) -> ParseError:
    number, line = _where(text, key, value)
    return ParseError(source, message, number, line)


def _optional_text(source: str, text: str, entry: dict, key: str) -> str | None:
    # Older libsmartcols prints an empty cell as "", newer as null: both mean "none".
    value = entry.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail_at(source, text, key, value, "%s is not text: %r" % (key, value))
    return value


def _json_int(source: str, text: str, entry: dict, key: str, required: bool) -> int | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    # isdecimal, not isdigit: int() refuses superscripts such as "²" that isdigit accepts.
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdecimal() \
            or len(str(value)) > MAX_DIGITS:
        raise _fail_at(source, text, key, value, "%s is not a whole number: %r" % (key, value))
    return int(value)


# ---------------------------------------------------------------------------------------------
# wipefs --json
# ---------------------------------------------------------------------------------------------

_HEX_OFFSET_RE = re.compile(r"^0x[0-9a-fA-F]+$")
# `wipefs --all` erases (or with --no-act, pretends to) and prints this instead of a listing,
# even when --json is given.
_ERASE_REPORT_RE = re.compile(r"^\S.*: \d+ bytes? (?:was|were) erased at offset 0x[0-9a-fA-F]+ ")


def _wipefs_signature(text: str, entry) -> dict:
    if not isinstance(entry, dict):
        raise ParseError(WIPEFS_SOURCE, "a signature entry is not an object: %r" % (entry,))
    offset = entry.get("offset")
    if not isinstance(offset, str) or not _HEX_OFFSET_RE.match(offset):
        raise _fail_at(WIPEFS_SOURCE, text, "offset", offset,
                       "offset %r is not a hexadecimal byte offset such as '0x438'" % (offset,))
    sig_type = _optional_text(WIPEFS_SOURCE, text, entry, "type")
    if sig_type is None:
        raise _fail_at(WIPEFS_SOURCE, text, "type", entry.get("type"),
                       "the signature at %s has no type (ask wipefs for the TYPE column)" % offset)
    usage = _optional_text(WIPEFS_SOURCE, text, entry, "usage")
    return {
        "device": _optional_text(WIPEFS_SOURCE, text, entry, "device"),
        "offset": int(offset, 16),
        "type": sig_type,
        "uuid": _optional_text(WIPEFS_SOURCE, text, entry, "uuid"),
        "label": _optional_text(WIPEFS_SOURCE, text, entry, "label"),
        "usage": usage,
        "length": _json_int(WIPEFS_SOURCE, text, entry, "length", required=False),
        "kind": classify_signature(sig_type, usage),
    }


def parse_wipefs_json(text: str) -> list[dict]:
    """Parse `wipefs --no-act --json [--output COLUMNS] DEVICE...` (a listing; it never writes).

    One record per signature: {device, offset, type, uuid, label, usage, length, kind}. device
    is the name wipefs prints (the basename, "sda1"); offset is in bytes; usage and length are
    None unless asked for with --output (USAGE, LENGTH are not default columns); kind is
    classify_signature's. No signature gives []: util-linux 2.38 prints an empty list, and empty
    output is read the same way.
    """
    if not text.strip():
        return []
    first = split_lines(text)[0]
    if _ERASE_REPORT_RE.match(first):
        raise ParseError(WIPEFS_SOURCE, "this is an erase report, not a listing: with --all wipefs erases "
                         "(or with --no-act pretends to) and ignores --json; list with --json alone", 1, first)
    document = _load_json(WIPEFS_SOURCE, text)
    if not isinstance(document, dict) or not isinstance(document.get("signatures"), list):
        raise ParseError(WIPEFS_SOURCE, "no 'signatures' list at the top level", 1, first)
    return [_wipefs_signature(text, entry) for entry in document["signatures"]]


# ---------------------------------------------------------------------------------------------
# blkid -o export (KEY=value blocks)
# ---------------------------------------------------------------------------------------------

_EXPORT_LINE_RE = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
# blkid escapes " \ ' $ ` < > and blanks with a backslash in export and full output. It never
# escapes "x": a backslash before "x" is the runner's \xNN for a byte that is not UTF-8 (_text.py).
_BACKSLASH_RE = re.compile(r"\\([^x])")


def _blocks(text: str) -> list[list[tuple[int, str]]]:
    """Numbered lines grouped into blank-line separated blocks."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for number, line in enumerate(split_lines(text), 1):
        if line.strip():
            blocks[-1].append((number, line))
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def _tag_value(source: str, key: str, value: str, number: int, line: str):
    if key in INTEGER_TAGS:
        return to_int(source, value, key, number, line)
    return value


def _add_tag(source: str, tags: dict, key: str, value: str, number: int, line: str) -> None:
    if key in tags:
        raise ParseError(source, "%s appears twice for one device" % key, number, line)
    tags[key] = _tag_value(source, key, value, number, line)


def _export_tags(block: list[tuple[int, str]]) -> dict:
    tags: dict = {}
    for number, line in block:
        match = _EXPORT_LINE_RE.match(line)
        if not match:
            raise ParseError(BLKID_EXPORT_SOURCE, "expected KEY=value", number, line)
        key, value = match.group("key"), match.group("value")
        # blkid prints DEVNAME as it is and escapes only the tag values.
        _add_tag(BLKID_EXPORT_SOURCE, tags, key, value if key == "DEVNAME" else _BACKSLASH_RE.sub(r"\1", value),
                 number, line)
    return tags


def parse_blkid_probe(text: str) -> dict:
    """Parse `blkid -p -o export DEVICE` (one device) into {TAG: value}, DEVNAME included.

    Tags keep blkid's names (TYPE, USAGE, UUID, UUID_SUB, LABEL, VERSION, PTTYPE, PTUUID,
    PART_ENTRY_*, SBMAGIC, ...); INTEGER_TAGS become ints. Empty output gives {}: blkid prints
    nothing and exits 2 when it finds nothing, and the caller judges the exit code. Bytes blkid
    shows in ^X / M-X notation are kept as printed: that notation cannot be undone exactly.
    """
    blocks = _blocks(text)
    if len(blocks) > 1:
        number, line = blocks[1][0]
        raise ParseError(BLKID_EXPORT_SOURCE, "more than one device in one output; parse it with "
                         "parse_blkid_export_multi", number, line)
    return _export_tags(blocks[0]) if blocks else {}


def parse_blkid_export_multi(text: str) -> dict[str, dict]:
    """Parse `blkid [-p] -o export DEVICE...`: {devname: {TAG: value}}, DEVNAME left out of the tags."""
    devices: dict[str, dict] = {}
    for block in _blocks(text):
        number, line = block[0]
        if not line.startswith("DEVNAME="):
            raise ParseError(BLKID_EXPORT_SOURCE, "a device's block does not start with DEVNAME=", number, line)
        tags = _export_tags(block)
        devname = tags.pop("DEVNAME")
        if devname in devices:
            raise ParseError(BLKID_EXPORT_SOURCE, "device %s appears twice" % devname, number, line)
        devices[devname] = tags
    return devices


# ---------------------------------------------------------------------------------------------
# blkid -o udev (ID_FS_* lines)
# ---------------------------------------------------------------------------------------------

_UDEV_LINE_RE = re.compile(r"^ID_(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
_UDEV_RENAMES = {"PART_TABLE_TYPE": "PTTYPE", "PART_TABLE_UUID": "PTUUID"}


def _udev_decode(value: str) -> str:
    """Undo udev's \\xNN encoding; bytes that are not UTF-8 stay written as \\xNN."""
    if "\\x" not in value:
        return value
    # surrogatepass: a lone surrogate in VALUE becomes bytes that decode to visible escapes, never an error.
    raw = value.encode("utf-8", "surrogatepass")
    decoded = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda match: bytes([int(match.group(1), 16)]), raw)
    return decoded.decode("utf-8", "backslashreplace")


def _udev_name(key: str) -> str:
    if key.startswith("FS_"):
        return key[len("FS_"):]
    return _UDEV_RENAMES.get(key, key)


def parse_blkid_udev(text: str) -> dict:
    """Parse `blkid -p -o udev DEVICE` (one device) into the tag names parse_blkid_probe uses.

    ID_FS_X becomes X, ID_PART_TABLE_TYPE/UUID become PTTYPE/PTUUID, ID_PART_ENTRY_X becomes
    PART_ENTRY_X. Where blkid prints both X (unsafe characters replaced by "_") and X_ENC
    (\\xNN-encoded), X is taken from X_ENC, which loses nothing. The udev form does not name
    the device, so an output of several devices is refused.
    """
    blocks = _blocks(text)
    if len(blocks) > 1:
        number, line = blocks[1][0]
        raise ParseError(BLKID_UDEV_SOURCE, "more than one device in one output, and the udev form does "
                         "not say which is which; probe one device per call", number, line)
    tags: dict = {}
    encoded: list[tuple[str, str, int, str]] = []
    for number, line in blocks[0] if blocks else []:
        match = _UDEV_LINE_RE.match(line)
        if not match:
            raise ParseError(BLKID_UDEV_SOURCE, "expected ID_KEY=value", number, line)
        name = _udev_name(match.group("key"))
        if name.endswith("_ENC"):
            encoded.append((name[:-len("_ENC")], match.group("value"), number, line))
        else:
            _add_tag(BLKID_UDEV_SOURCE, tags, name, _udev_decode(match.group("value")), number, line)
    for name, value, number, line in encoded:
        tags[name] = _tag_value(BLKID_UDEV_SOURCE, name, _udev_decode(value), number, line)
    return tags


# ---------------------------------------------------------------------------------------------
# blkid (default "full" output) and blkid --output json
# ---------------------------------------------------------------------------------------------

_QUOTED = r'"(?:[^"\\]|\\.)*"'
# The device name may itself hold a colon (/dev/mapper/docker-254:3-...-pool), so the name ends
# at the colon after which the rest of the line is all TAG="value" pairs.
_FULL_LINE_RE = re.compile(r"^(?P<device>\S.*?):(?P<tags>(?:\s*[A-Z][A-Z0-9_]*=%s)+)\s*$" % _QUOTED)
_FULL_TAG_RE = re.compile(r"(?P<key>[A-Z][A-Z0-9_]*)=\"(?P<value>(?:[^\"\\]|\\.)*)\"")


def parse_blkid_full(text: str) -> dict[str, dict]:
    """Parse blkid's default output (`blkid -c /dev/null [-p] [DEVICE...]`): {device: {TAG: value}}.

    One line per device, `DEVICE: TAG="value" ...`. Without -p blkid prints no USAGE.
    """
    devices: dict[str, dict] = {}
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        match = _FULL_LINE_RE.match(line)
        if not match:
            raise ParseError(BLKID_FULL_SOURCE, 'expected DEVICE: TAG="value" ...', number, line)
        device = match.group("device")
        if device in devices:
            raise ParseError(BLKID_FULL_SOURCE, "device %s appears twice" % device, number, line)
        tags: dict = {}
        for tag in _FULL_TAG_RE.finditer(match.group("tags")):
            _add_tag(BLKID_FULL_SOURCE, tags, tag.group("key"), _BACKSLASH_RE.sub(r"\1", tag.group("value")),
                     number, line)
        devices[device] = tags
    return devices


def _blkid_json_tags(text: str, entry) -> tuple[str, dict]:
    if not isinstance(entry, dict) or not isinstance(entry.get("device"), str) or not entry["device"]:
        raise ParseError(BLKID_JSON_SOURCE, "an entry has no device name: %r" % (entry,))
    tags: dict = {}
    for key, value in entry.items():
        if key == "device" or value is None:
            continue
        # JSON keys are blkid's tag names in lower case; upper case matches the other forms.
        name = key.upper()
        if name in INTEGER_TAGS:
            tags[name] = _json_int(BLKID_JSON_SOURCE, text, entry, key, required=True)
        elif isinstance(value, str):
            tags[name] = value
        else:
            raise _fail_at(BLKID_JSON_SOURCE, text, key, value, "%s is not text: %r" % (key, value))
    return entry["device"], tags


def parse_blkid_json(text: str) -> dict[str, dict]:
    """Parse `blkid --output json` (util-linux 2.42 and later): {device: {TAG: value}}."""
    if not text.strip():
        return {}
    document = _load_json(BLKID_JSON_SOURCE, text)
    if not isinstance(document, dict) or not isinstance(document.get("blkid"), list):
        raise ParseError(BLKID_JSON_SOURCE, "no 'blkid' list at the top level", 1, split_lines(text)[0])
    devices: dict[str, dict] = {}
    for entry in document["blkid"]:
        device, tags = _blkid_json_tags(text, entry)
        if device in devices:
            raise _fail_at(BLKID_JSON_SOURCE, text, "device", device, "device %s appears twice" % device)
        devices[device] = tags
    return devices


# ---------------------------------------------------------------------------------------------
# sfdisk --json
# ---------------------------------------------------------------------------------------------

def _sfdisk_partition(text: str, entry) -> dict:
    if not isinstance(entry, dict):
        raise ParseError(SFDISK_SOURCE, "a partition entry is not an object: %r" % (entry,))
    node = _optional_text(SFDISK_SOURCE, text, entry, "node")
    if node is None:
        raise ParseError(SFDISK_SOURCE, "a partition entry has no node: %r" % (entry,))
    bootable = entry.get("bootable", False)
    if not isinstance(bootable, bool):
        raise _fail_at(SFDISK_SOURCE, text, "bootable", bootable, "bootable is not true or false: %r" % (bootable,))
    return {
        "node": node,
        "start": _json_int(SFDISK_SOURCE, text, entry, "start", required=True),
        "size": _json_int(SFDISK_SOURCE, text, entry, "size", required=True),
        "type": _optional_text(SFDISK_SOURCE, text, entry, "type"),
        "uuid": _optional_text(SFDISK_SOURCE, text, entry, "uuid"),
        "name": _optional_text(SFDISK_SOURCE, text, entry, "name"),
        "attrs": _optional_text(SFDISK_SOURCE, text, entry, "attrs"),
        "bootable": bootable,
    }


def parse_sfdisk_json(text: str) -> dict:
    """Parse `sfdisk --json DEVICE`.

    {label, id, device, unit, firstlba, lastlba, sectorsize, partitions: [{node, start, size,
    type, uuid, name, attrs, bootable}]}. start and size count sectors of `sectorsize` bytes;
    firstlba/lastlba exist for gpt only and sectorsize only in newer sfdisk (else None).
    A table without partitions gives partitions []. Empty output is an error: sfdisk prints
    nothing, and exits 1, for a device without a partition table it recognises.
    """
    if not text.strip():
        raise ParseError(SFDISK_SOURCE, "empty output (sfdisk prints nothing for a device without a "
                         "partition table it recognises)", 1, "")
    document = _load_json(SFDISK_SOURCE, text)
    table = document.get("partitiontable") if isinstance(document, dict) else None
    if not isinstance(table, dict):
        raise ParseError(SFDISK_SOURCE, "no 'partitiontable' object at the top level", 1, split_lines(text)[0])
    label = _optional_text(SFDISK_SOURCE, text, table, "label")
    if label is None:
        raise ParseError(SFDISK_SOURCE, "the partition table has no label (gpt, dos, ...)", 1, split_lines(text)[0])
    partitions = table.get("partitions", [])
    if not isinstance(partitions, list):
        raise ParseError(SFDISK_SOURCE, "'partitions' is not a list")
    return {
        "label": label,
        "id": _optional_text(SFDISK_SOURCE, text, table, "id"),
        "device": _optional_text(SFDISK_SOURCE, text, table, "device"),
        "unit": _optional_text(SFDISK_SOURCE, text, table, "unit"),
        "firstlba": _json_int(SFDISK_SOURCE, text, table, "firstlba", required=False),
        "lastlba": _json_int(SFDISK_SOURCE, text, table, "lastlba", required=False),
        "sectorsize": _json_int(SFDISK_SOURCE, text, table, "sectorsize", required=False),
        "partitions": [_sfdisk_partition(text, entry) for entry in partitions],
    }
