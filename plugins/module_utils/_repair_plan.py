# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: fs_repair's decisions - the storage stack under one file system in, refusals and
the commands of each step out.

The stack is read from storage_facts' subsets (disks for the device graph, md for arrays, smart for
disk health); nothing here runs a command or reads a file.
"""

from __future__ import annotations

REBUILD_ACTIONS = ("resync", "recover", "reshape", "repair")
FS_TYPES = ("ext2", "ext3", "ext4", "xfs")


def _refusal(rule: str, subject: str, detail: str) -> dict:
    return {"rule": rule, "subject": subject, "detail": detail}


def walk_stack(start: str, devices: list[dict]) -> list[dict]:
    """The layers beneath START (a kernel name), top first: START, what it is built from, down to the disks.

    Each layer: kernel_name, device, type, serial, level (its distance from START). A name the
    disks facts do not know is listed with type None, so the caller can say the stack is unknown.
    """
    by_name = {entry["kernel_name"]: entry for entry in devices}
    layers: list[dict] = []
    seen: set[str] = set()
    todo = [(start, 0)]
    while todo:
        name, level = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        entry = by_name.get(name)
        layers.append({"kernel_name": name, "device": entry["device"] if entry else "/dev/" + name,
                       "type": entry.get("type") if entry else None,
                       "serial": entry.get("serial") if entry else None, "level": level})
        if entry is None:
            continue
        below = list(entry.get("slaves") or [])
        if entry.get("type") == "part" and entry.get("disk") and entry["disk"] != name:
            below.append(entry["disk"])
        todo.extend((child, level + 1) for child in sorted(below))
    return layers


def find_target(request: str, real_device: str | None, devices: list[dict]) -> dict | None:
    """The disks-facts entry of the file system REQUEST names: a mount point, or a device (REAL_DEVICE: its /dev path
    with symbolic links resolved, /dev/mapper/vg-lv -> /dev/dm-0)."""
    for entry in devices:
        if request in (entry.get("mountpoints") or []):
            return entry
    for entry in devices:
        if real_device and entry["device"] == real_device:
            return entry
    return None


def file_system_type(entry: dict) -> str | None:
    """The file system signature on ENTRY (ext4, xfs, ...), or None when it has none or it is unknown."""
    kinds = [sig["type"] for sig in entry.get("signatures") or [] if sig.get("kind") == "filesystem"]
    return kinds[0] if len(kinds) == 1 else None


def directory_names(real_path: str, devices: list[dict]) -> set[str] | None:
    """Kernel names of every device beneath the file system that holds REAL_PATH; None when no mount holds it."""
    best = None
    for entry in devices:
        for mount in entry.get("mountpoints") or []:
            if real_path == mount or real_path.startswith(mount.rstrip("/") + "/"):
                if best is None or len(mount) > len(best[0]):
                    best = (mount, entry["kernel_name"])
    if best is None:
        return None
    return {layer["kernel_name"] for layer in walk_stack(best[1], devices)}


def _member_events(array: dict, md_facts: dict) -> dict[str, int | None]:
    """Event count of every member of ARRAY, and of superblocks of it outside the running array."""
    events = {member["kernel_name"]: member.get("events") for member in array.get("members") or []}
    for group in md_facts.get("stray_superblocks") or []:
        if group.get("assembled_as") == array["name"]:
            for device in group.get("devices") or []:
                events[device.get("kernel_name") or device.get("device")] = device.get("events")
    return events


def array_refusals(array: dict, md_facts: dict) -> list[dict]:
    """Why no repair may run on a file system above ARRAY (one entry of the md subset's arrays)."""
    name = array["name"]
    refusals = []
    sync = array.get("sync") or {}
    if sync.get("action") in REBUILD_ACTIONS or sync.get("pending"):
        what = sync.get("action") if sync.get("action") in REBUILD_ACTIONS else "resync (%s)" % sync.get("pending")
        percent = " at %s%%" % sync["percent"] if sync.get("percent") is not None else ""
        refusals.append(_refusal(
            "md_rebuilding", name,
            "%s is running a %s%s: until it ends two reads of one block can return different data and a repair "
            "built on them writes damage; wait until md/sync_action is idle (docs/repair.md, step 2)" % (name, what, percent)))
    events = _member_events(array, md_facts)
    known = {count for count in events.values() if count is not None}
    if (array.get("degraded") or 0) > 0 and len(known) > 1:
        listing = ", ".join("%s=%s" % (member, events[member]) for member in sorted(events))
        refusals.append(_refusal(
            "md_degraded_diverging", name,
            "%s is degraded and its members' event counts disagree (%s): decide which members hold the current data "
            "first (docs/rescue.md, docs/md-assemble.md)" % (name, listing)))
    if (array.get("mismatch_cnt") or 0) > 0:
        refusals.append(_refusal(
            "md_mismatch", name,
            "%s: its last check found %d mismatched sectors, so one member holds other data and reads may come from "
            "it; find it with mirror_compare, fail and remove it and let md rebuild it from the members that agree, "
            "then check again (docs/repair.md, step 4; never write repair to sync_action)" % (name, array["mismatch_cnt"])))
    return refusals


def stack_refusals(layers: list[dict], facts: dict) -> tuple[list[dict], list[dict]]:
    """(refusals, unknowns) for the stack LAYERS, from storage_facts' FACTS (lifeline_md, lifeline_smart).

    Unknowns are things that could not be read (no SMART on a disk): reported, not refused.
    A stack that holds an md array while the md subset is unavailable is refused: its state is unknown.
    """
    names = {layer["kernel_name"] for layer in layers}
    refusals: list[dict] = []
    unknowns: list[dict] = []
    md_facts = facts.get("lifeline_md") or {}
    md_layers = [layer for layer in layers if (layer["type"] or "").startswith("raid") or layer["type"] == "md"]
    if md_layers and not md_facts.get("available", False):
        refusals.append(_refusal("md_unknown", ", ".join(layer["kernel_name"] for layer in md_layers),
                                 "the md facts could not be gathered (%s): the arrays' state is unknown"
                                 % md_facts.get("error")))
    for array in md_facts.get("arrays") or []:
        if array["name"] in names:
            refusals.extend(array_refusals(array, md_facts))
    for layer in layers:
        if layer["type"] is None:
            refusals.append(_refusal("stack_unknown", layer["kernel_name"],
                                     "%s is beneath the file system but the disks facts do not list it" % layer["device"]))
    smart = facts.get("lifeline_smart") or {}
    disks = {disk["kernel_name"]: disk for disk in smart.get("disks") or []}
    for layer in layers:
        if layer["type"] != "disk":
            continue
        disk = disks.get(layer["kernel_name"])
        status = ((disk or {}).get("health") or {}).get("status")
        if status == "failing":
            reasons = "; ".join(reason.get("message", "") for reason in disk["health"].get("reasons") or [])
            refusals.append(_refusal(
                "disk_failing", layer["kernel_name"],
                "%s (serial %s) is failing by SMART (%s): copy what you can off it first (ddrescue, docs/rescue.md), "
                "or replace it as a member and let md rebuild; a repair reads and writes every metadata block and "
                "can finish the disk" % (layer["device"], layer.get("serial"), reasons)))
        elif status in (None, "unknown"):
            unknowns.append({"subject": layer["kernel_name"], "detail": "SMART health of %s is unknown" % layer["device"]})
    if unknowns and smart.get("error"):
        unknowns.insert(0, {"subject": "smart", "detail": "the smart facts are incomplete: %s" % smart["error"]})
    return refusals, unknowns


def directory_refusals(directory_names: set[str], layers: list[dict], directory: str) -> list[dict]:
    """The metadata backup's DIRECTORY must not live on the stack it is a backup of."""
    shared = sorted(directory_names & {layer["kernel_name"] for layer in layers})
    if not shared:
        return []
    return [_refusal("backup_on_stack", directory,
                     "%s lies on %s, which is part of the stack beneath the file system: a backup there is lost with "
                     "it and writing it writes to the stack; name a directory on another disk" % (directory, ", ".join(shared)))]


# Stands for the overlay's device in the rehearsal's argv until the overlay exists.
OVERLAY_PLACEHOLDER = "OVERLAY"


def step_commands(fstype: str, device: str, backup_file: str | None = None) -> dict:
    """The argv of each step for a file system of FSTYPE on DEVICE; the rehearsal's is the repair's on the overlay."""
    if fstype == "xfs":
        commands = {
            "check": ["xfs_repair", "-n", device],
            "backup": ["xfs_metadump", "-g", device, backup_file or "FILE"],
            "repair": ["xfs_repair", device],
        }
    else:
        commands = {
            "check": ["e2fsck", "-f", "-n", device],
            "backup": ["e2image", "-Q", device, backup_file or "FILE"],
            "repair": ["e2fsck", "-f", "-y", device],
        }
    commands["rehearse"] = [OVERLAY_PLACEHOLDER if word == device else word for word in commands["repair"]]
    return commands


def apply_refusals(device: str, confirm: str | None, rehearsal: dict | None, backup: dict | None,
                   run_id: str) -> list[dict]:
    """The three conditions for a repair of the real DEVICE, each refused on its own line."""
    refusals = []
    if confirm != device:
        refusals.append(_refusal("not_confirmed", device, "the repair of the real device runs only when the device is "
                                 "named a second time in confirm_device (got %r)" % (confirm,)))
    if not rehearsal or rehearsal.get("origin") != device or rehearsal.get("run_id") != run_id \
            or rehearsal.get("step") != "rehearse" or rehearsal.get("rc") is None:
        refusals.append(_refusal("not_rehearsed", device, "no rehearsal of %s in this run (run_id %s): rehearse on an "
                                 "overlay first and pass its result as rehearsal" % (device, run_id)))
    if not backup or backup.get("source") != device or not backup.get("sha256") or not backup.get("path"):
        refusals.append(_refusal("no_backup", device, "no metadata backup of %s: run the backup step first and pass "
                                 "its result as backup" % device))
    return refusals


def refusal_message(refusals: list[dict]) -> str:
    lines = ["%s (%s): %s" % (r["rule"], r["subject"], r["detail"]) for r in refusals]
    return "refused, nothing was written:\n" + "\n".join(lines)
