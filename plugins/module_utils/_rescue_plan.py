# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the read-only rescue's choices, from facts alone.

Which stopped array to rescue, which of its members mirror each other, and which member of
each mirror set to assemble from: the freshest (highest event count of the whole array, so the
chosen members agree in time), and among those the healthiest by SMART. Every choice carries the
reason an operator reads in the report; every choice can be overridden. Nothing here runs a
command.
"""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._smart_health import explain_order, rank_key

# Why a device the kernel marks read-only cannot be a member, even of an array assembled read-only.
MD_WRITES_TO_MEMBERS = "md opens members for writing even to assemble read-only"


class PlanError(ValueError):
    """The facts do not allow a safe choice; the message says why and what to set."""


MIRRORED_LEVELS = ("raid1", "raid10")


def _names(entry: dict) -> set[str]:
    return {name for name in [entry.get("device"), entry.get("kernel_name"), entry.get("serial"), entry.get("wwn"),
                              entry.get("stable_name")] + list(entry.get("by_id") or []) if name}


def _label(entry: dict) -> str:
    # An overlay has no serial of its own; its by-id name (dm-name-...) says what it is.
    return "%s (%s)" % (entry.get("serial") or entry.get("stable_name") or "serial unknown", entry.get("device"))


def _normal_uuid(uuid: str | None) -> str | None:
    if not uuid:
        return None
    digits = uuid.replace(":", "").replace("-", "").lower()
    return ":".join(digits[start:start + 8] for start in range(0, 32, 8)) if len(digits) == 32 else uuid.lower()


def find_array(md_facts: dict, uuid: str | None) -> dict:
    """The superblock group of the array to rescue: the one with UUID, or the only stopped one."""
    groups = [group for group in md_facts.get("stray_superblocks") or [] if group.get("array_uuid")]
    wanted = _normal_uuid(uuid)
    if wanted:
        matches = [group for group in groups if _normal_uuid(group["array_uuid"]) == wanted]
        running = [array for array in md_facts.get("arrays") or [] if _normal_uuid(array.get("uuid")) == wanted]
        assembled_as = (matches[0].get("assembled_as") if matches else None) or (running[0].get("name") if running else None)
        if assembled_as:
            raise PlanError("array %s is running as %s; the rescue assembles a stopped array. Stop it first "
                            "(lifeline.storage.md_assemble state=stopped) if that is what you want" % (uuid, assembled_as))
        if not matches:
            raise PlanError("no md superblock on this host carries array UUID %s; arrays found: %s"
                            % (uuid, ", ".join(group["array_uuid"] for group in groups) or "none"))
        return matches[0]
    stopped = [group for group in groups if not group.get("assembled_as")]
    if len(stopped) != 1:
        listed = ["%s %s %s on %s" % (group["array_uuid"], group.get("array_name") or "", group.get("level"),
                                      ", ".join(_label(entry) for entry in group["devices"])) for group in stopped]
        raise PlanError("set rescue_array_uuid: %s stopped arrays on this host (%s)" % (len(stopped), "; ".join(listed) or "none"))
    return stopped[0]


def _near_copies(layout: str | None) -> int | None:
    """Copies of a RAID10 near layout (near=2 -> 2), None for far/offset layouts or unknown."""
    if not layout:
        return None
    parts = dict(part.split("=", 1) for part in layout.replace(",", " ").split() if "=" in part)
    if set(parts) != {"near"}:
        return None
    try:
        return int(parts["near"])
    except ValueError:
        return None


def _resolve(devices: list[dict], name: str) -> dict:
    matches = [entry for entry in devices if name in _names(entry)]
    if not matches:
        raise PlanError("%s is not a device of this array (its devices: %s)" % (name, ", ".join(_label(d) for d in devices)))
    return matches[0]


def mirror_sets(group: dict, pairs: list[list[str]] | None = None) -> list[dict]:
    """The array's devices grouped into mirror sets: [{slots, devices, source}]."""
    devices = [entry for entry in group["devices"] if entry.get("role") not in ("spare", "faulty")]
    if pairs:
        return [{"slots": None, "devices": [_resolve(group["devices"], name) for name in names], "source": "set in rescue_pairs"}
                for names in pairs]
    level = (group.get("level") or "").lower()
    raid_devices = group.get("raid_devices")
    if level not in MIRRORED_LEVELS:
        raise PlanError("array %s is %s; the rescue handles mirrored arrays (raid1, raid10 with a near layout)"
                        % (group["array_uuid"], level or "of unknown level"))
    if level == "raid1":
        return [{"slots": list(range(raid_devices or 0)), "devices": devices, "source": "raid1: every member mirrors every other"}]
    copies = _near_copies(group.get("layout"))
    if not copies or not raid_devices or raid_devices % copies:
        raise PlanError("raid10 layout %s over %s devices: mirror sets cannot be read from the slots; name them in "
                        "rescue_pairs (mirror_compare shows which devices hold the same data)" % (group.get("layout"), raid_devices))
    sets = []
    for first in range(0, raid_devices, copies):
        slots = list(range(first, first + copies))
        sets.append({"slots": slots, "devices": [entry for entry in devices if entry.get("slot") in slots],
                     "source": "raid10 %s: slots %s hold the same data" % (group["layout"], " and ".join(map(str, slots)))})
    return sets


def _smart_entry(smart_disks: list[dict], entry: dict) -> dict:
    for disk in smart_disks:
        if entry.get("serial") and disk.get("serial") == entry.get("serial"):
            return disk
    return {"serial": entry.get("serial"), "device": entry.get("device"), "health": {"status": "unknown", "score": None, "reasons": []}}


def choose(mirror_set: dict, newest_events: int | None, smart_disks: list[dict]) -> tuple[dict, str]:
    """The member to assemble from, and why: fresh (the array's newest event count) first, then SMART."""
    candidates = mirror_set["devices"]
    if not candidates:
        raise PlanError("no device of slots %s was found: the data of that mirror set is not on this host"
                        % ", ".join(map(str, mirror_set["slots"] or [])))
    # md opens members for writing even to assemble read-only: a device the kernel marks read-only
    # (an imported iSCSI disk after blockdev --setro) fails with EROFS. An overlay over it can be used.
    protected = [entry for entry in candidates if entry.get("read_only") is True]
    if len(protected) == len(candidates):
        raise PlanError("every device of slots %s is write-protected (%s), and %s; make a copy-on-write overlay over "
                        "each (lifeline.storage.overlay, or import_overlay_directory on a helper) and run again"
                        % (", ".join(map(str, mirror_set["slots"] or [])), ", ".join(_label(e) for e in protected),
                           MD_WRITES_TO_MEMBERS))
    candidates = [entry for entry in candidates if entry not in protected]
    fresh = [entry for entry in candidates if entry.get("events") is not None and entry.get("events") == newest_events]
    stale = [entry for entry in candidates if entry not in fresh]
    if not fresh:
        seen = ", ".join("%s at %s" % (_label(entry), entry.get("events")) for entry in candidates)
        raise PlanError("no member of slots %s has the array's newest event count %s (%s): assembling them would mix "
                        "data written at different times; choose explicitly with rescue_members and "
                        "rescue_allow_event_divergence" % (", ".join(map(str, mirror_set["slots"] or [])), newest_events, seen))
    ranked = sorted(fresh, key=lambda entry: rank_key(_smart_entry(smart_disks, entry)))
    best = ranked[0]
    reasons = []
    if len(ranked) > 1:
        reasons.append(explain_order(_smart_entry(smart_disks, best), _smart_entry(smart_disks, ranked[1])))
    else:
        reasons.append("the only member of this mirror set with the newest events (%s)" % newest_events)
    for entry in stale:
        reasons.append("%s is stale (events %s, newest %s)" % (_label(entry), entry.get("events"), newest_events))
    for entry in protected:
        reasons.append("%s is write-protected, which md cannot assemble from" % _label(entry))
    return best, "; ".join(reasons)


def _rescued(md_facts: dict, uuid: str | None) -> dict | None:
    """The array a previous rescue run assembled: read-only, with UUID or, without one, the only such array."""
    readonly = [array for array in md_facts.get("arrays") or [] if array.get("array_state") == "readonly"]
    if uuid:
        return next((array for array in readonly if _normal_uuid(array.get("uuid")) == _normal_uuid(uuid)), None)
    stopped = [group for group in md_facts.get("stray_superblocks") or [] if group.get("array_uuid") and not group.get("assembled_as")]
    return readonly[0] if len(readonly) == 1 and not stopped else None


def _already_assembled(md_facts: dict, array: dict) -> dict:
    """The plan of a run that finds the rescue done: the members stay as they are."""
    members = array.get("members") or []
    strays = [group for group in md_facts.get("stray_superblocks") or []
              if _normal_uuid(group.get("array_uuid")) == _normal_uuid(array.get("uuid"))]
    return {
        "array_uuid": array.get("uuid"), "array_name": array.get("array_name"), "level": array.get("level"),
        "layout": None, "raid_devices": array.get("raid_disks"),
        "newest_events": max((m.get("events") for m in members if m.get("events") is not None), default=None),
        "already_assembled": array.get("device"), "mirror_sets": [],
        "members": [member.get("stable_name") or member["device"] for member in members],
        "left_untouched": [_label(entry) for group in strays for entry in group["devices"]],
    }


def plan(md_facts: dict, smart_facts: dict | None, uuid: str | None = None, pairs: list[list[str]] | None = None,
         members: list[str] | None = None) -> dict:
    """{array_uuid, level, layout, raid_devices, mirror_sets: [{slots, devices, source, chosen, reason}], members}.

    MEMBERS (names) replaces the choice; PAIRS (lists of names) replaces the mirror sets.
    members in the result are names for md_assemble: the stable by-id path when there is one.
    already_assembled names the device when a previous run assembled the array read-only; the
    plan then keeps its members.
    """
    rescued = _rescued(md_facts, uuid)
    if rescued is not None:
        return _already_assembled(md_facts, rescued)
    group = find_array(md_facts, uuid)
    smart_disks = (smart_facts or {}).get("disks") or []
    sets = mirror_sets(group, pairs)
    newest = max((entry.get("events") for entry in group["devices"] if entry.get("events") is not None), default=None)
    chosen_by_operator = [_resolve(group["devices"], name) for name in members] if members else None
    protected = [entry for entry in chosen_by_operator or [] if entry.get("read_only") is True]
    if protected:
        raise PlanError("rescue_members names write-protected devices (%s), and %s; name a copy-on-write overlay "
                        "over each instead (lifeline.storage.overlay)"
                        % (", ".join(_label(entry) for entry in protected), MD_WRITES_TO_MEMBERS))
    described = []
    for mirror_set in sets:
        if chosen_by_operator is not None:
            picked = [entry for entry in chosen_by_operator if entry in mirror_set["devices"]]
            best, reason = (picked[0], "set in rescue_members") if picked else (None, "no member chosen in rescue_members")
        else:
            best, reason = choose(mirror_set, newest, smart_disks)
        described.append({
            "slots": mirror_set["slots"], "source": mirror_set["source"],
            "devices": [{"device": e["device"], "serial": e.get("serial"), "stable_name": e.get("stable_name"),
                         "slot": e.get("slot"), "events": e.get("events"), "read_only": e.get("read_only")}
                        for e in mirror_set["devices"]],
            "chosen": best["device"] if best else None, "reason": reason,
        })
    chosen = chosen_by_operator if chosen_by_operator is not None else [
        next(e for e in group["devices"] if e["device"] == item["chosen"]) for item in described]
    return {
        "array_uuid": group["array_uuid"], "array_name": group.get("array_name"), "level": group.get("level"),
        "layout": group.get("layout"), "raid_devices": group.get("raid_devices"), "newest_events": newest,
        "already_assembled": None, "mirror_sets": described,
        "members": [entry.get("stable_name") or entry["device"] for entry in chosen],
        "left_untouched": [_label(entry) for entry in group["devices"] if entry not in chosen],
    }
