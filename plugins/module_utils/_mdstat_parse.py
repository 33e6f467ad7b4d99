# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parsers for the kernel's own md outputs.

Covers /proc/mdstat and two sysfs files under /sys/block/mdX/md/ (a member's dev-*/state and
sync_completed). Pure text in, plain dicts and lists out; see _parse_common for the ParseError
contract.
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import refuse_overlong_numbers, split_lines

MDSTAT_SOURCE = "/proc/mdstat"
MEMBER_STATE_SOURCE = "/sys/block/mdX/md/dev-*/state"
SYNC_COMPLETED_SOURCE = "/sys/block/mdX/md/sync_completed"


# ---------------------------------------------------------------------------------------------
# /proc/mdstat
# ---------------------------------------------------------------------------------------------

_PERSONALITIES_RE = re.compile(r"^Personalities\s*:(?P<rest>.*)$")
_PERSONALITY_RE = re.compile(r"^\[(?P<name>[^\[\]\s]+)\]$")
_UNUSED_RE = re.compile(r"^unused devices\s*:(?P<rest>.*)$")
_ARRAY_LINE_RE = re.compile(r"^(?P<name>[^\s:]+)\s+:\s*(?P<rest>.*)$")
_MEMBER_RE = re.compile(r"^(?P<name>[^\s\[\]()]+)\[(?P<index>\d+)\](?P<flags>(?:\([^()]*\))*)$")
_LEVEL_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
# The letters the kernel prints after a member (md.c, md_seq_show), in our words.
_MEMBER_FLAGS = (("F", "faulty"), ("S", "spare"), ("W", "write_mostly"), ("R", "replacement"), ("J", "journal"))
_STATUS_RE = re.compile(r"^(?P<blocks>\d+) blocks(?: super (?P<super>\S+))?(?P<rest>.*)$")
# Personality status, in the order the personalities print it; every piece is optional.
_RAID456_RE = re.compile(r"\s+level (?P<level>\d+), (?P<chunk>\d+)k chunk, algorithm (?P<algorithm>\d+)")
_CHUNKS_RE = re.compile(r"\s+(?P<chunk>\d+)[kK] (?:chunks|rounding)")
_COPIES_RE = re.compile(r"\s+(?P<copies>\d+ (?:near|far|offset)-copies"
                        r"(?:\s+\d+ (?:near|far|offset)-copies)*(?:\s+\d+ devices per set)?)")
_DISKS_RE = re.compile(r"\s+\[(?P<raid>\d+)/(?P<active>\d+)\]\s+\[(?P<status>[U_]*)\]")
_SYNC_RE = re.compile(
    r"^(?:\[[=>.]*\]\s*)?(?P<action>resync|recovery|reshape|check|repair)\s*=\s*(?P<percent>\d+(?:\.\d+)?)%"
    r"\s*\((?P<done>\d+)/(?P<total>\d+)\)"
    r"(?:\s+finish=(?P<finish>\d+(?:\.\d+)?)min)?"
    r"(?:\s+speed=(?P<speed>\d+)K/sec)?$")
_PENDING_RE = re.compile(r"^resync\s*=\s*(?P<state>DELAYED|PENDING)$")
_BITMAP_RE = re.compile(
    r"^bitmap:\s*(?P<used>\d+)/(?P<total>\d+) pages \[(?P<size>\d+)KB\],\s*(?P<chunk>\d+)(?P<unit>KB|B) chunk"
    r"(?:,\s*file:\s*(?P<file>.*))?$")
_OCTAL_ESCAPE_RE = re.compile(r"\\([0-7]{3})")


def _new_array(name: str, state: str, read_only: str | None, level: str | None) -> dict:
    return {
        "name": name,
        "state": state,
        "read_only": read_only,
        "level": level,
        "members": [],
        "blocks": None,
        "size_bytes": None,
        "metadata": None,
        "chunk_kib": None,
        "algorithm": None,
        "raid10_copies": None,
        "raid_disks": None,
        "active_disks": None,
        "member_status": None,
        "sync": None,
        "sync_pending": None,
        "bitmap": None,
    }


def _mdstat_member(token: str, number: int, line: str) -> dict:
    match = _MEMBER_RE.match(token)
    if not match:
        raise ParseError(MDSTAT_SOURCE, "member %r is not NAME[INDEX] followed by (F)/(S)/(W)/(R)/(J) flags" % token,
                         number, line)
    known = dict(_MEMBER_FLAGS)
    flags = []
    for letter in re.findall(r"\(([^()]*)\)", match.group("flags")):
        if letter not in known:
            raise ParseError(MDSTAT_SOURCE, "member %r has an unknown flag (%s)" % (token, letter), number, line)
        if known[letter] not in flags:
            flags.append(known[letter])
    return {"name": match.group("name"), "index": int(match.group("index")), "flags": flags}


def _mdstat_array_line(number: int, line: str) -> tuple[dict, bool]:
    """The `mdX : active raid1 sda1[0] ...` line; returns the array and whether it names members."""
    match = _ARRAY_LINE_RE.match(line)
    if not match:
        raise ParseError(MDSTAT_SOURCE, "expected an array line 'NAME : active|inactive ...'", number, line)
    tokens = match.group("rest").split()
    if not tokens or tokens[0] not in ("active", "inactive"):
        raise ParseError(MDSTAT_SOURCE, "array %s is neither 'active' nor 'inactive'" % match.group("name"),
                         number, line)
    position = 1
    read_only = None
    if position < len(tokens) and tokens[position] in ("(read-only)", "(auto-read-only)"):
        read_only = tokens[position][1:-1]
        position += 1
    level = None
    if position < len(tokens) and tokens[position] != "super" and _LEVEL_RE.match(tokens[position]):
        level = tokens[position]
        position += 1
    array = _new_array(match.group("name"), tokens[0], read_only, level)
    while position < len(tokens):
        token = tokens[position]
        if token == "super":
            # The kernel puts "super X" here only when the array has no member to print a
            # "blocks" line for.
            if position + 1 >= len(tokens):
                raise ParseError(MDSTAT_SOURCE, "'super' without a metadata version", number, line)
            array["metadata"] = tokens[position + 1]
            position += 2
            continue
        array["members"].append(_mdstat_member(token, number, line))
        position += 1
    return array, bool(array["members"])


def _mdstat_status_line(array: dict, text: str, number: int, line: str) -> None:
    """`8387520 blocks super 1.0 [2/2] [UU]` and the per-personality variants."""
    match = _STATUS_RE.match(text)
    if not match:
        raise ParseError(MDSTAT_SOURCE, "expected the status line of %s ('N blocks ...')" % array["name"],
                         number, line)
    array["blocks"] = int(match.group("blocks"))
    array["size_bytes"] = array["blocks"] * 1024
    if match.group("super"):
        array["metadata"] = match.group("super")
    rest = match.group("rest")
    position = 0
    piece = _RAID456_RE.match(rest, position)
    if piece:
        array["chunk_kib"] = int(piece.group("chunk"))
        array["algorithm"] = int(piece.group("algorithm"))
        position = piece.end()
    piece = _CHUNKS_RE.match(rest, position)
    if piece:
        # raid0/raid10 print "Nk chunks", linear prints "Nk rounding": both are chunk_sectors/2.
        array["chunk_kib"] = int(piece.group("chunk"))
        position = piece.end()
    piece = _COPIES_RE.match(rest, position)
    if piece:
        array["raid10_copies"] = re.sub(r"\s+", " ", piece.group("copies"))
        position = piece.end()
    piece = _DISKS_RE.match(rest, position)
    if piece:
        array["raid_disks"] = int(piece.group("raid"))
        array["active_disks"] = int(piece.group("active"))
        array["member_status"] = piece.group("status")
        position = piece.end()
    if rest[position:].strip():
        raise ParseError(MDSTAT_SOURCE, "status line of %s has text this parser does not know: %r"
                         % (array["name"], rest[position:].strip()), number, line)


def _mdstat_detail_line(array: dict, text: str, number: int, line: str) -> None:
    """A progress, pending or bitmap line below an array's status line."""
    match = _SYNC_RE.match(text)
    if match:
        if array["sync"] is not None or array["sync_pending"] is not None:
            raise ParseError(MDSTAT_SOURCE, "second sync line for %s" % array["name"], number, line)
        array["sync"] = {
            "action": match.group("action"),
            "percent": float(match.group("percent")),
            "done_blocks": int(match.group("done")),
            "total_blocks": int(match.group("total")),
            "finish_minutes": float(match.group("finish")) if match.group("finish") else None,
            "speed_kib_s": int(match.group("speed")) if match.group("speed") else None,
        }
        return
    match = _PENDING_RE.match(text)
    if match:
        if array["sync"] is not None or array["sync_pending"] is not None:
            raise ParseError(MDSTAT_SOURCE, "second sync line for %s" % array["name"], number, line)
        array["sync_pending"] = match.group("state")
        return
    match = _BITMAP_RE.match(text)
    if match:
        if array["bitmap"] is not None:
            raise ParseError(MDSTAT_SOURCE, "second bitmap line for %s" % array["name"], number, line)
        chunk = int(match.group("chunk"))
        path = match.group("file")
        if path is not None:
            # seq_file_path escapes blanks in the path as \ooo.
            path = _OCTAL_ESCAPE_RE.sub(lambda found: chr(int(found.group(1), 8)), path.strip())
        array["bitmap"] = {
            "pages_used": int(match.group("used")),
            "pages_total": int(match.group("total")),
            "size_kib": int(match.group("size")),
            "chunk_kib": chunk if match.group("unit") == "KB" else None,
            "chunk_bytes": chunk * 1024 if match.group("unit") == "KB" else chunk,
            "file": path,
        }
        return
    raise ParseError(MDSTAT_SOURCE, "unrecognised line in the block of array %s" % array["name"], number, line)


def parse_mdstat(text: str) -> dict:
    """Parse /proc/mdstat.

    An empty file is valid (md loaded, nothing to say). Anything else must end with the
    kernel's `unused devices:` line: a file without it was cut short, and a cut-short file
    must not be read as "fewer arrays".
    """
    refuse_overlong_numbers(MDSTAT_SOURCE, text)
    result: dict = {"personalities": [], "arrays": [], "unused_devices": []}
    seen_personalities = False
    unused_seen = False
    current: dict | None = None
    current_at: tuple[int, str] = (0, "")
    awaiting_status = False
    last_content: tuple[int, str] | None = None
    for number, line in enumerate(split_lines(text), 1):
        stripped = line.strip()
        if stripped:
            last_content = (number, line)
        if awaiting_status and current is not None:
            if not stripped or not line[:1].isspace():
                raise ParseError(MDSTAT_SOURCE, "array %s (line %d) lists member devices, so its status line "
                                 "('N blocks ...') must follow directly" % (current["name"], current_at[0]),
                                 number, line)
            _mdstat_status_line(current, stripped, number, line)
            awaiting_status = False
            continue
        if not stripped:
            current = None
            continue
        if line[:1].isspace():
            if current is None:
                raise ParseError(MDSTAT_SOURCE, "indented line outside the block of any array", number, line)
            _mdstat_detail_line(current, stripped, number, line)
            continue
        current = None
        if unused_seen:
            raise ParseError(MDSTAT_SOURCE, "text after the 'unused devices' line", number, line)
        match = _PERSONALITIES_RE.match(line)
        if match:
            if seen_personalities:
                raise ParseError(MDSTAT_SOURCE, "second Personalities line", number, line)
            seen_personalities = True
            for token in match.group("rest").split():
                personality = _PERSONALITY_RE.match(token)
                if not personality:
                    raise ParseError(MDSTAT_SOURCE, "personality %r is not written as [name]" % token, number, line)
                result["personalities"].append(personality.group("name"))
            continue
        match = _UNUSED_RE.match(line)
        if match:
            unused_seen = True
            names = match.group("rest").split()
            if names != ["<none>"]:
                for name in names:
                    if "<" in name or ">" in name:
                        raise ParseError(MDSTAT_SOURCE, "unused device %r is not a device name" % name, number, line)
                result["unused_devices"] = names
            continue
        current, awaiting_status = _mdstat_array_line(number, line)
        current_at = (number, line)
        result["arrays"].append(current)
    if awaiting_status and current is not None:
        raise ParseError(MDSTAT_SOURCE, "input ends before the status line of array %s (truncated?)" % current["name"],
                         current_at[0], current_at[1])
    if last_content is not None and not unused_seen:
        raise ParseError(MDSTAT_SOURCE, "input ends without the 'unused devices' line (truncated?)",
                         last_content[0], last_content[1])
    return result


# ---------------------------------------------------------------------------------------------
# sysfs
# ---------------------------------------------------------------------------------------------

_STATE_WORD_SYSFS_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SYNC_COMPLETED_RE = re.compile(r"^(?P<done>\d+)\s*/\s*(?P<total>\d+)$")


def _single_line(source: str, text: str) -> tuple[int, str]:
    """The one line a sysfs attribute holds, with its number; (1, "") when the file is empty."""
    found: tuple[int, str] | None = None
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        if found is not None:
            raise ParseError(source, "more than one line", number, line)
        found = (number, line)
    return found if found is not None else (1, "")


def parse_sysfs_md_member_state(text: str) -> list[str]:
    """Parse /sys/block/mdX/md/dev-*/state: comma-separated words such as in_sync,write_mostly."""
    number, line = _single_line(MEMBER_STATE_SOURCE, text)
    content = line.strip()
    if not content:
        return []
    words = [word.strip() for word in content.split(",")]
    for word in words:
        if not _STATE_WORD_SYSFS_RE.match(word):
            raise ParseError(MEMBER_STATE_SOURCE, "%r is not a member state word" % word, number, line)
    return words


def parse_sysfs_sync_completed(text: str) -> tuple[int, int] | None:
    """Parse /sys/block/mdX/md/sync_completed: (done, total) in sectors, or None.

    None means the kernel gives no progress figures: "none" (nothing running) or "delayed"
    (waiting for another array that shares a disk). Whether a sync is running or pending is
    told by sync_action and by /proc/mdstat, not by this file.
    """
    refuse_overlong_numbers(SYNC_COMPLETED_SOURCE, text)
    number, line = _single_line(SYNC_COMPLETED_SOURCE, text)
    content = line.strip()
    if content in ("none", "delayed"):
        return None
    match = _SYNC_COMPLETED_RE.match(content)
    if not match:
        raise ParseError(SYNC_COMPLETED_SOURCE, "expected 'none', 'delayed' or 'DONE / TOTAL'", number, line)
    return int(match.group("done")), int(match.group("total"))
