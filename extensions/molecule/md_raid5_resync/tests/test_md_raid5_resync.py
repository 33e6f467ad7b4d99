"""A RAID5 while it resyncs: the operation and its progress, checked against sysfs."""

from __future__ import annotations

from labcheck import array, gather, sysfs


def test_resync_in_progress_with_percent(host):
    before = [int(x) for x in sysfs(host, "/sys/block/md5/md/sync_completed").split("/")]
    md5 = array(gather(host), "md5")
    after = [int(x) for x in sysfs(host, "/sys/block/md5/md/sync_completed").split("/")]
    assert sysfs(host, "/sys/block/md5/md/sync_action") == "resync"
    assert md5["sync"]["action"] == "resync"
    assert md5["sync"]["total_sectors"] == before[1]
    assert before[0] <= md5["sync"]["completed_sectors"] <= after[0]
    low, high = 100.0 * before[0] / before[1], 100.0 * after[0] / after[1]
    assert low - 0.1 <= md5["sync"]["percent"] <= high + 0.1
    assert md5["sync"]["percent"] < 100.0


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
