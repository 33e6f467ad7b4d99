# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: which bytes of the devices mirror_compare compares, and the run itself.

A mirror member holds the array's data from its md data offset on; what lies before (1.1, 1.2)
or after it (0.90, 1.0) is the member's own superblock, bitmap and bad-block log, which differ
between members by design. Each device's data area comes from `mdadm --examine` unless the
operator gives offset (and length). Nothing here opens a device for writing.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass, field

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_examine
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_compare import (
    PAGE_SIZE,
    READ_AHEAD_BLOCKS,
    FileRangeReader,
    ReadFailed,
    compare_members,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_members import member_names, name_regions
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import MAX_DIGITS
from ansible_collections.lifeline.storage.plugins.module_utils._paths import relative_path_error

SECTOR = 512
NO_SUPERBLOCK = "no md superblock"
SYS_CLASS_BLOCK = "/sys/class/block"
# Buffers in flight are (read-ahead + 1) per device; keep that well below a rescue system's memory.
MAX_BLOCK_SIZE = 256 * 1024 * 1024
# All devices' buffers together: what two devices at the largest block size hold.
MAX_BUFFER_BYTES = 2 * (READ_AHEAD_BLOCKS + 1) * MAX_BLOCK_SIZE

# "202752 sectors (99.00 MiB 103.81 MB)", "102336 (99.94 MiB 104.79 MB)", "101376 KiB (...)".
_SIZE_VALUE_RE = re.compile(r"^(?P<number>\d+)(?:\s+(?P<unit>sectors|KiB|K))?\s*(?:\((?P<human>\d+(?:\.\d+)?)\s*(?P<human_unit>[KMGTP]iB)\b)?")
_BINARY_UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50}
_NO_SUPERBLOCK_RE = re.compile(r"No md superblock detected", re.IGNORECASE)


class PlanError(RuntimeError):
    """A reason not to compare, for fail_json; DETAILS carries cmd/rc/stdout/stderr of a failed command."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


@dataclass
class DataArea:
    """Where a device's mirrored data starts, and how long it is when the superblock says so."""

    offset: int
    offset_source: str
    size: int | None = None
    size_source: str | None = None
    array_uuid: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Device:
    path: str
    size: int
    identity: tuple
    holders: list[str]


def option_errors(devices: list[str], offset: int | None, length: int | None, block_size: int,
                  max_regions: int, timeout: int) -> list[str]:
    """What is wrong with the options as given, before any device is looked at."""
    errors = []
    if len(devices) < 2:
        errors.append("devices must name at least two devices to compare, got %d" % len(devices))
    for device in sorted({device for device in devices if devices.count(device) > 1}):
        errors.append("devices lists %s %d times; name each device once" % (device, devices.count(device)))
    errors += [error for error in (relative_path_error("devices", device) for device in devices) if error]
    if offset is not None and offset < 0:
        errors.append("offset must be 0 or more, got %d" % offset)
    if length is not None and length < 1:
        errors.append("length must be at least 1, got %d" % length)
    if block_size < PAGE_SIZE or block_size % PAGE_SIZE or block_size > MAX_BLOCK_SIZE:
        errors.append("block_size must be a multiple of %d between %d and %d, got %d"
                      % (PAGE_SIZE, PAGE_SIZE, MAX_BLOCK_SIZE, block_size))
    elif len(devices) * (READ_AHEAD_BLOCKS + 1) * block_size > MAX_BUFFER_BYTES:
        errors.append("%d devices with block_size %d would hold %d MiB of buffers, more than %d MiB; lower block_size"
                      % (len(devices), block_size, len(devices) * (READ_AHEAD_BLOCKS + 1) * block_size >> 20,
                         MAX_BUFFER_BYTES >> 20))
    if max_regions < 0:
        errors.append("max_regions must be 0 or more, got %d" % max_regions)
    if timeout < 1:
        errors.append("timeout must be at least 1, got %d" % timeout)
    return errors


def examine_size_bytes(value: str | None, metadata_version: str) -> int | None:
    """A size field of `mdadm --examine` in bytes, or None.

    mdadm 3.x printed 1.x sizes as bare sectors and 0.90 sizes as bare KiB; later versions add
    the unit word. Without the word, the human-readable size in parentheses decides, and only
    when that is missing too (sizes under 5 MB) the metadata version does.
    """
    match = _SIZE_VALUE_RE.match(value or "")
    if not match or len(match.group("number")) > MAX_DIGITS:
        return None
    number = int(match.group("number"))
    unit = match.group("unit")
    if unit == "sectors":
        return number * SECTOR
    if unit in ("KiB", "K"):
        return number * 1024
    if match.group("human"):
        shown = float(match.group("human")) * _BINARY_UNITS[match.group("human_unit")]
        return min((number * SECTOR, number * 1024), key=lambda candidate: abs(candidate - shown))
    return number * (1024 if metadata_version.startswith("0.") else SECTOR)


def data_area_from_examine(device: str, rc: int, stdout: str, stderr: str) -> DataArea:
    """DEVICE's data area from the exit code and output of `mdadm --examine DEVICE`.

    Raises PlanError for container metadata (DDF, IMSM), whose volumes do not start at an offset
    --examine prints, and for output that is not understood.
    """
    if rc != 0:
        if _NO_SUPERBLOCK_RE.search(stderr):
            return DataArea(0, NO_SUPERBLOCK)
        raise PlanError("mdadm --examine %s failed (exit %d): %s" % (device, rc, stderr.strip() or "no error output"))
    try:
        blocks = parse_mdadm_examine(stdout)
    except ParseError as error:
        raise PlanError("cannot read the md superblock of %s: %s" % (device, error)) from None
    if len(blocks) != 1:
        raise PlanError("mdadm --examine %s printed %d devices, expected one" % (device, len(blocks)))
    examined = next(iter(blocks.values()))
    kind = examined["superblock"]
    if kind in (None, "mbr"):
        # A partition table, or an assembled array's own view: no member superblock on this device.
        return DataArea(0, NO_SUPERBLOCK)
    if kind != "md":
        raise PlanError("%s holds %s metadata (magic %s): its volumes do not start at an offset mdadm --examine "
                        "prints; give offset and length explicitly" % (device, kind.upper(), examined["magic"]))
    version = examined["version"] or "unknown version"
    fields = examined["fields"]
    if version.startswith("0."):
        offset = 0
    else:
        offset = (examined["data_offset_sectors"] or 0) * SECTOR
    area = DataArea(offset, "md superblock (%s)" % version, array_uuid=examined["array_uuid"])
    for name in ("Used Dev Size", "Avail Dev Size"):
        size = examine_size_bytes(fields.get(name), version)
        if size:
            area.size, area.size_source = size, "md superblock (%s)" % name
            break
    if "New Offset" in fields or "Reshape pos'n" in fields:
        area.warnings.append("%s is in the middle of a reshape: part of its data may not be at the data offset "
                             "%d yet; differences are expected" % (device, offset))
    return area


def examine_with_mdadm(runner, device: str) -> DataArea:
    if not runner.has("mdadm"):
        raise PlanError("offset was not given, so the data offset of %s must come from its md superblock, but mdadm "
                        "is not installed on this host; install mdadm or give offset (and length)" % device)
    try:
        result = runner.run("mdadm", ["--examine", device], ok_rcs=(0, 1))
    except CommandError as error:
        details = error.as_dict()
        details.pop("msg")
        raise PlanError(str(error), details) from None
    try:
        return data_area_from_examine(device, result.rc, result.stdout, result.stderr)
    except PlanError as error:
        raise PlanError(str(error), {"cmd": result.cmd, "rc": result.rc, "stdout": result.stdout,
                                     "stderr": result.stderr}) from None


def device_holders(path: str, sys_class_block: str = SYS_CLASS_BLOCK) -> list[str]:
    """Kernel names of what holds a block device open as a member (md arrays, device-mapper)."""
    holders_dir = os.path.join(sys_class_block, os.path.basename(os.path.realpath(path)), "holders")
    try:
        return sorted(os.listdir(holders_dir))
    except OSError:
        return []


def inspect_device(path: str) -> Device:
    """Size and identity of a block device or regular file; PlanError for anything else."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise PlanError("%s does not exist" % path) from None
    except OSError as error:
        raise PlanError("cannot look at %s: %s" % (path, error.strerror or error)) from None
    if stat.S_ISBLK(status.st_mode):
        identity: tuple = ("block device", status.st_rdev)
        holders = device_holders(path)
    elif stat.S_ISREG(status.st_mode):
        identity, holders = ("regular file", status.st_dev, status.st_ino), []
    else:
        raise PlanError("%s is neither a block device nor a regular file" % path)
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            size = os.lseek(descriptor, 0, os.SEEK_END)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise PlanError("cannot open %s read-only: %s" % (path, error.strerror or error)) from None
    return Device(path, size, identity, holders)


def _same_device_error(devices: list[Device]) -> PlanError | None:
    seen: dict[tuple, str] = {}
    for device in devices:
        if device.identity in seen:
            return PlanError("%s and %s are the same %s; compare different devices"
                             % (seen[device.identity], device.path, device.identity[0]))
        seen[device.identity] = device.path
    return None


def plan_comparison(paths: list[str], offset: int | None, length: int | None, examine, identify=None) -> dict:
    """The ranges to compare: per device path, size, offset, data area and name, plus length and warnings.

    EXAMINE(path) -> DataArea is called only when OFFSET is not given. IDENTIFY(block device paths)
    -> ({path: {serial, partition, ...}}, error or None) names the members; it is called only when
    there are block devices, and without it every member is named by its path.
    """
    devices = [inspect_device(path) for path in paths]
    same = _same_device_error(devices)
    if same:
        raise same
    if offset is None:
        areas = [examine(device.path) for device in devices]
    else:
        areas = [DataArea(offset, "option") for _device in devices]
    warnings = [warning for area in areas for warning in area.warnings]
    entries = []
    for device, area in zip(devices, areas):
        if area.offset >= device.size:
            raise PlanError("offset %d (%s) is at or beyond the end of %s, which has %d bytes"
                            % (area.offset, area.offset_source, device.path, device.size))
        entries.append(_device_entry(device, area, warnings))
    if length is not None:
        for entry in entries:
            if entry["offset"] + length > entry["size"]:
                raise PlanError("length %d from offset %d runs %d bytes past the end of %s, which has %d bytes"
                                % (length, entry["offset"], entry["offset"] + length - entry["size"],
                                   entry["path"], entry["size"]))
        length_source = "option"
    else:
        smaller = min(entries, key=lambda entry: entry["data_size"])
        length = smaller["data_size"]
        length_source = "data area of %s: %s" % (smaller["path"], smaller["data_size_source"])
        if len({entry["data_size"] for entry in entries}) > 1:
            warnings.append("the data areas differ in size (%s); only the first %d bytes are compared"
                            % (", ".join("%s: %d bytes" % (entry["path"], entry["data_size"]) for entry in entries), length))
    warnings += _array_warnings(paths, areas)
    for entry in entries:
        if entry["holders"]:
            warnings.append("%s is in use by %s: data written while it is read can show up as differences"
                            % (entry["path"], ", ".join(entry["holders"])))
    warnings += _name_members(entries, devices, identify)
    return {"devices": entries, "length": length, "length_source": length_source, "warnings": warnings}


def _array_warnings(paths: list[str], areas: list[DataArea]) -> list[str]:
    """A warning when the superblocks found name more than one array (devices without one are not counted)."""
    carriers = [(path, area.array_uuid) for path, area in zip(paths, areas) if area.array_uuid]
    if len({uuid for _path, uuid in carriers}) < 2:
        return []
    if len(paths) == 2:
        return ["%s and %s belong to different md arrays (%s); they are not mirrors of each other"
                % (paths[0], paths[1], " and ".join(uuid for _path, uuid in carriers))]
    return ["the devices belong to different md arrays (%s); only members of one array mirror each other"
            % ", ".join("%s: %s" % carrier for carrier in carriers)]


def _name_members(entries: list[dict], devices: list[Device], identify) -> list[str]:
    """Set each entry's serial and member name; warnings when serials were wanted but are unknown."""
    block_paths = [device.path for device in devices if device.identity[0] == "block device"]
    identities: dict[str, dict] = {}
    error = None
    if identify is not None and block_paths:
        identities, error = identify(block_paths)
    names = member_names([entry["path"] for entry in entries], identities)
    for entry, name in zip(entries, names):
        entry["serial"] = (identities.get(entry["path"]) or {}).get("serial")
        entry["member"] = name
    if error and len(entries) > 2:
        return ["serials could not be read (%s); members without one are named by their paths" % error]
    return []


def _device_entry(device: Device, area: DataArea, warnings: list[str]) -> dict:
    to_end = device.size - area.offset
    data_size, data_size_source = to_end, "device size minus offset"
    if area.size is not None:
        if area.size <= to_end:
            data_size, data_size_source = area.size, area.size_source
        else:
            warnings.append("%s: the %s says %d bytes of data, but only %d bytes follow the data offset; "
                            "the device is shorter than its superblock expects" % (device.path, area.size_source, area.size, to_end))
    return {"path": device.path, "size": device.size, "offset": area.offset, "offset_source": area.offset_source,
            "data_size": data_size, "data_size_source": data_size_source, "holders": device.holders,
            "first_difference_at": None}


def run_plan(plan: dict, block_size: int, max_regions: int) -> dict:
    """Compare the planned ranges; the module's result, without changed and warnings."""
    try:
        with contextlib.ExitStack() as stack:
            sources = [(stack.enter_context(FileRangeReader(entry["path"])), entry["offset"]) for entry in plan["devices"]]
            comparison = compare_members(sources, plan["length"], block_size=block_size, max_regions=max_regions)
    except OSError as error:
        raise PlanError("cannot open %s read-only: %s" % (error.filename, error.strerror or error)) from None
    except ReadFailed as error:
        raise PlanError(str(error)) from None
    result = comparison.as_dict()
    devices = [dict(entry) for entry in plan["devices"]]
    names = [entry["member"] for entry in devices]
    for index, entry in enumerate(devices):
        if comparison.first_difference is not None:
            entry["first_difference_at"] = entry["offset"] + comparison.first_difference
        entry["disagreeing_bytes"] = comparison.disagreeing_bytes[index]
        entry["disagreeing_regions"] = comparison.disagreeing_regions[index]
    result.update({
        "regions": name_regions(result["regions"], names),
        "disagreeing_members": [name for name, count in zip(names, comparison.disagreeing_regions) if count],
        "devices": devices, "length": plan["length"], "length_source": plan["length_source"]})
    return result
