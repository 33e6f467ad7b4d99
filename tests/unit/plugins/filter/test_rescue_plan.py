"""The rescue's choices: which array, which mirror sets, which member of each, and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.filter.rescue_plan import rescue_plan

UUID = "0a1b2c3d:4e5f6a7b:8c9d0e1f:2a3b4c5d"
HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def device(name: str, serial: str, slot: int | None, events: int = 40, role: str = "active") -> dict:
    return {"device": "/dev/" + name, "kernel_name": name, "serial": serial, "wwn": None,
            "stable_name": "/dev/disk/by-id/virtio-" + serial, "by_id": ["/dev/disk/by-id/virtio-" + serial],
            "slot": slot, "events": events, "role": role}


def raid10(devices: list[dict], layout: str = "near=2", uuid: str = UUID) -> dict:
    return {"arrays": [], "stray_superblocks": [{"array_uuid": uuid, "array_name": "lab:vault", "level": "raid10",
                                                 "layout": layout, "raid_devices": 4, "metadata": "1.2",
                                                 "assembled_as": None, "devices": devices}]}


def smart(*disks: tuple[str, str, int | None]) -> dict:
    return {"disks": [{"serial": serial, "device": None, "power_on_hours": hours,
                       "health": {"status": status, "score": None, "reasons": []}} for serial, status, hours in disks]}


FOUR = [device("vdb", "VIRT0001", 0), device("vdc", "VIRT0002", 1), device("vdd", "VIRT0003", 2), device("vde", "VIRT0004", 3)]


def test_raid10_near2_pairs_consecutive_slots_and_picks_the_healthier_of_each():
    result = rescue_plan(raid10(FOUR), smart(("VIRT0001", "watch", 10), ("VIRT0002", "healthy", 10),
                                             ("VIRT0003", "healthy", 500), ("VIRT0004", "healthy", 20)))
    assert [s["slots"] for s in result["mirror_sets"]] == [[0, 1], [2, 3]]
    assert [s["chosen"] for s in result["mirror_sets"]] == ["/dev/vdc", "/dev/vde"]
    assert result["members"] == ["/dev/disk/by-id/virtio-VIRT0002", "/dev/disk/by-id/virtio-VIRT0004"]
    assert result["mirror_sets"][0]["reason"] == "VIRT0002 is healthy, VIRT0001 is watch"
    assert "fewer power-on hours (20 against 500)" in result["mirror_sets"][1]["reason"]
    assert result["left_untouched"] == ["VIRT0001 (/dev/vdb)", "VIRT0003 (/dev/vdd)"]


def test_a_stale_member_is_never_chosen_even_when_smart_prefers_it():
    devices = [device("vdb", "VIRT0001", 0, events=12), device("vdc", "VIRT0002", 1, events=40)] + FOUR[2:]
    result = rescue_plan(raid10(devices), smart(("VIRT0001", "healthy", 1), ("VIRT0002", "watch", 1)))
    assert result["mirror_sets"][0]["chosen"] == "/dev/vdc"
    assert "VIRT0001 (/dev/vdb) is stale (events 12, newest 40)" in result["mirror_sets"][0]["reason"]


def test_a_mirror_set_with_only_stale_members_stops_the_plan():
    devices = [device("vdb", "VIRT0001", 0, events=12), device("vdc", "VIRT0002", 1, events=12)] + FOUR[2:]
    with pytest.raises(AnsibleFilterError, match="no member of slots 0, 1 has the array's newest event count 40"):
        rescue_plan(raid10(devices))


def test_a_mirror_set_with_no_device_stops_the_plan():
    with pytest.raises(AnsibleFilterError, match="no device of slots 2, 3 was found"):
        rescue_plan(raid10(FOUR[:2]))


def test_missing_smart_facts_make_every_member_unknown_and_the_order_is_by_serial():
    result = rescue_plan(raid10(FOUR), None)
    assert [s["chosen"] for s in result["mirror_sets"]] == ["/dev/vdb", "/dev/vdd"]
    assert result["mirror_sets"][0]["reason"] == "VIRT0001 and VIRT0002 cannot be told apart by SMART; ordered by serial"


def test_operator_overrides_replace_the_pairs_and_the_choice():
    result = rescue_plan(raid10(FOUR), None, UUID, [["VIRT0001", "VIRT0004"], ["VIRT0002", "VIRT0003"]], ["VIRT0004", "/dev/vdc"])
    assert [s["source"] for s in result["mirror_sets"]] == ["set in rescue_pairs"] * 2
    assert [s["chosen"] for s in result["mirror_sets"]] == ["/dev/vde", "/dev/vdc"]
    with pytest.raises(AnsibleFilterError, match="NOSUCH is not a device of this array"):
        rescue_plan(raid10(FOUR), None, UUID, None, ["NOSUCH"])


@pytest.mark.parametrize("layout", ["far=2", "offset=2", None])
def test_layouts_whose_pairs_cannot_be_read_from_slots_ask_for_rescue_pairs(layout):
    with pytest.raises(AnsibleFilterError, match="name them in rescue_pairs"):
        rescue_plan(raid10(FOUR, layout=layout))


def test_uuid_is_accepted_in_blkid_form_and_a_wrong_one_lists_what_exists():
    assert rescue_plan(raid10(FOUR), None, "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d")["array_uuid"] == UUID
    with pytest.raises(AnsibleFilterError, match="no md superblock on this host carries array UUID ffff; arrays found: " + UUID):
        rescue_plan(raid10(FOUR), None, "ffff")


def test_several_stopped_arrays_need_a_uuid():
    facts = raid10(FOUR)
    facts["stray_superblocks"].append(dict(facts["stray_superblocks"][0], array_uuid="11111111:22222222:33333333:44444444"))
    with pytest.raises(AnsibleFilterError, match="set rescue_array_uuid: 2 stopped arrays"):
        rescue_plan(facts)


def test_raid5_is_refused():
    facts = raid10(FOUR)
    facts["stray_superblocks"][0]["level"] = "raid5"
    with pytest.raises(AnsibleFilterError, match="the rescue handles mirrored arrays"):
        rescue_plan(facts)


def test_a_recorded_running_array_is_not_rescued():
    """md_events_diverge: a raid1 running with one member while the other, dropped out, is stale (recorded in the lab)."""
    md = json.loads((HOSTS / "md_events_diverge.json").read_text())["facts"]["lifeline_md"]
    group = md["stray_superblocks"][0]
    assert group["assembled_as"]
    with pytest.raises(AnsibleFilterError, match="is running as %s; the rescue assembles a stopped array" % group["assembled_as"]):
        rescue_plan(md, None, group["array_uuid"])
    with pytest.raises(AnsibleFilterError, match="set rescue_array_uuid: 0 stopped arrays"):
        rescue_plan(md)


def test_a_second_run_keeps_the_array_a_first_run_assembled_read_only():
    members = [dict(FOUR[1], slot=0), dict(FOUR[3], slot=1)]
    facts = {"arrays": [{"name": "md127", "device": "/dev/md127", "uuid": UUID, "array_state": "readonly", "level": "raid10",
                         "raid_disks": 4, "members": members}],
             "stray_superblocks": [dict(raid10([FOUR[0], FOUR[2]])["stray_superblocks"][0], assembled_as="md127")]}
    for uuid in (UUID, None):
        result = rescue_plan(facts, None, uuid)
        assert result["already_assembled"] == "/dev/md127"
        assert result["members"] == ["/dev/disk/by-id/virtio-VIRT0002", "/dev/disk/by-id/virtio-VIRT0004"]
        assert result["left_untouched"] == ["VIRT0001 (/dev/vdb)", "VIRT0003 (/dev/vdd)"]
    facts["arrays"][0]["array_state"] = "clean"
    with pytest.raises(AnsibleFilterError, match="is running as md127"):
        rescue_plan(facts, None, UUID)


def test_not_md_facts_is_an_error():
    with pytest.raises(AnsibleFilterError, match="expects the md facts"):
        rescue_plan({"disks": []})


def overlay(name: str, serial: str, slot: int, events: int = 40) -> dict:
    """A copy-on-write overlay (lifeline.storage.overlay) over a member: the same superblock, no serial."""
    link = "/dev/disk/by-id/dm-name-lifeline-overlay-" + serial
    return {"device": "/dev/" + name, "kernel_name": name, "serial": None, "wwn": None, "stable_name": link,
            "by_id": [link], "slot": slot, "events": events, "role": "active", "read_only": False}


def raid1(devices: list[dict]) -> dict:
    return {"arrays": [], "stray_superblocks": [{"array_uuid": UUID, "array_name": "lab:export", "level": "raid1",
                                                 "layout": None, "raid_devices": 2, "metadata": "1.2",
                                                 "assembled_as": None, "devices": devices}]}


def imported(name: str, serial: str, slot: int) -> dict:
    """A member attached over iSCSI on a helper, read-only (blockdev --setro)."""
    return dict(device(name, serial, slot), read_only=True)


def test_on_a_helper_the_write_protected_imports_are_skipped_and_an_overlay_is_chosen():
    devices = [overlay("dm-0", "VIRT0001", 0), overlay("dm-1", "VIRT0002", 1),
               imported("sda", "VIRT0001", 0), imported("sdb", "VIRT0002", 1)]
    result = rescue_plan(raid1(devices), None)
    assert result["mirror_sets"][0]["chosen"] == "/dev/dm-0"
    assert result["members"] == ["/dev/disk/by-id/dm-name-lifeline-overlay-VIRT0001"]
    assert result["mirror_sets"][0]["reason"] == (
        "/dev/dm-0 and /dev/dm-1 cannot be told apart by SMART; ordered by name; "
        "VIRT0001 (/dev/sda) is write-protected, which md cannot assemble from; "
        "VIRT0002 (/dev/sdb) is write-protected, which md cannot assemble from")
    assert [d["read_only"] for d in result["mirror_sets"][0]["devices"]] == [False, False, True, True]
    assert result["left_untouched"] == ["/dev/disk/by-id/dm-name-lifeline-overlay-VIRT0002 (/dev/dm-1)",
                                        "VIRT0001 (/dev/sda)", "VIRT0002 (/dev/sdb)"]


def test_only_write_protected_devices_stop_the_plan_and_say_to_make_overlays():
    with pytest.raises(AnsibleFilterError, match=r"every device of slots 0, 1 is write-protected \(VIRT0001 \(/dev/sda\), "
                                                 r"VIRT0002 \(/dev/sdb\)\).*copy-on-write overlay"):
        rescue_plan(raid1([imported("sda", "VIRT0001", 0), imported("sdb", "VIRT0002", 1)]), None)


def test_a_write_protected_device_named_in_rescue_members_is_refused():
    devices = [overlay("dm-0", "VIRT0001", 0), imported("sda", "VIRT0001", 0)]
    with pytest.raises(AnsibleFilterError, match=r"rescue_members names write-protected devices \(VIRT0001 \(/dev/sda\)\)"):
        rescue_plan(raid1(devices), None, UUID, None, ["/dev/sda"])
    assert rescue_plan(raid1(devices), None, UUID, None, ["/dev/dm-0"])["members"] == [
        "/dev/disk/by-id/dm-name-lifeline-overlay-VIRT0001"]
