# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: what a metadata snapshot captures, one item at a time.

Each item is a relative path in the snapshot, its bytes, and whether it is volatile (changes
without the storage layout changing: ages, timestamps, raw sectors under a mounted file
system). Items are produced one by one so that neither the writer nor a check-mode run holds
more than one in memory. A tool that is missing or fails becomes a gap, listed in the
manifest, never a silently missing file. The md geometry (md/geometry.json) is worked out by
_md_geometry from the same `mdadm --examine` outputs the snapshot keeps; its data samples are
read here, read-only, a bounded number of bytes per member.
"""

from __future__ import annotations

import json
from typing import Iterator, NamedTuple

from ansible_collections.lifeline.storage.plugins.module_utils._block_read import read_range
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_collect import NO_BACKUP_CONFIG
from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry import GEOMETRY_FORMAT, geometries, normal_uuid, plan_samples
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_detail, parse_mdadm_examine

LVM_REPORT_OPTIONS = ["--reportformat", "json", "--units", "b", "--nosuffix", "--devicesfile", "", "--config", NO_BACKUP_CONFIG]
LSBLK_SNAPSHOT_COLUMNS = "NAME,KNAME,PKNAME,TYPE,SIZE,SERIAL,WWN,MODEL,FSTYPE,UUID,PARTUUID,PTTYPE,PTUUID,LABEL,MOUNTPOINT"
COPIED_FILES = (
    ("etc/fstab", "/etc/fstab"),
    ("etc/crypttab", "/etc/crypttab"),
    ("md/mdadm.conf", "/etc/mdadm/mdadm.conf"),
    ("md/mdadm.conf.etc", "/etc/mdadm.conf"),
)
LVM_DIRS = (("lvm/etc-backup", "/etc/lvm/backup"), ("lvm/etc-archive", "/etc/lvm/archive"))


class Item(NamedTuple):
    path: str
    data: bytes
    volatile: bool
    source: str


class Gap(NamedTuple):
    path: str
    reason: str


def _json_bytes(value) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def disk_map(facts: dict) -> list[dict]:
    """Serial -> kernel name -> md slot -> PV, one entry per device that has a stable identity."""
    slots: dict[str, list[dict]] = {}
    for array in facts.get("lifeline_md", {}).get("arrays", []):
        for member in array.get("members", []):
            slots.setdefault(member["kernel_name"], []).append(
                {"array": array["name"], "array_uuid": array.get("uuid"), "level": array.get("level"),
                 "slot": member.get("slot"), "role": member.get("role"), "events": member.get("events")})
    pvs = {pv.get("name"): pv for pv in facts.get("lifeline_lvm", {}).get("pvs", []) if pv.get("name")}
    entries = []
    for device in facts.get("lifeline_disks", {}).get("devices", []):
        pv = pvs.get(device["device"])
        entries.append({
            "kernel_name": device["kernel_name"], "device": device["device"], "type": device["type"],
            "serial": device.get("serial"), "wwn": device.get("wwn"), "stable_name": device.get("stable_name"),
            "by_id": device.get("by_id"), "size_bytes": device.get("size_bytes"),
            "md_slots": slots.get(device["kernel_name"], []),
            "md_array_uuid": device.get("md_array_uuid"),
            "lvm_pv": {"uuid": pv.get("uuid"), "vg": pv.get("vg_name")} if pv else None,
            "partition_table": (device.get("partition_table") or {}).get("type"),
        })
    return entries


def _above_mounted(device: dict, by_name: dict[str, dict], seen: set | None = None) -> bool:
    """Whether DEVICE, or anything built on it (holders, recursively), is mounted."""
    seen = seen or set()
    if device["kernel_name"] in seen:
        return False
    seen.add(device["kernel_name"])
    if device.get("mountpoints"):
        return True
    children = list(device.get("holders") or []) + list(device.get("partitions") or [])
    return any(_above_mounted(by_name[name], by_name, seen) for name in children if name in by_name)


def raw_targets(facts: dict) -> list[dict]:
    """Disks, partitions and md arrays whose first bytes are kept; md members' last bytes too."""
    devices = facts.get("lifeline_disks", {}).get("devices", [])
    by_name = {device["kernel_name"]: device for device in devices}
    targets = []
    for device in devices:
        kind = device.get("type") or ""
        if kind in ("disk", "part") or kind.startswith("raid"):
            targets.append({"device": device["device"], "kernel_name": device["kernel_name"],
                            "size_bytes": device.get("size_bytes"), "md_member": bool(device.get("md_member")),
                            "volatile": _above_mounted(device, by_name)})
    return targets


class SnapshotCapture:
    """Yields the snapshot's items; gaps collects what could not be captured, with the reason."""

    def __init__(self, runner, scratch, facts: dict, head_bytes: int, luks_headers: bool, md_sample_bytes: int = 1048576) -> None:
        """SCRATCH reads host files as bytes and lends private temporary paths (see ScratchFiles)."""
        self._runner = runner
        self._files = scratch
        self._facts = facts
        self._head_bytes = head_bytes
        self._luks_headers = luks_headers
        self._md_sample_bytes = md_sample_bytes
        self.gaps: list[Gap] = []
        self.versions: dict[str, str | None] = {}

    def _command(self, path: str, name: str, args: list[str], volatile: bool = False, ok_rcs=(0,)) -> Iterator[Item]:
        try:
            result = self._runner.run(name, args, ok_rcs=ok_rcs)
        except CommandError as error:
            self.gaps.append(Gap(path, str(error)))
            return
        yield Item(path, result.stdout_bytes(), volatile, " ".join(result.cmd))

    def _copy(self, path: str, source: str, volatile: bool = False) -> Iterator[Item]:
        text = self._files.read_bytes(source)
        if text is not None:
            yield Item(path, text, volatile, source)

    def items(self) -> Iterator[Item]:
        yield Item("facts.json", _json_bytes(self._facts), True, "storage_facts md, lvm, disks")
        yield Item("disk-map.json", _json_bytes(disk_map(self._facts)), False, "storage_facts")
        yield from self._md_items()
        yield from self._lvm_items()
        yield from self._partition_items()
        yield from self._command("lsblk.json", "lsblk", ["--json", "--bytes", "--output", LSBLK_SNAPSHOT_COLUMNS])
        yield from self._command("blkid.txt", "blkid", ["-c", "/dev/null", "-o", "export"], ok_rcs=(0, 2))
        for path, source in COPIED_FILES:
            yield from self._copy(path, source)
        yield from self._raw_items()
        yield from self._luks_items()

    def _md_items(self) -> Iterator[Item]:
        yield from self._copy("md/mdstat.txt", "/proc/mdstat", volatile=True)
        if not self._runner.has("mdadm"):
            if self._facts.get("lifeline_md", {}).get("arrays") or any(
                    d.get("md_member") for d in self._facts.get("lifeline_disks", {}).get("devices", [])):
                self.gaps.append(Gap("md/", "mdadm is not installed: superblocks were not examined"))
            return
        yield from self._command("md/detail-scan.txt", "mdadm", ["--detail", "--scan", "--verbose"])
        examine_texts: dict[str, bytes] = {}
        for device in self._facts.get("lifeline_disks", {}).get("devices", []):
            if device.get("md_member"):
                name = device["kernel_name"]
                for item in self._command("md/examine/%s.txt" % name, "mdadm", ["--examine", device["device"]]):
                    examine_texts[device["device"]] = item.data
                    yield item
                yield from self._command("md/examine/%s.export" % name, "mdadm", ["--examine", "--export", device["device"]])
        detail_texts: dict[str, bytes] = {}
        for array in self._facts.get("lifeline_md", {}).get("arrays", []):
            # State, event count and update time change by themselves: volatile, like mdstat.
            for item in self._command("md/detail/%s.txt" % array["name"], "mdadm", ["--detail", array["device"]], volatile=True):
                detail_texts[array["name"]] = item.data
                yield item
        yield from self._geometry_items(examine_texts, detail_texts)

    def _geometry_items(self, examine_texts: dict[str, bytes], detail_texts: dict[str, bytes]) -> Iterator[Item]:
        """md/geometry.json: each array's geometry, member order by serial, and the data samples of its members."""
        path = "md/geometry.json"
        examined: dict[str, dict] = {}
        for device, text in sorted(examine_texts.items()):
            try:
                examined.update(parse_mdadm_examine(text.decode("utf-8", "replace")))
            except ParseError as error:
                self.gaps.append(Gap(path, "the superblock of %s could not be read: %s" % (device, error)))
        details, running = {}, {}
        for name, text in sorted(detail_texts.items()):
            try:
                detail = parse_mdadm_detail(text.decode("utf-8", "replace"))
            except ParseError as error:
                self.gaps.append(Gap(path, "mdadm --detail of %s could not be read: %s" % (name, error)))
                continue
            uuid = normal_uuid(detail.get("uuid"))
            if uuid:
                details[uuid], running[uuid] = detail, name
        devices = self._facts.get("lifeline_disks", {}).get("devices", [])
        arrays = geometries(examined, details, running, devices)
        if not arrays:
            return
        by_name = {device["kernel_name"]: device for device in devices}
        for geometry in arrays:
            geometry["samples"] = plan_samples(geometry, self._md_sample_bytes)
            yield from self._sample_items(geometry, by_name)
        document = {"format": GEOMETRY_FORMAT, "sample_bytes": self._md_sample_bytes, "arrays": arrays}
        yield Item(path, _json_bytes(document), False, "mdadm --examine of every md member, mdadm --detail of running arrays")

    def _sample_items(self, geometry: dict, by_name: dict[str, dict]) -> Iterator[Item]:
        members = {member["slot"]: member for member in geometry["members"] if not member.get("missing")}
        for sample in geometry["samples"]:
            if not sample.get("path"):
                self.gaps.append(Gap("md/samples/", "slot %d (%s) of %s: %s" % (sample["slot"], sample["key"], geometry["uuid"],
                                                                                sample["reason"])))
                continue
            member = members[sample["slot"]]
            try:
                data = read_range(member["device"], sample["device_offset"], sample["length"], uncached=True)
            except OSError as error:
                sample["reason"] = "%s: %s" % (member["device"], error.strerror or error)
                self.gaps.append(Gap(sample["path"], sample["reason"]))
                continue
            if len(data) != sample["length"]:
                sample["reason"] = "%s ended after %d of %d bytes" % (member["device"], len(data), sample["length"])
                self.gaps.append(Gap(sample["path"], sample["reason"]))
                continue
            device = by_name.get(member["kernel_name"])
            volatile = _above_mounted(device, by_name) if device else False
            yield Item(sample["path"], data, volatile, "%d bytes at %d of %s (%s, slot %d, data area + %d)" % (
                sample["length"], sample["device_offset"], member["device"], member["key"], sample["slot"], sample["member_offset"]))

    def _lvm_items(self) -> Iterator[Item]:
        vgs = self._facts.get("lifeline_lvm", {}).get("vgs", [])
        if not self._runner.has("lvm"):
            if vgs or any(d.get("lvm_pv") for d in self._facts.get("lifeline_disks", {}).get("devices", [])):
                self.gaps.append(Gap("lvm/", "lvm is not installed: no metadata backup was taken"))
            return
        for report in ("pvs", "vgs", "lvs"):
            yield from self._command("lvm/%s.json" % report, "lvm", [report, "-o", "+%s_uuid" % report[:-1]] + LVM_REPORT_OPTIONS)
        for vg in vgs:
            yield from self._vgcfgbackup(vg["name"])
        for prefix, directory in LVM_DIRS:
            for name in sorted(self._files.list_dir(directory)):
                yield from self._copy("%s/%s" % (prefix, name), "%s/%s" % (directory, name))

    def _vgcfgbackup(self, vg_name: str) -> Iterator[Item]:
        """A fresh backup of VG_NAME written to a private temporary file, never into /etc/lvm."""
        path = "lvm/vgcfgbackup/%s.vg" % vg_name
        target = self._files.temp_path("vgcfgbackup-%s.vg" % vg_name)
        try:
            self._runner.run("lvm", ["vgcfgbackup", "--devicesfile", "", "--config", NO_BACKUP_CONFIG, "-f", target, vg_name])
            data = self._files.take(target)
        except (CommandError, OSError) as error:
            self.gaps.append(Gap(path, str(error)))
            return
        # Its header and creation_time change on every run; the metadata it holds is in vgs.json.
        yield Item(path, data, True, "vgcfgbackup -f %s" % vg_name)

    def _partition_items(self) -> Iterator[Item]:
        for device in self._facts.get("lifeline_disks", {}).get("devices", []):
            table = (device.get("partition_table") or {}).get("type")
            if device.get("type") != "disk" or not table:
                continue
            name = device["kernel_name"]
            yield from self._command("partitions/%s.sfdisk" % name, "sfdisk", ["--dump", device["device"]])
            if table == "gpt":
                yield from self._gpt_backup(name, device["device"])

    def _gpt_backup(self, name: str, device: str) -> Iterator[Item]:
        path = "partitions/%s.sgdisk-backup" % name
        if not self._runner.has("sgdisk"):
            self.gaps.append(Gap(path, "sgdisk (gdisk) is not installed: no binary GPT backup, only sfdisk --dump"))
            return
        target = self._files.temp_path("gpt-%s" % name)
        try:
            self._runner.run("sgdisk", ["--backup=%s" % target, device])
            data = self._files.take(target)
        except (CommandError, OSError) as error:
            self.gaps.append(Gap(path, str(error)))
            return
        yield Item(path, data, False, "sgdisk --backup %s" % device)

    def _raw_items(self) -> Iterator[Item]:
        for target in raw_targets(self._facts):
            name = target["kernel_name"]
            ranges = [("head", 0)] + ([("tail", -self._head_bytes)] if target["md_member"] else [])
            for label, offset in ranges:
                path = "raw/%s.%s" % (name, label)
                try:
                    data = read_range(target["device"], offset, self._head_bytes)
                except OSError as error:
                    self.gaps.append(Gap(path, "%s: %s" % (target["device"], error.strerror or error)))
                    continue
                where = "first" if label == "head" else "last"
                yield Item(path, data, target["volatile"], "%s %d bytes of %s" % (where, len(data), target["device"]))

    def _luks_items(self) -> Iterator[Item]:
        if not self._luks_headers:
            return
        for device in self._facts.get("lifeline_disks", {}).get("devices", []):
            if not any(sig.get("type") == "crypto_LUKS" for sig in device.get("signatures") or []):
                continue
            path = "luks/%s.header" % device["kernel_name"]
            target = self._files.temp_path("luks-%s" % device["kernel_name"])
            try:
                self._runner.run("cryptsetup", ["luksHeaderBackup", device["device"], "--header-backup-file", target])
                data = self._files.take(target)
            except (CommandError, OSError) as error:
                self.gaps.append(Gap(path, str(error)))
                continue
            yield Item(path, data, False, "cryptsetup luksHeaderBackup %s" % device["device"])
