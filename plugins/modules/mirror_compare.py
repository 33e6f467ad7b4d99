#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_compare
short_description: Compare two mirror members read-only and report where their data differs
version_added: 0.3.0
description:
  - Compares the data areas of two devices byte for byte and returns the first differing offset, the exact number of
    differing bytes and a bounded list of differing regions. Use it to find which disks of a broken RAID1 or RAID10
    hold copies of each other, and how far a resync can have run.
  - "The data area skips md metadata: by default each device's own data offset and data size come from
    C(mdadm --examine) (C(Data Offset) and C(Used Dev Size), else C(Avail Dev Size), for 1.x metadata; offset 0 and
    C(Used Dev Size) for 0.90). A device without an md superblock is compared from offset 0 to its end. Container
    metadata (DDF, IMSM) is refused unless O(offset) is given."
  - Both devices are read at the same time, one reader thread each, with large sequential reads through the page
    cache. A read error or a device that ends early fails the run, naming the device and the byte.
  - It never writes to any device. Every open is read-only; the result is never C(changed).
  - A comparison reads every byte of both data areas, which can take hours on large disks; run it with C(async) and
    use O(length) to compare a sample first.
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - mdadm on the managed host, unless O(offset) is given
  - GNU coreutils timeout on the managed host, which bounds the mdadm call
options:
  devices:
    description:
      - "Exactly two devices, as C(/dev) paths (C(/dev/disk/by-id) paths are best: kernel names move between boots)."
      - A regular file is accepted too, for example a disk image taken with C(ddrescue); tests and benchmarks use files.
      - Each must be an absolute path; a relative one fails the run, because it would be resolved against the module's
        working directory on the host.
    type: list
    elements: str
    required: true
  offset:
    description:
      - Byte offset at which the comparison starts on both devices.
      - Omitted, each device starts at its own md data offset, so members with different data offsets still line up.
      - When given, mdadm is not run and, unless O(length) is given too, each data area runs to the end of its device
        (for 0.90 and 1.0 metadata that includes the superblock at the end, which differs between members).
    type: int
  length:
    description:
      - How many bytes to compare from each device's offset.
      - Omitted, the smaller of the two data areas is compared.
    type: int
  block_size:
    description:
      - Bytes per read, and per comparison step. A multiple of 4096, at most 256 MiB.
      - Each device has up to four blocks in memory at a time.
    type: int
    default: 4194304
  max_regions:
    description:
      - At most this many differing regions are returned; RV(regions_truncated) says when there were more.
      - RV(differing_bytes) and RV(first_difference) are exact whatever this is.
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
  - In a RAID10, two devices hold their copies at the same offsets only in the near layout (the default, C(near=2)),
    with an even number of devices; with the far and offset layouts the copies sit at other offsets and a comparison
    at equal offsets shows differences everywhere.
  - Comparing members of an array that is running shows writes made during the comparison as differences; the module
    warns when a device has holders (md, device-mapper).
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

- name: Compare two disk images from offset 1 MiB, in the background
  lifeline.storage.mirror_compare:
    devices: [/srv/rescue/sda2.img, /srv/rescue/sdb2.img]
    offset: 1048576
  async: 86400
  poll: 60
"""

RETURN = r"""
identical:
  description: Whether every compared byte is equal.
  returned: success
  type: bool
first_difference:
  description: Offset of the first differing byte, relative to the start of the compared area; null when identical.
  returned: success
  type: int
differing_bytes:
  description: Exact number of byte positions at which the two devices differ.
  returned: success
  type: int
regions:
  description:
    - Differing regions in order, each with C(offset) (relative to the start of the compared area) and C(length);
      at most O(max_regions). See the notes for how differences are merged into regions.
  returned: success
  type: list
  elements: dict
  sample: [{offset: 1310720, length: 1}, {offset: 8388608, length: 12288}]
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
    - C(offset_source) is V(option), V(no md superblock), or C(md superblock) followed by the metadata version in
      parentheses, as mdadm prints it.
  returned: success
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_compare import DEFAULT_BLOCK_SIZE, DEFAULT_MAX_REGIONS
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
                               lambda device: examine_with_mdadm(runner, device))
        result = run_plan(plan, params["block_size"], params["max_regions"])
    except PlanError as error:
        module.fail_json(msg=str(error), **error.details)
    for warning in plan["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
