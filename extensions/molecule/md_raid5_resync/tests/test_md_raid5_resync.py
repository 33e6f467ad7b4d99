"""A RAID5 while it resyncs: the operation and its progress, checked against sysfs."""

from __future__ import annotations

import re

from labcheck import array, gather, sh, sysfs


def mdstat_percent(host) -> float:
    """The kernel's own progress figure for md5, from its /proc/mdstat progress line."""
    match = re.search(r"resync\s*=\s*([0-9.]+)%", sh(host, "grep -A3 '^md5 ' /proc/mdstat"))
    assert match, "no resync progress line for md5 in /proc/mdstat"
    return float(match.group(1))


def test_resync_in_progress_with_percent(host):
    # sync_completed is md's last checkpoint and lags /proc/mdstat's live figure: each is
    # compared with the same source read just before and just after the module ran.
    before = [int(x) for x in sysfs(host, "/sys/block/md5/md/sync_completed").split("/")]
    percent_before = mdstat_percent(host)
    md5 = array(gather(host), "md5")
    percent_after = mdstat_percent(host)
    after = [int(x) for x in sysfs(host, "/sys/block/md5/md/sync_completed").split("/")]
    assert sysfs(host, "/sys/block/md5/md/sync_action") == "resync"
    assert md5["sync"]["action"] == "resync"
    assert md5["sync"]["total_sectors"] == before[1]
    assert before[0] <= md5["sync"]["completed_sectors"] <= after[0]
    assert percent_before <= md5["sync"]["percent"] <= percent_after < 100.0


def test_resync_is_a_warning_finding(host):
    facts = gather(host)
    found = [f for f in facts["findings"] if f["code"] == "MD_SYNC_IN_PROGRESS" and f["subject"] == "/dev/md5"]
    assert len(found) == 1
    assert found[0]["severity"] == "warning"
    assert found[0]["evidence"]["action"] == "resync"
    assert 0.0 <= found[0]["evidence"]["percent"] < 100.0


def test_members_on_three_buses_named_by_serial(host):
    md5 = array(gather(host), "md5")
    assert sorted(m["serial"] for m in md5["members"]) == ["IDE0001", "IDE0002", "NVME0001"]
    assert md5["level"] == "raid5" and md5["raid_disks"] == 3
