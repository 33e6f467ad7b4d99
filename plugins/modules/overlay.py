#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: overlay
short_description: Copy-on-write overlays over block devices, so a repair can be tried without writing to them
version_added: 0.3.0
description:
  - "O(state=present) puts a device-mapper snapshot over each device in O(devices): C(/dev/mapper/PREFIXNAME) reads
    like the device, and everything written to it lands in a sparse file in O(directory), never on the device. This
    is the Linux RAID wiki's overlay method: assemble an array, replay a journal or run C(e2fsck -fy) or C(xfs_repair)
    on the overlays, look at the result, and only then decide what to do to the real disks."
  - "For each device it runs C(truncate --size=COW_SIZE DIR/NAME.cow), C(losetup --find --show) over that file,
    C(blockdev --setro DEVICE) and C(dmsetup create NAME --table '0 SECTORS snapshot DEVICE LOOP N 8')
    (a non-persistent store with 4 KiB chunks). The originals stay read-only while the overlays exist."
  - "O(state=absent) removes the overlays whose files are in O(directory) (those over O(devices), or all when
    O(devices) is not given): C(dmsetup remove), C(losetup --detach), C(rm) of the file, and C(blockdev --setrw) of
    each origin that this module made read-only and no overlay is left over. What was written to the overlays is
    dropped."
  - "It refuses, changing nothing and naming each reason in RV(refusals), when O(directory) does not exist, when the
    file system that holds O(directory) lies on one of the devices (directly, or through a partition, md array or
    device-mapper device), when that file system has less free space than O(cow_size) times the number of new
    overlays, when a device is mounted or held by anything (an md array, a volume group, another device-mapper
    device), or when a device-mapper device of the overlay's name exists over another device."
  - "An overlay whose file fills up becomes invalid: device-mapper fails every read and write through it from then
    on, and the origin is untouched. RV(overlays[].valid) says so; remove it and make it again with a larger
    O(cow_size)."
  - "It writes one file of its own, C(lifeline-overlays.json) in O(directory), which records each overlay's origin
    and whether this module made the origin read-only."
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - util-linux (lsblk, losetup, blockdev), dmsetup (device-mapper with the snapshot target), GNU coreutils
options:
  state:
    description:
      - V(present) makes the overlays; V(absent) removes them.
    type: str
    default: present
    choices: [present, absent]
  devices:
    description:
      - The devices to overlay (or, with O(state=absent), whose overlays to remove). Each is a serial or WWN (a whole
        disk), a C(/dev/disk/by-id) path, a C(/dev) path (C(/dev/md/NAME), C(/dev/VG/LV) and C(/dev/mapper) links
        included) or a kernel name.
      - A name that matches no block device, or more than one, fails the run before anything is run.
      - Required for O(state=present).
    type: list
    elements: str
  directory:
    description:
      - The directory for the copy-on-write files, on a file system that is not on any of the devices. It must exist.
    type: path
    required: true
  cow_size:
    description:
      - The apparent size of each sparse copy-on-write file, as bytes or with a unit (V(512M), V(2G)). It is how much
        may be written through each overlay before it becomes invalid; the files only take the space written.
      - Required for O(state=present).
    type: str
  name_prefix:
    description:
      - Prefix of the device-mapper names. The rest is the disk's serial (whole disks), else its by-id name, else its
        kernel name.
    type: str
    default: lifeline-overlay-
  timeout:
    description: Seconds each command may run.
    type: int
    default: 60
extends_documentation_fragment:
  - lifeline.storage._attributes
attributes:
  check_mode:
    support: full
    details: Reads everything a real run reads and returns the exact commands in RV(commands) (the loop device that
      C(losetup --find) would choose shows as C({loop})).
  diff_mode:
    support: none
  idempotent:
    support: full
    details: An overlay that exists over the same device is kept as it is (and its origin set read-only again if
      something made it writable); removing overlays that do not exist changes nothing.
notes:
  - "The overlays do not survive a restart of the host; their files then remain until O(state=absent) removes them."
  - "Overlays of the members of an md array are assembled with C(mdadm --assemble) naming the C(/dev/mapper) devices;
    stop the array on the real members first (the module refuses devices an array holds)."
seealso:
  - module: lifeline.storage.md_assemble
  - module: lifeline.storage.md_check
"""

EXAMPLES = r"""
- name: Overlay both members of a mirror before trying anything on them
  lifeline.storage.overlay:
    devices: [S45NNA0M123456, S45NNA0M123457]
    directory: /srv/overlays
    cow_size: 4G
  register: overlays

- name: Assemble the array from the overlays instead of the disks
  ansible.builtin.command:
    argv: "{{ ['mdadm', '--assemble', '/dev/md/rehearsal'] + (overlays.overlays | map(attribute='device') | list) }}"
  changed_when: true

- name: Remove the overlays and drop what was written to them
  lifeline.storage.overlay:
    state: absent
    directory: /srv/overlays
"""

RETURN = r"""
changed:
  description: Whether anything was (or, in check mode, would be) run.
  returned: always
  type: bool
msg:
  description: What was done; on a refusal, one line per rule that fired.
  returned: always
  type: str
commands:
  description: The commands run, or that would run in check mode, each as a list (the binary's path first once run).
  returned: always
  type: list
  elements: list
overlays:
  description:
    - The overlays over O(devices) after the run (with O(state=absent), the ones removed).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The device-mapper name.
      type: str
    device:
      description: The overlay's device, C(/dev/mapper/NAME).
      type: str
    origin:
      description: The device beneath it (C(/dev/KERNEL_NAME)).
      type: str
    origin_serial:
      description: The origin's serial; V(null) when it has none.
      type: str
    origin_stable_name:
      description: The origin's by-id path; V(null) when it has none.
      type: str
    origin_read_only:
      description: Whether the origin is read-only (C(blockdev --setro)).
      type: bool
    cow_file:
      description: The sparse file that holds what was written to the overlay.
      type: str
    cow_device:
      description: The loop device over that file.
      type: str
    cow_used_bytes:
      description: Bytes of the store in use (data and its exception table); V(null) when invalid or not yet made.
      type: int
    cow_size_bytes:
      description: Size of the store; V(null) when invalid or not yet made.
      type: int
    cow_used_percent:
      description: RV(overlays[].cow_used_bytes) in percent of RV(overlays[].cow_size_bytes).
      type: float
    valid:
      description: V(false) once the store overflowed or failed; every read and write through the overlay then fails.
        V(null) when not yet made.
      type: bool
    status:
      description: V(active), or device-mapper's word for an overlay that is not (V(Invalid), V(Overflow)).
      type: str
refusals:
  description: Each rule that fired, as C(rule) and C(detail); empty when none did.
  returned: always
  type: list
  elements: dict
  sample: [{rule: directory_on_origin, detail: "the file system holding the overlay directory lies on /dev/sdb ..."}]
undone:
  description: When a step of making an overlay failed, the commands that took back the steps already run for that
    overlay (C(blockdev --setrw), C(losetup --detach), C(rm) of its file), in the order run.
  returned: when a command failed
  type: list
  elements: list
cmd:
  description: The command that failed.
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
from ansible.module_utils.common.text.formatters import human_to_bytes

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._overlay_host import run_overlay


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            devices=dict(type="list", elements="str"),
            directory=dict(type="path", required=True),
            cow_size=dict(type="str"),
            name_prefix=dict(type="str", default="lifeline-overlay-"),
            timeout=dict(type="int", default=60),
        ),
        required_if=[("state", "present", ["devices", "cow_size"])],
        supports_check_mode=True,
    )
    params = dict(module.params)
    if params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1", changed=False, refusals=[])
    if params["cow_size"] is not None:
        try:
            params["cow_size_bytes"] = human_to_bytes(params["cow_size"])
        except ValueError as error:
            module.fail_json(msg="cow_size: %s" % error, changed=False, refusals=[])
        if params["cow_size_bytes"] < 1024 * 1024:
            module.fail_json(msg="cow_size must be at least 1M", changed=False, refusals=[])
    failed, result = run_overlay(params, CommandRunner(module, params["timeout"]), HostFiles(), module.check_mode)
    for overlay in result.get("overlays", []):
        if overlay.get("valid") is False:
            module.warn("overlay %s is invalid (%s): its copy-on-write file is full; every read and write through it fails"
                        % (overlay["name"], overlay.get("status")))
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
