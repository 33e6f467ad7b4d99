# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the fleet's disks ranked by the order to replace them, with reasons.

Input is each host's storage facts (lifeline_md, lifeline_smart); output is one list over the
fleet, most urgent first, each entry saying in words why it sits where it does. The one rule
that overrides a disk's own health: a disk that holds the last good copy of a degraded array is
never replaced before its failed partner, however bad its SMART data looks, because pulling it
loses the array.
"""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._smart_health import STATUS_ORDER

# Most urgent first. "replace_partner_first" sits before "plan" because its array has no
# redundancy left: the partner's replacement is the most urgent work on that host.
ACTIONS = ("replace", "replace_partner_first", "plan", "check", "keep")
_ACTION_RANK = {action: rank for rank, action in enumerate(ACTIONS)}
_HEALTH_RANK = {status: rank for rank, status in enumerate(STATUS_ORDER)}
_HOURS_PER_YEAR = 24 * 365


def _redundancy(array: dict) -> int | None:
    """How many members the array can lose without losing data, when every slot is filled."""
    level, disks = array.get("level"), array.get("raid_disks") or 0
    if level == "raid1":
        return max(disks - 1, 0)
    if level in ("raid4", "raid5"):
        return 1
    if level == "raid6":
        return 2
    if level == "raid10":
        return 1  # per mirror set, with the default two copies
    return None  # raid0, linear: no redundancy to lose


def _raid10_partner_slot(slot: int, raid_disks: int) -> int | None:
    # With md's default near=2 layout, slots 0+1, 2+3, ... mirror each other.
    partner = slot ^ 1
    return partner if partner < raid_disks else None


def _last_copy_holders(array: dict) -> dict[str, list[int]]:
    """Serial -> the empty slots whose data now lives only on that member."""
    redundancy = _redundancy(array)
    missing = list(array.get("missing_slots") or [])
    faulty = [m.get("slot") for m in array.get("members") or [] if m.get("role") == "faulty"]
    lost = sorted(set(missing) | {slot for slot in faulty if slot is not None})
    if not redundancy or not lost:
        return {}
    working = [m for m in array.get("members") or [] if m.get("role") != "faulty" and m.get("serial")]
    if array.get("level") == "raid10":
        holders: dict[str, list[int]] = {}
        for member in working:
            partner = _raid10_partner_slot(member.get("slot", -1), array.get("raid_disks") or 0)
            if partner in lost:
                holders[member["serial"]] = [partner]
        return holders
    if len(lost) < redundancy:
        return {}
    return {member["serial"]: lost for member in working}


def _stale_devices(md: dict, array: dict) -> list[dict]:
    """Devices that carry this array's superblock but dropped out of it (its failed partners)."""
    stale = []
    for group in md.get("stray_superblocks") or []:
        if group.get("assembled_as") == array.get("name") or (group.get("array_uuid") and group.get("array_uuid") == array.get("uuid")):
            stale.extend(device for device in group.get("devices") or [] if device.get("serial"))
    return stale


def _hours_text(hours: int | None) -> str | None:
    if hours is None:
        return None
    if hours >= _HOURS_PER_YEAR:
        return "%d power-on hours (%.1f years)" % (hours, hours / _HOURS_PER_YEAR)
    return "%d power-on hours" % hours


def _smart_reason(disk: dict) -> str:
    health = disk.get("health") or {}
    status = health.get("status") or "unknown"
    messages = [reason.get("message") for reason in health.get("reasons") or [] if reason.get("message")]
    if status == "healthy":
        return "SMART verdict healthy (score %s)" % health.get("score")
    if status == "unknown":
        return "SMART health unknown: %s" % ("; ".join(messages) or "no SMART data")
    return "SMART verdict %s (score %s): %s" % (status, health.get("score"), "; ".join(messages) or "no rule named")


class _DiskEntry:
    """One disk of one host while the list is built; becomes a plain dict at the end."""

    def __init__(self, host: str, serial: str | None, device: str | None) -> None:
        self.host, self.serial, self.device = host, serial, device
        self.stable_name: str | None = None
        self.model: str | None = None
        self.health_status = "unknown"
        self.score: int | None = None
        self.power_on_hours: int | None = None
        self.smart_reason: str | None = None
        self.md_errors = 0
        self.error_log_count = 0
        self.arrays: list[str] = []
        self.replace_reasons: list[str] = []
        self.last_copy_reasons: list[str] = []
        self.other_reasons: list[str] = []

    def action(self) -> str:
        if self.last_copy_reasons:
            return "replace_partner_first"
        if self.replace_reasons or self.health_status == "failing":
            return "replace"
        if self.health_status == "watch":
            return "plan"
        if self.health_status == "unknown":
            return "check"
        return "keep"

    def sort_key(self) -> tuple:
        return (
            _ACTION_RANK[self.action()],
            -_HEALTH_RANK.get(self.health_status, _HEALTH_RANK["unknown"]),
            self.score if self.score is not None else 101,
            -(self.md_errors + self.error_log_count),
            -(self.power_on_hours or 0),
            self.host,
            self.serial or self.device or "",
        )

    def as_dict(self) -> dict:
        reasons = self.replace_reasons + self.last_copy_reasons
        if self.last_copy_reasons and self.health_status in ("failing", "watch"):
            reasons.append("its own SMART verdict is %s too: copy the data off it before a rebuild reads every sector"
                           % self.health_status)
        if self.smart_reason:
            reasons.append(self.smart_reason)
        reasons += self.other_reasons
        hours = _hours_text(self.power_on_hours)
        if hours:
            reasons.append(hours)
        return {"host": self.host, "serial": self.serial, "device": self.device, "stable_name": self.stable_name,
                "model": self.model, "action": self.action(), "health": self.health_status, "score": self.score,
                "power_on_hours": self.power_on_hours, "errors": self.md_errors + self.error_log_count,
                "arrays": sorted(set(self.arrays)), "slot": None, "reasons": reasons}


def _host_disks(host: str, facts: dict) -> list[_DiskEntry]:
    entries: dict[str, _DiskEntry] = {}

    def entry_for(serial: str | None, device: str | None) -> _DiskEntry:
        key = serial or device or "?"
        if key not in entries:
            entries[key] = _DiskEntry(host, serial, device)
        return entries[key]

    smart = facts.get("lifeline_smart") or {}
    for disk in smart.get("disks") or []:
        entry = entry_for(disk.get("serial"), disk.get("device"))
        health = disk.get("health") or {}
        entry.stable_name, entry.model = disk.get("stable_name"), disk.get("model")
        entry.health_status = health.get("status") or "unknown"
        entry.score = health.get("score")
        entry.power_on_hours = disk.get("power_on_hours")
        entry.error_log_count = disk.get("error_log_count") or 0
        entry.smart_reason = _smart_reason(disk)
        if entry.error_log_count:
            entry.other_reasons.append("%d entries in the device error log" % entry.error_log_count)

    md = facts.get("lifeline_md") or {}
    for array in md.get("arrays") or []:
        device = array.get("device") or array.get("name")
        holders = _last_copy_holders(array)
        for member in array.get("members") or []:
            entry = entry_for(member.get("serial"), member.get("device"))
            entry.arrays.append(device)
            entry.stable_name = entry.stable_name or member.get("stable_name")
            if entry.smart_reason is None:
                entry.smart_reason = "SMART health unknown: the smart subset has no data for this disk"
            if member.get("errors"):
                entry.md_errors += member["errors"]
                entry.other_reasons.append("md counted %d read errors on it in %s" % (member["errors"], device))
            if member.get("role") == "faulty":
                entry.replace_reasons.append("md marked it faulty in %s (slot %s): it receives no writes" % (device, member.get("slot")))
            if member.get("serial") in holders:
                slots = ", ".join(str(slot) for slot in holders[member["serial"]])
                raid_disks = array.get("raid_disks") or 0
                working = raid_disks - (array.get("degraded") or 0)
                entry.last_copy_reasons.append(
                    "holds the last good copy of degraded %s (%s, %d of %d slots working; slot %s lost): replace its failed "
                    "partner first, never this disk" % (device, array.get("level"), working, raid_disks, slots))
        if (array.get("degraded") or 0) > 0:
            for stale in _stale_devices(md, array):
                entry = entry_for(stale.get("serial"), stale.get("device"))
                entry.arrays.append(device)
                entry.stable_name = entry.stable_name or stale.get("stable_name")
                if entry.smart_reason is None:
                    entry.smart_reason = "SMART health unknown: the smart subset has no data for this disk"
                entry.replace_reasons.append(
                    "dropped out of degraded %s (slot %s, event count %s): it holds stale data; replace it, or add it back only "
                    "with a full resync" % (device, stale.get("slot"), stale.get("events")))
    return list(entries.values())


def _empty_slots(host: str, facts: dict) -> list[dict]:
    """Slots of degraded arrays that no disk on the host claims: a new disk goes there first."""
    md = facts.get("lifeline_md") or {}
    slots = []
    for array in md.get("arrays") or []:
        claimed = {device.get("slot") for device in _stale_devices(md, array)}
        device = array.get("device") or array.get("name")
        for slot in array.get("missing_slots") or []:
            if slot in claimed:
                continue
            slots.append({"host": host, "serial": None, "device": None, "stable_name": None, "model": None,
                          "action": "replace", "health": "missing", "score": None, "power_on_hours": None, "errors": 0,
                          "arrays": [device], "slot": slot,
                          "reasons": ["slot %s of degraded %s (%s) is empty and no disk on the host carries its superblock: "
                                      "put a new disk in and add it, before anything stresses the members left" % (slot, device, array.get("level"))]})
    return slots


def replacement_list(facts_by_host: dict[str, dict]) -> list[dict]:
    """Every disk of every host, most urgent replacement first, each with its rank and reasons."""
    ranked: list[tuple[tuple, dict]] = []
    for host in sorted(facts_by_host):
        facts = facts_by_host[host] or {}
        for entry in _host_disks(host, facts):
            ranked.append((entry.sort_key(), entry.as_dict()))
        for slot in _empty_slots(host, facts):
            # An empty slot ranks with the disks to replace, ahead of every disk in that group.
            ranked.append(((_ACTION_RANK["replace"], -len(STATUS_ORDER), -1, 0, 0, host, ""), slot))
    ranked.sort(key=lambda pair: pair[0])
    result = []
    for position, (_key, entry) in enumerate(ranked):
        result.append(dict(entry, rank=position + 1))
    return result
