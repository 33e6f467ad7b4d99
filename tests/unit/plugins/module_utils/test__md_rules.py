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
    finding = md_findings(healthy)[0]
    assert finding["evidence"] == {"mismatch_cnt": 128, "level": "raid1", "members": [
        {"device": "/dev/vdb", "serial": "VIRT0001", "wwn": None, "stable_name": "/dev/disk/by-id/virtio-VIRT0001", "slot": 0},
        {"device": "/dev/vdc", "serial": "VIRT0002", "wwn": None, "stable_name": "/dev/disk/by-id/virtio-VIRT0002", "slot": 1}]}


def test_mismatch_on_a_mirror_says_how_to_find_the_member_and_not_to_repair(healthy):
    healthy["arrays"][0]["mismatch_cnt"] = 128
    message = md_findings(healthy)[0]["message"]
    assert message.startswith("/dev/md0 found 128 sectors whose copies differ during its last check.")
    assert "stop writes to the array" in message
    assert "run lifeline.storage.mirror_compare over all members of the mirror (VIRT0001 (slot 0), VIRT0002 (slot 1))" in message
    assert "Do not run a repair" in message
    assert "the first member that reads successfully (in slot order) over the others without a vote" in message
    assert "spread the stale copy" in message


def test_mismatch_on_raid10_names_mirror_sets_and_on_parity_levels_speaks_of_parity(healthy):
    array = healthy["arrays"][0]
    array.update(mismatch_cnt=8, level="raid10")
    assert "over the members of each mirror set" in md_findings(healthy)[0]["message"]
    array["level"] = "raid5"
    message = md_findings(healthy)[0]["message"]
    assert "parity does not match the data" in message and "mirror_compare" not in message


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
