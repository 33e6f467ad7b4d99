"""A RAID1 whose member failed and was removed: degraded, the empty slot, the survivor by serial."""

from __future__ import annotations

from labcheck import array, by_serial, codes, gather, mdadm_examine, sh


def test_degraded_with_empty_slot(host):
    md1 = array(gather(host), "md1")
    removed_rows = [line.split() for line in sh(host, "mdadm --detail /dev/md1").splitlines() if line.strip().endswith("removed")]
    assert len(removed_rows) == 1, removed_rows
    assert md1["missing_slots"] == [int(removed_rows[0][3])]
    assert md1["degraded"] == 1
    assert [m["serial"] for m in md1["members"]] == ["VIRT0001"]


def test_degraded_finding_names_survivor(host):
    facts = gather(host)
    found = [f for f in facts["findings"] if f["code"] == "MD_ARRAY_DEGRADED"]
    assert len(found) == 1 and found[0]["severity"] == "critical" and found[0]["subject"] == "/dev/md1"
    assert [m["serial"] for m in found[0]["evidence"]["surviving_members"]] == ["VIRT0001"]
    assert "VIRT0001" in found[0]["message"]


def test_removed_member_is_a_superblock_outside_the_array(host):
    facts = gather(host)
    uuid = array(facts, "md1")["uuid"]
    removed = by_serial("VIRT0002", host)
    assert mdadm_examine(host, removed)["MD_UUID"].lower() == uuid
    groups = [g for g in facts["stray_superblocks"] if g["array_uuid"] == uuid]
    assert groups and groups[0]["assembled_as"] == "md1"
    assert [d["serial"] for d in groups[0]["devices"]] == ["VIRT0002"]
    assert "MD_SUPERBLOCK_OUTSIDE_ARRAY" in codes(facts["findings"], "/dev/md1")
