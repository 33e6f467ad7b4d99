# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recreate_md filter: the mdadm --create --assume-clean command that rebuilds a recorded md geometry."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.module_utils._md_recreate import RecreateError, recreate_plan, select_array


def recreate_md(geometry, devices: dict | None = None, uuid: str | None = None, array: str | None = None) -> dict:
    if devices is not None and not isinstance(devices, dict):
        raise AnsibleFilterError("recreate_md: devices must map a member's serial (or by-id name) to a device, got %s"
                                 % type(devices).__name__)
    try:
        return recreate_plan(select_array(geometry, uuid or None), devices or {}, array or None)
    except RecreateError as error:
        raise AnsibleFilterError("recreate_md: %s" % error) from error


class FilterModule:
    def filters(self) -> dict:
        return {"recreate_md": recreate_md}
