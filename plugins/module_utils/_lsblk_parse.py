# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: parser for `lsblk --json --bytes` output."""

from __future__ import annotations

import json

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import line_at
from ansible_collections.lifeline.storage.plugins.module_utils._text import json_with_escapes

# The columns the collection asks lsblk for, in one place so the call and the parser agree.
LSBLK_COLUMNS = ["NAME", "KNAME", "PKNAME", "TYPE", "SIZE", "SERIAL", "WWN", "MODEL", "ROTA", "TRAN"]


def _as_int(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_bool(value) -> bool | None:
    # util-linux before 2.33 printed "0"/"1" strings; newer versions print JSON booleans.
    if isinstance(value, bool):
        return value
    if value in ("1", 1):
        return True
    if value in ("0", 0):
        return False
    return None


def _clean(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_lsblk_json(text: str) -> list[dict]:
    """Flatten lsblk's device tree into one record per kernel name, parents before children.

    A device with several parents (an md array over two partitions) appears once per parent
    in lsblk's tree; it is reported once here.
    """
    try:
        document = json.loads(json_with_escapes(text))
    except ValueError as error:
        number = getattr(error, "lineno", None)
        raise ParseError("lsblk JSON", "not valid JSON (%s)" % error, number, line_at(text, number)) from None
    if not isinstance(document, dict) or not isinstance(document.get("blockdevices"), list):
        raise ParseError("lsblk JSON", "no 'blockdevices' list at the top level")

    records: dict[str, dict] = {}
    pending = list(reversed(document["blockdevices"]))
    while pending:
        node = pending.pop()
        if not isinstance(node, dict):
            raise ParseError("lsblk JSON", "a block device entry is not an object: %r" % (node,))
        kname = _clean(node.get("kname")) or _clean(node.get("name"))
        if kname is None:
            raise ParseError("lsblk JSON", "a block device entry has neither kname nor name: %r" % (node,))
        if kname not in records:
            records[kname] = {
                "kernel_name": kname,
                "parent": _clean(node.get("pkname")),
                "type": _clean(node.get("type")),
                "size_bytes": _as_int(node.get("size")),
                "serial": _clean(node.get("serial")),
                "wwn": _clean(node.get("wwn")),
                "model": _clean(node.get("model")),
                "rotational": _as_bool(node.get("rota")),
                "transport": _clean(node.get("tran")),
            }
        pending.extend(reversed(node.get("children") or []))
    return list(records.values())
