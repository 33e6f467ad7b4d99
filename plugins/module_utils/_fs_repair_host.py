# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: fs_repair on the managed host - gathers the stack, runs the one step asked for.

Decisions are made in _repair_plan and outputs read in _fsck_report; this file runs commands.
Only the `apply` step writes to the stack, and only after _repair_plan.apply_refusals is empty.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
import time

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._fsck_report import (
    NOT_A_FILE,
    UNREADABLE,
    compare_listings,
    entry_paths,
    interpret,
)
from ansible_collections.lifeline.storage.plugins.module_utils._overlay_host import OverlayError, OverlayHost
from ansible_collections.lifeline.storage.plugins.module_utils._repair_plan import (
    FS_TYPES,
    OVERLAY_PLACEHOLDER,
    apply_refusals,
    directory_names,
    directory_refusals,
    file_system_type,
    find_target,
    refusal_message,
    stack_refusals,
    step_commands,
    walk_stack,
)
from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import gather_storage_facts

# exit status of a finished run: e2fsck's 0..3 and 4 (errors left), xfs_repair's 0..2.
CHECK_RCS = {"e2fsck": tuple(range(0, 16)), "xfs_repair": (0, 1, 2)}
# mount options that neither replay a journal nor write anything, on the overlay only.
READ_ONLY_MOUNT = {"xfs": "ro,norecovery", "ext4": "ro,noload", "ext3": "ro,noload", "ext2": "ro"}


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def survey(runner, files, request: str) -> dict:
    """The file system REQUEST names, its stack and every refusal that stands against touching it."""
    facts = gather_storage_facts(runner, files, ["md", "smart", "disks"])
    disks = facts.get("lifeline_disks") or {}
    devices = disks.get("devices") or []
    if not disks.get("available", True) and not devices:
        return {"refusals": [{"rule": "stack_unknown", "subject": request,
                              "detail": "the disks facts could not be gathered: %s" % disks.get("error")}],
                "unknowns": [], "layers": [], "target": None, "fstype": None, "facts": facts}
    real = os.path.realpath(request) if request.startswith("/dev/") else None
    target = find_target(request, real, devices)
    if target is None:
        return {"refusals": [{"rule": "not_found", "subject": request, "detail": "%s is neither a block device nor a "
                              "mount point on this host" % request}],
                "unknowns": [], "layers": [], "target": None, "fstype": None, "facts": facts}
    layers = walk_stack(target["kernel_name"], devices)
    refusals, unknowns = stack_refusals(layers, facts)
    fstype = file_system_type(target)
    if fstype not in FS_TYPES:
        refusals.append({"rule": "file_system_type", "subject": target["device"],
                         "detail": "%s carries %s: fs_repair handles ext2, ext3, ext4 and xfs"
                         % (target["device"], fstype or "no single file system signature")})
    if target.get("mountpoints"):
        refusals.append({"rule": "mounted", "subject": target["device"],
                         "detail": "%s is mounted on %s: a check of a mounted file system reads a moving target and a "
                         "repair of one corrupts it; unmount it first" % (target["device"], ", ".join(target["mountpoints"]))})
    return {"refusals": refusals, "unknowns": unknowns, "layers": layers, "target": target, "fstype": fstype,
            "devices": devices}


def _run_fsck(runner, fstype: str, argv: list[str], no_modify: bool) -> dict:
    tool = argv[0]
    started = time.monotonic()
    try:
        result = runner.run(tool, argv[1:], ok_rcs=CHECK_RCS[tool])
    except CommandError as error:
        return {"cmd": error.cmd, "rc": error.rc, "stdout": error.stdout, "stderr": error.stderr, "report": None,
                "seconds": round(time.monotonic() - started, 1), "error": str(error)}
    output = result.stdout + ("\n" + result.stderr if result.stderr else "")
    return {"cmd": argv, "rc": result.rc, "stdout": result.stdout, "stderr": result.stderr,
            "report": interpret(fstype, output, result.rc, no_modify), "seconds": round(time.monotonic() - started, 1)}


def walk_listing(root: str) -> tuple[dict[str, int], dict[int, str], str | None]:
    """Every path below ROOT on ROOT's file system: its size for a regular file, NOT_A_FILE, or UNREADABLE when the
    directory names it but its inode cannot be read (a damaged inode). Also each directory's path by inode number
    ("" for ROOT: xfs_repair names directories by inode only) and the directories that could not be read."""
    listing: dict[str, int] = {}
    unread: list[str] = []
    root_status = os.lstat(root)
    device = root_status.st_dev
    directories = {root_status.st_ino: ""}
    todo = [""]
    while todo:
        relative = todo.pop()
        try:
            entries = list(os.scandir(os.path.join(root, relative) if relative else root))
        except OSError as error:
            unread.append("%s: %s" % (relative or "/", error.strerror))
            continue
        for entry in entries:
            path = posixpath.join(relative, entry.name) if relative else entry.name
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError:
                listing[path] = UNREADABLE
                continue
            if entry.is_dir(follow_symlinks=False):
                listing[path] = NOT_A_FILE
                if status.st_dev == device:
                    directories[status.st_ino] = path
                    todo.append(path)
            else:
                listing[path] = status.st_size if entry.is_file(follow_symlinks=False) else NOT_A_FILE
    return listing, directories, ("directories that could not be read: " + "; ".join(sorted(unread))) if unread else None


def _listing(runner, device: str, fstype: str) -> tuple[dict | None, dict[int, str], str | None]:
    """Every path on DEVICE with its size, read from a read-only mount of it (an overlay: nothing reaches the origin),
    and the directories by inode number."""
    mount_point = tempfile.mkdtemp(prefix="lifeline-repair-")
    try:
        try:
            runner.run("mount", ["-t", fstype, "-o", READ_ONLY_MOUNT.get(fstype, "ro"), device, mount_point])
        except CommandError as error:
            return None, {}, "could not mount %s read-only: %s" % (device, (error.stderr or str(error)).strip())
        try:
            return walk_listing(mount_point)
        finally:
            runner.run("umount", [mount_point])
    finally:
        os.rmdir(mount_point)


def _overlay_origin(runner, files, overlay_device: str) -> str | None:
    """The /dev path of the device OVERLAY_DEVICE is a device-mapper snapshot of, or None when it is none."""
    host = OverlayHost(runner, files)
    real = os.path.realpath(overlay_device)
    for name, snapshot in host.snapshots().items():
        if snapshot["kernel_name"] and "/dev/" + snapshot["kernel_name"] == real or overlay_device == "/dev/mapper/" + name:
            origin = host.kernel_name_of(snapshot["table"]["origin"])
            return "/dev/" + origin if origin else None
    return None


def run_fs_repair(params: dict, runner, files, check_mode: bool) -> tuple[bool, dict]:
    """(failed, result) of the step PARAMS names."""
    step = params["step"]
    found = survey(runner, files, params["filesystem"])
    target, fstype = found["target"], found["fstype"]
    device = target["device"] if target else None
    result = {"changed": False, "step": step, "filesystem": params["filesystem"], "device": device, "fstype": fstype,
              "run_id": params.get("run_id"), "stack": found["layers"], "refusals": found["refusals"],
              "unknowns": found["unknowns"], "commands": step_commands(fstype or "ext4", device or "DEVICE")}
    refusals = list(found["refusals"])
    backup_file = None
    if step == "backup" and target:
        directory = params.get("backup_directory")
        if not directory or not os.path.isdir(directory):
            refusals.append({"rule": "directory_missing", "subject": str(directory),
                             "detail": "backup_directory %r does not exist" % (directory,)})
        else:
            names = directory_names(os.path.realpath(directory), found["devices"])
            if names is None:
                refusals.append({"rule": "directory_unknown", "subject": directory,
                                 "detail": "no mount in the disks facts holds %s, so it is unknown whether it lies on "
                                           "the stack" % directory})
            else:
                refusals.extend(directory_refusals(names, found["layers"], directory))
            suffix = "xfs.metadump" if fstype == "xfs" else "e2i.qcow2"
            backup_file = posixpath.join(directory, "%s-%s.%s" % (target["kernel_name"], time.strftime("%Y%m%dT%H%M%S"), suffix))
            result["commands"] = step_commands(fstype or "ext4", device, backup_file)
    if step == "apply" and target:
        refusals.extend(apply_refusals(device, params.get("confirm_device"), params.get("rehearsal"),
                                       params.get("backup"), params.get("run_id") or ""))
        backup = params.get("backup") or {}
        if backup.get("path") and backup.get("sha256"):
            if not os.path.isfile(backup["path"]) or sha256_of(backup["path"]) != backup["sha256"]:
                refusals.append({"rule": "no_backup", "subject": backup["path"],
                                 "detail": "the metadata backup %s is missing or its sha256 differs from the one "
                                           "recorded" % backup["path"]})
    overlay_device = params.get("overlay_device")
    if step == "rehearse" and target and not refusals:
        if not overlay_device:
            refusals.append({"rule": "no_overlay", "subject": device, "detail": "the rehearsal needs overlay_device: "
                             "an overlay of %s made with lifeline.storage.overlay" % device})
        else:
            try:
                origin = _overlay_origin(runner, files, overlay_device)
            except OverlayError as error:
                origin, result["overlay_error"] = None, str(error)
            if origin != device:
                refusals.append({"rule": "not_an_overlay", "subject": overlay_device,
                                 "detail": "%s is no device-mapper snapshot of %s (its origin: %s); the rehearsal runs on an "
                                           "overlay only" % (overlay_device, device, origin)})
    result["refusals"] = refusals
    if refusals:
        result["msg"] = refusal_message(refusals)
        return step != "plan", result
    if step == "plan" or check_mode:
        result["msg"] = "nothing stands against the %s step; check mode ran nothing" % step if check_mode else \
            "nothing stands against a repair of %s (%s); the steps are in commands" % (device, fstype)
        result["changed"] = check_mode and step in ("backup", "apply")
        return False, result
    commands = result["commands"]
    if step == "check":
        result["check"] = _run_fsck(runner, fstype, commands["check"], True)
        result["msg"] = "read-only check of %s: exit status %s" % (device, result["check"]["rc"])
        return result["check"]["report"] is None, result
    if step == "backup":
        tool = commands["backup"][0]
        try:
            runner.run(tool, commands["backup"][1:])
        except CommandError as error:
            result.update(msg="the metadata backup failed: %s" % error, error=error.as_dict())
            return True, result
        result["changed"] = True
        result["backup"] = {"source": device, "path": backup_file, "sha256": sha256_of(backup_file),
                            "size_bytes": os.path.getsize(backup_file), "tool": tool}
        result["msg"] = "metadata of %s saved to %s" % (device, backup_file)
        return False, result
    if step == "rehearse":
        before, _directories, before_error = _listing(runner, overlay_device, fstype)
        repair_argv = [overlay_device if word == OVERLAY_PLACEHOLDER else word for word in commands["rehearse"]]
        rehearsal = _run_fsck(runner, fstype, repair_argv, False)
        after, directories, after_error = _listing(runner, overlay_device, fstype)
        report = rehearsal["report"]
        if report is not None and report["junked_entries"]:
            report["cleared_entries"] = entry_paths(report["junked_entries"], directories)
        removed = [path.lstrip("/") for path in report["cleared_entries"]] if report is not None else []
        result["rehearsal"] = dict(rehearsal, step="rehearse", origin=device, overlay_device=overlay_device,
                                   run_id=params.get("run_id"), changes=compare_listings(before, after, removed),
                                   listing_errors=[text for text in (before_error, after_error) if text])
        result["changed"] = True
        result["msg"] = "rehearsal on %s: exit status %s" % (overlay_device, rehearsal["rc"])
        return rehearsal["report"] is None, result
    repaired = _run_fsck(runner, fstype, commands["repair"], False)
    result.update(repair=repaired, changed=True, msg="repair of %s: exit status %s" % (device, repaired["rc"]))
    return repaired["report"] is None, result
