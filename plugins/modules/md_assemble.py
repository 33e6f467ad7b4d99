#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: md_assemble
short_description: Assemble an md array read-only from chosen members, or stop it, refusing when the members disagree
version_added: 0.2.0
description:
  - "O(state=readonly) assembles an md array read-only: from every device whose superblock carries O(uuid)
    (found by examining every block device of the host), or from exactly the devices in O(members). The
    command is C(mdadm --assemble --readonly --config=none ARRAY [--run] --uuid=UUID DEVICE...)."
  - "O(state=stopped) stops the array O(array) with C(mdadm --stop)."
  - "Before anything runs it reads C(mdadm --examine) of every block device, C(/proc/mdstat), the md sysfs
    attributes, device holders and mounts. It refuses, failing with one line per rule that fired and the
    evidence in RV(refusals) and RV(members), when a chosen member is unreadable or has no md superblock,
    the members belong to different arrays, their event counts differ by more than one, one member's
    superblock records another's slot as missing, a reshape is in progress, other devices of the array
    are newer than the chosen ones, the set is incomplete, a member is in use, or the array already runs
    in another form. docs/md-assemble.md in the collection lists every rule."
  - "It never passes C(--force), C(--update), C(--create), C(--grow) or C(--scan), never writes to a member or
    to sysfs, and never starts a resync, recovery or reshape: C(--readonly) keeps md from starting any of
    them (mdadm(8)). After assembling it reads C(array_state) and C(sync_action) back and reports in
    RV(verified) whether the array is C(readonly) (not C(read-auto), which turns read-write at the first
    write) with md idle; it does not try to correct either."
  - "RV(auto_assembly) says whether this host can start the array on its own, behind an operator's back: udev
    incremental assembly, mdadm's last-resort timer, mdadm.conf's AUTO and ARRAY lines, in-kernel
    autodetection and md's C(start_ro)."
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - mdadm and util-linux (lsblk) on the managed host
options:
  state:
    description:
      - V(readonly) assembles the array read-only; V(stopped) stops it.
    type: str
    required: true
    choices: [readonly, stopped]
  array:
    description:
      - The md device, V(/dev/mdN) or V(/dev/md/NAME).
      - Required for O(state=stopped).
      - For O(state=readonly) it defaults to V(/dev/md/lifeline-) followed by the first 8 hex digits of the array
        UUID, a name no distribution's auto-assembly uses.
    type: str
  uuid:
    description:
      - The array UUID, in mdadm's form (V(3f5ea966:6745a7df:ab5b0f5c:236f14b9)) or blkid's
        (V(3f5ea966-6745-a7df-ab5b-0f5c236f14b9), regrouped to mdadm's form).
      - With O(state=readonly) and no O(members), every block device whose superblock carries it becomes a member.
      - With O(members), every member must carry it. With O(state=stopped), the array must carry it.
      - For 0.90 metadata use mdadm's form; blkid may print those bytes in another order.
    type: str
  members:
    description:
      - The devices to assemble from, and no others. Each is a serial, a WWN, a C(/dev/disk/by-id) path (of a disk,
        or a C(-partN) link of a partition), a C(/dev) path or a kernel name.
      - A serial or WWN names a whole disk; name a partition by its C(/dev) path, by-id C(-partN) path or kernel name.
      - A name that matches no block device, or more than one, fails the run before anything is run.
    type: list
    elements: str
  allow_degraded:
    description:
      - Assemble even when the chosen members leave slots of the array empty. The command then carries C(--run).
      - A set that cannot run at its level (RAID0 missing a member, RAID5 missing two) is refused all the same, and so is
        a degraded RAID4/5/6 that was not shut down cleanly (md would need C(--force)).
    type: bool
    default: false
  allow_event_divergence:
    description:
      - The one override. Assemble even though other devices of the same array (not among the chosen members) carry a
        higher event count than the chosen members, that is, on purpose from the older members.
      - "Risk: the array comes up as it was when the chosen members left it; what was written later exists only on the
        newer devices. From then on two histories of the array share one UUID. If the older members are ever switched
        read-write, their event count can pass the newer ones', and a later assembly of all devices (by hand, or by udev
        incremental assembly at the next boot) takes the older history as current and resynchronises it over the newer
        one. Record the newer devices' superblocks and keep them disconnected before anything is switched read-write."
      - "It does not allow chosen members whose event counts differ from each other by more than one (rule
        C(events_diverge)): mdadm would leave the older ones out, or need C(--force), which this module never passes."
    type: bool
    default: false
  timeout:
    description: Seconds each command may run.
    type: int
    default: 60
extends_documentation_fragment:
  - lifeline.storage._attributes
attributes:
  check_mode:
    support: full
    details: Reads everything a real run reads (lsblk, C(mdadm --examine), /proc, /sys), runs neither C(--assemble) nor
      C(--stop), and returns the exact command in RV(command) with C(changed=true) when it would run.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: An array already running read-only from exactly the requested members, or an array already stopped, reports
      no change. An array running read-write, or from other members, is refused, never changed.
notes:
  - "udev incremental assembly: mdadm's udev rule (C(64-md-raid-assembly.rules); C(65-md-incremental.rules) on Red Hat
    and SUSE) runs C(mdadm --incremental) for every device with an md superblock that appears - at boot, on hotplug, on
    C(udevadm trigger). When some members of an array appear it assembles them, inactive, and holds them; this
    module then refuses (rule C(already_active_other_members)) until the partial array is stopped with
    O(state=stopped). A file of the same name in C(/etc/udev/rules.d) linked to C(/dev/null) switches it off."
  - "mdadm's last-resort timer: when incremental assembly has an incomplete array, the same rule asks systemd for
    C(mdadm-last-resort@mdX.timer), which 30 seconds later runs C(mdadm --run) and starts the array degraded - read-write,
    or auto-read-only when md's C(start_ro) is set (Debian sets it), which turns read-write at the first write, such as a
    file system journal replay. Plugging in half of a damaged array's disks is enough for this to happen."
  - "docs/md-assemble.md in the collection has the full story, how to switch each mechanism off for a recovery, and
    every refusal rule."
seealso:
  - module: lifeline.storage.storage_facts
  - module: lifeline.storage.metadata_snapshot
"""

EXAMPLES = r"""
- name: Assemble the array read-only from every member the host has
  lifeline.storage.md_assemble:
    state: readonly
    uuid: 3f5ea966:6745a7df:ab5b0f5c:236f14b9
  register: rescue

- name: Assemble the better half of a mirror, degraded, named by serial
  lifeline.storage.md_assemble:
    state: readonly
    uuid: 3f5ea966:6745a7df:ab5b0f5c:236f14b9
    array: /dev/md/rescue
    members: [S45NNA0M123456]
    allow_degraded: true

- name: Show what would run
  lifeline.storage.md_assemble:
    state: readonly
    members:
      - /dev/disk/by-id/ata-SAMSUNG_MZ7LH960HAJR_S45NNA0M123456-part2
      - /dev/disk/by-id/ata-SAMSUNG_MZ7LH960HAJR_S45NNA0M123457-part2
  check_mode: true
  register: plan

- name: Stop it again
  lifeline.storage.md_assemble:
    state: stopped
    array: /dev/md/rescue
"""

RETURN = r"""
changed:
  description: Whether the array was (or, in check mode, would be) assembled or stopped.
  returned: always
  type: bool
msg:
  description: What was done; on a refusal, one line per rule that fired, each starting with the rule's name.
  returned: always
  type: str
command:
  description:
    - The mdadm command run, or that would run in check mode, as a list (the binary's path first). The C(timeout)
      wrapper every command runs under is not part of it.
    - An empty list when nothing runs (no change, or a refusal).
  returned: when the request was understood
  type: list
  elements: str
  sample: [/usr/sbin/mdadm, --assemble, --readonly, --config=none, /dev/md/rescue, --run,
           --uuid=3f5ea966:6745a7df:ab5b0f5c:236f14b9, /dev/vdb]
array:
  description: The md device as requested, or the default derived from the UUID; V(null) when the UUID is unknown.
  returned: when the request was understood
  type: str
kernel_name:
  description: The kernel name of the running array (V(md127)); V(null) when no array runs from the members.
  returned: when the request was understood
  type: str
uuid:
  description: The array UUID in mdadm's form, as requested or read from the members' superblocks.
  returned: when the request was understood
  type: str
level:
  description: The RAID level (V(raid1), V(raid5), ...), from the newest member's superblock or the kernel.
  returned: when the request was understood
  type: str
raid_devices:
  description: The number of slots of the array.
  returned: when the request was understood
  type: int
members:
  description:
    - The chosen members (for O(state=stopped), the running array's), with C(device) (C(/dev/KERNEL_NAME)), C(serial),
      C(stable_name) (by-id path), C(requested_as) (the name given in O(members)), C(role) (V(active), V(spare),
      V(replacement), V(journal), V(faulty), V(unknown)), C(slot), C(events), C(state) (the superblock's State, such as
      V(clean) or V(active)) and C(update_time). Unknown values are V(null).
  returned: when the request was understood
  type: list
  elements: dict
other_members:
  description: Devices carrying a superblock of the same array that are not among the chosen members, with the same keys.
  returned: when the request was understood
  type: list
  elements: dict
degraded:
  description: Whether the chosen members leave slots empty; V(null) when unknown.
  returned: when the request was understood
  type: bool
array_state:
  description: The kernel's C(md/array_state) after the run (V(readonly), V(read-auto), V(clean), ...); V(null) when no array
    runs.
  returned: when the request was understood
  type: str
sync_action:
  description: The kernel's C(md/sync_action) after the run (V(idle), V(frozen), V(resync), ...); V(null) when no array runs or
    the level has none.
  returned: when the request was understood
  type: str
verified:
  description:
    - After an assembly, or for an array already assembled, V(true) when C(array_state) is V(readonly) and C(sync_action) is
      V(idle), V(frozen) or absent; V(false) otherwise, with a warning saying what was found. After a stop, whether the
      array is gone from C(/proc/mdstat).
    - V(null) in check mode and when nothing ran.
  returned: when the request was understood
  type: bool
auto_assembly:
  description: Whether this host can start md arrays (this one, when its superblocks are known) without being asked.
  returned: when the request was understood
  type: dict
  contains:
    active:
      description: V(true) when udev incremental assembly is on and mdadm.conf lets it take this array; V(null) when unknown.
      type: bool
    udev_incremental:
      description: Whether a udev rule runs C(mdadm --incremental) for md members that appear.
      type: bool
    last_resort_timer:
      description: Whether mdadm's last-resort timer would start an incomplete array degraded after 30 seconds.
      type: bool
    mdadm_conf:
      description: The mdadm.conf that mdadm reads; V(null) when there is none.
      type: str
    mdadm_conf_auto:
      description: The words of its first AUTO line (V(-all), V(+1.x homehost -all)); V(null) when it has none.
      type: str
    mdadm_conf_allows:
      description: Whether mdadm.conf (ARRAY lines first, then AUTO) lets incremental assembly take this array.
      type: bool
    kernel_autodetect:
      description: Whether the kernel would autodetect this array at boot (0.90 superblocks, md built in).
      type: bool
    start_ro:
      description: md's C(start_ro); V(true) means arrays that start on their own come up auto-read-only.
      type: bool
    evidence:
      description: Each file, line or parameter that decided an answer, as C(source), C(line) and C(detail).
      type: list
      elements: dict
refusals:
  description: Each rule that fired, as C(rule) and C(detail); empty when none did. docs/md-assemble.md lists the rules.
  returned: always
  type: list
  elements: dict
  sample: [{rule: events_diverge, detail: "event counts of the chosen members differ: /dev/vdd (VIRT0003) events 2 ..."}]
unreadable:
  description: Devices that C(mdadm --examine) could not read, with C(device) and C(reason).
  returned: when the request was understood
  type: list
  elements: dict
cmd:
  description: The command that failed (C(mdadm --assemble), C(mdadm --stop), or a read that failed).
  returned: when a command failed
  type: list
  elements: str
rc:
  description: Its exit status; V(null) when it could not be started.
  returned: when a command failed
  type: int
stdout:
  description: Its standard output.
  returned: when a command failed
  type: str
stderr:
  description: Its standard error.
  returned: when a command failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._md_assemble_host import run_md_assemble


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["readonly", "stopped"]),
            array=dict(type="str"),
            uuid=dict(type="str"),
            members=dict(type="list", elements="str"),
            allow_degraded=dict(type="bool", default=False),
            allow_event_divergence=dict(type="bool", default=False),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1", changed=False, refusals=[])
    runner = CommandRunner(module, module.params["timeout"])
    failed, result, warnings = run_md_assemble(module.params, runner, HostFiles(), module.check_mode)
    for warning in warnings:
        module.warn(warning)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
