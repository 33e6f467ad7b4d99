# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the `md` subset of storage_facts.

Reads /proc/mdstat and /sys/block/mdX/md/ for the kernel's view of running arrays, asks mdadm
for array UUIDs and for every superblock on the host (running or not), and names every member
through the shared identity map. Nothing here opens a device for writing: mdadm --examine and
--detail only read.
"""

from __future__ import annotations

import posixpath
import time

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import kernel_read_only
from ansible_collections.lifeline.storage.plugins.module_utils._md_rules import REDUNDANT_LEVELS, md_findings
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_conf_parse import parse_mdadm_examine_scan
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import (
    parse_mdadm_detail_export,
    parse_mdadm_examine,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mdstat_parse import (
    parse_mdstat,
    parse_sysfs_md_member_state,
    parse_sysfs_sync_completed,
)

MDSTAT = "/proc/mdstat"

# While an array is being stopped or created, a read of /proc/mdstat can end early (seen in the
# lab right after mdadm --stop: no "unused devices" line). A second read a moment later is whole.
MDSTAT_READ_ATTEMPTS = 3
MDSTAT_RETRY_SECONDS = 0.2


def read_mdstat(files, attempts: int = MDSTAT_READ_ATTEMPTS, pause: float = MDSTAT_RETRY_SECONDS) -> dict:
    """/proc/mdstat parsed; a read that ends early is read again, other parse errors are raised at once."""
    for _attempt in range(attempts - 1):
        try:
            return parse_mdstat(files.read_text(MDSTAT))
        except ParseError as error:
            if not error.reason.endswith("(truncated?)"):
                raise
            time.sleep(pause)
    return parse_mdstat(files.read_text(MDSTAT))


# mdstat names the running operation differently from sysfs; facts use the sysfs words.
_MDSTAT_ACTION_TO_SYSFS = {"recovery": "recover"}
# mdstat member flags that name a role, used when sysfs is unreadable; first match wins.
_ROLE_FLAGS = ("faulty", "journal", "replacement", "spare")


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _member_role(state_words: list[str], slot: int | None, flags: list[str]) -> str:
    words = set(state_words)
    for word in ("faulty", "journal", "replacement"):
        if word in words:
            return word
    if "in_sync" in words:
        return "active"
    if "spare" in words and slot is None:
        return "spare"
    if slot is not None:
        # A member that holds a slot but is not in sync is being rebuilt into it.
        return "rebuilding"
    for flag in _ROLE_FLAGS:
        if flag in flags:
            return flag
    return "spare" if words else "unknown"


class MdCollector:
    """Gathers the md subset; one instance per module run."""

    def __init__(self, runner, files, identity) -> None:
        self._runner = runner
        self._files = files
        self._identity = identity
        self._unreadable: list[dict] = []

    def _note_unreadable(self, device: str, reason: str) -> None:
        self._unreadable.append({"device": device, "reason": reason})

    def _named(self, kernel_name: str) -> dict:
        identity = self._identity.lookup(kernel_name)
        return {key: identity[key] for key in ("kernel_name", "device", "disk", "serial", "wwn", "model", "stable_name", "by_id")}

    def _sysfs(self, array: str, leaf: str) -> str | None:
        return self._files.read_optional("/sys/block/%s/md/%s" % (array, leaf))

    def _sync(self, name: str, parsed: dict) -> dict:
        mdstat_sync = parsed.get("sync") or {}
        action = self._sysfs(name, "sync_action")
        if action is None and mdstat_sync:
            action = _MDSTAT_ACTION_TO_SYSFS.get(mdstat_sync["action"], mdstat_sync["action"])
        completed_text = self._sysfs(name, "sync_completed")
        completed = None
        if completed_text is not None:
            try:
                completed = parse_sysfs_sync_completed(completed_text)
            except ParseError:
                completed = None
        percent = mdstat_sync.get("percent")
        if percent is None and completed is not None and completed[1]:
            percent = round(100.0 * completed[0] / completed[1], 1)
        return {
            "action": action,
            "percent": percent,
            "completed_sectors": completed[0] if completed else None,
            "total_sectors": completed[1] if completed else None,
            "speed_kib_s": mdstat_sync.get("speed_kib_s"),
            "finish_minutes": mdstat_sync.get("finish_minutes"),
            "pending": parsed.get("sync_pending"),
        }

    def _bitmap(self, name: str, parsed: dict) -> dict:
        location = self._sysfs(name, "bitmap/location")
        from_mdstat = parsed.get("bitmap") or {}
        if location is not None:
            present: bool | None = location != "none"
        elif from_mdstat:
            present = True
        else:
            # No sysfs and no mdstat bitmap line: absent for an active array, unknown otherwise.
            present = False if parsed.get("state") == "active" else None
        return {
            "present": present,
            "location": location,
            "pages_used": from_mdstat.get("pages_used"),
            "pages_total": from_mdstat.get("pages_total"),
            "chunk_kib": from_mdstat.get("chunk_kib"),
            "file": from_mdstat.get("file"),
        }

    def _members(self, name: str, parsed: dict) -> list[dict]:
        flags_by_name = {member["name"]: member.get("flags", []) for member in parsed.get("members", [])}
        sysfs_dirs = [entry for entry in self._files.list_dir("/sys/block/%s/md" % name) if entry.startswith("dev-")]
        kernel_names = [entry[len("dev-"):] for entry in sysfs_dirs] or list(flags_by_name)
        members = []
        for kernel_name in kernel_names:
            state_text = self._sysfs(name, "dev-%s/state" % kernel_name)
            state_words = parse_sysfs_md_member_state(state_text) if state_text is not None else []
            slot = _int_or_none(self._sysfs(name, "dev-%s/slot" % kernel_name))
            flags = flags_by_name.get(kernel_name, [])
            member = self._named(kernel_name)
            member.update({
                "slot": slot,
                "role": _member_role(state_words, slot, flags),
                "state": state_words,
                "mdstat_flags": flags,
                "errors": _int_or_none(self._sysfs(name, "dev-%s/errors" % kernel_name)),
                "events": None,
                "update_time": None,
                "device_uuid": None,
            })
            members.append(member)
        return sorted(members, key=lambda m: (m["slot"] is None, m["slot"] if m["slot"] is not None else 0, m["kernel_name"]))

    def _detail_export(self, name: str, errors: list[str]) -> dict:
        if not self._runner.has("mdadm"):
            return {}
        try:
            result = self._runner.run("mdadm", ["--detail", "--export", "/dev/" + name])
            return parse_mdadm_detail_export(result.stdout)
        except (CommandError, ParseError) as error:
            errors.append(str(error))
            return {}

    def _array(self, parsed: dict) -> dict:
        name = parsed["name"]
        errors: list[str] = []
        detail = self._detail_export(name, errors)
        raid_disks = _int_or_none(self._sysfs(name, "raid_disks"))
        if raid_disks is None:
            raid_disks = parsed.get("raid_disks") or detail.get("raid_devices")
        level = self._sysfs(name, "level") or parsed.get("level") or detail.get("level")
        members = self._members(name, parsed)
        missing_slots: list[int] = []
        if level in REDUNDANT_LEVELS and parsed.get("state") == "active" and raid_disks:
            occupied = {m["slot"] for m in members if m["slot"] is not None and m["role"] in ("active", "rebuilding")}
            missing_slots = [slot for slot in range(raid_disks) if slot not in occupied]
        uuid = detail.get("uuid")
        return {
            "name": name,
            "device": "/dev/" + name,
            "state": parsed.get("state"),
            "array_state": self._sysfs(name, "array_state"),
            "read_only": parsed.get("read_only"),
            "level": level,
            "metadata": self._sysfs(name, "metadata_version") or parsed.get("metadata") or detail.get("metadata"),
            "uuid": uuid.lower() if uuid else None,
            "array_name": detail.get("name"),
            "size_bytes": parsed.get("size_bytes"),
            "raid_disks": raid_disks,
            "active_disks": parsed.get("active_disks"),
            "member_status": parsed.get("member_status"),
            "degraded": _int_or_none(self._sysfs(name, "degraded")),
            "mismatch_cnt": _int_or_none(self._sysfs(name, "mismatch_cnt")),
            "sync": self._sync(name, parsed),
            "bitmap": self._bitmap(name, parsed),
            "members": members,
            "missing_slots": missing_slots,
            "errors": errors,
        }

    def _examine(self, devices: list[str]) -> dict[str, dict]:
        if not devices:
            return {}
        # mdadm exits non-zero when one of several devices has no superblock or cannot be
        # opened; the others are still printed, so the output is used and stderr is kept.
        result = self._runner.run("mdadm", ["--examine"] + devices, ok_rcs=(0, 1, 2))
        examined = parse_mdadm_examine(result.stdout)
        for line in result.stderr.splitlines():
            line = line.strip()
            if not line:
                continue
            for device in devices:
                if device in line and device not in examined:
                    self._note_unreadable(device, line)
                    break
        return examined

    def _superblocks(self, arrays: list[dict]) -> dict[str, dict]:
        """Every md superblock on the host, running arrays' members included, by device."""
        scan = self._runner.run("mdadm", ["--examine", "--scan", "--verbose"], ok_rcs=(0, 1, 2))
        entries = parse_mdadm_examine_scan(scan.stdout)
        devices = set()
        for entry in entries:
            devices.update(entry.get("devices") or [])
        for array in arrays:
            devices.update(member["device"] for member in array["members"])
        return self._examine(sorted(devices))

    def _attach_examine(self, arrays: list[dict], examined: dict[str, dict]) -> None:
        for array in arrays:
            for member in array["members"]:
                superblock = examined.get(member["device"])
                if superblock:
                    member["events"] = superblock.get("events")
                    member["update_time"] = superblock.get("update_time")
                    member["device_uuid"] = superblock.get("device_uuid")

    def _recheck_divergent_members(self, arrays: list[dict]) -> None:
        """Read the superblocks of a running array again when its members disagree.

        md writes every member's superblock on each event, so two reads a moment apart can
        straddle one update; only a difference that survives a second read is reported.
        """
        for array in arrays:
            in_array = [m for m in array["members"] if m["role"] != "faulty" and m["events"] is not None]
            if len({m["events"] for m in in_array}) > 1:
                again = self._examine([m["device"] for m in in_array])
                for member in in_array:
                    if member["device"] in again:
                        member["events"] = again[member["device"]].get("events")

    def _stray_superblocks(self, arrays: list[dict], examined: dict[str, dict]) -> list[dict]:
        member_devices = {member["device"] for array in arrays for member in array["members"]}
        assembled_by_uuid = {array["uuid"]: array["name"] for array in arrays if array["uuid"]}
        groups: dict[str, dict] = {}
        for device, superblock in sorted(examined.items()):
            if device in member_devices:
                continue
            uuid = (superblock.get("array_uuid") or "").lower() or None
            key = uuid or "unknown"
            group = groups.setdefault(key, {
                "array_uuid": uuid,
                "array_name": superblock.get("name"),
                "level": superblock.get("level"),
                "metadata": superblock.get("version"),
                "raid_devices": superblock.get("raid_devices"),
                # RAID10's layout says which slots mirror each other (near=2: 0 with 1, 2 with 3).
                "layout": superblock.get("layout"),
                "assembled_as": assembled_by_uuid.get(uuid) if uuid else None,
                "devices": [],
            })
            entry = self._named(posixpath.basename(device))
            role = superblock.get("role") or {}
            entry.update({
                "device": device,
                "events": superblock.get("events"),
                "update_time": superblock.get("update_time"),
                "device_uuid": superblock.get("device_uuid"),
                "role": role.get("kind"),
                "slot": role.get("slot"),
                "array_state": superblock.get("array_state"),
                # md cannot assemble from a device the kernel marks read-only (EROFS): the rescue skips it.
                "read_only": kernel_read_only(self._files, entry["kernel_name"]),
            })
            group["devices"].append(entry)
        return [groups[key] for key in sorted(groups)]

    def collect(self) -> dict:
        facts: dict = {
            "available": True,
            "error": None,
            "kernel_md": self._files.exists(MDSTAT),
            "personalities": [],
            "arrays": [],
            "stray_superblocks": [],
            "unreadable": self._unreadable,
        }
        if facts["kernel_md"]:
            mdstat = read_mdstat(self._files)
            facts["personalities"] = mdstat["personalities"]
            facts["arrays"] = [self._array(parsed) for parsed in mdstat["arrays"]]
        if self._runner.has("mdadm"):
            examined = self._superblocks(facts["arrays"])
            self._attach_examine(facts["arrays"], examined)
            self._recheck_divergent_members(facts["arrays"])
            facts["stray_superblocks"] = self._stray_superblocks(facts["arrays"], examined)
        else:
            facts["available"] = bool(facts["kernel_md"])
            facts["error"] = ("mdadm is not installed: array UUIDs, event counts and superblocks on "
                              "devices outside running arrays are unknown")
        facts["findings"] = md_findings(facts)
        return facts


def collect_md(runner, files, identity, options: dict | None = None) -> dict:  # pylint: disable=unused-argument
    return MdCollector(runner, files, identity).collect()
