"""A host for the disks subset: wipefs, blkid and mountinfo recorded, the rest described here.

The tool outputs are the recordings in tests/unit/fixtures/disks (see its SOURCES.md). What lsblk,
/sys/class/block and /dev/disk/by-id would say on the host those devices belong to could not be
recorded (the devices were image files), so it is described below, consistent with the images:
sizes are the images' sizes, holders and slaves follow the layout the images were written for
(sda2 + sdb -> md0 -> LVM PV -> dm-0 holding LUKS2), and vda is 254:0 as on the machine whose
mountinfo was recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap, build_identity_map

from .recorded_host import ReplayFiles, ReplayRunner

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "disks"
MIB = 1024 * 1024


def _disk(name, size, serial, model=None, transport=None, rotational=True):
    return {"kernel_name": name, "parent": None, "type": "disk", "size_bytes": size, "serial": serial, "wwn": None,
            "model": model, "rotational": rotational, "transport": transport}


def _child(name, parent, kind, size):
    return {"kernel_name": name, "parent": parent, "type": kind, "size_bytes": size, "serial": None, "wwn": None,
            "model": None, "rotational": True, "transport": None}


# As parse_lsblk_json would return them.
BLOCK_DEVICES = [
    _disk("sda", 64 * MIB, "IDE0001", "QEMU HARDDISK", "ata"),
    _child("sda1", "sda", "part", 32 * MIB),
    _child("sda2", "sda", "part", 30 * MIB),
    _disk("sdb", 32 * MIB, "IDE0002", "QEMU HARDDISK", "ata"),
    _child("md0", "sdb", "raid1", 29 * MIB),
    _child("dm-0", "md0", "lvm", 20 * MIB),
    _disk("sdc", 4 * MIB, "VIRT0001"),
    _disk("sdd", 16 * MIB, "VIRT0002"),
    _disk("sde", 16 * MIB, "VIRT0003"),
    _disk("vda", 16 * MIB, "LABROOT"),
    _child("loop0", None, "loop", 0),
    _child("loop1", None, "loop", 8 * MIB),
    _disk("zram0", 0, None, rotational=False),
    _child("sr0", None, "rom", 1073741312),
]
UNREADABLE_DISK = _disk("sdf", 16 * MIB, "VIRT0004")

BY_ID = {
    "ata-QEMU_HARDDISK_IDE0001": "sda", "ata-QEMU_HARDDISK_IDE0001-part1": "sda1", "ata-QEMU_HARDDISK_IDE0001-part2": "sda2",
    "ata-QEMU_HARDDISK_IDE0002": "sdb", "md-uuid-3f5ea966:6745a7df:ab5b0f5c:236f14b9": "md0", "dm-name-vg0-vault": "dm-0",
    "virtio-VIRT0001": "sdc", "virtio-VIRT0002": "sdd", "virtio-VIRT0003": "sde", "virtio-VIRT0004": "sdf",
    "virtio-LABROOT": "vda",
}

DEVICE_NUMBERS = {
    "sda": "8:0", "sda1": "8:1", "sda2": "8:2", "sdb": "8:16", "sdc": "8:32", "sdd": "8:48", "sde": "8:64", "sdf": "8:80",
    "md0": "9:0", "dm-0": "252:0", "vda": "254:0", "loop0": "7:0", "loop1": "7:1", "zram0": "253:0", "sr0": "11:0",
}
HOLDERS = {"sda2": ["md0"], "sdb": ["md0"], "md0": ["dm-0"]}
SLAVES = {"md0": ["sda2", "sdb"], "dm-0": ["md0"]}
LOOP_BACKING_FILE = "/var/lib/lifeline/scratch.img"


def recording() -> dict:
    return json.loads((FIXTURES / "probe_commands.json").read_text())


def recorded_mountinfo() -> str:
    return (FIXTURES / "mountinfo.txt").read_text()


def recorded_command(name: str, device: str) -> dict:
    """The recorded call of NAME for DEVICE alone."""
    return next(c for c in recording()["commands"] if c["name"] == name and c["args"][-1] == device
                and not (name == "wipefs" and c["args"][-2].startswith("/dev/")))


def host_state(with_unreadable_disk: bool = False) -> dict:
    names = [record["kernel_name"] for record in BLOCK_DEVICES] + (["sdf"] if with_unreadable_disk else [])
    files = {"/sys/class/block/%s/dev" % name: DEVICE_NUMBERS[name] + "\n" for name in names}
    files["/sys/class/block/loop1/loop/backing_file"] = LOOP_BACKING_FILE + "\n"
    files["/proc/self/mountinfo"] = recorded_mountinfo()
    dirs = {}
    for name in names:
        dirs["/sys/class/block/%s/holders" % name] = HOLDERS.get(name, [])
        dirs["/sys/class/block/%s/slaves" % name] = SLAVES.get(name, [])
    return {
        "binaries": {"wipefs": "/usr/sbin/wipefs", "blkid": "/usr/sbin/blkid"},
        "commands": recording()["commands"],
        "files": files,
        "dirs": dirs,
        "links": {},
    }


def identity(with_unreadable_disk: bool = False) -> IdentityMap:
    records = BLOCK_DEVICES + ([UNREADABLE_DISK] if with_unreadable_disk else [])
    links = {link: name for link, name in BY_ID.items() if name != "sdf" or with_unreadable_disk}
    return IdentityMap(build_identity_map(records, links), None)


def replay(with_unreadable_disk: bool = False, missing: tuple[str, ...] = (), state: dict | None = None):
    """(runner, files, identity) for the host; STATE overrides the host's state."""
    state = state or host_state(with_unreadable_disk)
    return ReplayRunner(state, missing=missing), ReplayFiles(state), identity(with_unreadable_disk)
