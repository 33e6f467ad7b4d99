"""host_findings and fleet_summary: findings merged across subsets and hosts, worst first."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.filter.findings import fleet_summary, host_findings


def finding(code, severity, subject="/dev/md0"):
    return {"code": code, "severity": severity, "subject": subject, "message": code, "evidence": {}}


HEALTHY = {"lifeline_md": {"available": True, "findings": []}}
DEGRADED = {"lifeline_md": {"available": True, "findings": [finding("MD_NO_BITMAP", "warning"), finding("MD_ARRAY_DEGRADED", "critical")]},
            "lifeline_smart": {"findings": [finding("SMART_WATCH", "info", "/dev/sda")]},
            "other_fact": {"findings": [finding("NOT_OURS", "critical")]}}


def test_host_findings_merges_subsets_worst_first_and_tags_subset():
    merged = host_findings(DEGRADED)
    assert [(f["code"], f["subset"]) for f in merged] == [
        ("MD_ARRAY_DEGRADED", "md"), ("MD_NO_BITMAP", "md"), ("SMART_WATCH", "smart")]


def test_fleet_summary_orders_hosts_worst_first_and_lists_hosts_without_facts():
    summary = fleet_summary({"ok1": HEALTHY, "bad": DEGRADED, "gone": {"ansible_local": {}}})
    assert [(h["host"], h["status"]) for h in summary["hosts"]] == [("gone", "unknown"), ("bad", "critical"), ("ok1", "ok")]
    assert summary["totals"] == {"critical": 1, "warning": 1, "info": 1}
    assert summary["hosts_without_facts"] == ["gone"]
    assert summary["hosts"][1]["counts"] == {"critical": 1, "warning": 1, "info": 1}


@pytest.mark.parametrize("bad_input", [None, ["host"], "facts"])
def test_wrong_input_is_a_clear_error(bad_input):
    with pytest.raises(AnsibleFilterError):
        fleet_summary(bad_input)
    with pytest.raises(AnsibleFilterError):
        host_findings(bad_input)


def test_fleet_summary_counts_disks_by_smart_health():
    def disk(status):
        return {"health": {"status": status}}

    facts = {
        "db1": {"lifeline_smart": {"available": True, "findings": [],
                                   "disks": [disk("healthy"), disk("failing"), disk("unknown"), disk("healthy")]}},
        "db2": {"lifeline_md": {"available": True, "findings": []}},
        "db3": {"lifeline_smart": {"available": False, "findings": [], "error": "pySMART missing"}},
    }
    hosts = {h["host"]: h for h in fleet_summary(facts)["hosts"]}
    assert hosts["db1"]["disk_health"] == {"healthy": 2, "watch": 0, "failing": 1, "unknown": 1}
    assert hosts["db2"]["disk_health"] is None
    assert hosts["db3"]["disk_health"] is None
