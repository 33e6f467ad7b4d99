#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iscsi_import
short_description: Attach a broken host's iSCSI exports on a helper host, read-only, and say which device is which
version_added: 0.4.0
description:
  - "The helper's side of M(lifeline.storage.iscsi_export): for each target in O(targets) it makes an open-iscsi node
    record with CHAP and C(node.startup=manual) (no login at the next boot), logs in, waits for the LUN's
    C(/dev/disk/by-path) link and runs C(blockdev --setro) on the device."
  - "RV(devices) maps each target to its local device and to the serial the target reports, which
    M(lifeline.storage.iscsi_export) sets to the broken host's serial of the disk."
  - "A target already logged in is kept; its device is set read-only again if something made it writable."
  - "O(state=absent) logs out of the targets in O(targets) (every target exported by M(lifeline.storage.iscsi_export)
    when O(targets) is not given) and deletes their node records."
  - "The initiator name in C(/etc/iscsi/initiatorname.iscsi) must be O(initiator); the module refuses otherwise,
    since the target lets in that name only. The M(lifeline.storage.import) role writes it."
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - open-iscsi (iscsiadm, a running iscsid), udev, util-linux (blockdev)
options:
  state:
    description:
      - V(present) attaches the targets; V(absent) detaches them.
    type: str
    default: present
    choices: [present, absent]
  address:
    description: The broken host's address that its exports listen on.
    type: str
    required: true
  port:
    description: The TCP port of the portal.
    type: int
    default: 3260
  targets:
    description:
      - The targets' iSCSI names (RV(lifeline.storage.iscsi_export#module:exports[].iqn)). Required for
        O(state=present).
    type: list
    elements: str
  initiator:
    description: This host's initiator name, as the exports allow it. Required for O(state=present).
    type: str
  chap_user:
    description: The CHAP user name. Required for O(state=present).
    type: str
  chap_password:
    description: The CHAP secret. Required for O(state=present).
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
    details: Reads the sessions and node records as a real run does and returns the exact commands in RV(commands),
      the CHAP secret masked; a device not attached yet is named by its by-path link.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second run finds every target attached and read-only and runs nothing.
seealso:
  - module: lifeline.storage.iscsi_export
"""

EXAMPLES = r"""
- name: Attach the broken host's exports read-only
  lifeline.storage.iscsi_import:
    address: 192.0.2.10
    targets: "{{ export_result.exports | map(attribute='iqn') | list }}"
    initiator: iqn.2005-03.org.open-iscsi:helper
    chap_user: rescue
    chap_password: "{{ vault_rescue_chap_secret }}"
  register: attached

- name: Detach them
  lifeline.storage.iscsi_import:
    state: absent
    address: 192.0.2.10
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
  description: The commands run, or that would run in check mode, each as a list; the CHAP secret masked.
  returned: always
  type: list
  elements: list
devices:
  description: With O(state=present), each target's LUN on this host.
  returned: always
  type: list
  elements: dict
  contains:
    iqn:
      description: The target.
      type: str
    portal:
      description: ADDRESS:PORT.
      type: str
    by_path:
      description: The C(/dev/disk/by-path) link of its LUN 0.
      type: str
    device:
      description: The local block device; V(null) when not attached (check mode).
      type: str
    serial:
      description: The unit serial the target reports (the broken host's serial of the disk); V(null) when unknown.
      type: str
    read_only:
      description: Whether the kernel marks the local device read-only; V(null) when not attached or when sysfs does not say.
      type: bool
    size_bytes:
      description: The device's size; V(null) when not attached.
      type: int
detached:
  description: With O(state=absent), the targets detached (or that would be).
  returned: always
  type: list
  elements: str
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
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_import_host import run_import


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            address=dict(type="str", required=True),
            port=dict(type="int", default=3260),
            targets=dict(type="list", elements="str"),
            initiator=dict(type="str"),
            chap_user=dict(type="str"),
            chap_password=dict(type="str", no_log=True),
            timeout=dict(type="int", default=60),
        ),
        required_if=[("state", "present", ["targets", "initiator", "chap_user", "chap_password"])],
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1", changed=False, commands=[], devices=[], detached=[])
    if not 0 < module.params["port"] < 65536:
        module.fail_json(msg="port %d is not a TCP port" % module.params["port"], changed=False, commands=[],
                         devices=[], detached=[])
    failed, result = run_import(dict(module.params), CommandRunner(module, module.params["timeout"]), HostFiles(),
                                module.check_mode)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
