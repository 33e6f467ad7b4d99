# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the plan of an LVM metadata restore from a snapshot.

Pure functions over three inputs: the VG's metadata (parsed from the snapshot's copy), the
snapshot's disk map (serial -> kernel name -> md slot -> PV, as the host was), and the host's
storage facts now. Each PV's device is found by the serials the snapshot recorded, never by a
by-id link alone: an installer that re-created an array gives it a new UUID and often a new
name, but its members are the same disks.
"""

from __future__ import annotations

import re
import shlex

ACTIVATE_MODES = ("readonly", "readwrite", "none")
HEAD_BYTES = 1024 * 1024
# Signature types that are the PV label itself; anything else on the device is data of some kind.
_LVM_LABEL = "LVM2_member"


class RestoreRefused(Exception):
    """The restore cannot be planned; the message names the thing and what to do."""


def lvm_options(vg: str, activate: str) -> list[str]:
    """LVM must see PVs a devices file hides, must not rewrite /etc/lvm/backup behind the restore,
    and with activate=readonly maps every LV of VG read-only."""
    config = "backup { backup = 0 archive = 0 }"
    if activate == "readonly":
        config += ' activation { read_only_volume_list = [ "%s" ] }' % vg
    return ["--devicesfile", "", "--config", config]


def _partition_number(entry: dict, parent_name: str) -> int | None:
    match = re.fullmatch(re.escape(parent_name) + r"p?(\d+)", entry["kernel_name"])
    return int(match.group(1)) if match else None


def _member_key(entry: dict, by_name: dict[str, dict]) -> tuple[str, int | None] | None:
    """(disk serial, partition number or None) of a disk-map or facts entry; None without a serial."""
    if entry.get("type") == "part":
        parent = by_name.get(entry.get("disk") or "") or next(
            (other for name, other in by_name.items()
             if other.get("type") == "disk" and entry["kernel_name"].startswith(name) and name != entry["kernel_name"]), None)
        if parent is None or not parent.get("serial"):
            return None
        number = _partition_number(entry, parent["kernel_name"])
        return (parent["serial"], number) if number is not None else None
    return (entry["serial"], None) if entry.get("serial") else None


def _describe_key(key: tuple[str, int | None]) -> str:
    return key[0] if key[1] is None else "%s partition %d" % key


def recorded_source(disk_map: list[dict], pv_uuid: str) -> dict | None:
    """What the snapshot says the PV sat on: the disk-map entry and, for an md array, its members' keys."""
    by_name = {entry["kernel_name"]: entry for entry in disk_map}
    entry = next((entry for entry in disk_map if (entry.get("lvm_pv") or {}).get("uuid") == pv_uuid), None)
    if entry is None:
        return None
    members = [other for other in disk_map
               if any(slot.get("array") == entry["kernel_name"] for slot in other.get("md_slots") or [])]
    keys = [_member_key(member, by_name) for member in members]
    array_uuids = sorted({slot.get("array_uuid") for member in members for slot in member.get("md_slots") or []
                          if slot.get("array") == entry["kernel_name"] and slot.get("array_uuid")})
    return {
        "entry": entry,
        "is_md": bool(members) or (entry.get("type") or "").startswith("raid"),
        "array_uuid": array_uuids[0] if len(array_uuids) == 1 else None,
        "member_keys": sorted({key for key in keys if key is not None}),
        "members_without_serial": [member["device"] for member, key in zip(members, keys) if key is None],
        "key": _member_key(entry, by_name),
    }


class HostNow:
    """The host's block devices, md arrays and LVM as storage_facts reports them now."""

    def __init__(self, facts: dict) -> None:
        self.devices = facts.get("lifeline_disks", {}).get("devices", [])
        self.by_name = {device["kernel_name"]: device for device in self.devices}
        self.by_path = {device["device"]: device for device in self.devices}
        self.arrays = facts.get("lifeline_md", {}).get("arrays", [])
        lvm = facts.get("lifeline_lvm", {})
        self.pvs = {pv.get("name"): pv for pv in lvm.get("pvs", []) if pv.get("name")}
        self.vgs = {vg.get("name"): vg for vg in lvm.get("vgs", []) if vg.get("name")}
        self.lvs = lvm.get("lvs", [])

    def key_of(self, device: dict) -> tuple[str, int | None] | None:
        return _member_key(device, self.by_name)

    def find(self, path: str) -> dict | None:
        """The device at PATH: a /dev name, or any of its /dev/disk/by-id links."""
        return self.by_path.get(path) or next((device for device in self.devices if path in (device.get("by_id") or [])), None)

    def array_keys(self, array: dict) -> set[tuple[str, int | None]]:
        keys = set()
        for member in array.get("members", []):
            device = self.by_name.get(member.get("kernel_name") or "")
            key = self.key_of(device) if device else None
            if key:
                keys.add(key)
        return keys

    def lv_count(self, vg_name: str | None) -> int:
        return sum(1 for lv in self.lvs if lv.get("vg_name") == vg_name) if vg_name else 0


def _array_label(array: dict) -> str:
    return "%s (name %s, uuid %s)" % (array.get("device"), array.get("array_name") or "unknown", array.get("uuid") or "unknown")


def resolve_device(source: dict, host: HostNow) -> tuple[str, str]:
    """(device, how it was found) for a PV the snapshot recorded; raises RestoreRefused."""
    entry = source["entry"]
    recorded = "%s (%s)" % (entry["device"], entry.get("stable_name") or "no stable name")
    if source["is_md"]:
        wanted = set(source["member_keys"])
        if not wanted:
            raise RestoreRefused("the snapshot recorded no member serials for the array %s that held the PV; "
                                 "name its device in restore_devices" % recorded)
        candidates = [(len(host.array_keys(array) & wanted), array) for array in host.arrays
                      if host.array_keys(array) and host.array_keys(array) <= wanted]
        if not candidates:
            raise RestoreRefused(
                "no md array is assembled now from the members the snapshot recorded for %s (%s); assemble it "
                "(lifeline.storage.md_assemble) or name its device in restore_devices"
                % (recorded, ", ".join(_describe_key(key) for key in sorted(wanted))))
        best = max(count for count, _array in candidates)
        chosen = [array for count, array in candidates if count == best]
        if len(chosen) > 1:
            raise RestoreRefused("md arrays %s are each assembled from members the snapshot recorded for %s; name the "
                                 "device in restore_devices" % (", ".join(array["device"] for array in chosen), recorded))
        array = chosen[0]
        used = sorted(host.array_keys(array))
        how = ("md array %s, assembled now from %d of the %d members the snapshot recorded (%s); the snapshot had it as %s"
               % (_array_label(array), len(used), len(wanted), ", ".join(_describe_key(key) for key in used), recorded))
        return array["device"], how
    key = source["key"]
    if key is None:
        raise RestoreRefused("the snapshot recorded no serial for %s, which held the PV; name its device in restore_devices"
                             % recorded)
    matches = [device for device in host.devices if host.key_of(device) == key and device.get("type") in ("disk", "part")]
    if len(matches) != 1:
        raise RestoreRefused("%s devices now have the serial%s the snapshot recorded for %s (%s); name the device in "
                             "restore_devices" % ("No" if not matches else "Several", "" if key[1] is None else " and partition",
                                                  recorded, _describe_key(key)))
    return matches[0]["device"], "%s, by serial %s; the snapshot had it as %s" % (matches[0]["device"], _describe_key(key), recorded)


def device_contents(device_path: str, host: HostNow) -> dict:
    """What the device holds now: a kind, the evidence, and whether a PV label may be written over it."""
    device = host.find(device_path)
    if device is None:
        return {"kind": "unknown", "detail": "storage_facts does not list %s now" % device_path, "evidence": {}}
    signatures = [signature for signature in device.get("signatures") or [] if signature.get("type")]
    pv = host.pvs.get(device["device"])
    evidence = {"signatures": signatures, "holders": device.get("holders") or [], "mountpoints": device.get("mountpoints") or [],
                "pv_uuid": pv.get("uuid") if pv else None, "vg": pv.get("vg_name") if pv else None}
    others = sorted({signature["type"] for signature in signatures if signature["type"] != _LVM_LABEL})
    if pv is None and not signatures:
        return {"kind": "empty", "detail": "no signature", "evidence": evidence}
    if pv is not None and not others and not pv.get("vg_name"):
        return {"kind": "pv", "detail": "a PV label with UUID %s and no VG" % pv.get("uuid"), "evidence": evidence}
    if pv is not None and not others:
        return {"kind": "vg", "detail": "a PV label with UUID %s in VG %s with %d LVs"
                % (pv.get("uuid"), pv.get("vg_name"), host.lv_count(pv.get("vg_name"))), "evidence": evidence}
    if pv is None and not others:
        return {"kind": "pv", "detail": "an LVM label LVM does not list", "evidence": evidence}
    return {"kind": "data", "detail": "%s signature%s" % (", ".join(others), "s" if len(others) > 1 else ""), "evidence": evidence}


def _step(action: str, argv: list[str], why: str, **extra) -> dict:
    return dict(action=action, argv=argv, command=shlex.join(argv), why=why, **extra)


def plan_restore(metadata: dict, disk_map: list[dict], facts: dict, options: dict) -> dict:
    """PVs with their devices and contents, the steps in order, and why any PV is refused.

    OPTIONS: vg, devices (PV UUID -> device), activate, overwrite_devices, restore_file, save_dir, stamp.
    """
    vg = options["vg"]
    host = HostNow(facts)
    lvm_args = lvm_options(vg, options["activate"])
    overrides = options.get("devices") or {}
    unknown = sorted(set(overrides) - {pv["uuid"] for pv in metadata["pvs"]})
    if unknown:
        raise RestoreRefused("restore_devices names PV UUIDs the snapshot's metadata of %s does not hold: %s"
                             % (vg, ", ".join(unknown)))
    present = host.vgs.get(vg)
    if present is not None and not present.get("missing_pv_count") and not present.get("partial"):
        raise RestoreRefused("volume group %s is present and complete on the host: there is nothing to restore, and restoring "
                             "older metadata over it would roll its LVs back" % vg)
    pvs, refusals, label_steps = [], [], []
    for recorded in metadata["pvs"]:
        uuid = recorded["uuid"]
        pv = {"uuid": uuid, "device": None, "found_by": None, "holds": None, "action": None, "recorded_array_uuid": None}
        pvs.append(pv)
        source = recorded_source(disk_map, uuid)
        if source is not None and source["is_md"]:
            # The array the PV sat on at snapshot time: its recorded geometry can be checked against the one now.
            pv["recorded_array_uuid"] = source["array_uuid"]
        try:
            if uuid in overrides:
                pv["device"], pv["found_by"] = overrides[uuid], "named by restore_devices"
            else:
                if source is None:
                    raise RestoreRefused("the snapshot's disk map has no device with PV %s; name it in restore_devices" % uuid)
                pv["device"], pv["found_by"] = resolve_device(source, host)
        except RestoreRefused as refused:
            pv["action"] = "refused"
            refusals.append("PV %s: %s" % (uuid, refused))
            continue
        contents = device_contents(pv["device"], host)
        pv["holds"] = contents
        refusal = _label_refusal(pv, contents, options.get("overwrite_devices") or [])
        if refusal:
            pv["action"] = "refused"
            refusals.append("PV %s on %s: %s" % (uuid, pv["device"], refusal))
            continue
        if contents["kind"] == "pv" and contents["evidence"]["pv_uuid"] == uuid:
            pv["action"] = "keep its label (already the snapshot's PV)"
            continue
        pvcreate = ["lvm", "pvcreate", "--restorefile", options["restore_file"], "--uuid", uuid]
        if contents["kind"] != "empty":
            save = "%s/%s-%s-%s.head" % (options["save_dir"], options["stamp"], uuid, pv["device"].strip("/").replace("/", "_"))
            pv["saved_head"] = save
            label_steps.append(_step("save_head", ["dd", "if=" + pv["device"], "of=" + save, "bs=1M", "count=1", "iflag=direct"],
                                     "keep the first MiB of %s (%s) before its label is replaced" % (pv["device"], contents["detail"]),
                                     device=pv["device"], path=save))
            pvcreate += ["-ff", "-y"]
        pv["action"] = "write the snapshot's PV label" + (" over " + contents["detail"] if contents["kind"] != "empty" else "")
        label_steps.append(_step("run", pvcreate + [pv["device"]] + lvm_args, "write PV %s's label on %s" % (uuid, pv["device"])))
    steps = label_steps + [
        _step("run", ["lvm", "vgcfgrestore", "-f", options["restore_file"], vg] + lvm_args,
              "restore %s's metadata (seqno %s)" % (vg, metadata.get("seqno"))),
        # The restored PV makes udev run LVM's autoactivation, read-write, whatever this restore asks:
        # let it finish, then take down what it activated, so activation is the restore's alone.
        _step("run", ["udevadm", "settle"], "let udev finish with the restored PV (skipped without udevadm)", optional=True),
        _step("run", ["lvm", "vgchange", "-an", vg] + lvm_args, "deactivate whatever autoactivation started of %s" % vg),
    ]
    if options["activate"] != "none":
        steps.append(_step("run", ["lvm", "vgchange", "-ay", vg] + lvm_args,
                           "activate %s's LVs %s" % (vg, "read-only" if options["activate"] == "readonly" else "read-write")))
    return {"pvs": pvs, "steps": steps, "refusals": refusals}


def _label_refusal(pv: dict, contents: dict, overwrite: list[str]) -> str | None:
    evidence = contents["evidence"]
    if contents["kind"] == "unknown":
        return contents["detail"]
    if evidence.get("holders") or evidence.get("mountpoints"):
        return "it is in use (holders %s, mounted at %s): %s" % (
            ", ".join(evidence["holders"]) or "none", ", ".join(evidence["mountpoints"]) or "nowhere", contents["detail"])
    if contents["kind"] in ("vg", "data") and pv["device"] not in overwrite:
        return ("it holds %s; set restore_overwrite_devices to include %s to write the PV label over it (its first MiB is "
                "saved first)" % (contents["detail"], pv["device"]))
    return None


def render_plan(plan: dict) -> list[str]:
    """The plan as lines an operator reads: each PV, then each command exactly as it would run."""
    lines = []
    for pv in plan["pvs"]:
        lines.append("PV %s: device %s, found by %s; holds %s; %s" % (
            pv["uuid"], pv["device"] or "unknown", pv["found_by"] or "nothing",
            (pv["holds"] or {}).get("detail", "unknown"), pv["action"]))
    lines += ["%d. %s    # %s" % (number, step["command"], step["why"]) for number, step in enumerate(plan["steps"], 1)]
    return lines
