# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: overlay on a host - gather the state, run the plan, report.

Reads go through HostFiles (sysfs, /proc, /dev links) and every command through CommandRunner;
the decisions are made by the pure planner in _overlay. Outside check mode the only commands that
change anything are the plan's truncate, losetup, blockdev, dmsetup and rm steps, and the only
file written is the record in the overlay directory, which says which origins this module made
read-only (so that removing the overlays makes writable again only those).
"""

from __future__ import annotations

import json
import os
import posixpath

from ansible_collections.lifeline.storage.plugins.module_utils._dmsetup_parse import (
    parse_snapshot_status,
    parse_snapshot_tables,
)
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap, link_aliases
from ansible_collections.lifeline.storage.plugins.module_utils._md_assemble import resolve_members
from ansible_collections.lifeline.storage.plugins.module_utils._mountinfo_parse import MOUNTINFO_SOURCE, parse_mountinfo
from ansible_collections.lifeline.storage.plugins.module_utils._overlay import (
    LOOP_PLACEHOLDER,
    RECORD_FILE,
    directory_devices,
    overlay_report,
    plan_absent,
    plan_present,
    refusal_message,
)

SYS_CLASS_BLOCK = "/sys/class/block"
SYS_DEV_BLOCK = "/sys/dev/block"


class OverlayError(RuntimeError):
    """A request that names nothing, or state that cannot be read; nothing was run."""

    def __init__(self, message: str, command: CommandError | None = None) -> None:
        super().__init__(message)
        self.command = command


class LocalDirectory:
    """The overlay directory on the managed host: free space, its files, the record."""

    def __init__(self, path: str) -> None:
        self.path = path

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def real_path(self) -> str:
        return os.path.realpath(self.path)

    def free_bytes(self) -> int | None:
        try:
            stat = os.statvfs(self.path)
        except OSError:
            return None
        return stat.f_bavail * stat.f_frsize

    def files(self) -> dict[str, bool]:
        try:
            return {name: True for name in os.listdir(self.path)}
        except OSError:
            return {}

    def read_record(self) -> dict:
        try:
            with open(os.path.join(self.path, RECORD_FILE), encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            return {}
        return record.get("overlays", {}) if isinstance(record, dict) else {}

    def write_record(self, overlays: dict) -> None:
        path = os.path.join(self.path, RECORD_FILE)
        if not overlays:
            if os.path.exists(path):
                os.remove(path)
            return
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"overlays": overlays}, handle, indent=2, sort_keys=True)
        os.replace(path + ".tmp", path)


class OverlayHost:
    """Block devices, device-mapper snapshots and mounts of the host, read through HostFiles and the runner."""

    def __init__(self, runner, files) -> None:
        self.runner = runner
        self.files = files

    def kernel_name_of(self, major_minor: str) -> str | None:
        target = self.files.read_link(posixpath.join(SYS_DEV_BLOCK, major_minor))
        return posixpath.basename(target) if target else None

    def block(self, kernel_name: str, attribute: str) -> str | None:
        return self.files.read_optional(posixpath.join(SYS_CLASS_BLOCK, kernel_name, attribute))

    def graph_node(self, kernel_name: str) -> dict:
        parent = None
        if self.files.exists(posixpath.join(SYS_CLASS_BLOCK, kernel_name, "partition")):
            link = self.files.read_link(posixpath.join(SYS_CLASS_BLOCK, kernel_name))
            parent = posixpath.basename(posixpath.dirname(link)) if link else None
        return {"slaves": self.files.list_dir(posixpath.join(SYS_CLASS_BLOCK, kernel_name, "slaves")), "parent": parent}

    def mounts(self) -> list[dict]:
        try:
            return parse_mountinfo(self.files.read_text(MOUNTINFO_SOURCE))
        except (OSError, ParseError) as error:
            raise OverlayError("cannot read the mounts: %s" % error)

    def snapshots(self) -> dict[str, dict]:
        """Device-mapper snapshot devices by name, with their tables, status, store and holders."""
        try:
            tables = parse_snapshot_tables(self.runner.run("dmsetup", ["table"]).stdout)
            statuses = parse_snapshot_status(self.runner.run("dmsetup", ["status"]).stdout)
        except CommandError as error:
            raise OverlayError(str(error), error)
        except ParseError as error:
            raise OverlayError(str(error))
        found = {}
        for name, table in tables.items():
            link = self.files.read_link("/dev/mapper/" + name)
            kernel_name = posixpath.basename(link) if link else None
            loop = self.kernel_name_of(table["cow"])
            found[name] = {
                "table": table,
                "status": statuses.get(name),
                "kernel_name": kernel_name,
                "holders": self.files.list_dir(posixpath.join(SYS_CLASS_BLOCK, kernel_name, "holders")) if kernel_name else [],
                "cow_device": "/dev/" + loop if loop else None,
                "cow_file": self.block(loop, "loop/backing_file") if loop else None,
            }
        return found


def _origins(host: OverlayHost, names: list[str], mounts: list[dict]) -> list[dict]:
    identity = IdentityMap.gather(host.runner, host.files)
    if identity.error:
        raise OverlayError("cannot list the block devices: %s" % identity.error)
    resolved, missing, ambiguous = resolve_members(identity.as_dict(), names, link_aliases(host.files, names))
    if missing or ambiguous:
        raise OverlayError("; ".join(["no block device is named %s" % name for name in missing]
                                     + ["%s names more than one device" % text for text in ambiguous]))
    origins = []
    for origin in resolved:
        kernel_name = origin["kernel_name"]
        major_minor = host.block(kernel_name, "dev")
        size = host.block(kernel_name, "size")
        if not major_minor or not (size or "").isdecimal():
            raise OverlayError("cannot read %s's device number and size from %s" % (origin["device"], SYS_CLASS_BLOCK))
        origins.append(dict(origin, major_minor=major_minor, size_sectors=int(size), read_only=host.block(kernel_name, "ro") == "1",
                            holders=host.files.list_dir(posixpath.join(SYS_CLASS_BLOCK, kernel_name, "holders")),
                            mount_points=[m["mount_point"] for m in mounts if m["major_minor"] == major_minor]))
    return origins


def _directory_state(host: OverlayHost, directory: LocalDirectory, mounts: list[dict]) -> dict:
    if not directory.exists():
        return {"exists": False}
    real = directory.real_path()
    holding = max((m for m in mounts if real == m["mount_point"] or real.startswith(m["mount_point"].rstrip("/") + "/")),
                  key=lambda m: len(m["mount_point"]), default=None)
    starts = set()
    if holding is not None:
        kernel_name = host.kernel_name_of(holding["major_minor"])
        if kernel_name:
            starts.add(kernel_name)
        if holding["source"].startswith("/dev/"):
            link = host.files.read_link(holding["source"])
            starts.add(posixpath.basename(link) if link else posixpath.basename(holding["source"]))
    devices: set[str] = set()
    for start in starts:
        graph: dict[str, dict] = {}
        todo = [start]
        while todo:
            name = todo.pop()
            if name in graph:
                continue
            graph[name] = host.graph_node(name)
            todo.extend(graph[name]["slaves"] + ([graph[name]["parent"]] if graph[name]["parent"] else []))
        devices |= directory_devices(start, graph)
    return {"exists": True, "devices": sorted(devices), "free_bytes": directory.free_bytes(), "files": directory.files(),
            "mount_point": holding["mount_point"] if holding else None, "source": holding["source"] if holding else None}


# How to take back each step of making an overlay, when a later step of the same overlay fails.
_UNDO = {
    "create": lambda step, loop: ["dmsetup", "remove", step["overlay"]],
    "setro": lambda step, loop: ["blockdev", "--setrw", step["argv"][-1]],
    "losetup": lambda step, loop: ["losetup", "--detach", loop] if loop else None,
    "truncate": lambda step, loop: ["rm", "--force", "--", step["argv"][-1]] if step["argv"][1] != "--size=0" else None,
}


class StepFailed(CommandError):
    """A step failed; the steps already run for the same overlay were taken back (undone lists them)."""

    def __init__(self, error: CommandError, undone: list[list[str]]) -> None:
        super().__init__(error.cmd, error.rc, error.stdout, error.stderr, str(error))
        self.undone = undone


def _undo(runner, done: list[dict], loop: str | None) -> list[list[str]]:
    undone = []
    for step in reversed(done):
        argv = _UNDO[step["kind"]](step, loop) if step["kind"] in _UNDO else None
        if argv is None:
            continue
        try:
            undone.append(runner.run(argv[0], argv[1:]).cmd)
        except CommandError:
            continue
    return undone


def _run_steps(runner, steps: list[dict]) -> list[dict]:
    """Run each step; a losetup step's output names the loop device for its overlay's later steps."""
    loops: dict[str, str] = {}
    ran = []
    for step in steps:
        argv = [word.replace(LOOP_PLACEHOLDER, loops.get(step["overlay"], LOOP_PLACEHOLDER)) for word in step["argv"]]
        try:
            result = runner.run(argv[0], argv[1:])
        except CommandError as error:
            if step["kind"] in _UNDO:
                done = [entry for entry in ran if entry["overlay"] == step["overlay"] and entry["kind"] in _UNDO]
                raise StepFailed(error, _undo(runner, done, loops.get(step["overlay"])))
            raise
        if step["kind"] == "losetup":
            loops[step["overlay"]] = result.stdout.strip()
        ran.append(dict(step, argv=result.cmd))
    return ran


def run_overlay(params: dict, runner, files, check_mode: bool, directory: LocalDirectory | None = None) -> tuple[bool, dict]:
    """(failed, result) for one module run."""
    folder = params["directory"].rstrip("/") or "/"
    directory = directory or LocalDirectory(folder)
    request = {"directory": folder, "cow_size_bytes": params.get("cow_size_bytes"), "name_prefix": params["name_prefix"]}
    host = OverlayHost(runner, files)
    base = {"changed": False, "overlays": [], "commands": [], "refusals": []}
    try:
        mounts = host.mounts()
        origins = _origins(host, params["devices"], mounts) if params.get("devices") else None
        existing = host.snapshots()
        record = directory.read_record() if directory.exists() else {}
        if params["state"] == "present":
            if not origins:
                raise OverlayError("state=present needs at least one device in devices")
            plan = plan_present(request, origins, existing, _directory_state(host, directory, mounts))
        else:
            majmin_devices = {}
            for entry in list(existing.values()) + [{"table": {"origin": r.get("origin_major_minor")}} for r in record.values()]:
                majmin = entry["table"]["origin"]
                if majmin and majmin not in majmin_devices:
                    kernel_name = host.kernel_name_of(majmin)
                    if kernel_name:
                        majmin_devices[majmin] = "/dev/" + kernel_name
            plan = plan_absent(dict(request, files=directory.files()), origins, existing, record, majmin_devices)
    except OverlayError as error:
        result = dict(base, msg=str(error))
        if error.command is not None:
            result.update({key: value for key, value in error.command.as_dict().items() if key != "msg"})
        return True, result
    commands = [step["argv"] for step in plan["steps"]]
    if plan["refusals"]:
        return True, dict(base, msg=refusal_message(plan["refusals"]), refusals=plan["refusals"], overlays=plan["overlays"])
    if check_mode or not plan["steps"]:
        verb = "would run" if plan["steps"] else "nothing to do"
        return False, dict(base, changed=bool(plan["steps"]), commands=commands, overlays=plan["overlays"],
                           msg="%s: %d command(s)" % (verb, len(commands)) if plan["steps"] else verb)
    failure = None
    try:
        ran = _run_steps(runner, plan["steps"])
    except CommandError as error:
        failure = error
        ran = []
    finally:
        after = host.snapshots()
        _update_record(directory, record, params["state"], plan, origins or [], after)
    if failure is not None:
        undone = getattr(failure, "undone", [])
        return True, dict(base, changed=True, commands=commands, undone=undone,
                          msg=str(failure) + ("; the steps already run for that overlay were undone" if undone else ""),
                          overlays=_reports(after, origins or [], record), **{k: v for k, v in failure.as_dict().items() if k != "msg"})
    reports = _reports(after, origins or [], directory.read_record()) if params["state"] == "present" else plan["overlays"]
    return False, dict(base, changed=True, commands=[step["argv"] for step in ran], overlays=reports,
                       msg="ran %d command(s)" % len(ran))


def _reports(after: dict, origins: list[dict], record: dict) -> list[dict]:
    by_majmin = {origin["major_minor"]: origin for origin in origins}
    reports = []
    for name, entry in sorted(after.items()):
        origin = by_majmin.get(entry["table"]["origin"])
        if origin is not None:
            reports.append(overlay_report(name, entry, dict(origin, read_only=True), record.get(name)))
    return reports


def _update_record(directory: LocalDirectory, record: dict, state: str, plan: dict, origins: list[dict], after: dict
                   ) -> None:
    """Remember, per overlay, its origin and whether this module made the origin read-only."""
    updated = dict(record)
    if state == "present":
        set_ro = {step["argv"][-1] for step in plan["steps"] if step["kind"] == "setro"}
        for origin in origins:
            for name, entry in after.items():
                if entry["table"]["origin"] != origin["major_minor"]:
                    continue
                previous = updated.get(name) or {}
                updated[name] = {
                    "origin": origin["device"], "origin_major_minor": origin["major_minor"],
                    "origin_serial": origin.get("serial"), "origin_stable_name": origin.get("stable_name"),
                    "cow_file": entry.get("cow_file"),
                    "set_read_only": bool(previous.get("set_read_only")) or origin["device"] in set_ro,
                }
    else:
        for name in plan.get("forget", []):
            if name not in after:
                updated.pop(name, None)
    if updated != record:
        directory.write_record(updated)
