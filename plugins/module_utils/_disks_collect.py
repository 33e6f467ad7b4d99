# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the `disks` subset of storage_facts.

Every block device the identity map knows (whole disks, partitions, md arrays, dm devices and
loop devices with a backing file), each named by its stable identity, with what is written on
it (_disk_probe: one wipefs listing for all devices, one blkid probe per device), what holds it
(sysfs holders), where it is mounted (/proc/self/mountinfo) and whether it is blank. Nothing
here writes to a device or reads its bytes.

The blkid probes run a few at a time: each waits on its device (or, on an emulated host, on a
CPU), and one blkid call cannot probe several devices (it stops at the first that holds nothing).
"""

from __future__ import annotations

import posixpath
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.lifeline.storage.plugins.module_utils._disk_probe import empty_probe, list_signatures, probe_device
from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._findings import make_finding, sort_findings
from ansible_collections.lifeline.storage.plugins.module_utils._mountinfo_parse import MOUNTINFO_SOURCE, parse_mountinfo

SYS_CLASS_BLOCK = "/sys/class/block"
# blkid probes at once: enough to overlap the waits of a few devices, few enough not to crowd a
# small host while the other subsets' tools run.
PROBE_WORKERS = 4
_IDENTITY_FIELDS = ("kernel_name", "device", "type", "disk", "size_bytes", "serial", "wwn", "model", "transport",
                    "rotational", "stable_name", "by_id")


def _sysfs(name: str, leaf: str) -> str:
    return "%s/%s/%s" % (SYS_CLASS_BLOCK, name, leaf)


def _skip_reason(files, name: str, kind: str | None) -> str | None:
    """Why a device is left out, or None. These hold nothing an installer could overwrite by mistake."""
    if kind == "rom" or (kind is None and name.startswith("sr")):
        return "optical drive"
    if name.startswith("zram"):
        return "compressed RAM device (zram)"
    if (kind == "loop" or name.startswith("loop")) and not files.read_optional(_sysfs(name, "loop/backing_file")):
        return "loop device without a backing file"
    return None


def _device_names(identity, files) -> list[str]:
    names = set(identity.as_dict())
    if identity.error:
        # Without lsblk the map knows only disks with by-id links; sysfs still lists every
        # device (those of size 0 are empty slots such as a card reader without a card).
        names.update(name for name in files.list_dir(SYS_CLASS_BLOCK) if files.read_optional(_sysfs(name, "size")) not in (None, "0"))
    return sorted(names)


def _listed_dir(files, path: str) -> list[str] | None:
    # HostFiles.list_dir gives [] for a missing directory: only an existing one says "none".
    return files.list_dir(path) if files.exists(path) else None


def _partitions_by_disk(records: dict[str, dict]) -> dict[str, list[str]]:
    partitions: dict[str, list[str]] = {}
    for name, record in sorted(records.items()):
        if record["type"] == "part" and record["disk"] not in (None, name):
            partitions.setdefault(record["disk"], []).append(name)
    return partitions


def _base_entry(files, record: dict, partitions: list[str]) -> dict:
    name = record["kernel_name"]
    entry = {key: record[key] for key in _IDENTITY_FIELDS}
    slaves = _listed_dir(files, _sysfs(name, "slaves"))
    if record["type"] == "part":
        parent = record["disk"]
    else:
        parent = slaves[0] if slaves and len(slaves) == 1 else None
    entry.update({
        "parent": parent,
        "slaves": slaves,
        "partitions": partitions,
        "major_minor": files.read_optional(_sysfs(name, "dev")),
        "backing_file": files.read_optional(_sysfs(name, "loop/backing_file")),
        "holders": _listed_dir(files, _sysfs(name, "holders")),
    })
    return entry


def _source_device(files, source: str, names: set[str]) -> str | None:
    """The kernel name a mount source such as /dev/sda1 or /dev/mapper/vg-lv stands for."""
    if not source.startswith("/dev/"):
        return None
    if posixpath.basename(source) in names:
        return posixpath.basename(source)
    target = files.read_link(source)
    return posixpath.basename(target) if target and posixpath.basename(target) in names else None


def _mountpoints(files, entries: list[dict]) -> tuple[dict[str, list[str]] | None, str | None]:
    """Kernel name -> mount points, or None and the reason when mountinfo cannot be read."""
    try:
        mounts = parse_mountinfo(files.read_text(MOUNTINFO_SOURCE))
    except (OSError, ParseError) as error:
        return None, "%s could not be read, so mount points are unknown: %s" % (MOUNTINFO_SOURCE, error)
    by_number = {entry["major_minor"]: entry["kernel_name"] for entry in entries if entry["major_minor"]}
    names = {entry["kernel_name"] for entry in entries}
    points: dict[str, set[str]] = {name: set() for name in names}
    for mount in mounts:
        # major:minor names the device for most file systems; btrfs and others report an
        # anonymous 0:N, so the mount source names it instead.
        for name in {by_number.get(mount["major_minor"]), _source_device(files, mount["source"], names)} - {None}:
            points[name].add(mount["mount_point"])
    return {name: sorted(found) for name, found in points.items()}, None


def _blank(entry: dict) -> bool | None:
    """True only when the device was read and nothing is on it, holds it or is mounted from it."""
    known = (entry["signatures"], entry["holders"], entry["mountpoints"])
    if any(value is None for value in known) or entry["errors"]:
        return None
    return not (entry["signatures"] or entry["holders"] or entry["mountpoints"] or entry["partitions"]
                or entry["partition_table"]["type"])


def _subject(entry: dict) -> str:
    return entry["stable_name"] or entry["device"]


def _evidence(entry: dict, **extra) -> dict:
    evidence = {key: entry[key] for key in ("device", "serial", "wwn", "stable_name")}
    evidence.update(extra)
    return evidence


def disks_findings(facts: dict) -> list[dict]:
    findings = []
    if facts["error"]:
        findings.append(make_finding("DISKS_SUBSET_INCOMPLETE", "warning", "disks", facts["error"],
                                     {"missing_tools": facts["missing_tools"]}))
    entries = {entry["device"]: entry for entry in facts["devices"]}
    for unreadable in facts["unreadable"]:
        entry = entries[unreadable["device"]]
        findings.append(make_finding(
            "DISKS_DEVICE_UNREADABLE", "warning", _subject(entry),
            "%s (%s) could not be probed: %s. What is written on it is unknown: treat it as holding data."
            % (_subject(entry), entry["device"], unreadable["reason"]), _evidence(entry, reason=unreadable["reason"])))
    for entry in facts["devices"]:
        if entry["ambivalent"]:
            types = sorted({sig["type"] for sig in entry["signatures"] if sig["kind"] != "partition_table"})
            findings.append(make_finding(
                "DISKS_SIGNATURE_AMBIVALENT", "warning", _subject(entry),
                "blkid finds several signatures on %s (%s): %s. An installer or udev may take it for one of them while "
                "it holds another. Find out which one is live before reusing the device; only then remove the stale one."
                % (_subject(entry), entry["device"], ", ".join(types) or "not listed by wipefs"),
                _evidence(entry, signatures=entry["signatures"])))
    return sort_findings(findings)


def _missing_tools(runner) -> tuple[list[str], list[str]]:
    missing = [tool for tool in ("wipefs", "blkid") if not runner.has(tool)]
    gaps = []
    if "wipefs" in missing:
        gaps.append("wipefs is not installed: signatures, partition tables, md and LVM membership are unknown")
    elif "blkid" in missing:
        gaps.append("blkid is not installed: signature versions and partition table ids are unknown, "
                    "and ambivalent signatures are not detected")
    return missing, gaps


def collect_disks(runner, files, identity, options: dict | None = None) -> dict:  # pylint: disable=unused-argument
    """The `lifeline_disks` fact."""
    names = _device_names(identity, files)
    skipped, kept = [], []
    for name in names:
        reason = _skip_reason(files, name, identity.lookup(name)["type"])
        if reason:
            skipped.append({"device": "/dev/" + name, "reason": reason})
        else:
            kept.append(name)
    records = {name: identity.lookup(name) for name in kept}
    partitions = _partitions_by_disk(records)
    entries = [_base_entry(files, records[name], partitions.get(name, [])) for name in kept]
    missing, gaps = _missing_tools(runner)
    listings = list_signatures(runner, [entry["device"] for entry in entries]) if "wipefs" not in missing and entries else {}
    unreadable = []
    if listings:
        with ThreadPoolExecutor(max_workers=max(1, min(PROBE_WORKERS, len(entries)))) as pool:
            probes = list(pool.map(lambda entry: probe_device(runner, entry["device"], listings[entry["device"]]), entries))
    else:
        probes = [empty_probe() for _entry in entries]
    for entry, probe in zip(entries, probes):
        entry.update(probe)
        if probe["signatures"] is None and probe["errors"]:
            unreadable.append({"device": entry["device"], "reason": "; ".join(probe["errors"])})
    mountpoints, mount_gap = _mountpoints(files, entries)
    if mount_gap:
        gaps.append(mount_gap)
    for entry in entries:
        entry["mountpoints"] = mountpoints[entry["kernel_name"]] if mountpoints is not None else None
        entry["blank"] = _blank(entry)
    facts = {
        "available": True,
        "error": "; ".join(gaps) or None,
        "missing_tools": missing,
        "devices": entries,
        "skipped": skipped,
        "unreadable": unreadable,
    }
    facts["findings"] = disks_findings(facts)
    return facts
