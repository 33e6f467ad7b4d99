"""A healthy RAID1 and a stopped array's superblocks, checked against mdadm and sysfs."""

from __future__ import annotations

from labcheck import array, by_id_path, by_serial, codes, gather, hash_devices, mdadm_detail, mdadm_examine, slots_by_serial


def test_array_matches_mdadm(host):
    facts = gather(host)
    md0 = array(facts, "md0")
    detail = mdadm_detail(host, "/dev/md0")
    assert md0["level"] == detail["MD_LEVEL"] == "raid1"
    assert md0["uuid"] == detail["MD_UUID"].lower()
    assert md0["metadata"] == detail["MD_METADATA"]
    assert md0["raid_disks"] == int(detail["MD_DEVICES"]) == 2
    assert md0["state"] == "active" and md0["missing_slots"] == [] and md0["degraded"] == 0
    assert md0["bitmap"]["present"] is True


def test_members_named_by_serial_in_their_slots(host):
    md0 = array(gather(host), "md0")
    assert {m["serial"]: m["slot"] for m in md0["members"]} == slots_by_serial(host, "/dev/md0")
    assert sorted(m["serial"] for m in md0["members"]) == ["VIRT0001", "VIRT0002"]
    for member in md0["members"]:
        assert member["role"] == "active"
        assert member["stable_name"] == by_id_path(member["serial"])
        assert member["events"] == int(mdadm_examine(host, member["device"])["MD_EVENTS"])


def test_healthy_array_has_no_problem_findings(host):
    assert codes(gather(host)["findings"], "/dev/md0") == []


def test_stopped_array_reported_as_not_assembled(host):
    facts = gather(host)
    ide1 = by_serial("IDE0001", host)
    uuid = mdadm_examine(host, ide1)["MD_UUID"].lower()
    groups = [g for g in facts["stray_superblocks"] if g["array_uuid"] == uuid]
    assert len(groups) == 1, facts["stray_superblocks"]
    assert groups[0]["assembled_as"] is None
    assert sorted(d["serial"] for d in groups[0]["devices"]) == ["IDE0001", "IDE0002"]
    assert {d["device"]: d["events"] for d in groups[0]["devices"]} == {
        d["device"]: int(mdadm_examine(host, d["device"])["MD_EVENTS"]) for d in groups[0]["devices"]}
    assert "MD_ARRAY_NOT_ASSEMBLED" in codes(facts["findings"], uuid)


def test_check_mode_reports_the_same(host):
    real, check = gather(host), gather(host, check=True)
    assert [a["uuid"] for a in real["arrays"]] == [a["uuid"] for a in check["arrays"]]
    assert codes(real["findings"]) == codes(check["findings"])


def test_gathering_never_writes(host):
    devices = [by_serial(s, host) for s in ("VIRT0001", "VIRT0002", "IDE0001", "IDE0002")]
    before = hash_devices(host, devices)
    gather(host)
    gather(host, check=True)
    assert hash_devices(host, devices) == before
