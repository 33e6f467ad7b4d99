"""md findings rules on facts the lab cannot produce cheaply, derived from a recorded healthy host."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._md_rules import md_findings

from .recorded_host import load_host


@pytest.fixture(name="healthy")
def fixture_healthy() -> dict:
    """The md facts of the lab's healthy RAID1 (md0), without the stopped array beside it."""
    facts = copy.deepcopy(load_host("md_raid1")["facts"]["lifeline_md"])
    facts["stray_superblocks"] = []
    facts["findings"] = []
    assert md_findings(facts) == []
    return facts


def only(facts: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["severity"]) for f in md_findings(facts)]


def test_mismatch_count(healthy):
    healthy["arrays"][0]["mismatch_cnt"] = 128
    assert only(healthy) == [("MD_MISMATCH_CNT", "warning")]
    assert md_findings(healthy)[0]["evidence"] == {"mismatch_cnt": 128}


@pytest.mark.parametrize("read_only, severity", [("auto-read-only", "info"), ("read-only", "warning")])
def test_read_only_states(healthy, read_only, severity):
    healthy["arrays"][0]["read_only"] = read_only
    assert only(healthy) == [("MD_READ_ONLY", severity)]


def test_inactive_array_is_critical_and_nothing_else_is_judged(healthy):
    healthy["arrays"][0]["state"] = "inactive"
    healthy["arrays"][0]["bitmap"]["present"] = False
    assert only(healthy) == [("MD_ARRAY_INACTIVE", "critical")]


def test_pending_resync(healthy):
    healthy["arrays"][0]["sync"].update(action="idle", pending="PENDING")
    assert only(healthy) == [("MD_SYNC_PENDING", "warning")]


@pytest.mark.parametrize("action, severity", [("check", "info"), ("repair", "info"), ("recover", "warning"), ("reshape", "warning")])
def test_sync_actions(healthy, action, severity):
    healthy["arrays"][0]["sync"].update(action=action, percent=42.0)
    assert only(healthy) == [("MD_SYNC_IN_PROGRESS", severity)]


def test_faulty_member_is_critical_and_excluded_from_event_comparison(healthy):
    member = healthy["arrays"][0]["members"][1]
    member.update(role="faulty", events=1)
    assert only(healthy) == [("MD_MEMBER_FAULTY", "critical")]


def test_unreadable_device_is_listed_with_its_reason(healthy):
    healthy["unreadable"] = [{"device": "/dev/sdz", "reason": "mdadm: cannot open /dev/sdz: No such device"}]
    [finding] = md_findings(healthy)
    assert (finding["code"], finding["subject"]) == ("MD_DEVICE_UNREADABLE", "/dev/sdz")
    assert "No such device" in finding["message"]
