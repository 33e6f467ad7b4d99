# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: each md array of a host as the fleet reports show it.

The serial-to-slot map is what a recovery needs when kernel names have moved: which disk, by
serial, sits in which slot, and in what state. Empty slots are listed too, with the serial of
the device that last carried the slot's superblock when the host still sees it.
"""

from __future__ import annotations


def _slot_rows(md: dict, array: dict) -> list[dict]:
    rows = []
    for member in array.get("members") or []:
        rows.append({"slot": member.get("slot"), "serial": member.get("serial"), "device": member.get("device"),
                     "role": member.get("role"), "state": list(member.get("state") or []), "errors": member.get("errors")})
    dropped = {}
    for group in md.get("stray_superblocks") or []:
        if group.get("assembled_as") == array.get("name"):
            for device in group.get("devices") or []:
                dropped[device.get("slot")] = device
    for slot in array.get("missing_slots") or []:
        device = dropped.get(slot) or {}
        rows.append({"slot": slot, "serial": device.get("serial"), "device": device.get("device"),
                     "role": "missing", "state": ["dropped out"] if device else ["empty"], "errors": None})
    return sorted(rows, key=lambda row: (row["slot"] is None, row["slot"] if row["slot"] is not None else 0, row["serial"] or ""))


def host_arrays(facts: dict) -> list[dict]:
    """The host's md arrays, each with its state, sync and serial-to-slot map."""
    md = facts.get("lifeline_md") or {}
    arrays = []
    for array in md.get("arrays") or []:
        sync = array.get("sync") or {}
        arrays.append({
            "name": array.get("name"), "device": array.get("device"), "level": array.get("level"),
            "state": array.get("state"), "array_state": array.get("array_state"), "degraded": array.get("degraded"),
            "raid_disks": array.get("raid_disks"), "member_status": array.get("member_status"),
            "mismatch_cnt": array.get("mismatch_cnt"), "uuid": array.get("uuid"),
            "sync_action": sync.get("action"), "sync_percent": sync.get("percent"),
            "slots": _slot_rows(md, array),
        })
    return sorted(arrays, key=lambda a: a["name"] or "")
