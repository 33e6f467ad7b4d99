#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lvm_restore
short_description: Restore a volume group's metadata and PV labels from a metadata snapshot
version_added: 0.3.0
description:
  - Plans, and only when O(confirm=true) runs, the restore of one volume group from the metadata a
    M(lifeline.storage.metadata_snapshot) snapshot kept. The playbook C(lifeline.storage.restore_lvm_metadata) reads and
    checks the snapshot on the controller and calls this module; see docs/snapshot-and-restore.md.
  - "Each PV's device is found from what the snapshot recorded: for a PV on an md array, whatever array is assembled
    now from the disks with the members' serials, under any name or UUID; for a PV on a disk or partition, the disk
    with the recorded serial (and the partition with the recorded number). O(devices) overrides this per PV."
  - "Each device's contents now decide its step: no signature gets the PV label; the snapshot's own PV label is
    kept; an empty PV label of another UUID (what an installer's C(pvcreate -ff) leaves) is replaced after the device's
    first MiB is saved under O(save_dir); a device that holds more (a file system, another VG, an md superblock) is
    refused with the evidence unless it is listed in O(overwrite_devices). A device that is in use is always refused."
  - Every command is returned as an argv and as one shell-quoted line that can be pasted as is.
  - A confirmed run stops at the first failing step and says what it did before it.
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - lvm2, blkid and lsblk on the managed host; mdadm when the PV sits on an md array
options:
  vg:
    description: The volume group to restore.
    type: str
    required: true
  metadata:
    description:
      - The text of the VG's metadata file from the snapshot (C(lvm/vgcfgbackup/VG.vg) or C(lvm/etc-backup/VG)).
      - The caller checks it against the snapshot's manifest first; the playbook does.
    type: str
    required: true
  disk_map:
    description: The snapshot's C(disk-map.json), as a list.
    type: list
    elements: dict
    required: true
  devices:
    description:
      - PV UUID to device path, for PVs whose device is to be named rather than found by serial.
    type: dict
    default: {}
  activate:
    description:
      - How the restored VG's LVs are activated. V(readonly) maps every LV read-only (C(read_only_volume_list)), so
        the data can be checked and copied before anything writes to it.
    type: str
    choices: [readonly, readwrite, none]
    default: readonly
  overwrite_devices:
    description:
      - Devices on which a PV label may be written although they hold more than an empty PV label (a file system,
        another VG with LVs, another signature). Their first MiB is saved first.
    type: list
    elements: str
    default: []
  confirm:
    description: Run the plan. Without it, and always in check mode, the module only plans.
    type: bool
    default: false
  save_dir:
    description: Directory on the host for the saved first MiB of each device whose label is replaced (mode 0700).
    type: path
    default: /var/lib/lifeline-storage/restore
  timeout:
    description: Seconds each command may run.
    type: int
    default: 120
extends_documentation_fragment:
  - lifeline.storage._attributes
attributes:
  check_mode:
    support: full
    details: Check mode returns the plan and changes nothing, as a run without O(confirm) does.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: A second confirmed run fails, saying the VG is present and complete; it never writes again.
seealso:
  - module: lifeline.storage.metadata_snapshot
  - module: lifeline.storage.storage_facts
"""

EXAMPLES = r"""
- name: Plan the restore of VG guests (nothing is written)
  lifeline.storage.lvm_restore:
    vg: guests
    metadata: "{{ lookup('ansible.builtin.file', snapshot_dir ~ '/lvm/vgcfgbackup/guests.vg', rstrip=false) }}"
    disk_map: "{{ lookup('ansible.builtin.file', snapshot_dir ~ '/disk-map.json') | from_json }}"
  register: plan

- name: Show it
  ansible.builtin.debug:
    var: plan.plan_lines
"""

RETURN = r"""
pvs:
  description:
    - One entry per PV in the metadata with C(uuid), C(device), C(found_by) (how the device was found), C(holds)
      (C(kind) V(empty), V(pv), V(vg), V(data) or V(unknown), C(detail), C(evidence)), C(action),
      C(recorded_array_uuid) (the UUID of the md array the PV sat on at snapshot time, else null; what
      M(lifeline.storage.md_geometry_check) compares the array now with) and, when the device's head is saved first,
      C(saved_head).
  returned: always
  type: list
  elements: dict
steps:
  description: The steps in order, each with C(action) (V(save_head) or V(run)), C(argv), C(command) (shell-quoted) and C(why).
  returned: always
  type: list
  elements: dict
plan_lines:
  description: The plan as lines to read.
  returned: always
  type: list
  elements: str
refusals:
  description: Why a PV cannot be restored; the module fails when this is not empty.
  returned: always
  type: list
  elements: str
completed:
  description: The commands a confirmed run completed, in order.
  returned: when confirm is true
  type: list
  elements: str
saved_heads:
  description: Each saved first MiB, with C(device), C(path), C(sha256) and C(bytes).
  returned: when confirm is true
  type: list
  elements: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import parse_lvm_metadata_backup
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_restore import (
    ACTIVATE_MODES,
    RestoreRefused,
    plan_restore,
    render_plan,
)
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_restore_host import run_plan
from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import gather_storage_facts


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            vg=dict(type="str", required=True),
            metadata=dict(type="str", required=True),
            disk_map=dict(type="list", elements="dict", required=True),
            devices=dict(type="dict", default={}),
            activate=dict(type="str", choices=list(ACTIVATE_MODES), default="readonly"),
            overwrite_devices=dict(type="list", elements="str", default=[]),
            confirm=dict(type="bool", default=False),
            save_dir=dict(type="path", default="/var/lib/lifeline-storage/restore"),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    params = module.params
    relative = [path for path in list(params["devices"].values()) + params["overwrite_devices"] + [params["save_dir"]]
                if not str(path).startswith("/")]
    if relative:
        module.fail_json(msg="device paths and save_dir must be absolute: %s" % ", ".join(map(str, relative)))
    try:
        metadata = parse_lvm_metadata_backup(params["metadata"])
    except ParseError as error:
        module.fail_json(msg="the snapshot's metadata of %s does not parse: %s" % (params["vg"], error))
    if metadata["vg_name"] != params["vg"]:
        module.fail_json(msg="the metadata given is for volume group %s, not %s" % (metadata["vg_name"], params["vg"]))
    runner = CommandRunner(module, params["timeout"])
    facts = gather_storage_facts(runner, HostFiles(), ["disks", "md", "lvm"])
    unread = ["%s: %s" % (key, value.get("error")) for key, value in facts.items() if value.get("available") is False]
    if unread:
        module.fail_json(msg="the host's storage could not be read, so no device can be chosen: %s" % "; ".join(unread))
    restore_file = "/run/lifeline-storage-restore-%s.vg" % params["vg"]
    options = dict(vg=params["vg"], devices=params["devices"], activate=params["activate"],
                   overwrite_devices=params["overwrite_devices"], restore_file=restore_file,
                   save_dir=params["save_dir"], stamp=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    try:
        plan = plan_restore(metadata, params["disk_map"], facts, options)
    except RestoreRefused as refused:
        module.fail_json(msg=str(refused), pvs=[], steps=[], plan_lines=[], refusals=[str(refused)])
    result = dict(plan, plan_lines=render_plan(plan), metadata_seqno=metadata["seqno"], restore_file=restore_file)
    if plan["refusals"]:
        module.fail_json(msg="nothing was written: " + "; ".join(plan["refusals"]), **result)
    if not params["confirm"] or module.check_mode:
        module.exit_json(changed=False, **result)
    outcome = run_plan(runner, plan, params["metadata"], restore_file, params["save_dir"])
    result.update(completed=outcome["completed"], saved_heads=outcome["saved_heads"])
    if outcome["error"]:
        module.fail_json(msg=outcome["error"], changed=bool(outcome["completed"] or outcome["saved_heads"]), **result)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
