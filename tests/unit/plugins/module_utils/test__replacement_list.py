"""The fleet's replacement list on hosts recorded in the lab (see fleet_hosts.py for the provenance)."""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._replacement_list import replacement_list

from .fleet_hosts import failing_disk, lab_smart, md_facts


def by_serial(entries: list[dict], host: str) -> dict[str, dict]:
    return {entry["serial"]: entry for entry in entries if entry["host"] == host}


def test_the_dropped_out_member_comes_first_and_its_partner_is_never_to_be_replaced_first():
    # md_degraded: RAID1 /dev/md1 runs on VIRT0001 alone; VIRT0002 still carries its superblock at event count 0.
    ranked = replacement_list({"web1": {"lifeline_md": md_facts("md_degraded"), "lifeline_smart": lab_smart()}})
    disks = by_serial(ranked, "web1")
    assert [entry["serial"] for entry in ranked][:2] == ["VIRT0002", "VIRT0001"]
    assert disks["VIRT0002"]["action"] == "replace" and disks["VIRT0002"]["rank"] == 1
    assert disks["VIRT0002"]["reasons"][0].startswith("dropped out of degraded /dev/md1 (slot 1, event count 0)")
    survivor = disks["VIRT0001"]
    assert survivor["action"] == "replace_partner_first"
    assert "holds the last good copy of degraded /dev/md1 (raid1, 1 of 2 slots working; slot 1 lost)" in survivor["reasons"][0]
    assert "replace its failed partner first, never this disk" in survivor["reasons"][0]
    assert survivor["arrays"] == ["/dev/md1"]


def test_smart_verdict_attributes_and_power_on_hours_are_given_in_words():
    smart = lab_smart()
    smart["disks"].append(failing_disk("WD0001", "/dev/sdc"))
    disks = by_serial(replacement_list({"db1": {"lifeline_smart": smart}}), "db1")
    failing = disks["WD0001"]
    assert (failing["action"], failing["health"], failing["score"], failing["rank"]) == ("replace", "failing", 0, 1)
    assert failing["reasons"][0].startswith("SMART verdict failing (score 0): the disk's own SMART health self-assessment failed")
    assert "attribute 5 (Reallocated_Sector_Ct) is below its threshold now" in failing["reasons"][0]
    assert failing["reasons"][-1] == "592 power-on hours"
    assert disks["IDE0001"]["action"] == "keep" and disks["IDE0001"]["reasons"][0] == "SMART verdict healthy (score 100)"
    assert disks["VIRT0001"]["action"] == "check"
    assert disks["VIRT0001"]["reasons"][0].startswith("SMART health unknown: SMART is not available")


def test_a_failing_last_copy_still_waits_for_its_partner_and_says_to_copy_data_off():
    smart = lab_smart()
    smart["disks"].append(failing_disk("VIRT0003", "/dev/vdd"))  # md_events_diverge's surviving member
    ranked = replacement_list({"db1": {"lifeline_md": md_facts("md_events_diverge"), "lifeline_smart": smart}})
    disks = by_serial(ranked, "db1")
    assert disks["VIRT0004"]["rank"] < disks["VIRT0003"]["rank"]
    assert disks["VIRT0003"]["action"] == "replace_partner_first"
    assert "copy the data off it before a rebuild" in disks["VIRT0003"]["reasons"][1]


def test_an_empty_slot_with_no_disk_left_is_listed_ahead_of_every_disk():
    # md_unplug: VIRT0004 was unplugged from RAID1 /dev/md4; no device on the host carries slot 1 any more.
    ranked = replacement_list({"web2": {"lifeline_md": md_facts("md_unplug")}, "web1": {"lifeline_md": md_facts("md_degraded")}})
    assert (ranked[0]["host"], ranked[0]["serial"], ranked[0]["slot"], ranked[0]["health"]) == ("web2", None, 1, "missing")
    assert ranked[0]["reasons"][0].startswith("slot 1 of degraded /dev/md4 (raid1) is empty")
    assert by_serial(ranked, "web2")["VIRT0003"]["action"] == "replace_partner_first"


def test_a_healthy_raid10_holds_no_last_copy_and_a_degraded_one_names_the_mirror_partner():
    healthy = md_facts("md_raid10")
    assert {entry["action"] for entry in replacement_list({"h": {"lifeline_md": healthy}})} == {"check"}
    degraded = md_facts("md_raid10")
    array = degraded["arrays"][0]
    array["members"] = [m for m in array["members"] if m["serial"] != "VIRT0002"]  # slot 1 gone: slot 0 is its mirror
    array["missing_slots"], array["degraded"] = [1], 1
    disks = by_serial(replacement_list({"h": {"lifeline_md": degraded}}), "h")
    assert disks["VIRT0001"]["action"] == "replace_partner_first"
    assert disks["VIRT0003"]["action"] == disks["VIRT0004"]["action"] == "check"


def test_md_read_errors_count_and_a_faulty_member_is_to_be_replaced():
    facts = md_facts("md_raid5_resync")
    facts["arrays"][0]["members"][2]["role"] = "faulty"
    facts["arrays"][0]["members"][1]["errors"] = 7
    disks = by_serial(replacement_list({"h": {"lifeline_md": facts}}), "h")
    assert disks["NVME0001"]["action"] == "replace" and disks["NVME0001"]["rank"] == 1
    assert disks["NVME0001"]["reasons"][0] == "md marked it faulty in /dev/md5 (slot 2): it receives no writes"
    assert disks["IDE0002"]["errors"] == 7 and "md counted 7 read errors on it in /dev/md5" in disks["IDE0002"]["reasons"]
    assert disks["IDE0002"]["rank"] < disks["IDE0001"]["rank"]
