#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fs_repair
short_description: Check, back up, rehearse on an overlay and only then repair one ext2/3/4 or XFS file system
version_added: 0.3.0
description:
  - "Every step first walks the storage stack beneath the file system (file system, LV, VG, PV, md array, members,
    disks; from M(lifeline.storage.storage_facts)' C(disks), C(md) and C(smart) subsets) and refuses, naming each
    cause and what to do first, while an array beneath is resyncing, recovering or reshaping (or has a resync
    pending), is degraded with members whose event counts disagree, has C(mismatch_cnt) above 0 from its last
    check, or sits on a disk that SMART calls failing; also when the file system is mounted, and when the stack
    cannot be read. A disk without SMART data is listed in RV(unknowns), not refused."
  - "O(step=plan) reports the stack, the refusals and the commands of each step, and runs nothing else."
  - "O(step=check) runs the read-only check (C(e2fsck -f -n), C(xfs_repair -n)) and reports what it found."
  - "O(step=backup) saves the file system's metadata (C(e2image -Q), C(xfs_metadump -g)) to a file in
    O(backup_directory) and returns its sha256. Refused when that directory lies on the stack."
  - "O(step=rehearse) runs the repair (C(e2fsck -f -y), C(xfs_repair)) on O(overlay_device), a device-mapper
    snapshot of the file system's device made by M(lifeline.storage.overlay), never on the device itself. It lists
    every path and size from a read-only mount of the overlay (C(noload) or C(norecovery): no journal replay) before
    and after, and reports the exit status, the fixes, the entries moved to C(lost+found), files and bytes before and
    after, and the paths that disappeared."
  - "O(step=apply) repairs the real device, only when O(confirm_device) names the device a second time, O(rehearsal)
    is this run's rehearsal of the same device (same O(run_id)) and O(backup) is a metadata backup of the same
    device whose file still has the recorded sha256. It is the only step that writes to the stack."
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - e2fsprogs (e2fsck, e2image) or xfsprogs (xfs_repair, xfs_metadump); util-linux (lsblk, wipefs, blkid, mount);
    dmsetup for the rehearsal; mdadm for md stacks; smartctl and pySMART for disk health (else health is unknown)
options:
  filesystem:
    description: The file system, as its device (V(/dev/vg0/home), V(/dev/md0)) or as a mount point in the facts.
    type: str
    required: true
  step:
    description: Which step to run.
    type: str
    default: plan
    choices: [plan, check, backup, rehearse, apply]
  backup_directory:
    description: For O(step=backup), an existing directory off the stack for the metadata file.
    type: path
  overlay_device:
    description: For O(step=rehearse), the overlay of the file system's device (V(/dev/mapper/lifeline-overlay-NAME)).
    type: path
  run_id:
    description:
      - Names one run of the procedure; O(step=apply) accepts only a rehearsal with the same O(run_id).
    type: str
  confirm_device:
    description: For O(step=apply), the file system's device named a second time, as RV(device) reports it.
    type: str
  rehearsal:
    description: For O(step=apply), RV(rehearsal) as returned by the O(step=rehearse) run.
    type: dict
  backup:
    description: For O(step=apply), RV(backup) as returned by the O(step=backup) run.
    type: dict
  timeout:
    description: Seconds each command (the check, the backup, the repair) may run.
    type: int
    default: 3600
extends_documentation_fragment:
  - lifeline.storage._attributes
attributes:
  check_mode:
    support: full
    details: Walks the stack, applies every refusal rule and returns RV(commands) without running any of them.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: O(step=backup) writes a new file each run; O(step=rehearse) and O(step=apply) run the repair again.
notes:
  - "The playbook C(playbooks/repair.yml) and the role P(lifeline.storage.repair#role) run the steps in order with an
    overlay; docs/repair.md in the collection is the runbook."
  - "The lists of fixes and lost entries come from e2fsck's output (tested on e2fsprogs 1.47.0). For XFS the verdict
    comes from xfs_repair's exit status and its C(lost+found) lines; the listing comparison works for both."
seealso:
  - module: lifeline.storage.overlay
  - module: lifeline.storage.md_check
  - module: lifeline.storage.storage_facts
"""

EXAMPLES = r"""
- name: Is anything beneath /dev/vg0/home in the way of a repair?
  lifeline.storage.fs_repair:
    filesystem: /dev/vg0/home
  register: plan

- name: Rehearse on an overlay made by lifeline.storage.overlay
  lifeline.storage.fs_repair:
    filesystem: /dev/vg0/home
    step: rehearse
    overlay_device: /dev/mapper/lifeline-overlay-dm-3
    run_id: "{{ run_id }}"
  register: rehearsed
"""

RETURN = r"""
msg:
  description: What was done; on a refusal, one line per cause.
  returned: always
  type: str
device:
  description: The file system's device (V(/dev/dm-3)); V(null) when not found.
  returned: always
  type: str
fstype:
  description: The file system's type from its signature.
  returned: always
  type: str
stack:
  description: The layers beneath the file system, top first, each with C(kernel_name), C(device), C(type), C(serial)
    and C(level).
  returned: always
  type: list
  elements: dict
refusals:
  description: Each cause that stands against the step, with C(rule), C(subject) and C(detail) (what to do first).
  returned: always
  type: list
  elements: dict
unknowns:
  description: What could not be read (a disk's SMART health), with C(subject) and C(detail).
  returned: always
  type: list
  elements: dict
commands:
  description: The argv of the C(check), C(backup) and C(repair) steps on the device, and of C(rehearse), the repair
    on the overlay, with V(OVERLAY) standing for the overlay's device.
  returned: always
  type: dict
check:
  description: The read-only check - C(cmd), C(rc), C(stdout), C(stderr), C(seconds) and C(report) (C(clean),
    C(status) (the words of the exit status), C(would_fix), C(files_used), C(blocks_used)).
  returned: when O(step=check) ran
  type: dict
backup:
  description: C(source) (the device), C(path), C(sha256), C(size_bytes) and C(tool).
  returned: when O(step=backup) ran
  type: dict
rehearsal:
  description:
    - As RV(check) with C(report.fixes), C(report.cleared_entries) (paths whose directory entry the repair removed;
      for XFS found from C(report.junked_entries), which names each by C(directory_inode), C(name) and C(inode), and
      the directories' inode numbers on the overlay after the repair),
      C(report.lost_found) (inodes moved to C(lost+found)), C(report.modified), and C(origin), C(overlay_device),
      C(run_id), C(step).
    - C(changes) - C(files_before), C(bytes_before), C(files_after), C(bytes_after), C(disappeared), C(resized),
      C(lost_found_after), C(unreadable_before) and C(unreadable_after) (paths a directory names whose inode cannot
      be read, a damaged inode), C(unlisted_before) (directories unreadable before the repair, so the files they
      held before are not in C(files_before), as XFS refuses a whole inode cluster when one inode in it is damaged);
      C(disappeared) also holds the entries the repair says it removed; V(null) values when the overlay could not
      be mounted (see C(listing_errors)).
  returned: when O(step=rehearse) ran
  type: dict
repair:
  description: As RV(rehearsal) without C(changes), for the real device.
  returned: when O(step=apply) ran
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._fs_repair_host import run_fs_repair
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            filesystem=dict(type="str", required=True),
            step=dict(type="str", default="plan", choices=["plan", "check", "backup", "rehearse", "apply"]),
            backup_directory=dict(type="path"),
            overlay_device=dict(type="path"),
            run_id=dict(type="str"),
            confirm_device=dict(type="str"),
            rehearsal=dict(type="dict"),
            backup=dict(type="dict"),
            timeout=dict(type="int", default=3600),
        ),
        required_if=[("step", "backup", ["backup_directory"]), ("step", "rehearse", ["overlay_device", "run_id"]),
                     ("step", "apply", ["run_id"])],
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be positive", changed=False, refusals=[])
    failed, result = run_fs_repair(module.params, CommandRunner(module, module.params["timeout"]), HostFiles(),
                                   module.check_mode)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
