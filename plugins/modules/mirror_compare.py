#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_compare
short_description: Compare mirror members read-only, report where their data differs and which member disagrees
version_added: 0.3.0
description:
  - Compares the data areas of two or more devices byte for byte and returns the first offset at which they do not all
    agree, the exact number of such bytes and a bounded list of differing regions. Use it to find which disks of a
    broken RAID1 or RAID10 hold copies of each other, and how far a resync can have run.
  - With three or more devices (all members of a RAID1, or of one RAID10 mirror set) each differing 4 KiB page is put
    to a vote, and each region names the member that disagrees with the others, by its disk's serial where it has
    one. This finds the stale member behind a C(mismatch_cnt) after a check, which md itself cannot name. Where no
    group of devices holding the same bytes is more than half of them, the region says V(no majority).
  - "The data area skips md metadata: by default each device's own data offset and data size come from
    C(mdadm --examine) (C(Data Offset) and C(Used Dev Size), else C(Avail Dev Size), for 1.x metadata; offset 0 and
    C(Used Dev Size) for 0.90). A device without an md superblock is compared from offset 0 to its end. Container
    metadata (DDF, IMSM) is refused unless O(offset) is given."
  - All devices are read at the same time, one reader thread each, with large sequential reads through the page
    cache. A read error or a device that ends early fails the run, naming the device and the byte.
  - It never writes to any device. Every open is read-only; the result is never C(changed).
  - A comparison reads every byte of every data area, which can take hours on large disks; run it with C(async) and
    use O(length) to compare a sample first.
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - mdadm on the managed host, unless O(offset) is given
  - util-linux lsblk on the managed host to name members by serial; without it they are named by path
options:
  devices:
    description:
      - "Two or more devices, as C(/dev) paths (C(/dev/disk/by-id) paths are best: kernel names move between boots)."
      - To find which member of a mirror disagrees, list every member of the mirror (of a RAID10, every member of one
        mirror set); with two, the comparison shows where they differ but cannot say which is right.
      - A regular file is accepted too, for example a disk image taken with C(ddrescue); tests and benchmarks use files.
      - Each must be an absolute path; a relative one fails the run, because it would be resolved against the module's
        working directory on the host.
    type: list
    elements: str
    required: true
  offset:
    description:
      - Byte offset at which the comparison starts on every device.
      - Omitted, each device starts at its own md data offset, so members with different data offsets still line up.
      - When given, mdadm is not run and, unless O(length) is given too, each data area runs to the end of its device
        (for 0.90 and 1.0 metadata that includes the superblock at the end, which differs between members).
    type: int
  length:
    description:
      - How many bytes to compare from each device's offset.
      - Omitted, the smallest of the data areas is compared.
    type: int
  block_size:
    description:
      - Bytes per read, and per comparison step. A multiple of 4096, at most 256 MiB.
      - Each device has up to four blocks in memory at a time; all devices together may hold at most 2 GiB, so with
        more than two devices the largest block size is lower.
    type: int
    default: 4194304
  max_regions:
    description:
      - At most this many differing regions are returned; RV(regions_truncated) says when there were more.
      - RV(differing_bytes), RV(first_difference) and the per-device counts are exact whatever this is.
    type: int
    default: 64
  timeout:
    description: Seconds the mdadm call may run. The comparison itself is not bounded by it.
    type: int
    default: 30
extends_documentation_fragment:
  - lifeline.storage._attributes
  - lifeline.storage._attributes.read_only
seealso:
  - module: lifeline.storage.storage_facts
notes:
  - "Regions: a region is a run of consecutive 4 KiB pages, counted from the start of the compared area, that each hold
    at least one differing byte. It starts at its first differing byte and ends after its last one, so it can include
    equal bytes. Two differences less than 4096 bytes apart are always in one region; differences with a whole equal
    page between them are in separate regions."
  - "The vote (three or more devices): in each differing page, devices that hold exactly the same bytes form a group;
    a group of more than half the devices is the majority, and every other device disagrees with it. A region also
    ends where the groups change, so each region has one verdict. The vote is per page: a member that differs from
    the majority in one byte of a page disagrees for the whole page. A majority is not proof of which bytes are right
    (two members that missed the same writes outvote the third): weigh event counts, SMART health and what the region
    holds before choosing."
  - In a RAID10, two devices hold their copies at the same offsets only in the near layout (the default, C(near=2)),
    with an even number of devices; with the far and offset layouts the copies sit at other offsets and a comparison
    at equal offsets shows differences everywhere.
  - Comparing members of an array that is running shows writes made during the comparison as differences; the module
    warns when a device has holders (md, device-mapper). Stop writes (unmount, or stop the array) first.
"""

EXAMPLES = r"""
- name: Are these two disks of the broken RAID10 a mirror pair?
  lifeline.storage.mirror_compare:
    devices:
      - /dev/disk/by-id/ata-ST4000NM0035_ZC11AAAA-part2
      - /dev/disk/by-id/ata-ST4000NM0035_ZC11BBBB-part2
    length: 1073741824     # a 1 GiB sample first; omit to compare the whole data area
  register: pair

- name: Show where they differ
  ansible.builtin.debug:
    msg: "{{ 'identical' if pair.identical else 'first difference at byte %d of the data area, %d bytes differ'
             | format(pair.first_difference, pair.differing_bytes) }}"

- name: Which member of the 3-way RAID1 disagrees with the other two? (stop writes to the array first)
  lifeline.storage.mirror_compare:
    devices:
      - /dev/disk/by-id/ata-ST4000NM0035_ZC11AAAA-part2
      - /dev/disk/by-id/ata-ST4000NM0035_ZC11BBBB-part2
      - /dev/disk/by-id/ata-ST4000NM0035_ZC11CCCC-part2
  register: mirror
  async: 86400
  poll: 60

- name: Name it, region by region
  # For example ["ZC11BBBB-part2 disagrees with ZC11AAAA-part2 and ZC11CCCC-part2, which agree"]
  ansible.builtin.debug:
    msg: "{{ mirror.regions | map(attribute='verdict') | list }}"

- name: Compare two disk images from offset 1 MiB, in the background
  lifeline.storage.mirror_compare:
    devices: [/srv/rescue/sda2.img, /srv/rescue/sdb2.img]
    offset: 1048576
  async: 86400
  poll: 60
"""

RETURN = r"""
identical:
  description: Whether every compared byte is equal on all devices.
  returned: success
  type: bool
first_difference:
  description: Offset of the first byte at which the devices do not all agree, relative to the start of the compared
    area; null when identical.
  returned: success
  type: int
differing_bytes:
  description: Exact number of byte positions at which the devices do not all agree.
  returned: success
  type: int
regions:
  description:
    - Differing regions in order, each with C(offset) (relative to the start of the compared area) and C(length);
      at most O(max_regions). See the notes for how differences are merged into regions.
    - "With three or more devices each region also has C(groups) (lists of member names holding the same bytes there,
      largest first), C(disagreeing) (the members outside the majority; empty when there is none) and C(verdict) (in
      words, for example C(VIRT0003 disagrees with VIRT0001 and VIRT0002, which agree), or starting with
      C(no majority:)). Members are named as in RV(devices) C(member)."
  returned: success
  type: list
  elements: dict
  sample: [{offset: 1310720, length: 1}, {offset: 8388608, length: 12288}]
disagreeing_members:
  description:
    - Names of the members that disagree with the majority in at least one region, in the order of O(devices).
    - Always empty with two devices, which cannot form a majority.
  returned: success
  type: list
  elements: str
  sample: [ZC11BBBB-part2]
no_majority_bytes:
  description: Differing bytes in pages where no group of devices is a majority; with two devices, all of them.
  returned: success
  type: int
no_majority_regions:
  description: Regions without a majority, counted beyond O(max_regions) too.
  returned: success
  type: int
regions_truncated:
  description: Whether there were more regions than O(max_regions).
  returned: success
  type: bool
bytes_compared:
  description: Bytes compared from each device.
  returned: success
  type: int
seconds:
  description: Wall time of the comparison itself, without the mdadm call.
  returned: success
  type: float
mib_per_second:
  description: RV(bytes_compared) in MiB per second of RV(seconds); each device is read at this rate.
  returned: success
  type: float
length:
  description: The length of the compared area.
  returned: success
  type: int
length_source:
  description: Where RV(length) came from, V(option) or the data area of the device that limited it.
  returned: success
  type: str
  sample: "data area of /dev/sdb2: md superblock (Used Dev Size)"
devices:
  description:
    - One entry per device, in the order given, with C(path), C(size) (bytes), C(offset) (where the compared area
      starts), C(offset_source), C(data_size) and C(data_size_source) (the data area the superblock or the device
      allows), C(holders) (kernel names of md or device-mapper devices using it) and C(first_difference_at) (the first
      differing byte as an offset on that device, or null).
    - C(serial) is the serial of the device's disk (null for a regular file or when unknown); C(member) is the name
      regions use for it, the serial (C(SERIAL-partN) for a partition) or else the path.
    - C(disagreeing_bytes) and C(disagreeing_regions) count the bytes in which the device differs from the majority and
      the regions in which it is outside the majority; both are 0 when it is never outside one.
    - C(offset_source) is V(option), V(no md superblock), or C(md superblock) followed by the metadata version in
      parentheses, as mdadm prints it.
  returned: success
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_compare import DEFAULT_BLOCK_SIZE, DEFAULT_MAX_REGIONS
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_members import identify_with_lsblk
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_plan import (
    PlanError,
    examine_with_mdadm,
    option_errors,
    plan_comparison,
    run_plan,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type="list", elements="str", required=True),
            offset=dict(type="int"),
            length=dict(type="int"),
            block_size=dict(type="int", default=DEFAULT_BLOCK_SIZE),
            max_regions=dict(type="int", default=DEFAULT_MAX_REGIONS),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    params = module.params
    errors = option_errors(params["devices"], params["offset"], params["length"], params["block_size"],
                           params["max_regions"], params["timeout"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    runner = CommandRunner(module, params["timeout"])
    try:
        plan = plan_comparison(params["devices"], params["offset"], params["length"],
                               lambda device: examine_with_mdadm(runner, device),
                               identify_with_lsblk(runner, HostFiles()))
        result = run_plan(plan, params["block_size"], params["max_regions"])
    except PlanError as error:
        module.fail_json(msg=str(error), **error.details)
    for warning in plan["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
