# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the `mdadm --create --assume-clean` command that rebuilds a recorded geometry.

Only a plan: the argument list and its shell-quoted form, each member with how its device was
found, and the notes an operator must read before running it. Every parameter that decides where
data lies is spelled out (metadata, level, devices, chunk, layout, data offset, component size),
so mdadm's defaults of the day never choose one; the name, home host and UUID are the recorded
ones. A geometry that cannot be rebuilt with mdadm's command line is refused with the reason.
Nothing here runs a command.
"""

from __future__ import annotations

import shlex

from ansible_collections.lifeline.storage.plugins.module_utils._md_layout import LayoutUnknown, parse_raid10_layout

SUPPORTED_METADATA = ("0.90", "1.0", "1.1", "1.2")
SIZED_LEVELS = ("raid1", "raid4", "raid5", "raid6", "raid10")
CHUNKED_LEVELS = ("raid0", "raid4", "raid5", "raid6", "raid10")
# mdadm --create writes the superblocks and the bitmap; --assume-clean keeps md from resyncing,
# so nothing in the data area is written until something else writes to the array.
MISSING = "missing"


class RecreateError(ValueError):
    """The recorded geometry cannot be rebuilt by this plan; the message says why."""


def select_array(recorded: dict, uuid: str | None = None) -> dict:
    """One array's geometry: RECORDED itself, or the one with UUID in a geometry.json document."""
    if not isinstance(recorded, dict):
        raise RecreateError("expected the recorded geometry (md/geometry.json of a snapshot), got %s" % type(recorded).__name__)
    if "arrays" not in recorded:
        if uuid and _digits(recorded.get("uuid")) != _digits(uuid):
            raise RecreateError("the geometry given is array %s, not %s" % (recorded.get("uuid"), uuid))
        return recorded
    arrays = recorded.get("arrays") or []
    if uuid:
        found = [array for array in arrays if _digits(array.get("uuid")) == _digits(uuid)]
        if not found:
            raise RecreateError("no array with UUID %s in the snapshot; it recorded: %s" % (uuid, _listing(arrays)))
        return found[0]
    if len(arrays) != 1:
        raise RecreateError("name the array by UUID: the snapshot recorded %d arrays (%s)" % (len(arrays), _listing(arrays)))
    return arrays[0]


def _digits(uuid: str | None) -> str:
    return "".join(ch for ch in (uuid or "").lower() if ch in "0123456789abcdef")


def _listing(arrays: list[dict]) -> str:
    return ", ".join("%s (%s %s)" % (array.get("uuid"), array.get("name") or "no name", array.get("level")) for array in arrays) or "none"


def _layout_option(geometry: dict) -> str | None:
    level, layout = geometry.get("level"), geometry.get("layout")
    if not layout or layout == "-unknown-":
        return None
    if level == "raid10":
        try:
            near, far, offset = parse_raid10_layout(layout)
        except LayoutUnknown as error:
            raise RecreateError(str(error)) from error
        if near > 1 and far > 1:
            raise RecreateError("RAID10 layout %r (near and far copies at once) cannot be given to mdadm --create" % layout)
        if far > 1:
            return ("o%d" if offset else "f%d") % far
        return "n%d" % near
    if level in ("raid5", "raid6", "raid0"):
        return layout
    return None


def _kib(sectors: int, what: str) -> str:
    if sectors % 2:
        raise RecreateError("%s of %d sectors is not a whole KiB, which mdadm's option takes" % (what, sectors))
    return str(sectors // 2)


def _device_for(member: dict, devices: dict) -> tuple[str, str]:
    """(device, how it was found) for a recorded member."""
    for name in (member.get("key"), member.get("serial") if member.get("partition") is None else None, member.get("wwn"),
                 member.get("stable_name"), member.get("device_uuid")):
        if name and name in devices:
            return str(devices[name]), "given for %s" % name
    if member.get("stable_name"):
        return member["stable_name"], "the by-id name recorded for %s" % member["key"]
    return member["device"], ("the kernel name recorded for %s at snapshot time; kernel names move between boots, check it"
                              % member["key"])


def _member_arguments(geometry: dict, devices: dict, variable_offsets: bool) -> tuple[list[str], list[dict]]:
    arguments, members = [], []
    for member in sorted(geometry.get("members") or [], key=lambda entry: entry["slot"]):
        if member.get("missing"):
            arguments.append(MISSING)
            members.append({"slot": member["slot"], "key": None, "device": MISSING, "found_by": "no member held this slot"})
            continue
        device, found_by = _device_for(member, devices)
        if device == MISSING:
            arguments.append(MISSING)
            members.append({"slot": member["slot"], "key": member["key"], "device": MISSING, "found_by": found_by})
            continue
        argument = device
        if variable_offsets:
            argument = "%s:%s" % (device, _kib(member["data_offset_sectors"], "the data offset of %s" % member["key"]))
        arguments.append(argument)
        members.append({"slot": member["slot"], "key": member["key"], "serial": member.get("serial"), "device": device,
                        "found_by": found_by})
    return arguments, members


def recreate_plan(geometry: dict, devices: dict | None = None, array: str | None = None) -> dict:
    """The plan for one array's recorded GEOMETRY.

    DEVICES maps a member's key (serial, or serial-partN), serial, WWN, by-id name or device UUID to
    the device to use now; the value "missing" leaves that member out. A member not in it is named
    by its recorded by-id path. ARRAY is the md device to create (default: the one it ran as).
    """
    devices = devices or {}
    metadata, level = geometry.get("metadata"), geometry.get("level")
    if metadata not in SUPPORTED_METADATA:
        raise RecreateError("metadata %r is not an md superblock mdadm --create can write here (containers are not planned)" % metadata)
    if not level or not geometry.get("raid_devices"):
        raise RecreateError("the level or the number of raid devices was not recorded")
    for problem in geometry.get("problems") or []:
        if "reshape" in problem or "journal" in problem:
            raise RecreateError("not planned: %s" % problem)
    notes = []
    target = array or ("/dev/" + geometry["running_as"] if geometry.get("running_as") else None)
    if not target:
        raise RecreateError("the array was not running when the snapshot was taken: name the md device to create (array=/dev/mdN)")
    argv = ["mdadm", "--create", target, "--assume-clean", "--metadata=" + metadata, "--level=" + level,
            "--raid-devices=%d" % geometry["raid_devices"]]
    if level in CHUNKED_LEVELS:
        if not geometry.get("chunk_kib"):
            raise RecreateError("the chunk size of this %s array was not recorded" % level)
        argv.append("--chunk=%d" % geometry["chunk_kib"])
    layout = _layout_option(geometry)
    if layout:
        argv.append("--layout=" + layout)
    variable = bool(geometry.get("data_offsets_vary"))
    if metadata in ("1.1", "1.2"):
        if variable:
            argv.append("--data-offset=variable")
        elif geometry.get("data_offset_sectors"):
            argv.append("--data-offset=" + _kib(geometry["data_offset_sectors"], "the data offset"))
        else:
            raise RecreateError("the data offset of this %s array was not recorded" % metadata)
    if level in SIZED_LEVELS:
        if not geometry.get("component_size_sectors"):
            raise RecreateError("the component size of this %s array was not recorded" % level)
        argv.append("--size=" + _kib(geometry["component_size_sectors"], "the component size"))
    argv.extend(_bitmap_options(geometry, notes))
    if metadata != "0.90":
        argv.extend(_name_options(geometry))
    if not geometry.get("uuid"):
        raise RecreateError("the array UUID was not recorded")
    argv.append("--uuid=" + geometry["uuid"])
    arguments, members = _member_arguments(geometry, devices, variable)
    absent = [member["slot"] for member in members if member["device"] == MISSING]
    if absent and level in ("raid0", "linear"):
        raise RecreateError("a %s array cannot be created with a member missing (slots %s)" % (level, absent))
    if absent:
        notes.append("slots %s are given as missing: the array comes up degraded" % ", ".join(str(slot) for slot in absent))
    argv.extend(arguments)
    notes.append("mdadm asks before writing over devices that look in use; --run answers yes, read the question first")
    return {
        "uuid": geometry.get("uuid"),
        "array": target,
        "argv": argv,
        "command": " ".join(shlex.quote(argument) for argument in argv),
        "members": members,
        "notes": notes,
    }


def _bitmap_options(geometry: dict, notes: list[str]) -> list[str]:
    bitmap = geometry.get("bitmap")
    if bitmap == "internal":
        return ["--bitmap=internal"]
    if bitmap == "none":
        return ["--bitmap=none"]
    if bitmap == "clustered":
        raise RecreateError("a clustered array (bitmap %s) is not planned" % geometry.get("bitmap_detail"))
    if bitmap == "file":
        notes.append("the array had a bitmap file (%s); it is created without one, add it back with mdadm --grow --bitmap=FILE"
                     % geometry.get("bitmap_detail"))
    else:
        notes.append("whether the array had a bitmap was not recorded; it is created without one")
    return ["--bitmap=none"]


def _name_options(geometry: dict) -> list[str]:
    name, homehost, short = geometry.get("name"), geometry.get("homehost"), geometry.get("short_name")
    if not name:
        # mdadm would name it after the device; the recorded array had no name to rebuild.
        return ["--homehost=<none>"]
    if homehost and short and ":" not in short:
        return ["--name=" + short, "--homehost=" + homehost]
    if ":" in name:
        # A name holding a colon is stored as given, whatever the home host.
        return ["--name=" + name]
    return ["--name=" + name, "--homehost=<none>"]
