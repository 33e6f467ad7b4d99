# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the overlay planner - host state in, steps with their reasons out.

An overlay is a device-mapper snapshot (`snapshot ORIGIN COW N 8`) whose copy-on-write store is
a loop device over a sparse file in a directory the operator names. Writes to the overlay land in
the file; the origin is only read. While overlays exist their origins are marked read-only with
`blockdev --setro`, so nothing else writes to them by mistake. Nothing here runs a command: the
host layer (_overlay_host) gathers the state, runs the steps and writes the record.
"""

from __future__ import annotations

import posixpath
import re

# Non-persistent exception store, 4 KiB chunks: the overlay lives until it is removed or the host
# restarts, and its file is scratch space that is never read back.
SNAPSHOT_PERSISTENCE = "N"
SNAPSHOT_CHUNK_SECTORS = 8
SECTOR_BYTES = 512
COW_SUFFIX = ".cow"
RECORD_FILE = "lifeline-overlays.json"
LOOP_PLACEHOLDER = "{loop}"
# Characters device-mapper and udev take in a name without escaping.
_UNSAFE_NAME_CHARS_RE = re.compile(r"[^A-Za-z0-9_.+-]")
DM_NAME_MAX = 127


def overlay_name(prefix: str, origin: dict) -> str:
    """The device-mapper name of the overlay over ORIGIN: prefix + serial (whole disks), by-id name, or kernel name."""
    if origin.get("type") == "disk" and origin.get("serial"):
        stem = origin["serial"]
    elif origin.get("stable_name"):
        stem = posixpath.basename(origin["stable_name"])
    else:
        stem = origin["kernel_name"]
    return (prefix + _UNSAFE_NAME_CHARS_RE.sub("_", stem))[:DM_NAME_MAX]


def cow_file(directory: str, name: str) -> str:
    return posixpath.join(directory, name + COW_SUFFIX)


def _step(name: str, kind: str, argv: list[str], why: str) -> dict:
    return {"overlay": name, "kind": kind, "argv": argv, "why": why}


def _refusal(rule: str, detail: str) -> dict:
    return {"rule": rule, "detail": detail}


def _describe(origin: dict) -> str:
    return "%s (%s)" % (origin["device"], origin.get("serial") or origin.get("stable_name") or "no serial")


def _ours(name: str, prefix: str, existing: dict, directory: str) -> bool:
    """An overlay this module made in DIRECTORY: our prefix and its store's file in the directory."""
    backing = (existing.get("cow_file") or "")
    return name.startswith(prefix) and posixpath.dirname(backing) == directory.rstrip("/")


def overlay_report(name: str, existing: dict, origin: dict | None, recorded: dict | None) -> dict:
    """What the operator sees of one overlay: its device, origin by serial, store use and validity."""
    status = existing.get("status") or {}
    used = status.get("used_sectors")
    total = status.get("total_sectors")
    return {
        "name": name,
        "device": "/dev/mapper/" + name,
        "origin": (origin or {}).get("device") or (recorded or {}).get("origin"),
        "origin_serial": (origin or {}).get("serial") if origin else (recorded or {}).get("origin_serial"),
        "origin_stable_name": (origin or {}).get("stable_name") if origin else (recorded or {}).get("origin_stable_name"),
        "origin_read_only": (origin or {}).get("read_only"),
        "cow_file": existing.get("cow_file"),
        "cow_device": existing.get("cow_device"),
        "cow_used_bytes": used * SECTOR_BYTES if used is not None else None,
        "cow_size_bytes": total * SECTOR_BYTES if total is not None else None,
        "cow_used_percent": round(100.0 * used / total, 2) if used is not None and total else None,
        "valid": status.get("valid"),
        "status": status.get("state"),
    }


def _origin_refusals(origin: dict, directory_devices: set[str], own_holders: set[str]) -> list[dict]:
    refusals = []
    if origin["kernel_name"] in directory_devices:
        refusals.append(_refusal("directory_on_origin", "the file system holding the overlay directory lies on %s: "
                                 "the copy-on-write files would be written to the device they protect" % _describe(origin)))
    if origin.get("mount_points"):
        refusals.append(_refusal("origin_mounted", "%s is mounted at %s: unmount it first; an overlay of a mounted file "
                                 "system is a torn copy" % (_describe(origin), ", ".join(origin["mount_points"]))))
    others = [holder for holder in origin.get("holders") or [] if holder not in own_holders]
    if others:
        refusals.append(_refusal("origin_in_use", "%s is held by %s: stop what holds it (an md array, a volume group, "
                                 "another device-mapper device) first, so nothing writes beside the overlay"
                                 % (_describe(origin), ", ".join(others))))
    return refusals


def plan_present(request: dict, origins: list[dict], existing: dict[str, dict], directory: dict) -> dict:
    """Steps that make an overlay over every origin, or the refusals that stop them all.

    REQUEST: directory, cow_size_bytes, name_prefix. ORIGINS: identities with major_minor,
    size_sectors, read_only, holders, mount_points. EXISTING: device-mapper snapshots by name,
    each with table (origin/cow MAJOR:MINOR), status, cow_file, cow_device, holder kernel name.
    DIRECTORY: exists, devices (kernel names beneath its file system), free_bytes.
    """
    prefix = request["name_prefix"]
    folder = request["directory"]
    refusals: list[dict] = []
    steps: list[dict] = []
    reports: list[dict] = []
    if not directory.get("exists"):
        refusals.append(_refusal("directory_missing", "%s does not exist or is not a directory: create it on a file "
                                 "system that is not on any origin" % folder))
    own_holders = {entry.get("kernel_name") for entry in existing.values() if entry.get("kernel_name")}
    new = []
    for origin in origins:
        name = overlay_name(prefix, origin)
        found = existing.get(name)
        if found is not None:
            if found["table"]["origin"] != origin["major_minor"]:
                refusals.append(_refusal("name_taken", "device-mapper device %s exists over %s, not over %s"
                                         % (name, found["table"]["origin"], _describe(origin))))
                continue
            reports.append(overlay_report(name, found, origin, None))
            if not origin.get("read_only"):
                steps.append(_step(name, "setro", ["blockdev", "--setro", origin["device"]],
                                   "the origin of an existing overlay is writable again"))
            continue
        refusals.extend(_origin_refusals(origin, set(directory.get("devices") or []), own_holders))
        new.append((name, origin))
    needed = request["cow_size_bytes"] * len(new)
    free = directory.get("free_bytes")
    if new and directory.get("exists") and (free is None or free < needed):
        refusals.append(_refusal("not_enough_space", "%s has %s bytes free; %d new overlays of %d bytes each may need %d"
                                 % (folder, "an unknown number of" if free is None else free, len(new),
                                    request["cow_size_bytes"], needed)))
    for name, origin in new:
        path = cow_file(folder, name)
        if directory.get("files", {}).get(posixpath.basename(path)):
            steps.append(_step(name, "truncate", ["truncate", "--size=0", path],
                               "a file left by an earlier overlay: its old contents are dropped"))
        steps.append(_step(name, "truncate", ["truncate", "--size=%d" % request["cow_size_bytes"], path],
                           "the sparse file that holds what is written to the overlay"))
        steps.append(_step(name, "losetup", ["losetup", "--find", "--show", path], "a block device over that file"))
        if not origin.get("read_only"):
            steps.append(_step(name, "setro", ["blockdev", "--setro", origin["device"]],
                               "nothing may write to the origin while the overlay exists"))
        table = "0 %d snapshot %s %s %s %d" % (origin["size_sectors"], origin["device"], LOOP_PLACEHOLDER,
                                               SNAPSHOT_PERSISTENCE, SNAPSHOT_CHUNK_SECTORS)
        steps.append(_step(name, "create", ["dmsetup", "create", name, "--table", table],
                           "the overlay: reads come from the origin until a block is written, writes go to the file"))
        reports.append(overlay_report(name, {"cow_file": path}, origin, None))
    if refusals:
        steps = []
    return {"refusals": refusals, "steps": steps, "overlays": reports, "new": [name for name, _origin in new]}


def plan_absent(request: dict, origins: list[dict] | None, existing: dict[str, dict], record: dict,
                majmin_devices: dict[str, str]) -> dict:
    """Steps that remove this directory's overlays (those over ORIGINS, or all when ORIGINS is None).

    An origin is set writable again only when this module set it read-only (RECORD says so) and
    no overlay is left over it.
    """
    prefix = request["name_prefix"]
    folder = request["directory"].rstrip("/")
    wanted = None if origins is None else {overlay_name(prefix, origin) for origin in origins}
    ours = {name: entry for name, entry in existing.items() if _ours(name, prefix, entry, folder)}
    removing = sorted(name for name in ours if wanted is None or name in wanted)
    steps: list[dict] = []
    reports = []
    for name in removing:
        entry = ours[name]
        origin_device = majmin_devices.get(entry["table"]["origin"])
        reports.append(overlay_report(name, entry, None, dict(record.get(name) or {}, origin=origin_device)))
        if entry.get("holders"):
            return {"refusals": [_refusal("overlay_in_use", "%s is held by %s: stop or unmount what uses it first"
                                          % (name, ", ".join(entry["holders"])))], "steps": [], "overlays": reports,
                    "removed": [], "forget": []}
        steps.append(_step(name, "remove", ["dmsetup", "remove", name], "the overlay; what was written to it is dropped"))
        if entry.get("cow_device"):
            steps.append(_step(name, "detach", ["losetup", "--detach", entry["cow_device"]], "the loop device over its file"))
        steps.append(_step(name, "delete", ["rm", "--force", "--", entry["cow_file"]], "its copy-on-write file"))
    # Overlays the record names that no longer exist (a restart drops device-mapper devices, not files).
    gone = sorted(name for name in record if name not in existing and (wanted is None or name in wanted))
    for name in gone:
        recorded = record[name]
        if recorded.get("cow_file") and (request.get("files") or {}).get(posixpath.basename(recorded["cow_file"])):
            steps.append(_step(name, "delete", ["rm", "--force", "--", recorded["cow_file"]],
                               "the file of an overlay that no longer exists"))
    remaining_origins = {entry["table"]["origin"] for name, entry in existing.items() if name not in removing}
    restored = set()
    for name in removing + gone:
        recorded = record.get(name) or {}
        majmin = recorded.get("origin_major_minor")
        device = majmin_devices.get(majmin or "")
        if recorded.get("set_read_only") and device and majmin not in remaining_origins and device not in restored:
            restored.add(device)
            steps.append(_step(name, "setrw", ["blockdev", "--setrw", device],
                               "this module set the origin read-only and no overlay is left over it"))
    return {"refusals": [], "steps": steps, "overlays": reports, "removed": removing, "forget": removing + gone}


def refusal_message(refusals: list[dict]) -> str:
    return "refused, nothing was changed:\n" + "\n".join("%s: %s" % (r["rule"], r["detail"]) for r in refusals)


def directory_devices(start: str, graph: dict[str, dict]) -> set[str]:
    """Kernel names of every block device beneath START: itself, what it is built from, their disks.

    GRAPH: kernel name -> {slaves: [...], parent: disk of a partition or None}.
    """
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = graph.get(name) or {}
        todo.extend(node.get("slaves") or [])
        if node.get("parent"):
            todo.append(node["parent"])
    return seen
