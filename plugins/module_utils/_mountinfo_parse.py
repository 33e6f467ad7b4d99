# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parser for /proc/self/mountinfo.

Pure text in, plain dicts out. A line that does not have the kernel's shape raises ParseError
with its 1-based number and text, so a caller reports "mount points unknown" instead of
"not mounted".
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import refuse_overlong_numbers, split_lines

MOUNTINFO_SOURCE = "/proc/self/mountinfo"

# The kernel writes space, tab, newline and backslash in paths as 3-digit octal escapes (\040).
_OCTAL_ESCAPE_RE = re.compile(r"\\([0-7]{3})")
_MAJOR_MINOR_RE = re.compile(r"^(\d+):(\d+)$")


def unescape_mount_field(text: str) -> str:
    """A path or source as it is, from the form mountinfo prints ("/srv/data\\040vol")."""
    return _OCTAL_ESCAPE_RE.sub(lambda match: chr(int(match.group(1), 8)), text)


def _mount(number: int, line: str) -> dict:
    # Split on single spaces: an empty source (mount -t tmpfs "" /x) is an empty field, not a gap.
    fields = line.split(" ")
    if "-" not in fields[6:]:
        raise ParseError(MOUNTINFO_SOURCE, "no ' - ' separator after the sixth field", number, line)
    separator = fields.index("-", 6)
    tail = fields[separator + 1:]
    if len(tail) != 3:
        raise ParseError(MOUNTINFO_SOURCE, "expected file system type, source and super options after ' - '", number, line)
    device_number = _MAJOR_MINOR_RE.match(fields[2])
    if not (fields[0].isdecimal() and fields[1].isdecimal() and device_number):
        raise ParseError(MOUNTINFO_SOURCE, "expected mount id, parent id and major:minor", number, line)
    return {
        "mount_id": int(fields[0]),
        "parent_id": int(fields[1]),
        "major": int(device_number.group(1)),
        "minor": int(device_number.group(2)),
        "major_minor": fields[2],
        "root": unescape_mount_field(fields[3]),
        "mount_point": unescape_mount_field(fields[4]),
        "options": fields[5],
        "optional_fields": fields[6:separator],
        "fs_type": tail[0],
        "source": unescape_mount_field(tail[1]),
        "super_options": tail[2],
    }


def parse_mountinfo(text: str) -> list[dict]:
    """Parse /proc/<pid>/mountinfo: one record per mount, in the kernel's order.

    Each: {mount_id, parent_id, major, minor, major_minor ("254:0"), root, mount_point, options,
    optional_fields (["shared:1", ...]), fs_type, source, super_options}; root, mount_point and
    source are unescaped.
    """
    refuse_overlong_numbers(MOUNTINFO_SOURCE, text)
    return [_mount(number, line) for number, line in enumerate(split_lines(text), 1) if line.strip()]
