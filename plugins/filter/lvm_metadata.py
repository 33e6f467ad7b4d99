# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lvm_metadata filter: read LVM2 text metadata (a vgcfgbackup file) into plain data."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import parse_lvm_metadata_backup


def lvm_metadata(text) -> dict:
    if not isinstance(text, str):
        raise AnsibleFilterError("lvm_metadata expects the text of an LVM metadata backup, got %s" % type(text).__name__)
    try:
        return parse_lvm_metadata_backup(text)
    except ParseError as error:
        raise AnsibleFilterError("lvm_metadata: %s" % error)


class FilterModule:
    def filters(self) -> dict:
        return {"lvm_metadata": lvm_metadata}
