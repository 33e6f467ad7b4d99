# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the disk identity map.

Kernel names (sda, vdb1, nvme0n1) move between boots; serials, WWNs and /dev/disk/by-id
paths do not. Every subset names a device through this map, which is built once per module
run from one lsblk call and the by-id symlinks.
"""

from __future__ import annotations

import posixpath

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._lsblk_parse import LSBLK_COLUMNS, parse_lsblk_json

BY_ID_DIR = "/dev/disk/by-id"

# by-id names that carry the vendor's serial read better to a person than WWN or EUI names,
# which come last; within a rank, the shortest (a namespace's "_1" alias sorts after its disk).
_ALIAS_PREFIXES = ("wwn-", "nvme-eui.", "nvme-nvme.")


def _by_id_rank(link_name: str) -> tuple[bool, int, str]:
    return (link_name.startswith(_ALIAS_PREFIXES), len(link_name), link_name)


def build_identity_map(block_devices: list[dict], by_id_targets: dict[str, str]) -> dict[str, dict]:
    """Combine lsblk records and by-id links (link name -> kernel name) into kernel name -> identity.

    A partition without its own serial or WWN takes its disk's: the serial-to-slot map needs
    the physical disk, not the partition.
    """
    links_by_kernel_name: dict[str, list[str]] = {}
    for link_name, kernel_name in by_id_targets.items():
        links_by_kernel_name.setdefault(kernel_name, []).append(link_name)

    records = {record["kernel_name"]: record for record in block_devices}
    identities: dict[str, dict] = {}
    for kernel_name, record in records.items():
        disk = record
        while disk.get("type") == "part" and disk.get("parent") in records:
            disk = records[disk["parent"]]
        links = sorted(links_by_kernel_name.get(kernel_name, []), key=_by_id_rank)
        identities[kernel_name] = {
            "kernel_name": kernel_name,
            "device": "/dev/" + kernel_name,
            "type": record.get("type"),
            "disk": disk["kernel_name"],
            "serial": record.get("serial") or disk.get("serial"),
            "wwn": record.get("wwn") or disk.get("wwn"),
            "model": record.get("model") or disk.get("model"),
            "size_bytes": record.get("size_bytes"),
            "rotational": record.get("rotational"),
            "transport": record.get("transport") or disk.get("transport"),
            "by_id": [posixpath.join(BY_ID_DIR, link) for link in links],
            "stable_name": posixpath.join(BY_ID_DIR, links[0]) if links else None,
        }
    return identities


def unknown_identity(kernel_name: str) -> dict:
    """The identity of a device the map does not know: every stable field unknown, said so."""
    return {
        "kernel_name": kernel_name,
        "device": "/dev/" + kernel_name,
        "type": None,
        "disk": None,
        "serial": None,
        "wwn": None,
        "model": None,
        "size_bytes": None,
        "rotational": None,
        "transport": None,
        "by_id": [],
        "stable_name": None,
    }


def link_aliases(files, names: list[str]) -> dict[str, str]:
    """Kernel names of the /dev paths among NAMES that the map does not know by name: links such as
    /dev/md/NAME, /dev/mapper/NAME, /dev/VG/LV and /dev/disk/by-path/..., read where they point now."""
    found = {}
    for name in names:
        if name.startswith("/dev/") and not name.startswith(BY_ID_DIR + "/"):
            target = files.read_link(name)
            if target:
                found[name] = posixpath.basename(target)
    return found


def kernel_read_only(files, kernel_name: str) -> bool | None:
    """Whether the kernel marks the block device read-only (blockdev --setro, a write-protected
    LUN), from /sys/class/block/NAME/ro; None when sysfs does not say."""
    flag = files.read_optional("/sys/class/block/%s/ro" % kernel_name)
    return None if flag is None else flag.strip() == "1"


class IdentityMap:
    """Kernel name -> stable identity, gathered once per module run and shared by subsets."""

    def __init__(self, identities: dict[str, dict], error: str | None) -> None:
        self._identities = identities
        self.error = error

    @classmethod
    def gather(cls, runner, files) -> "IdentityMap":
        by_id_targets = {}
        for link_name in files.list_dir(BY_ID_DIR):
            target = files.read_link(posixpath.join(BY_ID_DIR, link_name))
            if target:
                by_id_targets[link_name] = posixpath.basename(target)
        try:
            result = runner.run("lsblk", ["--json", "--bytes", "--output", ",".join(LSBLK_COLUMNS)])
            block_devices = parse_lsblk_json(result.stdout)
        except (CommandError, ParseError) as error:
            # Without lsblk the by-id links still name disks; serial and WWN stay unknown.
            block_devices = [{"kernel_name": name, "type": None, "parent": None} for name in sorted(set(by_id_targets.values()))]
            return cls(build_identity_map(block_devices, by_id_targets), "identity map incomplete: %s" % error)
        return cls(build_identity_map(block_devices, by_id_targets), None)

    def lookup(self, device: str) -> dict:
        """Identity of a kernel name or /dev path; unknown fields are None, never guessed."""
        kernel_name = posixpath.basename(device)
        return dict(self._identities.get(kernel_name) or unknown_identity(kernel_name))

    def disks(self) -> list[str]:
        """Kernel names of whole disks (lsblk type "disk"), in name order."""
        return sorted(name for name, identity in self._identities.items() if identity["type"] == "disk")

    def as_dict(self) -> dict[str, dict]:
        return {name: dict(identity) for name, identity in self._identities.items()}
