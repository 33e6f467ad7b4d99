# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: which bytes of two devices mirror_compare compares, and the run itself.

A mirror member holds the array's data from its md data offset on; what lies before (1.1, 1.2)
or after it (0.90, 1.0) is the member's own superblock, bitmap and bad-block log, which differ
between members by design. Each device's data area comes from `mdadm --examine` unless the
operator gives offset (and length). Nothing here opens a device for writing.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_examine
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_compare import (
    PAGE_SIZE,
    FileRangeReader,
    ReadFailed,
    compare_ranges,
)
from ansible_collections.lifeline.storage.plugins.module_utils._parse_common import MAX_DIGITS
from ansible_collections.lifeline.storage.plugins.module_utils._paths import relative_path_error

SECTOR = 512
NO_SUPERBLOCK = "no md superblock"
SYS_CLASS_BLOCK = "/sys/class/block"
# Buffers in flight are (read-ahead + 1) per device; keep that well below a rescue system's memory.
MAX_BLOCK_SIZE = 256 * 1024 * 1024

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
    if len(devices) != 2:
        errors.append("devices must name exactly two devices to compare, got %d" % len(devices))
    elif devices[0] == devices[1]:
        errors.append("devices lists %s twice; compare two different devices" % devices[0])
    errors += [error for error in (relative_path_error("devices", device) for device in devices) if error]
    if offset is not None and offset < 0:
        errors.append("offset must be 0 or more, got %d" % offset)
    if length is not None and length < 1:
        errors.append("length must be at least 1, got %d" % length)
    if block_size < PAGE_SIZE or block_size % PAGE_SIZE or block_size > MAX_BLOCK_SIZE:
        errors.append("block_size must be a multiple of %d between %d and %d, got %d"
                      % (PAGE_SIZE, PAGE_SIZE, MAX_BLOCK_SIZE, block_size))
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


def plan_comparison(paths: list[str], offset: int | None, length: int | None, examine) -> dict:
    """The two ranges to compare: per device path, size, offset and data area, plus length and warnings.

    EXAMINE(path) -> DataArea is called only when OFFSET is not given.
    """
    devices = [inspect_device(path) for path in paths]
    if devices[0].identity == devices[1].identity:
        raise PlanError("%s and %s are the same %s; compare two different devices"
                        % (paths[0], paths[1], devices[0].identity[0]))
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
        if entries[0]["data_size"] != entries[1]["data_size"]:
            warnings.append("the data areas differ in size (%s: %d bytes, %s: %d bytes); only the first %d bytes "
                            "are compared" % (entries[0]["path"], entries[0]["data_size"], entries[1]["path"],
                                              entries[1]["data_size"], length))
    uuids = {area.array_uuid for area in areas}
    if None not in uuids and len(uuids) == 2:
        warnings.append("%s and %s belong to different md arrays (%s); they are not mirrors of each other"
                        % (paths[0], paths[1], " and ".join(area.array_uuid or "" for area in areas)))
    for entry in entries:
        if entry["holders"]:
            warnings.append("%s is in use by %s: data written while it is read can show up as differences"
                            % (entry["path"], ", ".join(entry["holders"])))
    return {"devices": entries, "length": length, "length_source": length_source, "warnings": warnings}


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
    first, second = plan["devices"]
    try:
        with FileRangeReader(first["path"]) as reader_a, FileRangeReader(second["path"]) as reader_b:
            comparison = compare_ranges(reader_a, first["offset"], reader_b, second["offset"], plan["length"],
                                        block_size=block_size, max_regions=max_regions)
    except OSError as error:
        raise PlanError("cannot open %s read-only: %s" % (error.filename, error.strerror or error)) from None
    except ReadFailed as error:
        raise PlanError(str(error)) from None
    result = comparison.as_dict()
    devices = [dict(entry) for entry in plan["devices"]]
    if comparison.first_difference is not None:
        for entry in devices:
            entry["first_difference_at"] = entry["offset"] + comparison.first_difference
    result.update({"devices": devices, "length": plan["length"], "length_source": plan["length_source"]})
    return result
