"""RAID10 over four disks without a write-intent bitmap, checked against mdadm and sysfs."""

from __future__ import annotations

from labcheck import array, codes, gather, mdadm_detail, mdadm_examine, sh, slots_by_serial


def test_raid10_matches_mdadm(host):
    md10 = array(gather(host), "md10")
    detail = mdadm_detail(host, "/dev/md10")
    assert md10["level"] == detail["MD_LEVEL"] == "raid10"
    assert md10["uuid"] == detail["MD_UUID"].lower()
    assert md10["raid_disks"] == 4
    assert md10["size_bytes"] == int(sh(host, "blockdev --getsize64 /dev/md10"))


def test_four_members_in_their_slots(host):
    md10 = array(gather(host), "md10")
    assert {m["serial"]: m["slot"] for m in md10["members"]} == slots_by_serial(host, "/dev/md10")
    assert sorted(m["slot"] for m in md10["members"]) == [0, 1, 2, 3]
    events = {int(mdadm_examine(host, m["device"])["MD_EVENTS"]) for m in md10["members"]}
    assert {m["events"] for m in md10["members"]} == events and len(events) == 1


def test_missing_bitmap_is_a_finding(host):
    facts = gather(host)
    assert "Intent Bitmap" not in sh(host, "mdadm --detail /dev/md10")
    assert array(facts, "md10")["bitmap"]["present"] is False
    assert codes(facts["findings"], "/dev/md10") == ["MD_NO_BITMAP"]
