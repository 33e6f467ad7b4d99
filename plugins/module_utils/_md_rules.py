# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: findings for the md subset, from gathered facts only.

Pure: takes the lifeline_md facts and returns findings. Each code is documented in
docs/findings.md; the wording says what an operator should and should not do next.
"""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._findings import make_finding, sort_findings

REDUNDANT_LEVELS = ("raid1", "raid4", "raid5", "raid6", "raid10")
MIRRORED_LEVELS = ("raid1", "raid10")
# Operations during which reads may come from a copy that is not yet correct.
_REBUILDING_ACTIONS = ("resync", "recover", "reshape")
_SCRUB_ACTIONS = ("check", "repair")


def _who(device: dict) -> dict:
    return {key: device.get(key) for key in ("device", "serial", "wwn", "stable_name")}


def _degraded(array: dict) -> list[dict]:
    degraded = array.get("degraded") or 0
    if not (array.get("missing_slots") or degraded > 0):
        return []
    survivors = [_who(m) for m in array["members"] if m["role"] in ("active", "rebuilding")]
    return [make_finding(
        "MD_ARRAY_DEGRADED", "critical", array["device"],
        "%s (%s) is running without %d of its %s members; surviving members: %s. Do not re-add a "
        "member that dropped out before comparing its event count and contents."
        % (array["device"], array.get("level"), max(degraded, len(array.get("missing_slots") or [])),
           array.get("raid_disks"), ", ".join(m["serial"] or m["device"] for m in survivors) or "none"),
        {"missing_slots": array.get("missing_slots"), "degraded": array.get("degraded"),
         "raid_disks": array.get("raid_disks"), "member_status": array.get("member_status"),
         "surviving_members": survivors})]


def _sync(array: dict) -> list[dict]:
    sync = array.get("sync") or {}
    action = sync.get("action")
    evidence = {key: sync.get(key) for key in ("action", "percent", "speed_kib_s", "finish_minutes", "pending")}
    if action in _REBUILDING_ACTIONS:
        percent = "%.1f%%" % sync["percent"] if sync.get("percent") is not None else "unknown progress"
        return [make_finding(
            "MD_SYNC_IN_PROGRESS", "warning", array["device"],
            "%s is running %s (%s): until it finishes, reads may come from a copy that is not yet "
            "correct. Do not run fsck, file system repairs or member changes now." % (array["device"], action, percent),
            evidence)]
    if action in _SCRUB_ACTIONS:
        return [make_finding(
            "MD_SYNC_IN_PROGRESS", "info", array["device"],
            "%s is running a %s scrub." % (array["device"], action), evidence)]
    if sync.get("pending"):
        return [make_finding(
            "MD_SYNC_PENDING", "warning", array["device"],
            "%s has a resync waiting (%s); it starts on the first write or when the array ahead of it finishes."
            % (array["device"], sync["pending"]), evidence)]
    return []


def _faulty(array: dict) -> list[dict]:
    return [make_finding(
        "MD_MEMBER_FAULTY", "critical", array["device"],
        "%s has marked %s (%s) faulty; it no longer receives writes." % (array["device"], m["device"], m["serial"] or "serial unknown"),
        {"member": _who(m), "state": m.get("state")})
        for m in array["members"] if m["role"] == "faulty"]


def _events(array: dict, outsiders: list[dict]) -> list[dict]:
    """Every device that carries this array's superblock should have one event count."""
    carriers = [m for m in array["members"] if m["role"] != "faulty" and m.get("events") is not None]
    carriers += [d for d in outsiders if d.get("events") is not None]
    counts = {d["events"] for d in carriers}
    if len(counts) < 2:
        return []
    newest = max(counts)
    stale = [d for d in carriers if d["events"] < newest]
    return [make_finding(
        "MD_EVENTS_DIVERGE", "critical", array["device"],
        "Devices carrying %s's superblock disagree on the event count (newest %d); stale: %s. A stale "
        "member holds old data: never add it back without a full resync, and never assemble from it."
        % (array["device"], newest, ", ".join("%s (%s) at %d" % (d["device"], d.get("serial") or "serial unknown", d["events"]) for d in stale)),
        {"events": {d["device"]: d["events"] for d in carriers}, "stale": [_who(d) for d in stale], "newest": newest})]


def _mismatch(array: dict) -> dict:
    """mismatch_cnt > 0: on a mirror, how to find the member that disagrees, and why not to repair."""
    device, count = array["device"], array["mismatch_cnt"]
    members = sorted((m for m in array["members"] if m["role"] in ("active", "rebuilding")),
                     key=lambda m: (m.get("slot") is None, m.get("slot") or 0))
    evidence = {"mismatch_cnt": count, "level": array.get("level"),
                "members": [dict(_who(m), slot=m.get("slot")) for m in members]}
    if array.get("level") not in MIRRORED_LEVELS:
        return make_finding(
            "MD_MISMATCH_CNT", "warning", device,
            "%s found %d sectors whose parity does not match the data during its last check. A repair "
            "rewrites the parity from the data blocks, which is right only when the data blocks are." % (device, count),
            evidence)
    named = ", ".join("%s (slot %s)" % (m.get("serial") or m["device"], m.get("slot")) for m in members) or "none active"
    scope = "all members of the mirror" if array.get("level") == "raid1" else "the members of each mirror set"
    return make_finding(
        "MD_MISMATCH_CNT", "warning", device,
        "%s found %d sectors whose copies differ during its last check. On RAID1/10 holding swap this can be "
        "harmless; otherwise a member holds other data than the rest, and md does not say which. To find it, stop "
        "writes to the array (unmount it, or stop it) and run lifeline.storage.mirror_compare over %s (%s): with "
        "three or more members it names, per region, the member that disagrees with the others. Do not run a "
        "repair to settle it: md's repair copies, block by block, the first member that reads successfully (in "
        "slot order) over the others without a vote, so it can spread the stale copy." % (device, count, scope, named),
        evidence)


def _array_findings(array: dict, outsiders: list[dict]) -> list[dict]:
    device = array["device"]
    findings: list[dict] = []
    if array.get("state") == "inactive":
        findings.append(make_finding(
            "MD_ARRAY_INACTIVE", "critical", device,
            "%s is assembled but inactive: its members are claimed but no data is served. Compare "
            "members' event counts before starting it." % device,
            {"members": [_who(m) for m in array["members"]]}))
        return findings
    findings += _degraded(array)
    findings += _sync(array)
    findings += _faulty(array)
    findings += _events(array, outsiders)
    if (array.get("mismatch_cnt") or 0) > 0:
        findings.append(_mismatch(array))
    if array.get("level") in REDUNDANT_LEVELS and (array.get("bitmap") or {}).get("present") is False:
        findings.append(make_finding(
            "MD_NO_BITMAP", "warning", device,
            "%s has no write-intent bitmap: after a crash or power cut the whole array resyncs, and "
            "reads may come from either copy until it finishes." % device,
            {"level": array.get("level"), "size_bytes": array.get("size_bytes")}))
    if array.get("read_only"):
        severity = "info" if array["read_only"] == "auto-read-only" else "warning"
        findings.append(make_finding(
            "MD_READ_ONLY", severity, device,
            "%s is %s%s." % (device, array["read_only"],
                             ": the first write switches it to read-write and starts any pending resync"
                             if array["read_only"] == "auto-read-only" else ": writes to it fail"),
            {"read_only": array["read_only"], "array_state": array.get("array_state")}))
    if outsiders:
        named = ", ".join("%s (%s)" % (d["device"], d.get("serial") or "serial unknown") for d in outsiders)
        findings.append(make_finding(
            "MD_SUPERBLOCK_OUTSIDE_ARRAY", "warning", device,
            "%s %s the superblock of running array %s but %s not a member. Do not add it back without "
            "comparing event counts and contents." % (named, "carries" if len(outsiders) == 1 else "carry",
                                                      device, "is" if len(outsiders) == 1 else "are"),
            {"devices": [dict(_who(d), events=d.get("events")) for d in outsiders]}))
    return findings


def md_findings(facts: dict) -> list[dict]:
    """All md findings for one host, worst first."""
    findings: list[dict] = []
    if facts.get("error"):
        findings.append(make_finding("MD_SUBSET_INCOMPLETE", "warning", "md", facts["error"], {}))
    groups_by_array = {group["assembled_as"]: group for group in facts.get("stray_superblocks", []) if group.get("assembled_as")}
    for array in facts.get("arrays", []):
        outsiders = groups_by_array.get(array["name"], {}).get("devices", [])
        findings += _array_findings(array, outsiders)
    for group in facts.get("stray_superblocks", []):
        if group.get("assembled_as"):
            continue
        devices = group["devices"]
        events = {d["device"]: d.get("events") for d in devices}
        findings.append(make_finding(
            "MD_ARRAY_NOT_ASSEMBLED", "warning", group.get("array_uuid") or "unknown array",
            "Superblocks of array %s (%s, %s) are on %s, but it is not assembled. Compare the event counts, "
            "then assemble it read-only (mdadm --assemble --readonly) before anything else touches these devices."
            % (group.get("array_name") or group.get("array_uuid"), group.get("level"), group.get("array_uuid"),
               ", ".join("%s (%s)" % (d["device"], d.get("serial") or "serial unknown") for d in devices)),
            {"array_uuid": group.get("array_uuid"), "devices": [_who(d) for d in devices], "events": events}))
        if len({e for e in events.values() if e is not None}) > 1:
            newest = max(e for e in events.values() if e is not None)
            findings.append(make_finding(
                "MD_EVENTS_DIVERGE", "critical", group.get("array_uuid") or "unknown array",
                "Members of the unassembled array %s disagree on the event count (newest %d): assembling "
                "from the stale ones would serve old data." % (group.get("array_uuid"), newest),
                {"events": events, "newest": newest}))
    for item in facts.get("unreadable", []):
        findings.append(make_finding(
            "MD_DEVICE_UNREADABLE", "warning", item["device"],
            "%s could not be examined for an md superblock: %s" % (item["device"], item["reason"]), dict(item)))
    return sort_findings(findings)
