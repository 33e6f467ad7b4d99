#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iscsi_export
short_description: Export disks, partitions or md arrays read-only over iSCSI (LIO) to one named helper host
version_added: 0.4.0
description:
  - "For a host that cannot run the tools to save its own data: each device in O(devices) becomes one iSCSI target,
    C(IQN_PREFIX.SERIAL), that a helper host attaches and reads (the M(lifeline.storage.iscsi_import) module)."
  - "Each export is read-only twice over: its LIO block backstore is made with C(readonly=true), and its one LUN is
    mapped to the helper write-protected (C(write_protect=1))."
  - "It listens on one address, O(address), never on all of them: the portal C(0.0.0.0:3260) that targetcli adds to
    every new target is deleted before the target has a LUN or an ACL. Only O(initiator) may log in, with CHAP
    (O(chap_user), O(chap_password)); the target generates no ACL for any other initiator."
  - "The backstore's unit serial is the device's serial, so the helper's C(lsblk) shows the same serial."
  - "An export that exists exactly as asked is left alone; one that differs in anything (device, address,
    initiator, secret, a setting made writable) is removed and made again. O(state=absent) removes the exports of
    O(devices), or every export this module made when O(devices) is not given."
  - "The commands are C(targetcli) one-shot commands, which do not save LIO's configuration: the exports end when
    the host restarts."
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - targetcli-fb (targetcli, targetctl) with a running system D-Bus, the kernel's LIO iSCSI target
    (iscsi_target_mod, target_core_iblock), util-linux (lsblk), iproute2 (ip)
options:
  state:
    description:
      - V(present) makes the exports; V(absent) removes them.
    type: str
    default: present
    choices: [present, absent]
  devices:
    description:
      - "The devices to export, each by serial or WWN (a whole disk), a C(/dev/disk/by-id) path (a disk, a partition,
        an md array's C(md-uuid-) link) or a C(/dev/md/NAME) path. A kernel name (C(sdb), C(/dev/sdb1), C(md0)) is
        refused, since it can name another device after a restart."
      - The export is named by the disk's serial (a partition's adds C(-partN)), an array's by its C(md-uuid-) name.
      - Required for O(state=present).
    type: list
    elements: str
  address:
    description:
      - The one address of this host the target listens on, on the network the helper reaches. V(0.0.0.0) and V(::)
        are refused. Required for O(state=present).
    type: str
  port:
    description: The TCP port of the portal.
    type: int
    default: 3260
  initiator:
    description:
      - The helper's iSCSI initiator name (its C(/etc/iscsi/initiatorname.iscsi)), the only one allowed to log in.
        Required for O(state=present).
    type: str
  chap_user:
    description: The CHAP user name the helper logs in with. Required for O(state=present).
    type: str
  chap_password:
    description: The CHAP secret, 12 to 16 characters. Required for O(state=present).
    type: str
  timeout:
    description: Seconds each command may run.
    type: int
    default: 60
extends_documentation_fragment:
  - lifeline.storage._attributes
attributes:
  check_mode:
    support: full
    details: Reads the devices and LIO's configuration as a real run does and returns the exact targetcli commands in
      RV(commands), with the CHAP secret masked.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second run with the same arguments finds every export as asked and runs nothing.
notes:
  - "A device that is mounted or assembled on this host can change while the helper reads it; export devices that
    this host does not use."
seealso:
  - module: lifeline.storage.iscsi_import
"""

EXAMPLES = r"""
- name: Export both members of the mirror to the helper, read-only
  lifeline.storage.iscsi_export:
    devices: [S45NNA0M123456, /dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567]
    address: 192.0.2.10
    initiator: iqn.2005-03.org.open-iscsi:helper
    chap_user: rescue
    chap_password: "{{ vault_rescue_chap_secret }}"

- name: Remove every export
  lifeline.storage.iscsi_export:
    state: absent
"""

RETURN = r"""
changed:
  description: Whether anything was (or, in check mode, would be) run.
  returned: always
  type: bool
msg:
  description: What was done, or why nothing was.
  returned: always
  type: str
commands:
  description: The targetcli commands run, or that would run in check mode, each as a list; the CHAP secret masked.
  returned: always
  type: list
  elements: list
exports:
  description: With O(state=present), the exports of O(devices).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The serial (or WWN, C(SERIAL-partN), C(md-uuid-UUID)) the export is named by.
      type: str
    device:
      description: The device's kernel path on this host now.
      type: str
    path:
      description: The stable path the backstore opens.
      type: str
    iqn:
      description: The target's iSCSI name.
      type: str
    backstore:
      description: The LIO block backstore's name.
      type: str
    portal:
      description: ADDRESS:PORT.
      type: str
    initiator:
      description: The only initiator allowed in.
      type: str
removed:
  description: With O(state=absent), the exports removed (or that would be).
  returned: always
  type: list
  elements: str
undone:
  description: When a command failed while making an export, the commands that removed what was made of it.
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

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_export_host import run_export


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            devices=dict(type="list", elements="str"),
            address=dict(type="str"),
            port=dict(type="int", default=3260),
            initiator=dict(type="str"),
            chap_user=dict(type="str"),
            chap_password=dict(type="str", no_log=True),
            timeout=dict(type="int", default=60),
        ),
        required_if=[("state", "present", ["devices", "address", "initiator", "chap_user", "chap_password"])],
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1", changed=False, commands=[], exports=[], removed=[])
    if not 0 < module.params["port"] < 65536:
        module.fail_json(msg="port %d is not a TCP port" % module.params["port"], changed=False, commands=[],
                         exports=[], removed=[])
    failed, result = run_export(dict(module.params), CommandRunner(module, module.params["timeout"]), HostFiles(),
                                module.check_mode)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
