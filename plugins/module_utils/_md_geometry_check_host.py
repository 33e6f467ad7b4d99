# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: md_geometry_check on a host - read the snapshot and the array, compare.

The snapshot's files are checked against its manifest before they are believed. The array is
read with O_RDONLY at the offsets the recorded geometry gives (_md_sample_check decides), and
described with `mdadm --detail` and `mdadm --examine` of its members, which only read. Nothing
here writes to a device or to the snapshot.
"""

from __future__ import annotations

import json
import os

from ansible_collections.lifeline.storage.plugins.module_utils._block_read import device_size, read_range
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap
from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry import normal_uuid
from ansible_collections.lifeline.storage.plugins.module_utils._md_recreate import RecreateError, select_array
from ansible_collections.lifeline.storage.plugins.module_utils._md_sample_check import (
    SnapshotFiles,
    check_samples,
    live_differences,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_detail, parse_mdadm_examine

GEOMETRY_FILE = "md/geometry.json"


class CheckError(RuntimeError):
    """The check cannot run (snapshot unreadable, array not found); nothing was read from the array."""


def _load_geometry(snapshot: SnapshotFiles) -> dict:
    data = snapshot.read(GEOMETRY_FILE)
    if not isinstance(data, bytes):
        raise CheckError("%s of snapshot %s: %s" % (GEOMETRY_FILE, snapshot.directory, data))
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise CheckError("%s of snapshot %s is not JSON: %s" % (GEOMETRY_FILE, snapshot.directory, error))


def _detail(runner, array: str) -> dict:
    try:
        return parse_mdadm_detail(runner.run("mdadm", ["--detail", array]).stdout)
    except CommandError as error:
        raise CheckError("%s is not a running md array: %s" % (array, error))
    except ParseError as error:
        raise CheckError(str(error))


def _examine(runner, detail: dict) -> dict[str, dict]:
    devices = [row["device"] for row in detail.get("devices") or [] if row.get("device")]
    if not devices:
        return {}
    try:
        return parse_mdadm_examine(runner.run("mdadm", ["--examine"] + devices, ok_rcs=(0, 1, 2)).stdout)
    except (CommandError, ParseError):
        # The live comparison then leaves the data offset out; the sample comparison does not need it.
        return {}


def _choose(recorded: dict, uuid: str | None, detail: dict) -> dict:
    arrays = recorded.get("arrays") or []
    if not uuid:
        live = normal_uuid(detail.get("uuid"))
        if any(array.get("uuid") == live for array in arrays):
            uuid = live
    try:
        return select_array(recorded, uuid)
    except RecreateError as error:
        raise CheckError(str(error))


def run_geometry_check(params: dict, runner, files) -> dict:
    """The module's result for PARAMS (snapshot, array, uuid, samples); raises CheckError when it cannot check."""
    directory, array = params["snapshot"], params["array"]
    try:
        snapshot = SnapshotFiles(directory)
    except (OSError, ValueError) as error:
        raise CheckError("cannot read %s/manifest.json: %s" % (directory, getattr(error, "strerror", None) or error))
    recorded = _load_geometry(snapshot)
    detail = _detail(runner, array)
    geometry = _choose(recorded, params.get("uuid"), detail)
    identity = IdentityMap.gather(runner, files)
    devices = list(identity.as_dict().values())
    try:
        size = device_size(array)
    except OSError as error:
        raise CheckError("cannot open %s read-only: %s" % (array, error.strerror or error))
    samples = geometry.get("samples") or []
    data = {sample["path"]: snapshot.read(sample["path"]) for sample in samples if sample.get("path")}
    checked = check_samples(geometry, samples, data, lambda offset, length: read_range(array, offset, length, uncached=True),
                            size, params.get("samples") or None, params.get("skip_bytes") or 0)
    volatile = sorted(path for path in data if snapshot.volatile(path))
    message = "%s: %s. %s" % (array, checked["verdict"], checked["reason"])
    if volatile and checked["verdict"] == "does not match":
        message += (". %d samples were taken under a mounted file system, so writes since the snapshot can explain "
                    "differences there" % len(volatile))
    return {
        "changed": False,
        "msg": message,
        "verdict": checked["verdict"],
        "matches": {"matches": True, "does not match": False}.get(checked["verdict"]),
        "reason": checked["reason"],
        "array": array,
        "array_size_bytes": size,
        "snapshot_id": snapshot.manifest.get("id") or os.path.basename(directory.rstrip("/")),
        "recorded": {key: geometry.get(key) for key in ("uuid", "name", "level", "raid_devices", "chunk_kib", "layout",
                                                        "metadata", "data_offset_sectors", "component_size_kib")},
        "members": checked["members"],
        "unverified": checked["unverified"],
        "counts": checked["counts"],
        "differing_pieces": checked["differing_pieces"],
        "unchecked": checked["unchecked"],
        "volatile_samples": volatile,
        "live_differences": live_differences(geometry, detail, _examine(runner, detail), devices),
        "identity_error": identity.error,
    }
