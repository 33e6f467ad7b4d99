# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rescue_plan filter: which array, which mirror sets, which member of each to assemble from."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.module_utils._rescue_plan import PlanError, plan


def rescue_plan(md_facts, smart_facts=None, uuid: str | None = None, pairs: list | None = None, members: list | None = None) -> dict:
    if not isinstance(md_facts, dict) or "stray_superblocks" not in md_facts:
        raise AnsibleFilterError("rescue_plan expects the md facts (ansible_facts.lifeline_md), got %s" % type(md_facts).__name__)
    try:
        return plan(md_facts, smart_facts if isinstance(smart_facts, dict) else None, uuid or None, pairs or None, members or None)
    except PlanError as error:
        raise AnsibleFilterError("rescue_plan: %s" % error) from error


class FilterModule:
    def filters(self) -> dict:
        return {"rescue_plan": rescue_plan}
