# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: what mirror_compare calls each compared device, and its vote in words.

A member is named by its disk's serial (SERIAL-partN for a partition), which stays with the disk
across boots and controllers, from the collection's identity map (lsblk and /dev/disk/by-id);
a device without one (a regular file, a device-mapper volume, a disk whose serial the host does
not report) by its path as given. Nothing here opens a device.
"""

from __future__ import annotations

import os
import posixpath

from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap

SYS_CLASS_BLOCK = "/sys/class/block"


def device_identity(path: str, identity: IdentityMap, files, resolve=os.path.realpath) -> dict:
    """Serial, partition number and by-id name of the block device at PATH (a /dev name or any link to it)."""
    kernel_name = posixpath.basename(resolve(path))
    found = identity.lookup(kernel_name)
    partition = None
    if found["type"] == "part":
        number = files.read_optional(posixpath.join(SYS_CLASS_BLOCK, kernel_name, "partition"))
        partition = int(number) if number and number.isdigit() else None
    return {"serial": found["serial"], "partition": partition, "stable_name": found["stable_name"]}


def identify_with_lsblk(runner, files):
    """IDENTIFY(paths) -> ({path: identity}, error or None), from one lsblk call and the by-id links."""
    def identify(paths: list[str]) -> tuple[dict[str, dict], str | None]:
        identity = IdentityMap.gather(runner, files)
        return {path: device_identity(path, identity, files) for path in paths}, identity.error
    return identify


def member_names(paths: list[str], identities: dict[str, dict]) -> list[str]:
    """One name per path: its serial (SERIAL-partN for a partition), else the path.

    Two devices that would share a name (two partitions whose numbers are unknown, disks behind a
    bridge that reports one serial for all) are named by their paths instead.
    """
    names = []
    for path in paths:
        found = identities.get(path) or {}
        serial = found.get("serial")
        if not serial:
            names.append(path)
        elif found.get("partition") is not None:
            names.append("%s-part%d" % (serial, found["partition"]))
        else:
            names.append(serial)
    return [path if names.count(name) > 1 else name for path, name in zip(paths, names)]


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "%s and %s" % (", ".join(names[:-1]), names[-1])


def verdict(groups: list[list[str]], disagreeing: list[str]) -> str:
    """A region's vote in words: who disagrees with whom, or that there is no majority."""
    if not disagreeing:
        return "no majority: %s" % " / ".join(", ".join(group) for group in groups)
    majority = groups[0]
    return "%s %s with %s, which agree" % (_listed(disagreeing), "disagrees" if len(disagreeing) == 1 else "disagree",
                                           _listed(majority))


def name_regions(regions: list[dict], names: list[str]) -> list[dict]:
    """REGIONS with the engine's member indexes replaced by NAMES, and a verdict each.

    Regions carry groups only when three or more devices were compared; others are returned as they are.
    """
    if len(names) < 3:
        return regions
    named = []
    for region in regions:
        groups = [[names[index] for index in group] for group in region["groups"]]
        disagreeing = [names[index] for index in region["disagreeing"]]
        named.append(dict(region, groups=groups, disagreeing=disagreeing, verdict=verdict(groups, disagreeing)))
    return named
