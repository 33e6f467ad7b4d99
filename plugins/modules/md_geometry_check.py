#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: md_geometry_check
short_description: Say whether an assembled md array places data where a snapshot's recorded geometry did
version_added: 0.3.0
description:
  - Reads the data samples a M(lifeline.storage.metadata_snapshot) kept of every member of an md array (by default the
    first MiB of each member's data area and one MiB at its middle) and, with the geometry the snapshot recorded
    (level, raid devices, chunk, layout, component size, member order by serial), the array offset where each
    chunk-sized piece of a sample must appear. It reads O(array) at those offsets and compares, 4 KiB block by block.
  - "RV(verdict): V(matches) when no compared piece differs; V(does not match) when a piece differs in more than a
    quarter of its informative blocks - a wrong member order, chunk size, layout or data offset does that; V(unknown)
    when nothing could be compared. A block that is one repeated byte in the sample and in the array (never written)
    says nothing and is not counted. A piece that differs in fewer blocks is reported as V(partly differs): writes since
    the snapshot (an installer's C(pvcreate) at the array's start) look like that."
  - Parity and syndrome chunks of RAID4/5/6 have no place in the array's address space and are not compared. RAID0 with
    members of different sizes, RAID10 with both near and far copies, and containers are not placed; the verdict is
    then V(unknown) with the reason.
  - Also lists, in RV(live_differences), where C(mdadm --detail) of O(array) and C(mdadm --examine) of its members
    differ from the recorded geometry (level, chunk, layout, data offset, UUID, name, member order by serial).
  - Every file it uses from the snapshot is checked against the snapshot's C(manifest.json) first; a damaged copy fails
    the run.
  - It never writes. The array and the snapshot are opened read-only; C(mdadm --detail), C(mdadm --examine) and
    C(lsblk) only read. The result is never C(changed).
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - mdadm and util-linux (lsblk) on the managed host
options:
  snapshot:
    description:
      - A snapshot directory on the managed host (the one holding C(manifest.json) and C(md/geometry.json)), for
        example V(/var/lib/lifeline-storage/snapshots/20261123T161507Z-3bb16e98).
      - After an installer wiped the host, copy the controller's copy there first (M(ansible.builtin.copy)).
    type: path
    required: true
  array:
    description: The assembled md array to read through, V(/dev/mdN) or V(/dev/md/NAME).
    type: str
    required: true
  uuid:
    description:
      - The recorded array to compare with, by its UUID at snapshot time.
      - Omitted, the recorded array with O(array)'s current UUID is used, or the only one the snapshot recorded. An array
        re-created with a new UUID must be named here.
    type: str
  samples:
    description:
      - Which samples to compare, V(start) and V(middle). Omitted, both.
      - Use V(middle) alone when something wrote over the array's first MiBs after the snapshot, so that those writes
        do not hide whether the geometry is right.
    type: list
    elements: str
    choices: [start, middle]
  skip_bytes:
    description:
      - Array offsets below this are not compared.
      - Give a PV's data start (C(pe_start), 1 MiB by default) when LVM sat on the array. Its label and metadata area
        are what an installer's C(pvcreate) rewrites, and they hold too few written blocks to tell geometries apart.
        The playbook C(restore_lvm_metadata) does.
    type: int
    default: 0
  timeout:
    description: Seconds each command may run.
    type: int
    default: 60
extends_documentation_fragment:
  - lifeline.storage._attributes
  - lifeline.storage._attributes.read_only
notes:
  - Samples are only as good as the data that was in them. A sample that was never written (zeros) tells nothing; one
    taken while a file system on the array was mounted (RV(volatile_samples)) may differ because of later writes.
  - The RAID10 far layout is placed with md's original far-copy rotation over all devices, the one mdadm creates.
seealso:
  - module: lifeline.storage.metadata_snapshot
  - module: lifeline.storage.md_assemble
"""

EXAMPLES = r"""
- name: Does the re-created array hold the data where the snapshot recorded it?
  lifeline.storage.md_geometry_check:
    snapshot: /var/lib/lifeline-storage/snapshots/20261123T161507Z-3bb16e98
    array: /dev/md0
    uuid: 8df85f3a:afc88ac7:a6a07d82:8d471423
  register: geometry

- name: Stop unless it does
  ansible.builtin.assert:
    that: geometry.verdict == 'matches'
    fail_msg: "{{ geometry.msg }}"

- name: After an installer wrote over the array's start, compare the middle samples only
  lifeline.storage.md_geometry_check:
    snapshot: /var/lib/lifeline-storage/snapshots/20261123T161507Z-3bb16e98
    array: /dev/md0
    samples: [middle]
"""

RETURN = r"""
verdict:
  description: V(matches), V(does not match) or V(unknown).
  returned: success
  type: str
  sample: matches
matches:
  description: V(true) for V(matches), V(false) for V(does not match), V(null) for V(unknown).
  returned: success
  type: bool
reason:
  description: Why, in one sentence (how many pieces were compared, how many differ, what could not be compared).
  returned: success
  type: str
msg:
  description: The array, the verdict and the reason.
  returned: always
  type: str
array:
  description: The array as given.
  returned: success
  type: str
array_size_bytes:
  description: Its size now.
  returned: success
  type: int
snapshot_id:
  description: The snapshot's id.
  returned: success
  type: str
recorded:
  description: The recorded geometry compared with (C(uuid), C(name), C(level), C(raid_devices), C(chunk_kib), C(layout),
    C(metadata), C(data_offset_sectors), C(component_size_kib)).
  returned: success
  type: dict
members:
  description: Per recorded slot, C(slot), C(key) (serial, or serial-partN) and how many pieces V(matches), V(differs),
    V(partly differs), were V(uninformative) or were C(parity).
  returned: success
  type: list
  elements: dict
unverified:
  description: Keys of members none of whose pieces could be compared.
  returned: success
  type: list
  elements: str
counts:
  description: Pieces by outcome over all members, and C(compared) (informative pieces).
  returned: success
  type: dict
differing_pieces:
  description: Up to 64 pieces that differ, with C(slot), C(key), C(label), C(member_offset), C(array_offset), C(length),
    C(verdict), C(informative_blocks), C(differing_blocks) and C(beyond_array_end).
  returned: success
  type: list
  elements: dict
unchecked:
  description: Samples that could not be used (not in the snapshot, damaged), with the reason.
  returned: success
  type: list
  elements: dict
volatile_samples:
  description: Sample files taken while a file system above the member was mounted.
  returned: success
  type: list
  elements: str
live_differences:
  description: Fields where the array as it runs differs from the recorded geometry, each C(field), C(recorded), C(now).
    After a re-create with a new UUID or name those appear here; the member order is by serial.
  returned: success
  type: list
  elements: dict
identity_error:
  description: Why serials could not be read (then the live member order may show kernel names), or V(null).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry_check_host import CheckError, run_geometry_check
from ansible_collections.lifeline.storage.plugins.module_utils._paths import relative_path_error


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            snapshot=dict(type="path", required=True),
            array=dict(type="str", required=True),
            uuid=dict(type="str"),
            samples=dict(type="list", elements="str", choices=["start", "middle"]),
            skip_bytes=dict(type="int", default=0),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    for name in ("snapshot", "array"):
        error = relative_path_error(name, module.params[name])
        if error:
            module.fail_json(msg=error, changed=False)
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1", changed=False)
    if module.params["skip_bytes"] < 0:
        module.fail_json(msg="skip_bytes must be 0 or more, got %d" % module.params["skip_bytes"], changed=False)
    runner = CommandRunner(module, module.params["timeout"])
    try:
        result = run_geometry_check(module.params, runner, HostFiles())
    except CheckError as error:
        module.fail_json(msg=str(error), changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
