# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fs_repair's stack walk and refusals, on storage_facts' shapes (ext4 on an LV on a PV on a RAID1 of two disks)."""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._repair_plan import (
    apply_refusals,
    directory_names,
    file_system_type,
    find_target,
    directory_refusals,
    stack_refusals,
    step_commands,
    walk_stack,
)


def device(name: str, kind: str, slaves=(), disk=None, serial=None) -> dict:
    return {"kernel_name": name, "device": "/dev/" + name, "type": kind, "slaves": list(slaves),
            "disk": disk or name, "serial": serial}


DEVICES = [
    device("dm-0", "lvm", ["md0"]),
    device("md0", "raid1", ["sda1", "sdb1"]),
    device("sda", "disk", serial="S1"), device("sda1", "part", disk="sda"),
    device("sdb", "disk", serial="S2"), device("sdb1", "part", disk="sdb"),
    device("sdc", "disk", serial="S3"), device("sdc1", "part", disk="sdc"),
]


def array(**extra) -> dict:
    entry = {"name": "md0", "degraded": 0, "mismatch_cnt": 0, "sync": {"action": "idle", "pending": None, "percent": None},
             "members": [{"kernel_name": "sda1", "events": 40}, {"kernel_name": "sdb1", "events": 40}]}
    entry.update(extra)
    return entry


def facts(arrays=None, health=None, stray=None) -> dict:
    health = health or {}
    return {
        "lifeline_md": {"available": True, "arrays": arrays if arrays is not None else [array()],
                        "stray_superblocks": stray or []},
        "lifeline_smart": {"available": True, "disks": [
            {"kernel_name": name, "health": {"status": health.get(name, "healthy"), "reasons": []}}
            for name in ("sda", "sdb", "sdc")]},
    }


def rules(refusals: list[dict]) -> list[tuple[str, str]]:
    return [(refusal["rule"], refusal["subject"]) for refusal in refusals]


def test_walk_goes_from_the_volume_down_to_the_disks():
    layers = walk_stack("dm-0", DEVICES)
    assert [(layer["kernel_name"], layer["level"]) for layer in layers] == [
        ("dm-0", 0), ("md0", 1), ("sda1", 2), ("sdb1", 2), ("sda", 3), ("sdb", 3)]


def test_healthy_stack_is_not_refused():
    refusals, unknowns = stack_refusals(walk_stack("dm-0", DEVICES), facts())
    assert refusals == [] and unknowns == []


def test_rebuilding_array_is_refused_and_named():
    rebuilding = array(degraded=1, sync={"action": "recover", "pending": None, "percent": 12.5})
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), facts([rebuilding]))[0]
    assert rules(refusals) == [("md_rebuilding", "md0")]
    assert "recover at 12.5%" in refusals[0]["detail"] and "wait until md/sync_action is idle" in refusals[0]["detail"]


def test_pending_resync_is_refused():
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), facts([array(sync={"action": "idle", "pending": "PENDING"})]))[0]
    assert rules(refusals) == [("md_rebuilding", "md0")]


def test_degraded_with_diverging_events_is_refused_but_degraded_alone_is_not():
    dropped = array(degraded=1, members=[{"kernel_name": "sda1", "events": 40}])
    stray = [{"assembled_as": "md0", "devices": [{"kernel_name": "sdb1", "events": 31}]}]
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), facts([dropped], stray=stray))[0]
    assert rules(refusals) == [("md_degraded_diverging", "md0")]
    assert "sda1=40, sdb1=31" in refusals[0]["detail"]
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), facts([dropped]))[0]
    assert refusals == []


def test_mismatches_from_the_last_check_are_refused():
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), facts([array(mismatch_cnt=256)]))[0]
    assert rules(refusals) == [("md_mismatch", "md0")]
    assert "mirror_compare" in refusals[0]["detail"] and "never write repair" in refusals[0]["detail"]


def test_failing_disk_beneath_is_refused_and_one_elsewhere_is_not():
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), facts(health={"sdb": "failing", "sdc": "failing"}))[0]
    assert rules(refusals) == [("disk_failing", "sdb")]
    assert "serial S2" in refusals[0]["detail"]


def test_every_rule_that_fires_is_listed():
    bad = array(mismatch_cnt=8, sync={"action": "resync", "pending": None, "percent": None})
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), facts([bad], health={"sda": "failing"}))[0]
    assert rules(refusals) == [("md_rebuilding", "md0"), ("md_mismatch", "md0"), ("disk_failing", "sda")]


def test_unknown_smart_is_reported_not_refused():
    state = facts()
    state["lifeline_smart"] = {"available": False, "error": "smartctl is not installed", "disks": []}
    refusals, unknowns = stack_refusals(walk_stack("dm-0", DEVICES), state)
    assert refusals == [] and [unknown["subject"] for unknown in unknowns] == ["smart", "sda", "sdb"]
    assert unknowns[0]["detail"] == "the smart facts are incomplete: smartctl is not installed"


def test_md_facts_missing_refuses_a_stack_with_an_array():
    state = facts()
    state["lifeline_md"] = {"available": False, "error": "mdadm missing"}
    refusals = stack_refusals(walk_stack("dm-0", DEVICES), state)[0]
    assert rules(refusals) == [("md_unknown", "md0")]


def test_device_the_facts_do_not_know_is_refused():
    refusals = stack_refusals(walk_stack("dm-9", DEVICES), facts([]))[0]
    assert rules(refusals) == [("stack_unknown", "dm-9")]


def test_backup_directory_on_the_stack_is_refused():
    layers = walk_stack("dm-0", DEVICES)
    assert rules(directory_refusals({"sdb1", "sdb"}, layers, "/srv/b")) == [("backup_on_stack", "/srv/b")]
    assert directory_refusals({"sdc1", "sdc"}, layers, "/srv/b") == []


def test_commands_per_file_system():
    assert step_commands("ext4", "/dev/dm-0", "/b/x.e2i") == {
        "check": ["e2fsck", "-f", "-n", "/dev/dm-0"], "backup": ["e2image", "-Q", "/dev/dm-0", "/b/x.e2i"],
        "repair": ["e2fsck", "-f", "-y", "/dev/dm-0"], "rehearse": ["e2fsck", "-f", "-y", "OVERLAY"]}
    assert step_commands("xfs", "/dev/dm-0")["check"] == ["xfs_repair", "-n", "/dev/dm-0"]
    assert step_commands("xfs", "/dev/dm-0")["rehearse"] == ["xfs_repair", "OVERLAY"]


def test_apply_needs_confirmation_rehearsal_and_backup():
    rehearsal = {"step": "rehearse", "origin": "/dev/dm-0", "run_id": "r1", "rc": 1}
    backup = {"source": "/dev/dm-0", "path": "/b/x.e2i", "sha256": "ab"}
    assert apply_refusals("/dev/dm-0", "/dev/dm-0", rehearsal, backup, "r1") == []
    assert [r["rule"] for r in apply_refusals("/dev/dm-0", None, None, None, "r1")] == [
        "not_confirmed", "not_rehearsed", "no_backup"]
    assert [r["rule"] for r in apply_refusals("/dev/dm-0", "/dev/dm-0", rehearsal, backup, "r2")] == ["not_rehearsed"]
    other = dict(rehearsal, origin="/dev/dm-1")
    assert [r["rule"] for r in apply_refusals("/dev/dm-0", "/dev/dm-0", other, backup, "r1")] == ["not_rehearsed"]


def test_target_by_mount_point_or_device_and_its_type():
    devices = [dict(DEVICES[0], mountpoints=["/srv/data"], signatures=[{"type": "ext4", "kind": "filesystem"}]),
               dict(DEVICES[6], mountpoints=["/"], signatures=[{"type": "xfs", "kind": "filesystem"}])] + DEVICES[1:6]
    assert find_target("/srv/data", None, devices)["kernel_name"] == "dm-0"
    assert find_target("/dev/mapper/vg-data", "/dev/dm-0", devices)["kernel_name"] == "dm-0"
    assert find_target("/dev/nothing", "/dev/nothing", devices) is None
    assert file_system_type(devices[0]) == "ext4"
    assert file_system_type({"signatures": None}) is None
    assert directory_names("/srv/data/backups", devices) == {"dm-0", "md0", "sda1", "sdb1", "sda", "sdb"}
    assert directory_names("/var/tmp", devices) == {"sdc"}
