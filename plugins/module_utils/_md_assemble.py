# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: md_assemble's plans, from evidence already gathered.

Pure: given the identity map, the parsed `mdadm --examine` of every block device, /proc/mdstat
with the kernel's state of each array, and what the operator asked for, it returns the mdadm
command to run, nothing to do, or a refusal naming each rule that fired with its evidence. It
runs nothing and reads nothing; _md_assemble_host gathers the evidence and carries a plan out.

The commands it builds never carry --force, --update, --create, --grow or --scan: assembly is
read-only (mdadm(8), --readonly: "No writes will be allowed to the array, and no resync,
recovery, or reshape will be started") and from the named devices only.
"""

from __future__ import annotations

import re

# Every rule a refusal can name, with what it means. docs/md-assemble.md lists the same.
RULES = {
    "member_unreadable": "mdadm --examine could not read a chosen member",
    "no_superblock": "a chosen member carries no md superblock",
    "unsupported_metadata": "a chosen member carries DDF or IMSM (container) metadata, which this module does not assemble",
    "no_members_found": "no device on the host carries a superblock of the requested array",
    "uuid_mismatch": "chosen members belong to different arrays, or not to the requested one",
    "duplicate_device": "two chosen devices carry the same member superblock (the same Device UUID)",
    "reshape_in_progress": "a chosen member records a reshape in progress; mdadm would continue it",
    "events_diverge": "event counts of the chosen active members differ by more than one",
    "state_disagrees": "a chosen member's superblock records another chosen member's slot as missing or failed",
    "newer_members_elsewhere": "other devices of the same array carry a higher event count than the chosen members",
    "incomplete": "the chosen members do not fill every slot, and allow_degraded is false",
    "not_enough_to_run": "too few slots are filled for the array's level to run even degraded",
    "dirty_degraded": "a RAID4/5/6 that was not shut down cleanly cannot start degraded without --force",
    "member_in_use": "a chosen member is held by another device or mounted",
    "member_write_protected": "a chosen member is write-protected, and md opens members for writing even to assemble read-only",
    "array_name_in_use": "the requested md device is already another running array",
    "already_active_read_write": "the array is already running and not read-only",
    "already_active_other_members": "the array is already running or partly assembled from other members",
    "held": "the array to stop is held by another device (LVM, dm-crypt, another md array)",
    "mounted": "the array to stop, or a partition on it, is mounted",
    "swap": "the array to stop, or a partition on it, is in use as swap",
}

# mdadm and the kernel take members whose event counts are one apart as current (Assemble.c,
# "always allow a difference of '1' like the kernel does"); a bigger gap is divergence.
EVENT_MARGIN = 1

_MDADM_UUID_RE = re.compile(r"^[0-9a-f]{8}(?::[0-9a-f]{8}){3}$")
_BLKID_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ARRAY_PATH_RE = re.compile(r"^/dev/(?:md[0-9]+|md/[A-Za-z0-9][A-Za-z0-9_.+:-]{0,31})$")
_RESHAPE_FIELDS = ("Reshape pos'n", "Delta Devices", "New Level", "New Layout", "New Chunksize")
# Feature-map bit of a 1.x superblock that says a reshape is under way (md_p.h).
_FEATURE_RESHAPE_ACTIVE = 0x4
_LAYOUT_WORD_RE = re.compile(r"(near|far|offset)=(\d+)")
DEFAULT_ARRAY_PREFIX = "/dev/md/lifeline-"


class RequestError(ValueError):
    """An option value that names nothing usable; the run stops before anything is read or run."""


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------

def normalize_uuid(text: str) -> str:
    """mdadm's 8:8:8:8 form of an array UUID given that way or as blkid prints it (8-4-4-4-12)."""
    value = text.strip().lower()
    if _MDADM_UUID_RE.match(value):
        return value
    if _BLKID_UUID_RE.match(value):
        digits = value.replace("-", "")
        return ":".join(digits[i:i + 8] for i in range(0, 32, 8))
    raise RequestError("uuid %r is neither mdadm's form (8:8:8:8 hex digits) nor blkid's (8-4-4-4-12)" % text)


def default_array_path(uuid: str) -> str:
    return DEFAULT_ARRAY_PREFIX + uuid.replace(":", "")[:8]


def check_array_path(path: str) -> str:
    if not _ARRAY_PATH_RE.match(path):
        raise RequestError("array %r must be /dev/mdN or /dev/md/NAME (NAME: letters, digits and _.+:-, at most 32)"
                           % path)
    return path


def _stable_names(identity: dict) -> set[str]:
    names = {identity.get("kernel_name"), identity.get("device")} | set(identity.get("by_id") or [])
    names |= {link.rsplit("/", 1)[-1] for link in identity.get("by_id") or []}
    if identity.get("type") == "disk":
        # Partitions inherit their disk's serial and WWN; those name the whole disk only.
        names |= {identity.get("serial"), identity.get("wwn")}
    return {name for name in names if name}


def resolve_members(identities: dict[str, dict], names: list[str], aliases: dict[str, str] | None = None
                    ) -> tuple[list[dict], list[str], list[str]]:
    """(identities of the named devices with `requested_as`, names matching nothing, names matching several).

    A serial or WWN names a whole disk; a partition is named by its /dev path, its by-id -partN
    path or its kernel name. ALIASES maps other /dev paths (by-path, mapper) to kernel names.
    """
    resolved: list[dict] = []
    missing: list[str] = []
    ambiguous: list[str] = []
    for name in names:
        target = (aliases or {}).get(name)
        matches = [identity for kernel, identity in sorted(identities.items())
                   if name in _stable_names(identity) or kernel == target]
        if not matches:
            missing.append(name)
        elif len(matches) > 1:
            ambiguous.append("%s (matches %s)" % (name, ", ".join(m["device"] for m in matches)))
        elif all(entry["kernel_name"] != matches[0]["kernel_name"] for entry in resolved):
            resolved.append(dict(matches[0], requested_as=name))
    return resolved, missing, ambiguous


# ---------------------------------------------------------------------------------------------
# Members
# ---------------------------------------------------------------------------------------------

def _superblock_uuid(examined: dict | None) -> str | None:
    uuid = (examined or {}).get("array_uuid")
    return uuid.lower() if uuid else None


def is_local(examined: dict) -> bool:
    """Whether mdadm called the superblock "local to host" (made for this host's HOMEHOST)."""
    fields = examined.get("fields") or {}
    return any("(local to host" in (fields.get(key) or "") for key in ("Name", "UUID"))


def member_entry(identity: dict, examined: dict | None, requested_as: str | None = None) -> dict:
    examined = examined or {}
    role = examined.get("role") or {}
    return {
        "device": identity["device"],
        "kernel_name": identity["kernel_name"],
        "serial": identity.get("serial"),
        "wwn": identity.get("wwn"),
        "stable_name": identity.get("stable_name"),
        "requested_as": requested_as,
        "array_uuid": _superblock_uuid(examined),
        "device_uuid": examined.get("device_uuid"),
        "role": role.get("kind"),
        "slot": role.get("slot"),
        "events": examined.get("events"),
        "state": examined.get("state"),
        "update_time": examined.get("update_time"),
        "superblock_array_state": examined.get("array_state"),
    }


def _describe(member: dict) -> str:
    name = member["serial"] or member["stable_name"]
    return "%s (%s)" % (member["device"], name) if name else member["device"]


def reshape_evidence(examined: dict) -> list[str]:
    """What in one superblock says a reshape is under way."""
    found = ["%s: %s" % (key, examined["fields"][key]) for key in _RESHAPE_FIELDS if (examined.get("fields") or {}).get(key)]
    feature_map = examined.get("feature_map") or ""
    try:
        if int(feature_map, 16) & _FEATURE_RESHAPE_ACTIVE:
            found.append("Feature Map %s has the reshape-active bit" % feature_map)
    except ValueError:
        pass
    if (examined.get("version") or "").startswith("0.91"):
        found.append("Version %s (0.90 metadata during a reshape)" % examined["version"])
    return found


def _slot_marks(examined: dict, slot: int) -> str | None:
    """How one superblock records slot SLOT: "missing", "failed", or None when present or unknown."""
    state = examined.get("array_state")
    if state and slot < len(state):
        return "missing" if state[slot] == "." else None
    for row in examined.get("devices") or []:
        if row.get("raid_device") == slot:
            words = set(row.get("state") or [])
            if "faulty" in words:
                return "failed"
            if "removed" in words:
                return "missing"
            return None
    return None


# ---------------------------------------------------------------------------------------------
# Can the set run?
# ---------------------------------------------------------------------------------------------

def _raid10_copies(layout: str | None) -> tuple[int, int] | None:
    """(copies, step) of a RAID10 layout as mdadm prints it ("near=2", "near=1, far=2", "offset=2")."""
    words = dict((name, int(value)) for name, value in _LAYOUT_WORD_RE.findall(layout or ""))
    if not words:
        return None
    near = words.get("near", 1)
    copies = near * max(words.get("far", 1), words.get("offset", 1))
    return (copies, near) if near >= 1 and copies >= 1 else None


def can_run(level: str | None, raid_devices: int | None, layout: str | None, clean: bool, present: set[int]) -> bool | None:
    """Whether md can start the array from the slots in PRESENT; None when this module cannot tell.

    Mirrors what mdadm checks before it starts an array: RAID0 and linear need every slot,
    RAID1 one, RAID4/5 all but one and RAID6 all but two (all, when not shut down cleanly), and
    RAID10 one device of every set of copies.
    """
    if not level or not raid_devices:
        return None
    filled = len(present)
    if level in ("raid0", "linear"):
        return filled == raid_devices
    if level == "raid1":
        return filled >= 1
    if level in ("raid4", "raid5", "raid6"):
        spare_slots = 1 if level != "raid6" else 2
        return filled == raid_devices or (clean and filled >= raid_devices - spare_slots)
    if level == "raid10":
        copies = _raid10_copies(layout)
        if copies is None:
            return None
        count, step = copies
        first = 0
        while True:
            if not any((first + offset) % raid_devices in present for offset in range(count)):
                return False
            first = (first + step) % raid_devices
            if first == 0:
                return True
    return None


# ---------------------------------------------------------------------------------------------
# Read-only assembly
# ---------------------------------------------------------------------------------------------

def _refusal(rule: str, detail: str) -> dict:
    return {"rule": rule, "detail": detail}


def _running_arrays_of(uuid: str | None, arrays: list[dict], examined: dict[str, dict]) -> list[dict]:
    """Running (or inactive, partly assembled) arrays whose members carry UUID."""
    if uuid is None:
        return []
    return [array for array in arrays
            if any(_superblock_uuid(examined.get("/dev/" + name)) == uuid for name in array.get("member_names", []))]


def _superblock_refusals(chosen: list[dict], examined: dict[str, dict], unreadable: dict[str, str]) -> list[dict]:
    refusals = []
    for member in chosen:
        device = member["device"]
        block = examined.get(device)
        if device in unreadable:
            refusals.append(_refusal("member_unreadable", "%s: %s" % (_describe(member), unreadable[device])))
        elif block is None or block.get("superblock") in (None, "mbr"):
            refusals.append(_refusal("no_superblock", "%s carries no md superblock" % _describe(member)))
        elif block.get("superblock") != "md":
            refusals.append(_refusal("unsupported_metadata", "%s carries %s metadata (%s)"
                                     % (_describe(member), block.get("superblock"), block.get("version") or "no version")))
    return refusals


def _uuid_refusals(members: list[dict], uuid: str | None) -> list[dict]:
    found = sorted({m["array_uuid"] for m in members})
    if len(found) > 1 or (uuid and found and found != [uuid]):
        return [_refusal("uuid_mismatch", "%s; chosen members: %s" % (
            "requested array %s" % uuid if uuid else "members of more than one array",
            ", ".join("%s is in %s" % (_describe(m), m["array_uuid"]) for m in members)))]
    return []


def _duplicate_refusals(members: list[dict]) -> list[dict]:
    by_uuid: dict[str, list[dict]] = {}
    for member in members:
        if member["device_uuid"]:
            by_uuid.setdefault(member["device_uuid"], []).append(member)
    return [_refusal("duplicate_device", "%s carry the same member superblock (Device UUID %s): overlapping partitions "
                     "or a copied disk; name one of them in members" % (" and ".join(_describe(m) for m in group), key))
            for key, group in sorted(by_uuid.items()) if len(group) > 1]


def _reshape_refusals(members: list[dict], examined: dict[str, dict]) -> list[dict]:
    refusals = []
    for member in members:
        evidence = reshape_evidence(examined[member["device"]])
        if evidence:
            refusals.append(_refusal("reshape_in_progress", "%s: %s; mdadm would restore the reshape's critical "
                                     "section and continue the reshape, writing to the members"
                                     % (_describe(member), "; ".join(evidence))))
    return refusals


def _event_refusals(active: list[dict], examined: dict[str, dict]) -> list[dict]:
    refusals = []
    counted = [m for m in active if m["events"] is not None]
    if counted and max(m["events"] for m in counted) - min(m["events"] for m in counted) > EVENT_MARGIN:
        refusals.append(_refusal("events_diverge", "event counts of the chosen members differ: %s; mdadm would leave "
                                 "the older ones out (or need --force, which this module never passes): choose members "
                                 "that agree" % ", ".join("%s events %d (updated %s)" % (
                                     _describe(m), m["events"], m["update_time"] or "unknown") for m in counted)))
    for member in active:
        for other in active:
            if other is member or other["slot"] is None:
                continue
            mark = _slot_marks(examined[member["device"]], other["slot"])
            if mark:
                refusals.append(_refusal("state_disagrees", "%s (events %s) records slot %d, held by %s (events %s), "
                                         "as %s: the two were active apart (split brain) or one was dropped"
                                         % (_describe(member), member["events"], other["slot"], _describe(other),
                                            other["events"], mark)))
    return refusals


def _newer_elsewhere(active: list[dict], others: list[dict], allow: bool) -> list[dict]:
    chosen_newest = max((m["events"] for m in active if m["events"] is not None), default=None)
    if chosen_newest is None:
        return []
    newer = [m for m in others if m["role"] == "active" and m["events"] is not None
             and m["events"] > chosen_newest + EVENT_MARGIN]
    if not newer or allow:
        return []
    return [_refusal("newer_members_elsewhere", "the chosen members (newest events %d) are older than %s of the same "
                     "array: they would show the array as it was before later writes; set allow_event_divergence to "
                     "assemble the older state on purpose" % (chosen_newest, ", ".join(
                         "%s (slot %s, events %d)" % (_describe(m), m["slot"], m["events"]) for m in newer)))]


def _slot_refusals(freshest: dict, active: list[dict], allow_degraded: bool) -> tuple[list[dict], bool | None]:
    """Refusals about missing slots, and whether the set is degraded."""
    raid_devices = freshest.get("raid_devices")
    level = freshest.get("level")
    if not raid_devices:
        return [], None
    present = {m["slot"] for m in active if m["slot"] is not None and m["slot"] < raid_devices}
    missing = sorted(set(range(raid_devices)) - present)
    if not missing:
        return [], False
    refusals = []
    clean = (freshest.get("state") or "").split(",")[0].strip() == "clean"
    runnable = can_run(level, raid_devices, freshest.get("layout"), clean, present)
    if runnable is False and level in ("raid4", "raid5", "raid6") and can_run(level, raid_devices, None, True, present):
        refusals.append(_refusal("dirty_degraded", "%s was not shut down cleanly (State: %s) and slot(s) %s are "
                                 "missing: md starts it only with --force, which this module never passes"
                                 % (level, freshest.get("state"), ", ".join(map(str, missing)))))
    elif runnable is False:
        refusals.append(_refusal("not_enough_to_run", "%s with %d raid devices cannot run from slot(s) %s alone "
                                 "(missing %s)" % (level, raid_devices, ", ".join(map(str, sorted(present))) or "none",
                                                   ", ".join(map(str, missing)))))
    if not allow_degraded:
        refusals.append(_refusal("incomplete", "slot(s) %s of %d have no chosen member: the array would run degraded; "
                                 "set allow_degraded to assemble it anyway" % (", ".join(map(str, missing)), raid_devices)))
    return refusals, True


def _use_refusals(members: list[dict], holders: dict[str, list[str] | None], mounts: dict[str, list[str]],
                  known_holders: set[str]) -> list[dict]:
    """Holders other than the array's own md device (already judged by _running_refusals), and mounts."""
    refusals = []
    for member in members:
        held = [h for h in (holders.get(member["kernel_name"]) or []) if h not in known_holders]
        if held:
            refusals.append(_refusal("member_in_use", "%s is held by %s" % (_describe(member), ", ".join(held))))
        if mounts.get(member["kernel_name"]):
            refusals.append(_refusal("member_in_use", "%s is mounted at %s"
                                     % (_describe(member), ", ".join(mounts[member["kernel_name"]]))))
    return refusals


def _write_protected_refusals(members: list[dict], read_only: dict[str, bool | None]) -> list[dict]:
    """Members the kernel marks read-only: md_import_device opens each member for writing and gets EROFS."""
    return [_refusal("member_write_protected", "%s is write-protected (/sys/class/block/%s/ro is 1): md would fail "
                     "with EROFS; make a copy-on-write overlay over it (lifeline.storage.overlay) and name the "
                     "overlay" % (_describe(member), member["kernel_name"]))
            for member in members if read_only.get(member["kernel_name"]) is True]


def _running_refusals(running: list[dict], chosen_names: set[str]) -> tuple[list[dict], dict | None]:
    """Refusals about the array already running, and the running array when it is exactly what was asked."""
    if not running:
        return [], None
    if len(running) == 1:
        array = running[0]
        if array.get("state") == "active" and set(array.get("member_names", [])) == chosen_names:
            if array.get("array_state") == "readonly":
                return [], array
            return [_refusal("already_active_read_write", "the array is running as /dev/%s from the chosen members "
                             "with array_state %s, not readonly; stop it first (state: stopped) if it must be "
                             "re-assembled read-only" % (array["name"], array.get("array_state") or "unknown"))], None
    refusals = []
    for array in running:
        if array.get("state") == "active" and array.get("array_state") != "readonly":
            rule = "already_active_read_write"
        else:
            rule = "already_active_other_members"
        refusals.append(_refusal(rule, "the array is already %s as /dev/%s (array_state %s) from %s; the request names %s"
                                 % ("running" if array.get("state") == "active" else "partly assembled (inactive)",
                                    array["name"], array.get("array_state") or "unknown",
                                    ", ".join(sorted(array.get("member_names", []))) or "no members",
                                    ", ".join(sorted(chosen_names)))))
    return refusals, None


def array_kernel_name(path: str, md_links: dict[str, str]) -> str | None:
    """The md kernel name PATH stands for now: /dev/mdN itself, /dev/md/NAME through its link."""
    if re.match(r"^/dev/md[0-9]+$", path):
        return path[len("/dev/"):]
    return md_links.get(path)


def _base_plan(request: dict) -> dict:
    return {"action": "refuse", "array": request.get("array"), "kernel_name": None, "uuid": request.get("uuid"),
            "level": None, "raid_devices": None, "metadata": None, "local": None, "degraded": None, "members": [],
            "other_members": [], "command": [], "refusals": []}


def plan_readonly(request: dict, identities: dict[str, dict], examined: dict[str, dict], unreadable: dict[str, str],
                  host: dict) -> dict:
    """Plan a read-only assembly.

    REQUEST: uuid (normalized or None), members (identities from resolve_members, or None to
    scan), array (path or None for the default), allow_degraded, allow_event_divergence.
    HOST: arrays (mdstat arrays with member_names, state, array_state), holders and mounts (by
    kernel name), md_links (/dev/md/NAME -> kernel name, as the links stand now), read_only
    (kernel name -> True when the kernel marks the device read-only).
    """
    plan = _base_plan(request)
    uuid = request.get("uuid")
    if request.get("members"):
        chosen = [member_entry(identity, examined.get(identity["device"]), identity.get("requested_as"))
                  for identity in request["members"]]
    else:
        chosen = [member_entry(identities[device[len("/dev/"):]], block) for device, block in sorted(examined.items())
                  if block.get("superblock") == "md" and _superblock_uuid(block) == uuid
                  and device[len("/dev/"):] in identities]
        if not chosen:
            plan["refusals"].append(_refusal("no_members_found", "no block device carries a superblock of array %s "
                                             "(%d devices examined%s)" % (uuid, len(examined) + len(unreadable),
                                                                          ", %d unreadable" % len(unreadable)
                                                                          if unreadable else "")))
            plan["array"] = request.get("array") or (default_array_path(uuid) if uuid else None)
            return plan
    plan["members"] = chosen
    refusals = _superblock_refusals(chosen, examined, unreadable)
    usable = [m for m in chosen if (examined.get(m["device"]) or {}).get("superblock") == "md"
              and m["device"] not in unreadable]
    uuid_refusals = _uuid_refusals(usable, uuid)
    refusals += uuid_refusals
    if uuid_refusals:
        # Slots, event counts and running arrays compare members of one array; with two there is nothing to compare.
        usable = []
    found_uuids = sorted({m["array_uuid"] for m in usable})
    uuid = uuid or (found_uuids[0] if len(found_uuids) == 1 else None)
    plan["uuid"] = uuid
    plan["array"] = request.get("array") or (default_array_path(uuid) if uuid else None)
    refusals += _duplicate_refusals(usable)
    refusals += _reshape_refusals(usable, examined)
    active = [m for m in usable if m["role"] == "active"]
    refusals += _event_refusals(active, examined)
    chosen_devices = {m["device"] for m in chosen}
    others = [member_entry(identities[device[len("/dev/"):]], block) for device, block in sorted(examined.items())
              if device not in chosen_devices and block.get("superblock") == "md" and uuid
              and _superblock_uuid(block) == uuid and device[len("/dev/"):] in identities]
    plan["other_members"] = others
    refusals += _newer_elsewhere(active, others, bool(request.get("allow_event_divergence")))
    if usable:
        freshest = examined[max(usable, key=lambda m: m["events"] if m["events"] is not None else -1)["device"]]
        plan.update(level=freshest.get("level"), raid_devices=freshest.get("raid_devices"),
                    metadata=freshest.get("version"), local=is_local(freshest))
        slot_refusals, degraded = _slot_refusals(freshest, active, bool(request.get("allow_degraded")))
        refusals += slot_refusals
        plan["degraded"] = degraded
    running_arrays = _running_arrays_of(uuid, host.get("arrays", []), examined)
    running_refusals, running = _running_refusals(running_arrays, {m["kernel_name"] for m in chosen})
    refusals += running_refusals
    refusals += _use_refusals(chosen, host.get("holders", {}), host.get("mounts", {}),
                              {array["name"] for array in running_arrays})
    if running is None:
        # An array already running read-only from these members needs no open of them.
        refusals += _write_protected_refusals(chosen, host.get("read_only", {}))
    owner = array_kernel_name(plan["array"], host.get("md_links", {})) if plan["array"] else None
    owners = [a for a in host.get("arrays", []) if a["name"] == owner]
    if owners and (running is None or owners[0]["name"] != running["name"]):
        refusals.append(_refusal("array_name_in_use", "%s is /dev/%s, already a %s array of other devices (%s)" % (
            plan["array"], owner, owners[0].get("state") or "known",
            ", ".join(sorted(owners[0].get("member_names", []))) or "no members")))
    plan["refusals"] = refusals
    if refusals:
        return plan
    if running is not None:
        plan.update(action="none", kernel_name=running["name"])
        return plan
    plan["action"] = "assemble"
    plan["command"] = assemble_arguments(plan["array"], uuid, [m["device"] for m in chosen], bool(plan["degraded"]))
    return plan


def assemble_arguments(array: str, uuid: str, devices: list[str], degraded: bool) -> list[str]:
    """mdadm's arguments for a read-only assembly of exactly DEVICES.

    --config=none: the command alone decides what is assembled; an mdadm.conf POLICY or ARRAY
    line cannot add or re-add devices. --uuid: mdadm itself skips any device of another array.
    --run only for a degraded set: without it mdadm leaves an incomplete array unstarted
    (mdadm(8), ASSEMBLE MODE).
    """
    return (["--assemble", "--readonly", "--config=none", array] + (["--run"] if degraded else [])
            + ["--uuid=" + uuid] + list(devices))


# ---------------------------------------------------------------------------------------------
# Stop
# ---------------------------------------------------------------------------------------------

def plan_stop(request: dict, kernel_name: str | None, host: dict, examined: dict[str, dict]) -> dict:
    """Plan `mdadm --stop` of the array KERNEL_NAME (None: the requested path names no array now).

    HOST: arrays, holders and mounts (for the array and its partitions: `partitions`), swaps.
    """
    plan = _base_plan(request)
    plan["array"] = request.get("array")
    arrays = {array["name"]: array for array in host.get("arrays", [])}
    array = arrays.get(kernel_name or "")
    if array is None:
        plan["action"] = "none"
        return plan
    plan["kernel_name"] = kernel_name
    members = []
    for name in array.get("member_names", []):
        identity = host.get("identities", {}).get(name) or {"device": "/dev/" + name, "kernel_name": name}
        members.append(member_entry(identity, examined.get("/dev/" + name)))
    plan["members"] = members
    uuids = sorted({m["array_uuid"] for m in members if m["array_uuid"]})
    plan["uuid"] = uuids[0] if len(uuids) == 1 else None
    blocks = [examined[m["device"]] for m in members if m["device"] in examined]
    if blocks:
        freshest = max(blocks, key=lambda b: b.get("events") or -1)
        plan.update(level=freshest.get("level"), raid_devices=freshest.get("raid_devices"), metadata=freshest.get("version"),
                    local=is_local(freshest))
    plan["level"] = array.get("level") or plan["level"]
    plan["raid_devices"] = array.get("raid_disks") or plan["raid_devices"]
    refusals = []
    if request.get("uuid") and plan["uuid"] != request["uuid"]:
        refusals.append(_refusal("uuid_mismatch", "%s is /dev/%s, whose members carry array UUID %s, not the requested %s"
                                 % (plan["array"], kernel_name, plan["uuid"] or "unknown", request["uuid"])))
    for name in [kernel_name] + list(host.get("partitions", [])):
        holders = host.get("holders", {}).get(name)
        if holders:
            refusals.append(_refusal("held", "/dev/%s is held by %s; release it first (unmount, vgchange -an, "
                                     "cryptsetup close)" % (name, ", ".join(holders))))
        if host.get("mounts", {}).get(name):
            refusals.append(_refusal("mounted", "/dev/%s is mounted at %s" % (name, ", ".join(host["mounts"][name]))))
        if name in host.get("swaps", []):
            refusals.append(_refusal("swap", "/dev/%s is in use as swap" % name))
    plan["refusals"] = refusals
    if not refusals:
        plan["action"] = "stop"
        plan["command"] = ["--stop", "/dev/" + kernel_name]
    return plan


def refusal_message(verb: str, refusals: list[dict]) -> str:
    """The failure message: one line per refusal, naming its rule."""
    return "refusing to %s (%d rule%s fired):\n%s" % (verb, len(refusals), "" if len(refusals) == 1 else "s",
                                                      "\n".join("%s: %s" % (r["rule"], r["detail"]) for r in refusals))
