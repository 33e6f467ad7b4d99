# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that merge storage_facts findings across subsets and hosts."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.module_utils._findings import SEVERITY_RANK, sort_findings
from ansible_collections.lifeline.storage.plugins.module_utils._fleet_arrays import host_arrays
from ansible_collections.lifeline.storage.plugins.module_utils._replacement_list import replacement_list

FACT_PREFIX = "lifeline_"


def host_findings(facts: dict) -> list[dict]:
    """Every finding of every lifeline_* subset in one host's facts, worst first, tagged with its subset."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError("host_findings expects a host's facts (a dict), got %s" % type(facts).__name__)
    merged = []
    for key in sorted(facts):
        subset = facts[key]
        if not key.startswith(FACT_PREFIX) or not isinstance(subset, dict):
            continue
        for finding in subset.get("findings") or []:
            merged.append(dict(finding, subset=key[len(FACT_PREFIX):]))
    return sort_findings(merged)


def disk_health_counts(facts: dict) -> dict | None:
    """Disks per SMART health status, or None when the host's facts have no smart subset."""
    smart = facts.get("lifeline_smart")
    if not isinstance(smart, dict) or not smart.get("available"):
        return None
    counts = {"healthy": 0, "watch": 0, "failing": 0, "unknown": 0}
    for disk in smart.get("disks") or []:
        status = (disk.get("health") or {}).get("status", "unknown")
        counts[status if status in counts else "unknown"] += 1
    return counts


def fleet_summary(facts_by_host: dict) -> dict:
    """Hosts x findings, worst host first, with each host's arrays and the fleet's replacement list.

    A host whose facts hold no lifeline_* subset failed or was unreachable: it is listed with
    status "unknown" rather than left out, so a summary never looks cleaner than the fleet.
    """
    if not isinstance(facts_by_host, dict):
        raise AnsibleFilterError("fleet_summary expects a dict of host name -> facts, got %s" % type(facts_by_host).__name__)
    hosts = []
    for host in sorted(facts_by_host):
        facts = facts_by_host[host] or {}
        if not any(key.startswith(FACT_PREFIX) for key in facts):
            hosts.append({"host": host, "status": "unknown", "counts": {}, "findings": [], "arrays": [],
                          "reason": "no storage facts: the host failed or was unreachable"})
            continue
        findings = host_findings(facts)
        counts = {severity: 0 for severity in SEVERITY_RANK}
        for finding in findings:
            counts[finding.get("severity")] = counts.get(finding.get("severity"), 0) + 1
        hosts.append({"host": host, "status": findings[0]["severity"] if findings else "ok",
                      "counts": counts, "findings": findings, "disk_health": disk_health_counts(facts),
                      "arrays": host_arrays(facts)})
    order = dict(SEVERITY_RANK, unknown=-1, ok=len(SEVERITY_RANK))
    hosts.sort(key=lambda h: (order.get(h["status"], 99), -sum(h["counts"].values()), h["host"]))
    totals = {severity: sum(h["counts"].get(severity, 0) for h in hosts) for severity in SEVERITY_RANK}
    return {"hosts": hosts, "totals": totals, "host_count": len(hosts),
            "hosts_without_facts": [h["host"] for h in hosts if h["status"] == "unknown"],
            "replacement": replacement_list({host: facts or {} for host, facts in facts_by_host.items()})}


class FilterModule:
    def filters(self) -> dict:
        return {"host_findings": host_findings, "fleet_summary": fleet_summary}
