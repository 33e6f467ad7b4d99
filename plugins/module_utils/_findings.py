# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the Finding shape shared by every facts subset.

A finding is a plain dict so it survives JSON, Jinja and the fleet summary unchanged:
{code, severity, subject, message, evidence}. Codes are UPPER_SNAKE and documented in
docs/findings.md; severities are critical, warning and info.
"""

from __future__ import annotations

SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def make_finding(code: str, severity: str, subject: str, message: str, evidence: dict | None = None) -> dict:
    if severity not in SEVERITY_RANK:
        raise ValueError("unknown severity %r for finding %s" % (severity, code))
    return {"code": code, "severity": severity, "subject": subject, "message": message, "evidence": evidence or {}}


def sort_findings(findings: list[dict]) -> list[dict]:
    """Worst first; within a severity, by subject then code so output is stable between runs."""
    return sorted(findings, key=lambda f: (SEVERITY_RANK.get(f.get("severity"), 99), f.get("subject", ""), f.get("code", "")))
