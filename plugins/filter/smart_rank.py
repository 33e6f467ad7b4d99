# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The smart_rank filter: order disks of the smart subset healthiest first, with the reasons."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.module_utils._smart_health import explain_order, rank_key


def _disk_names(disk: dict) -> set:
    return {disk.get("serial"), disk.get("device"), disk.get("kernel_name"), disk.get("wwn"), disk.get("stable_name")} | set(disk.get("by_id") or [])


def smart_rank(disks, serials: list | None = None) -> list[dict]:
    """DISKS (lifeline_smart.disks, or the whole lifeline_smart fact) ordered healthiest first.

    SERIALS restricts the ranking to those disks (serials, devices, by-id paths or WWNs), for
    example the two members of one mirror pair; a name that matches no disk is an error, so a
    choice is never made between fewer disks than the operator named.
    """
    if isinstance(disks, dict) and "disks" in disks:
        disks = disks["disks"]
    if not isinstance(disks, list) or not all(isinstance(disk, dict) for disk in disks):
        raise AnsibleFilterError("smart_rank expects the disks of the smart subset (ansible_facts.lifeline_smart.disks), got %s"
                                 % type(disks).__name__)
    if serials is not None:
        if isinstance(serials, str):
            serials = [serials]
        chosen = []
        for name in serials:
            matches = [disk for disk in disks if name in _disk_names(disk)]
            if not matches:
                raise AnsibleFilterError("smart_rank: no disk in the smart facts is named %s" % name)
            chosen.extend(disk for disk in matches if disk not in chosen)
        disks = chosen
    ordered = sorted(disks, key=rank_key)
    ranked = []
    for position, disk in enumerate(ordered):
        health = disk.get("health") or {"status": "unknown", "score": None, "reasons": []}
        ranked.append({
            "rank": position + 1,
            "serial": disk.get("serial"),
            "device": disk.get("device"),
            "stable_name": disk.get("stable_name"),
            "status": health.get("status"),
            "score": health.get("score"),
            "power_on_hours": disk.get("power_on_hours"),
            "reasons": [reason.get("message") for reason in health.get("reasons") or []],
            "ahead_of_next": explain_order(disk, ordered[position + 1]) if position + 1 < len(ordered) else None,
        })
    return ranked


class FilterModule:
    def filters(self) -> dict:
        return {"smart_rank": smart_rank}
