# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the recorded geometry of every md array, and where to sample it.

Built from parsed `mdadm --examine` blocks of every member (grouped by array UUID; the member
with the highest event count speaks for the array), `mdadm --detail` of the arrays that run,
and the disk identities of storage_facts, so that each slot is named by the serial of the disk
that held it, not by a kernel name of the day. Pure: nothing here runs a command or reads a
device; the snapshot reads the samples this plans.
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._md_layout import SECTOR

GEOMETRY_FORMAT = 1
# Feature map bits of a v1 superblock (md_p.h): internal bitmap, reshape in progress, journal.
_FEATURE_BITMAP = 0x1
_FEATURE_RESHAPE = 0x4
_FEATURE_JOURNAL = 0x200
_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def normal_uuid(uuid: str | None) -> str | None:
    """mdadm's form (four groups of 8 hex digits, lower case) from mdadm's or blkid's."""
    if not uuid:
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", uuid).lower()
    if len(digits) != 32:
        return uuid.lower()
    return ":".join(digits[start:start + 8] for start in range(0, 32, 8))


def metadata_version(version: str | None) -> str | None:
    """"0.90.00" (examine) and "0.90" (detail) are one version; 1.x stays as printed."""
    if not version:
        return None
    if version.startswith("0.90"):
        return "0.90"
    return version


def split_name(name: str | None, metadata: str | None) -> tuple[str | None, str | None]:
    """(homehost, name) of a v1 array name: "lifeline-lab:vault" -> ("lifeline-lab", "vault")."""
    if not name or not (metadata or "").startswith("1"):
        return None, name or None
    homehost, sep, short = name.partition(":")
    return (homehost, short) if sep else (None, name)


def _feature_map(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def _partition_number(device: dict, by_name: dict[str, dict]) -> int | None:
    parent = device.get("parent") or device.get("disk")
    if device.get("type") != "part" or not parent or parent not in by_name:
        return None
    match = re.fullmatch(re.escape(parent) + r"p?(\d+)", device["kernel_name"])
    return int(match.group(1)) if match else None


def member_identity(device_path: str, devices: list[dict]) -> dict:
    """Serial, WWN, by-id name and partition number of DEVICE_PATH, from the disks facts."""
    by_name = {device["kernel_name"]: device for device in devices}
    found = next((device for device in devices if device.get("device") == device_path), None)
    kernel_name = device_path.rsplit("/", 1)[-1]
    if found is None:
        found = by_name.get(kernel_name, {"kernel_name": kernel_name, "device": device_path})
    partition = _partition_number(found, by_name)
    serial = found.get("serial")
    if serial:
        key = "%s-part%d" % (serial, partition) if partition is not None else serial
    else:
        key = found.get("wwn") or found.get("stable_name") or found.get("device") or device_path
    return {
        "key": key,
        "serial": serial,
        "partition": partition,
        "wwn": found.get("wwn"),
        "stable_name": found.get("stable_name"),
        "by_id": list(found.get("by_id") or []),
        "kernel_name": found.get("kernel_name") or kernel_name,
        "device": found.get("device") or device_path,
    }


def _round_down(value: int | None, unit: int | None) -> int | None:
    if value is None or not unit:
        return value
    return value - value % unit


def _used_sectors(level: str | None, superblock: dict, chunk_sectors: int | None) -> int | None:
    """Sectors of this member's data area md uses: the component size, or for RAID0 and linear the whole
    data area rounded down to the chunk (rounding)."""
    if level in ("raid0", "linear"):
        return _round_down(superblock.get("avail_dev_size_sectors"), chunk_sectors)
    return superblock.get("used_dev_size_sectors") or superblock.get("avail_dev_size_sectors")


def _bitmap(detail: dict | None, reference: dict, feature_map: int | None) -> tuple[str | None, str | None]:
    """("internal" | "none" | "file" | "clustered" | None, the words mdadm printed)."""
    if detail and detail.get("intent_bitmap"):
        words = detail["intent_bitmap"]
        lowered = words.lower()
        if lowered == "internal":
            return "internal", words
        if "clustered" in lowered:
            return "clustered", words
        return "file", words
    internal = reference.get("internal_bitmap")
    if internal or (feature_map is not None and feature_map & _FEATURE_BITMAP):
        return "internal", internal
    if feature_map is not None or detail is not None:
        return "none", None
    return None, None


def _newest(superblocks: list[dict]) -> dict:
    return max(superblocks, key=lambda block: (block.get("events") or -1, -(block["role"].get("slot") or 0)))


def array_geometry(uuid: str, superblocks: list[dict], detail: dict | None, running_as: str | None,
                   devices: list[dict]) -> dict:
    """The geometry of one array from its members' parsed superblocks (and --detail when it runs)."""
    reference = _newest(superblocks)
    metadata = metadata_version(reference.get("version") or (detail or {}).get("version"))
    level = (reference.get("level") or (detail or {}).get("level") or "").lower() or None
    raid_devices = reference.get("raid_devices") or (detail or {}).get("raid_devices")
    chunk_kib = reference.get("chunk_kib") or (detail or {}).get("chunk_kib")
    chunk_sectors = chunk_kib * 2 if chunk_kib else None
    feature_map = _feature_map(reference.get("feature_map"))
    homehost, short_name = split_name(reference.get("name") or (detail or {}).get("name"), metadata)
    bitmap, bitmap_words = _bitmap(detail, reference, feature_map)
    problems: list[str] = []
    members, spares, others = _members(superblocks, raid_devices or 0, level, chunk_sectors, metadata, devices, problems)
    offsets = {member["data_offset_sectors"] for member in members if not member.get("missing")}
    used = {member["used_sectors"] for member in members if not member.get("missing")}
    data_offset = next(iter(offsets)) if len(offsets) == 1 else None
    if None in offsets:
        problems.append("the data offset of a member was not recorded")
    if feature_map is not None and feature_map & _FEATURE_RESHAPE:
        problems.append("a reshape was in progress (feature map %s): the geometry was changing" % reference.get("feature_map"))
    if feature_map is not None and feature_map & _FEATURE_JOURNAL:
        problems.append("the array has a write journal device (feature map %s)" % reference.get("feature_map"))
    for key, ours in (("level", level), ("raid_devices", raid_devices), ("chunk_kib", chunk_kib), ("layout", reference.get("layout"))):
        theirs = (detail or {}).get(key)
        if isinstance(theirs, str) and key == "level":
            theirs = theirs.lower()
        if detail and theirs is not None and ours is not None and theirs != ours and theirs != "-unknown-":
            problems.append("mdadm --detail says %s %s, the superblocks %s" % (key, theirs, ours))
    component = reference.get("used_dev_size_sectors") or reference.get("avail_dev_size_sectors")
    if level in ("raid0", "linear"):
        component = min(used) if used and None not in used else None
    return {
        "uuid": uuid,
        "name": reference.get("name") or (detail or {}).get("name"),
        "homehost": homehost,
        "short_name": short_name,
        "metadata": metadata,
        "level": level,
        "raid_devices": raid_devices,
        "chunk_kib": chunk_kib if level not in ("raid1",) else None,
        "layout": reference.get("layout") or _detail_layout(detail),
        "data_offset_sectors": data_offset,
        "data_offsets_vary": len(offsets) > 1 and None not in offsets,
        "component_size_sectors": component,
        "component_size_kib": component // 2 if component else None,
        "array_size_kib": reference.get("array_size_kib") or (detail or {}).get("array_size_kib"),
        "bitmap": bitmap,
        "bitmap_detail": bitmap_words,
        "consistency_policy": (detail or {}).get("consistency_policy"),
        "feature_map": reference.get("feature_map"),
        "running_as": running_as,
        "members": members,
        "spares": spares,
        "left_out": others,
        "problems": problems,
    }


def _detail_layout(detail: dict | None) -> str | None:
    layout = (detail or {}).get("layout")
    return None if layout in (None, "-unknown-") else layout


def _members(superblocks: list[dict], raid_devices: int, level: str | None, chunk_sectors: int | None, metadata: str | None,
             devices: list[dict], problems: list[str]) -> tuple[list[dict], list[dict], list[dict]]:
    """Active members by slot (a slot nobody holds is "missing"), spares, and devices left out with the reason."""
    by_slot: dict[int, list[dict]] = {}
    spares, others = [], []
    for block in superblocks:
        entry = member_identity(block["device"], devices)
        data_offset = block.get("data_offset_sectors")
        if data_offset is None and metadata in ("0.90", "1.0"):
            data_offset = 0
        entry.update({
            "device_uuid": block.get("device_uuid"),
            "data_offset_sectors": data_offset,
            "avail_dev_size_sectors": block.get("avail_dev_size_sectors"),
            "used_sectors": _used_sectors(level, block, chunk_sectors),
            "events": block.get("events"),
        })
        role = block["role"]
        if role["kind"] == "active" and role["slot"] is not None:
            by_slot.setdefault(role["slot"], []).append(entry)
        elif role["kind"] == "spare":
            spares.append(_without_events(entry))
        else:
            others.append(dict(_without_events(entry), reason="its superblock says %s" % (block.get("device_role") or role["kind"])))
    members = []
    for slot in range(raid_devices):
        holders = sorted(by_slot.get(slot, []), key=lambda entry: -(entry["events"] or -1))
        if not holders:
            members.append({"slot": slot, "missing": True})
            continue
        members.append(dict(_without_events(holders[0]), slot=slot, missing=False))
        for stale in holders[1:]:
            others.append(dict(_without_events(stale), reason="slot %d is also claimed by %s, whose event count is higher (%s > %s)"
                               % (slot, holders[0]["key"], holders[0]["events"], stale["events"])))
            problems.append("two devices claim slot %d: %s and %s" % (slot, holders[0]["key"], stale["key"]))
    return members, spares, others


def _without_events(entry: dict) -> dict:
    # Event counts change with every superblock update; disk-map.json keeps them, the geometry does not.
    return {key: value for key, value in entry.items() if key != "events"}


def geometries(examined: dict[str, dict], details: dict[str, dict], running: dict[str, str], devices: list[dict]) -> list[dict]:
    """Every array that has a member superblock in EXAMINED (device -> parsed --examine), sorted by UUID.

    DETAILS: normal UUID -> parsed `mdadm --detail`; RUNNING: normal UUID -> kernel name of the running array.
    """
    groups: dict[str, list[dict]] = {}
    for block in examined.values():
        uuid = normal_uuid(block.get("array_uuid"))
        if block.get("superblock") == "md" and uuid:
            groups.setdefault(uuid, []).append(block)
    return [array_geometry(uuid, groups[uuid], details.get(uuid), running.get(uuid), devices) for uuid in sorted(groups)]


def sample_path(geometry: dict, member: dict, label: str) -> str:
    safe = _SAFE_NAME_RE.sub("_", member["key"]).strip("_") or "member"
    return "md/samples/%s/slot%d-%s.%s" % (geometry["uuid"].replace(":", "-"), member["slot"], safe, label)


def plan_samples(geometry: dict, sample_bytes: int) -> list[dict]:
    """Where each active member is sampled: the first SAMPLE_BYTES of its data area, and as many at its middle.

    Offsets are from the start of the member's data area (past its data offset); the middle one is
    rounded down to a chunk (or MiB) boundary so its pieces line up with chunks. A member whose data
    offset or size is unknown is not sampled, and says why.
    """
    samples = []
    if sample_bytes <= 0:
        return samples
    align = (geometry.get("chunk_kib") or 1024) * 1024
    for member in geometry["members"]:
        if member.get("missing"):
            continue
        used = member.get("used_sectors")
        offset = member.get("data_offset_sectors")
        if used is None or offset is None:
            samples.append({"slot": member["slot"], "key": member["key"], "label": "start", "path": None,
                            "reason": "the member's data offset or size is unknown"})
            continue
        used_bytes = used * SECTOR
        length = min(sample_bytes, used_bytes)
        middle = (used_bytes // 2) // align * align
        positions = [("start", 0)]
        if middle >= length and middle + length <= used_bytes:
            positions.append(("middle", middle))
        for label, start in positions:
            samples.append({"slot": member["slot"], "key": member["key"], "label": label,
                            "member_offset": start, "length": length,
                            "device_offset": offset * SECTOR + start, "path": sample_path(geometry, member, label)})
    return samples
