# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: md_assemble on a host - gather the evidence, run the plan, check it.

Reads go through HostFiles and every command through CommandRunner; the decisions are made by
the pure planner in _md_assemble. The only commands that change anything are the one
`mdadm --assemble --readonly ...` or `mdadm --stop ...` a plan names, and only outside check
mode. Everything else is `lsblk` and `mdadm --examine`, which open devices read-only.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap, kernel_read_only, link_aliases
from ansible_collections.lifeline.storage.plugins.module_utils._md_assemble import (
    RequestError,
    array_kernel_name,
    check_array_path,
    normalize_uuid,
    plan_readonly,
    plan_stop,
    refusal_message,
    resolve_members,
)
from ansible_collections.lifeline.storage.plugins.module_utils._md_autoassembly import detect_auto_assembly
from ansible_collections.lifeline.storage.plugins.module_utils._md_collect import read_mdstat
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_examine
from ansible_collections.lifeline.storage.plugins.module_utils._mountinfo_parse import MOUNTINFO_SOURCE, parse_mountinfo

MDSTAT = "/proc/mdstat"
SWAPS = "/proc/swaps"
MD_DIR = "/dev/md"
SYS_CLASS_BLOCK = "/sys/class/block"
# What mdadm --examine prints on stderr for a readable device without any superblock.
_NO_SUPERBLOCK_RE = re.compile(r"No md superblock detected on (?P<device>\S+?)\.?$")
# sync_action values under which md is not writing to the members on its own.
QUIET_SYNC_ACTIONS = ("idle", "frozen")


class AssembleError(RuntimeError):
    """Something named in the request or needed to plan cannot be found or read; nothing was run."""

    def __init__(self, message: str, command: CommandError | None = None) -> None:
        super().__init__(message)
        self.command = command


class AssemblyHost:
    """The host's block devices, superblocks, arrays and users of devices, read once per run."""

    def __init__(self, runner, files) -> None:
        self.runner = runner
        self.files = files
        self.identity: IdentityMap | None = None
        self.unreadable: dict[str, str] = {}

    def identities(self) -> dict[str, dict]:
        if self.identity is None:
            self.identity = IdentityMap.gather(self.runner, self.files)
            if self.identity.error:
                raise AssembleError("cannot list the block devices: %s" % self.identity.error)
        return self.identity.as_dict()

    def examine(self, devices: list[str]) -> dict[str, dict]:
        """Every device's superblock; devices mdadm could not read go to self.unreadable with the reason."""
        if not devices:
            return {}
        # mdadm exits 1 when any device has no superblock; the others are still printed.
        try:
            result = self.runner.run("mdadm", ["--examine"] + devices, ok_rcs=(0, 1, 2))
        except CommandError as error:
            raise AssembleError(str(error), error)
        try:
            examined = parse_mdadm_examine(result.stdout)
        except ParseError as error:
            raise AssembleError(str(error))
        without_superblock = set()
        for line in result.stderr.splitlines():
            line = line.strip()
            match = _NO_SUPERBLOCK_RE.search(line)
            if match:
                without_superblock.add(match.group("device"))
                continue
            for device in devices:
                if device not in examined and re.search(re.escape(device) + r"(?![\w/])", line):
                    self.unreadable.setdefault(device, line)
        for device in devices:
            if device not in examined and device not in without_superblock and device not in self.unreadable:
                self.unreadable[device] = "mdadm --examine printed nothing about it"
        return examined

    def arrays(self) -> list[dict]:
        """Arrays in /proc/mdstat with their members' kernel names and the kernel's state words."""
        if not self.files.exists(MDSTAT):
            return []
        try:
            parsed = read_mdstat(self.files)
        except (OSError, ParseError) as error:
            raise AssembleError("cannot read %s: %s" % (MDSTAT, error))
        arrays = []
        for array in parsed["arrays"]:
            name = array["name"]
            arrays.append({
                "name": name,
                "state": array["state"],
                "level": array.get("level"),
                "raid_disks": array.get("raid_disks"),
                "member_names": [member["name"] for member in array["members"]],
                "array_state": self.sysfs_md(name, "array_state") or _mdstat_array_state(array),
                "sync_action": self.sysfs_md(name, "sync_action"),
            })
        return arrays

    def sysfs_md(self, name: str, leaf: str) -> str | None:
        return self.files.read_optional("/sys/block/%s/md/%s" % (name, leaf))

    def holders(self, names: list[str]) -> dict[str, list[str] | None]:
        """Kernel name -> devices stacked on it (md, dm); None when sysfs has no entry to tell."""
        found: dict[str, list[str] | None] = {}
        for name in names:
            path = "%s/%s/holders" % (SYS_CLASS_BLOCK, name)
            found[name] = self.files.list_dir(path) if self.files.exists(path) else None
        return found

    def mounts(self, names: list[str]) -> dict[str, list[str]]:
        """Kernel name -> mount points, matched by major:minor and by mount source."""
        try:
            mounts = parse_mountinfo(self.files.read_text(MOUNTINFO_SOURCE))
        except (OSError, ParseError) as error:
            raise AssembleError("cannot read %s to see what is mounted: %s" % (MOUNTINFO_SOURCE, error))
        numbers = {self.files.read_optional("%s/%s/dev" % (SYS_CLASS_BLOCK, name)): name for name in names}
        found: dict[str, list[str]] = {}
        for mount in mounts:
            source = mount["source"]
            link = self.files.read_link(source) if source.startswith("/dev/") else None
            for name in names:
                if (numbers.get(mount["major_minor"]) == name or source == "/dev/" + name
                        or (link and posixpath.basename(link) == name)):
                    found.setdefault(name, []).append(mount["mount_point"])
        return found

    def swaps(self) -> list[str]:
        text = self.files.read_optional(SWAPS) or ""
        names = []
        for line in text.splitlines()[1:]:
            path = line.split()[0] if line.split() else ""
            link = self.files.read_link(path) if path.startswith("/dev/") else None
            names.append(posixpath.basename(link or path))
        return names

    def md_links(self) -> dict[str, str]:
        """/dev/md/NAME -> kernel name, for every name udev or mdadm has made."""
        links = {}
        for name in self.files.list_dir(MD_DIR):
            target = self.files.read_link(posixpath.join(MD_DIR, name))
            if target:
                links[posixpath.join(MD_DIR, name)] = posixpath.basename(target)
        return links

    def partitions_of(self, name: str, identities: dict[str, dict]) -> list[str]:
        return sorted(kernel for kernel, identity in identities.items()
                      if identity.get("type") == "part" and identity.get("disk") == name and kernel != name)


def _mdstat_array_state(array: dict) -> str | None:
    # Without sysfs, mdstat's "(read-only)" / "(auto-read-only)" are the same facts in other words.
    if array["state"] != "active":
        return None
    return {"read-only": "readonly", "auto-read-only": "read-auto"}.get(array.get("read_only") or "")


def _public_member(member: dict) -> dict:
    keys = ("device", "serial", "stable_name", "requested_as", "role", "slot", "events", "state", "update_time")
    return {key: member.get(key) for key in keys}


def _result(plan: dict, auto_assembly: dict | None, unreadable: dict[str, str], binary: str) -> dict:
    return {
        "changed": False,
        "command": [binary] + plan["command"] if plan["command"] else [],
        "array": plan["array"],
        "kernel_name": plan["kernel_name"],
        "uuid": plan["uuid"],
        "level": plan["level"],
        "raid_devices": plan["raid_devices"],
        "members": [_public_member(m) for m in plan["members"]],
        "other_members": [_public_member(m) for m in plan["other_members"]],
        "degraded": plan["degraded"],
        "array_state": None,
        "sync_action": None,
        "verified": None,
        "auto_assembly": auto_assembly,
        "refusals": plan["refusals"],
        "unreadable": [{"device": device, "reason": reason} for device, reason in sorted(unreadable.items())],
    }


def _check_request(params: dict) -> dict:
    request = {key: params.get(key) for key in ("state", "allow_degraded", "allow_event_divergence")}
    request["uuid"] = normalize_uuid(params["uuid"]) if params.get("uuid") else None
    request["array"] = check_array_path(params["array"]) if params.get("array") else None
    names = params.get("members")
    if names is not None and not [name for name in names if name and name.strip()]:
        raise RequestError("members is an empty list: name the members, or leave it out and give uuid to scan for them")
    request["names"] = [name.strip() for name in names if name and name.strip()] if names else None
    if request["state"] == "stopped" and not request["array"]:
        raise RequestError("state=stopped needs array, the md device to stop")
    if request["state"] == "readonly" and not request["uuid"] and not request["names"]:
        raise RequestError("state=readonly needs uuid (members found by scanning) or members (or both)")
    return request


def _verify(host: AssemblyHost, result: dict, chosen: set[str], warnings: list[str]) -> None:
    """After assembly: the array must be readonly (not read-auto) with md not writing; report, never fix."""
    arrays = [a for a in host.arrays() if set(a["member_names"]) & chosen]
    if len(arrays) != 1:
        result["verified"] = False
        warnings.append("after mdadm returned, /proc/mdstat shows %s holding the chosen members; check the array by hand"
                        % (" and ".join("/dev/" + a["name"] for a in arrays) or "no array"))
        return
    array = arrays[0]
    result.update(kernel_name=array["name"], array_state=array["array_state"], sync_action=array["sync_action"])
    problems = []
    if array["array_state"] != "readonly":
        problems.append("array_state is %s, not readonly%s" % (array["array_state"], (
            ": read-auto turns read-write at the first write" if array["array_state"] == "read-auto" else "")))
    if array["sync_action"] is not None and array["sync_action"] not in QUIET_SYNC_ACTIONS:
        problems.append("sync_action is %s: md is writing to the members" % array["sync_action"])
    result["verified"] = not problems
    for problem in problems:
        warnings.append("/dev/%s: %s; this module does not change it - stop the array if that is not wanted"
                        % (array["name"], problem))


def _readonly(request: dict, host: AssemblyHost, check_mode: bool) -> tuple[bool, dict, list[str]]:
    identities = host.identities()
    members = None
    if request["names"]:
        members, missing, ambiguous = resolve_members(identities, request["names"], link_aliases(host.files, request["names"]))
        if missing:
            raise AssembleError("no block device on this host is named %s; nothing was run" % ", ".join(missing))
        if ambiguous:
            raise AssembleError("these names match more than one block device (multipath?): %s; name the device "
                                "itself; nothing was run" % "; ".join(ambiguous))
    devices = sorted({"/dev/" + name for name, identity in identities.items() if identity.get("type") != "rom"}
                     | {m["device"] for m in members or []})
    examined = host.examine(devices)
    arrays = host.arrays()
    names = sorted(identities)
    md_links = host.md_links()
    plan = plan_readonly(
        dict(request, members=members), identities, examined, host.unreadable,
        {"arrays": arrays, "holders": host.holders(names), "mounts": host.mounts(names), "md_links": md_links,
         "read_only": {name: kernel_read_only(host.files, name) for name in names}})
    auto = detect_auto_assembly(host.files, {"uuid": plan["uuid"], "metadata": plan["metadata"], "local": plan["local"]})
    result = _result(plan, auto, host.unreadable, host.runner.find("mdadm") or "mdadm")
    warnings: list[str] = []
    if host.unreadable:
        # A device that could not be examined may hold a member, or a newer copy of one.
        warnings.append("%d device(s) could not be examined, so members or newer copies of the array on them are "
                        "unknown: %s" % (len(host.unreadable), ", ".join(sorted(host.unreadable))))
    if plan["action"] == "refuse":
        result["msg"] = refusal_message("assemble read-only", plan["refusals"])
        return True, result, warnings
    chosen = {m["kernel_name"] for m in plan["members"]}
    if plan["action"] == "none":
        running = next(a for a in arrays if a["name"] == plan["kernel_name"])
        result.update(array_state=running["array_state"], sync_action=running["sync_action"])
        if array_kernel_name(plan["array"], md_links) != plan["kernel_name"]:
            warnings.append("the array is already assembled read-only as /dev/%s; %s does not point at it"
                            % (plan["kernel_name"], plan["array"]))
        _verify(host, result, chosen, warnings)
        result["msg"] = "already assembled read-only as /dev/%s from the requested members" % plan["kernel_name"]
        return False, result, warnings
    outcome = _run_change(host, result, plan["command"], check_mode, "assemble %s" % plan["array"])
    if outcome is not None:
        return outcome, result, warnings
    _verify(host, result, chosen, warnings)
    result["msg"] = "assembled %s read-only from %d member(s)%s" % (
        plan["array"], len(plan["members"]), ", degraded" if plan["degraded"] else "")
    return False, result, warnings


def _run_change(host: AssemblyHost, result: dict, command: list[str], check_mode: bool, what: str) -> bool | None:
    """Run the one mdadm command that changes something, unless in check mode.

    None when it ran; otherwise the run ends here, with True when mdadm failed (the result
    carries its cmd, rc and output) and False in check mode (the result says what would run).
    """
    result["changed"] = True
    if check_mode:
        result["msg"] = "would run: %s" % " ".join(result["command"])
        return False
    try:
        host.runner.run("mdadm", command)
    except CommandError as error:
        result.update(error.as_dict())
        result["msg"] = "mdadm failed to %s: %s" % (what, error)
        return True
    return None


def _stopped(request: dict, host: AssemblyHost, check_mode: bool) -> tuple[bool, dict, list[str]]:
    identities = host.identities()
    arrays = host.arrays()
    kernel_name = array_kernel_name(request["array"], host.md_links())
    array = next((a for a in arrays if a["name"] == kernel_name), None)
    examined = host.examine(["/dev/" + name for name in array["member_names"]]) if array else {}
    related = [kernel_name] + host.partitions_of(kernel_name, identities) if array else []
    plan = plan_stop(request, kernel_name, {
        "arrays": arrays, "identities": identities, "partitions": related[1:],
        "holders": host.holders(related), "mounts": host.mounts(related) if related else {}, "swaps": host.swaps()},
        examined)
    auto = detect_auto_assembly(host.files, {"uuid": plan["uuid"], "metadata": plan["metadata"], "local": plan["local"]})
    result = _result(plan, auto, host.unreadable, host.runner.find("mdadm") or "mdadm")
    warnings: list[str] = []
    if array is not None:
        result.update(array_state=array["array_state"], sync_action=array["sync_action"])
    if plan["action"] == "refuse":
        result["msg"] = refusal_message("stop %s" % request["array"], plan["refusals"])
        return True, result, warnings
    if plan["action"] == "none":
        result["msg"] = "%s is not an active or assembled md array; nothing to stop" % request["array"]
        return False, result, warnings
    outcome = _run_change(host, result, plan["command"], check_mode, "stop %s" % request["array"])
    if outcome is not None:
        return outcome, result, warnings
    still = [a for a in host.arrays() if a["name"] == kernel_name]
    result["verified"] = not still
    result.update(array_state=still[0]["array_state"] if still else None,
                  sync_action=still[0]["sync_action"] if still else None)
    if still:
        warnings.append("/proc/mdstat still lists /dev/%s after mdadm --stop" % kernel_name)
    result["msg"] = "stopped %s (/dev/%s)" % (request["array"], kernel_name)
    return False, result, warnings


def run_md_assemble(params: dict, runner, files, check_mode: bool) -> tuple[bool, dict, list[str]]:
    """(failed, result, warnings) for one md_assemble run."""
    try:
        request = _check_request(params)
    except RequestError as error:
        return True, {"msg": str(error), "changed": False, "refusals": []}, []
    if not runner.has("mdadm"):
        return True, {"msg": "mdadm is not installed on this host; nothing was run", "changed": False,
                      "refusals": []}, []
    host = AssemblyHost(runner, files)
    try:
        if request["state"] == "readonly":
            return _readonly(request, host, check_mode)
        return _stopped(request, host, check_mode)
    except AssembleError as error:
        failure = {"msg": str(error), "changed": False, "refusals": []}
        if error.command is not None:
            failure.update({key: value for key, value in error.command.as_dict().items() if key != "msg"})
        return True, failure, []
