"""A disk pulled out of a running RAID1 through the QEMU monitor."""

from __future__ import annotations

from labcheck import array, gather, kernel_name_to_serial, sh


def test_unplugged_disk_is_gone_from_the_guest(host):
    assert "VIRT0004" not in kernel_name_to_serial(host).values()


def test_array_degraded_with_slot_reported_and_survivor_by_serial(host):
    facts = gather(host)
    md4 = array(facts, "md4")
    removed_rows = [line.split() for line in sh(host, "mdadm --detail /dev/md4").splitlines() if line.strip().endswith("removed")]
    assert md4["missing_slots"] == [int(row[3]) for row in removed_rows] != []
    assert [m["serial"] for m in md4["members"] if m["role"] == "active"] == ["VIRT0003"]
    assert all(m["serial"] != "VIRT0004" for m in md4["members"])
    found = [f for f in facts["findings"] if f["code"] == "MD_ARRAY_DEGRADED" and f["subject"] == "/dev/md4"]
    assert len(found) == 1
    assert [m["serial"] for m in found[0]["evidence"]["surviving_members"]] == ["VIRT0003"]
