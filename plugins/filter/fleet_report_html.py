# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet_report_html filter: the fleet summary as one self-contained HTML page."""

from __future__ import annotations

import datetime

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.module_utils._finding_advice import parse_findings_doc
from ansible_collections.lifeline.storage.plugins.module_utils._fleet_html import render_fleet_html


def fleet_report_html(summary, findings_doc: str = "", generated_at: str | None = None) -> str:
    """SUMMARY (from fleet_summary) as HTML; FINDINGS_DOC is the text of docs/findings.md, for what to do."""
    if not isinstance(summary, dict) or "hosts" not in summary:
        raise AnsibleFilterError("fleet_report_html expects the output of lifeline.storage.fleet_summary, got %s"
                                 % type(summary).__name__)
    if generated_at is None:
        generated_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return render_fleet_html(summary, parse_findings_doc(findings_doc or ""), generated_at)


class FilterModule:
    def filters(self) -> dict:
        return {"fleet_report_html": fleet_report_html}
