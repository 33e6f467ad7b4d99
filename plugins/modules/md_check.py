#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: md_check
short_description: Run md's read-only consistency check of one array and report its mismatches; never a repair
version_added: 0.3.0
description:
  - "O(state=started) writes C(check) to the array's C(md/sync_action): md reads every copy (RAID1, RAID10) or the
    parity (RAID4, 5, 6) of every stripe and counts the sectors that disagree in C(md/mismatch_cnt). A check writes no
    data. With O(wait) (the default) the module waits until md is idle again and returns RV(mismatch_cnt), the time
    taken, the progress it saw and a C(MD_MISMATCH_CNT) finding when the count is not zero."
  - "O(speed_limit_kb) caps the check's speed (C(md/sync_speed_max), in KiB/s) so a production host keeps serving,
    and puts the value it had back afterwards (C(system) when it followed the host-wide limit)."
  - "O(state=stopped) stops a running check (C(idle) to C(md/sync_action)). It never stops a resync, recovery or
    reshape: those are md's own work."
  - "It refuses, with the reason, and writes nothing, when the array is degraded (there is no full set of copies to
    compare), when md is running a resync, recovery, reshape or repair or has one pending, when its sync is frozen,
    when the array is read-only or auto-read-only (writing to C(sync_action) would switch an auto-read-only array to
    read-write), inactive, or of a level without redundancy."
  - "It never writes C(repair). On a mirror, md's repair copies, for each block that differs, the first member that
    reads successfully over the others, without a vote: when that member is the stale one the stale data ends up on
    every member. To settle mismatches instead, find the member that disagrees with
    M(lifeline.storage.mirror_compare), fail and remove it and add it back (or a replacement) so that md rebuilds it
    from the others; docs/findings.md (C(MD_MISMATCH_CNT)) and docs/repair.md in the collection say how."
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - a Linux kernel with md; util-linux (lsblk) on the managed host
options:
  array:
    description:
      - The array, V(/dev/mdN), V(/dev/md/NAME) or its kernel name.
    type: str
    required: true
  state:
    description:
      - V(started) starts a check (or waits for one already running); V(stopped) stops a running check.
    type: str
    default: started
    choices: [started, stopped]
  wait:
    description:
      - Wait until the check ends and report its result. Without it the module returns once the check runs.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait. When the check has not ended by then, it is stopped, the speed limit put back, and the
        module fails with the progress reached.
    type: int
    default: 3600
  poll_seconds:
    description: Seconds between two looks at the progress.
    type: float
    default: 2
  speed_limit_kb:
    description:
      - Cap the check at this many KiB/s (C(md/sync_speed_max)) and put the previous value back when it ends.
      - Needs O(wait), since the previous value is put back only by the run that waits.
    type: int
  timeout:
    description: Seconds each command (lsblk) may run.
    type: int
    default: 60
extends_documentation_fragment:
  - lifeline.storage._attributes
attributes:
  check_mode:
    support: full
    details: Reads the array's state, applies every refusal rule and returns in RV(writes) the exact values it would
      write, without writing any.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Each run with O(state=started) starts a new check once the previous one ended (a check changes no data,
      but it is work md does). A check already running is waited for, not restarted. O(state=stopped) with no check
      running changes nothing.
notes:
  - "C(mismatch_cnt) counts 512-byte sectors in md's resync units, so one differing block shows as 128 or more. On a
    mirror that holds swap, or a file written while it was being read, a small count can be harmless."
seealso:
  - module: lifeline.storage.mirror_compare
  - module: lifeline.storage.storage_facts
  - module: lifeline.storage.overlay
"""

EXAMPLES = r"""
- name: Check a mirror at no more than 50 MiB/s and report its mismatches
  lifeline.storage.md_check:
    array: /dev/md/data
    speed_limit_kb: 51200
    wait_timeout: 14400
  register: checked

- name: Stop on mismatches
  ansible.builtin.fail:
    msg: "{{ checked.findings | map(attribute='message') | join('; ') }}"
  when: checked.mismatch_cnt > 0

- name: Stop a check that runs at a bad time
  lifeline.storage.md_check:
    array: /dev/md0
    state: stopped
"""

RETURN = r"""
changed:
  description: Whether a value was (or in check mode would be) written to the array's sysfs.
  returned: always
  type: bool
msg:
  description: What was done; on a refusal, one line per rule that fired.
  returned: always
  type: str
array:
  description: The array as requested.
  returned: always
  type: str
kernel_name:
  description: The array's kernel name (V(md127)); V(null) when it was not found.
  returned: always
  type: str
level:
  description: The array's level (V(raid1), ...).
  returned: when the array was found
  type: str
members:
  description: The members, each with C(device), C(serial), C(stable_name) and C(slot).
  returned: when the array was found
  type: list
  elements: dict
before:
  description: C(sync_action), C(array_state), C(degraded) and C(mismatch_cnt) as read before anything was written.
  returned: when the array was found
  type: dict
action:
  description: V(start), V(already_running), V(stop) or V(none).
  returned: always
  type: str
writes:
  description: Each sysfs write, as C(path) and C(value), in order; the one that puts the speed limit back has
    C(when=after the check).
  returned: always
  type: list
  elements: dict
  sample: [{path: /sys/block/md0/md/sync_speed_max, value: "51200"}, {path: /sys/block/md0/md/sync_action, value: check},
           {path: /sys/block/md0/md/sync_speed_max, value: system, when: after the check}]
completed:
  description: V(true) when the check ran to its end (md idle again, C(last_sync_action) C(check)); V(null) when not
    waited for.
  returned: always
  type: bool
mismatch_cnt:
  description: C(md/mismatch_cnt) after a completed check (sectors); V(null) when the check did not complete.
  returned: always
  type: int
seconds:
  description: Seconds from the start of the check until it ended; V(null) when not waited for.
  returned: always
  type: float
progress:
  description: The last progress seen, as C(percent), C(done_sectors), C(total_sectors), C(speed_kb_s) and C(seconds).
  returned: always
  type: dict
samples:
  description: The progress seen while waiting (the first and last 20 looks of a long wait).
  returned: always
  type: list
  elements: dict
speed_limit:
  description: With O(speed_limit_kb), C(before) (C(kb_s), C(source)), C(set_kb_s), C(restored) (the value written back)
    and C(after) (C(md/sync_speed_max) as read at the end).
  returned: always
  type: dict
findings:
  description: A C(MD_MISMATCH_CNT) finding when the check found mismatches (see docs/findings.md).
  returned: always
  type: list
  elements: dict
refusals:
  description: Each rule that fired, as C(rule) and C(detail); empty when none did.
  returned: always
  type: list
  elements: dict
  sample: [{rule: sync_running, detail: "md0 is running a recover: wait until md/sync_action is idle; ..."}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._md_check_host import SysfsWriter, run_md_check


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            array=dict(type="str", required=True),
            state=dict(type="str", default="started", choices=["started", "stopped"]),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=3600),
            poll_seconds=dict(type="float", default=2),
            speed_limit_kb=dict(type="int"),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["speed_limit_kb"] is not None and (params["speed_limit_kb"] < 1 or not params["wait"]):
        module.fail_json(msg="speed_limit_kb must be at least 1 and needs wait=true", changed=False, refusals=[])
    if params["timeout"] < 1 or params["wait_timeout"] < 1 or params["poll_seconds"] <= 0:
        module.fail_json(msg="timeout, wait_timeout and poll_seconds must be positive", changed=False, refusals=[])
    failed, result = run_md_check(params, CommandRunner(module, params["timeout"]), HostFiles(), SysfsWriter(),
                                  module.check_mode)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
