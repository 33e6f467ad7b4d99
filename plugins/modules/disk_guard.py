#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: disk_guard
short_description: Refuse unless every target disk is blank or allow-listed by a stable identity
version_added: 0.2.0
description:
  - The pre-install gate. For each target disk it gathers read-only evidence of data, and passes
    only when every disk is blank or allow-listed by serial, WWN or C(/dev/disk/by-id) path.
  - "Evidence, on the disk and on each of its partitions: partition tables (GPT, including a backup
    header at the end, and MBR); every signature at any offset (a C(wipefs --no-act) listing merged
    with a C(blkid -p) probe): file systems, swap, LUKS1/LUKS2, md superblocks of every metadata
    version, LVM PV labels including PVs an LVM devices file hides; holders (md, dm) and mount
    points; whether the kernel grants an exclusive open; and, when no signature is found, non-zero
    bytes in the first and last O(edge_bytes) and in samples read across the rest of the disk
    (O(sample_count)). Unknown content is data, not blank; a device that cannot be read is refused."
  - The samples find data whose signatures were wiped (C(wipefs -a) by mistake), which a look at the
    edges alone passes as blank. They are a sample, not a proof; what they read is returned per disk.
  - On refusal it fails with one line per disk naming the evidence and returns the full evidence in
    RV(disks).
  - It never writes to any device. Exclusive opens are read-only and released at once.
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - util-linux (lsblk, wipefs, blkid) on the managed host
options:
  disks:
    description:
      - The disks an installer is about to use, named by serial, WWN, C(/dev/disk/by-id) path, C(/dev) path or kernel name.
      - A name that matches no whole disk fails the run, naming it.
      - Omitted, every whole disk of the host is checked.
    type: list
    elements: str
  allow:
    description:
      - Disks that may hold data because an operator chose them, by serial, WWN or C(/dev/disk/by-id) path.
      - A C(/dev/sdX) style name is refused as an allow-list entry; kernel names move between boots.
    type: list
    elements: str
    default: []
  edge_bytes:
    description: How many bytes at the start and at the end of a disk without signatures must be zero.
    type: int
    default: 1048576
  sample_count:
    description:
      - How many samples of O(sample_bytes) to read at evenly spaced offsets between the first and the last
        O(edge_bytes), the first just past the first edge, the last ending just before the last edge and
        one centred on the middle of the disk; a quarter as many more are read at offsets drawn from
        O(sample_seed). The first sample with a non-zero byte refuses the disk, naming its offset.
      - V(0) turns the sampled scan off. The default reads about 20 MiB per disk (measured cost in docs/preinstall-gate.md).
    type: int
    default: 256
  sample_bytes:
    description: Bytes in each sample, a multiple of 512.
    type: int
    default: 65536
  sample_seed:
    description:
      - Seed of the drawn sample offsets (a whole number). Omitted, a new one is drawn on every run and returned
        in RV(sample_seed), so a run can be repeated; the standalone script draws the same offsets from the same seed.
    type: int
  timeout:
    description: Seconds each command may run.
    type: int
    default: 30
extends_documentation_fragment:
  - lifeline.storage._attributes
  - lifeline.storage._attributes.read_only
seealso:
  - module: lifeline.storage.storage_facts
"""

EXAMPLES = r"""
- name: Stop the play unless the disks the installer will partition are blank
  lifeline.storage.disk_guard:
    disks:
      - /dev/disk/by-id/ata-SAMSUNG_MZ7LH960HAJR_S45NNA0M123456
      - /dev/disk/by-id/ata-SAMSUNG_MZ7LH960HAJR_S45NNA0M123457

- name: Reinstall over a disk on purpose
  lifeline.storage.disk_guard:
    allow: [S45NNA0M123456]
"""

RETURN = r"""
passed:
  description: Whether every target disk is blank or allow-listed.
  returned: always
  type: bool
disks:
  description:
    - One entry per target disk with C(name) (serial, else kernel name), C(device), C(serial), C(wwn), C(stable_name),
      C(size_bytes), C(verdict) (V(blank), V(allowed) or V(refused)), C(allowed_by) (the allow-list entry), C(evidence)
      and C(samples_read) (how many samples were read, 0 when other evidence was found first or sampling is off).
    - Each evidence item has C(kind) (V(signature), V(partition_table), V(partition), V(holder), V(mount), V(in_use),
      V(nonzero_bytes), V(unreadable)), C(device) and C(detail), for signatures C(type) and C(offset), and for
      samples C(where=sample) and C(offset).
  returned: always
  type: list
  elements: dict
refused:
  description: One line per refused disk, as in the failure message.
  returned: always
  type: list
  elements: str
sample_seed:
  description: The seed the drawn sample offsets came from (O(sample_seed), or the one drawn for this run).
  returned: always
  type: int
missing:
  description: Names in O(disks) that matched no whole disk.
  returned: always
  type: list
  elements: str
"""

import secrets

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._disk_guard import allow_list_errors, guard
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import gather_storage_facts


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            disks=dict(type="list", elements="str"),
            allow=dict(type="list", elements="str", default=[]),
            edge_bytes=dict(type="int", default=1048576),
            sample_count=dict(type="int", default=256),
            sample_bytes=dict(type="int", default=65536),
            sample_seed=dict(type="int"),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    errors = allow_list_errors(module.params["allow"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    if module.params["edge_bytes"] < 512 or module.params["timeout"] < 1:
        module.fail_json(msg="edge_bytes must be at least 512 and timeout at least 1")
    if module.params["sample_count"] < 0 or module.params["sample_bytes"] < 512 or module.params["sample_bytes"] % 512:
        module.fail_json(msg="sample_count must be 0 or more and sample_bytes a positive multiple of 512, got %d and %d"
                         % (module.params["sample_count"], module.params["sample_bytes"]))
    seed = module.params["sample_seed"]
    if seed is None:
        seed = secrets.randbelow(1 << 31)
    sampling = {"count": module.params["sample_count"], "bytes": module.params["sample_bytes"], "seed": seed}
    runner = CommandRunner(module, module.params["timeout"])
    facts = gather_storage_facts(runner, HostFiles(), ["disks"])["lifeline_disks"]
    if not facts.get("available"):
        module.fail_json(msg="cannot examine the disks: %s" % facts.get("error"), passed=False, disks=[], refused=[], missing=[],
                         sample_seed=seed)
    if facts.get("missing_tools"):
        module.fail_json(msg="cannot examine the disks: %s" % facts.get("error"), passed=False, disks=[], refused=[], missing=[],
                         sample_seed=seed)
    result = guard(facts, module.params["disks"], module.params["allow"], module.params["edge_bytes"], sampling)
    result["sample_seed"] = seed
    if result["missing"]:
        module.fail_json(msg="no whole disk on this host is named %s; nothing was checked for it"
                         % ", ".join(result["missing"]), changed=False, **result)
    if not result["passed"]:
        module.fail_json(msg="refusing: %d disk(s) hold data or cannot be shown blank:\n%s"
                         % (len(result["refused"]), "\n".join(result["refused"])), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
