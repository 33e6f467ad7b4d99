# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""md_assemble: the planner's rules on superblocks recorded in the lab guest, and the module's
commands through a fake runner.

The planner tests feed plan_readonly / plan_stop with `mdadm --examine`, lsblk and /proc/mdstat
outputs recorded in the lab guest (tests/unit/fixtures/md_assemble/SOURCES.md). The run tests
drive run_md_assemble with a fake runner and fake host files built from the same recordings:
they pin which commands run and the result's shape. They are unit tests; they prove nothing about
what mdadm or the kernel do. The lab scenarios do that.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import build_identity_map
from ansible_collections.lifeline.storage.plugins.module_utils._lsblk_parse import parse_lsblk_json
from ansible_collections.lifeline.storage.plugins.module_utils._md_assemble import (
    RULES,
    RequestError,
    can_run,
    check_array_path,
    normalize_uuid,
    plan_readonly,
    plan_stop,
    refusal_message,
    reshape_evidence,
    resolve_members,
)
from ansible_collections.lifeline.storage.plugins.module_utils._md_assemble_host import run_md_assemble
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_examine
from ansible_collections.lifeline.storage.plugins.module_utils._mdstat_parse import parse_mdstat

from .corpus_checks import assert_inventory
from .test_md_autoassembly import FakeFiles, debian_host

FIXTURES = Path(__file__).resolve().parents[3] / "unit" / "fixtures"
HERE = FIXTURES / "md_assemble"
PARKED = "ac46cbc0:2caf7ede:525863e4:66115aae"    # sda + sdb, stopped, events 0
HEALTHY = "3f5ea966:6745a7df:ab5b0f5c:236f14b9"   # vdb + vdc, running as md0
SPLIT = "f2fa15ef:c8f41d87:051e6d80:9979c517"     # vdd events 2 (records slot 1 missing), vde events 0
HALFGONE = "145369b0:edfe372e:987c6569:d4c27157"  # vdb events 3, vdc events 0
TEN = "8df85f3a:afc88ac7:a6a07d82:8d471423"       # RAID10 near=2 on vdb..vde
FIVE = "624caff7:abbe5861:1f2dcebb:c331b87b"      # RAID5 on nvme0n1, sda, sdb; State active
FORBIDDEN = ("--force", "--update", "--create", "--grow", "--scan", "--zero-superblock", "--add", "--re-add")


def text(name: str) -> str:
    return (HERE / name).read_text()


def examined_from(*names: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for name in names:
        found.update(parse_mdadm_examine(text(name)))
    return found


def lab_identities(lsblk: str = "lab-healthy.lsblk.json") -> dict[str, dict]:
    links = json.loads(text("lab-healthy.by-id.json"))
    targets = {path.rsplit("/", 1)[-1]: target.rsplit("/", 1)[-1] for path, target in links.items()}
    return build_identity_map(parse_lsblk_json(text(lsblk)), targets)


def arrays_from(mdstat_name: str | None, array_state: dict[str, str] | None = None) -> list[dict]:
    if mdstat_name is None:
        return []
    return [{"name": a["name"], "state": a["state"], "level": a["level"], "raid_disks": a["raid_disks"],
             "member_names": [m["name"] for m in a["members"]],
             "array_state": (array_state or {}).get(a["name"]), "sync_action": "idle"}
            for a in parse_mdstat(text(mdstat_name))["arrays"]]


def plan(examined: dict, uuid: str | None = None, members: list[str] | None = None, arrays: list[dict] | None = None,
         unreadable: dict | None = None, identities: dict | None = None, **request) -> dict:
    identities = identities or lab_identities()
    resolved = None
    if members:
        resolved, missing, ambiguous = resolve_members(identities, members)
        assert not missing and not ambiguous
    host = {"arrays": arrays or [], "holders": request.pop("holders", {}), "mounts": request.pop("mounts", {}),
            "md_links": request.pop("md_links", {}), "read_only": request.pop("read_only", {})}
    result = plan_readonly(dict({"uuid": uuid, "members": resolved, "array": None, "allow_degraded": False,
                                 "allow_event_divergence": False}, **request),
                           identities, examined, unreadable or {}, host)
    assert not set(FORBIDDEN) & set(result["command"])
    return result


def rules(result: dict) -> list[str]:
    return [refusal["rule"] for refusal in result["refusals"]]


def test_every_fixture_has_one_provenance_line_and_recorded_outputs_parse():
    names = sorted(path.name for path in HERE.iterdir() if path.name != "SOURCES.md")
    assert_inventory(HERE, names, 14, {})
    for name in names:
        if name.endswith(".examine.txt"):
            assert all(block["superblock"] == "md" for block in parse_mdadm_examine(text(name)).values()), name


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------

def test_uuid_is_accepted_in_mdadm_and_blkid_form_and_nothing_else():
    assert normalize_uuid(" AC46CBC0:2CAF7EDE:525863E4:66115AAE ") == PARKED
    assert normalize_uuid("ac46cbc0-2caf-7ede-5258-63e466115aae") == PARKED
    for bad in ("ac46cbc0:2caf7ede:525863e4", "ac46cbc02caf7ede525863e466115aae", "md0"):
        with pytest.raises(RequestError):
            normalize_uuid(bad)


def test_array_path_is_an_md_device():
    assert check_array_path("/dev/md/rescue") == "/dev/md/rescue"
    assert check_array_path("/dev/md127") == "/dev/md127"
    for bad in ("/dev/sda", "md0", "/dev/md/../sda", "/dev/md/a b", "/dev/md_d0"):
        with pytest.raises(RequestError):
            check_array_path(bad)


def test_members_resolve_by_serial_by_id_path_dev_path_and_kernel_name():
    identities = lab_identities()
    resolved, missing, ambiguous = resolve_members(identities, [
        "IDE0001", "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0002", "virtio-VIRT0001", "/dev/vdc", "vdd", "NOPE", "IDE0001"])
    assert [(m["kernel_name"], m["requested_as"]) for m in resolved] == [
        ("sda", "IDE0001"), ("sdb", "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0002"), ("vdb", "virtio-VIRT0001"),
        ("vdc", "/dev/vdc"), ("vdd", "vdd")]
    assert (missing, ambiguous) == (["NOPE"], [])


def test_a_serial_two_devices_share_is_ambiguous_and_an_alias_resolves_through_its_link():
    identities = lab_identities()
    identities["sdb"] = dict(identities["sdb"], serial="IDE0001")  # as two paths of one multipath disk show
    _resolved, _missing, ambiguous = resolve_members(identities, ["IDE0001"])
    assert ambiguous == ["IDE0001 (matches /dev/sda, /dev/sdb)"]
    resolved, _missing, _ambiguous = resolve_members(identities, ["/dev/disk/by-path/pci-0000:00:05.0"],
                                                     {"/dev/disk/by-path/pci-0000:00:05.0": "vdb"})
    assert [m["kernel_name"] for m in resolved] == ["vdb"]


def test_a_partition_is_not_named_by_its_disks_serial():
    identities = lab_identities()
    identities["vdb1"] = dict(identities["vdb"], kernel_name="vdb1", device="/dev/vdb1", type="part", disk="vdb",
                              by_id=["/dev/disk/by-id/virtio-VIRT0001-part1"])
    resolved, _missing, _ambiguous = resolve_members(identities, ["VIRT0001", "/dev/disk/by-id/virtio-VIRT0001-part1"])
    assert [m["kernel_name"] for m in resolved] == ["vdb", "vdb1"]


# ---------------------------------------------------------------------------------------------
# Planning a read-only assembly
# ---------------------------------------------------------------------------------------------

def test_scan_finds_every_member_of_a_stopped_array_and_plans_the_exact_command():
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=PARKED,
                  arrays=arrays_from("lab-healthy.mdstat.txt", {"md0": "clean"}))
    assert (result["action"], result["refusals"], result["degraded"]) == ("assemble", [], False)
    assert result["command"] == ["--assemble", "--readonly", "--config=none", "/dev/md/lifeline-ac46cbc0",
                                 "--uuid=" + PARKED, "/dev/sda", "/dev/sdb"]
    assert [(m["serial"], m["stable_name"], m["role"], m["slot"], m["events"]) for m in result["members"]] == [
        ("IDE0001", "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001", "active", 0, 0),
        ("IDE0002", "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0002", "active", 1, 0)]
    assert (result["level"], result["raid_devices"], result["metadata"], result["local"]) == ("raid1", 2, "1.2", True)


def test_explicit_members_without_uuid_take_it_from_their_superblocks():
    result = plan(examined_from("lab-parked-healthy.examine.txt"), members=["IDE0002", "IDE0001"], array="/dev/md/rescue")
    assert result["uuid"] == PARKED and result["array"] == "/dev/md/rescue"
    assert result["command"][-2:] == ["/dev/sdb", "/dev/sda"]  # in the order the operator named them


def test_half_a_mirror_needs_allow_degraded_and_then_runs_with_run():
    examined = examined_from("lab-parked-healthy.examine.txt")
    refused = plan(examined, uuid=PARKED, members=["IDE0002"])
    assert rules(refused) == ["incomplete"] and refused["degraded"] is True and refused["command"] == []
    assert "slot(s) 0 of 2" in refused["refusals"][0]["detail"]
    allowed = plan(examined, uuid=PARKED, members=["IDE0002"], allow_degraded=True)
    assert allowed["command"] == ["--assemble", "--readonly", "--config=none", "/dev/md/lifeline-ac46cbc0", "--run",
                                  "--uuid=" + PARKED, "/dev/sdb"]
    assert [m["slot"] for m in allowed["other_members"]] == [0]


def test_members_of_two_arrays_are_refused():
    result = plan(examined_from("lab-parked-healthy.examine.txt"), members=["IDE0001", "VIRT0001"])
    assert rules(result) == ["uuid_mismatch"] and result["uuid"] is None and result["array"] is None
    assert PARKED in result["refusals"][0]["detail"] and HEALTHY in result["refusals"][0]["detail"]


def test_members_not_of_the_requested_array_are_refused():
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=HEALTHY, members=["IDE0001", "IDE0002"])
    assert rules(result) == ["uuid_mismatch"]


def test_a_device_without_superblock_or_unreadable_is_refused():
    examined = examined_from("lab-parked-healthy.examine.txt")
    result = plan(examined, uuid=PARKED, members=["IDE0001", "LABROOT", "IDE0002"],
                  unreadable={"/dev/sdb": "mdadm: cannot open /dev/sdb: Permission denied"})
    assert rules(result) == ["no_superblock", "member_unreadable", "incomplete"]
    assert result["refusals"][0]["detail"] == "/dev/vda (LABROOT) carries no md superblock"
    assert result["refusals"][1]["detail"] == "/dev/sdb (IDE0002): mdadm: cannot open /dev/sdb: Permission denied"


def test_scan_for_an_array_nobody_carries_is_refused():
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid="00000000:00000000:00000000:00000001")
    assert rules(result) == ["no_members_found"] and "4 devices examined" in result["refusals"][0]["detail"]


def test_diverged_halves_scanned_together_are_refused_with_both_rules():
    result = plan(examined_from("lab-split.examine.txt"), uuid=SPLIT, identities=lab_identities("lab-split.lsblk.json"))
    assert rules(result) == ["events_diverge", "state_disagrees"]
    assert ("/dev/vdd (VIRT0003) events 2 (updated Mon Nov 23 02:16:48 2026), "
            "/dev/vde (VIRT0004) events 0 (updated Mon Nov 23 02:16:44 2026)") in result["refusals"][0]["detail"]
    assert result["refusals"][1]["detail"].startswith("/dev/vdd (VIRT0003) (events 2) records slot 1, held by "
                                                      "/dev/vde (VIRT0004) (events 0), as missing")


def test_same_for_the_mirror_whose_second_half_dropped_out():
    result = plan(examined_from("lab-halfgone.examine.txt"), uuid=HALFGONE)
    assert rules(result) == ["events_diverge", "state_disagrees"]


def test_the_newer_half_alone_is_a_plain_degraded_assembly():
    examined = examined_from("lab-split.examine.txt")
    result = plan(examined, uuid=SPLIT, members=["VIRT0003"], allow_degraded=True,
                  identities=lab_identities("lab-split.lsblk.json"))
    assert result["action"] == "assemble" and result["command"][-1] == "/dev/vdd"
    assert [(m["device"], m["events"]) for m in result["other_members"]] == [("/dev/vde", 0)]


def test_the_older_half_alone_needs_the_override_and_says_which_devices_are_newer():
    examined = examined_from("lab-split.examine.txt")
    identities = lab_identities("lab-split.lsblk.json")
    refused = plan(examined, uuid=SPLIT, members=["VIRT0004"], allow_degraded=True, identities=identities)
    assert rules(refused) == ["newer_members_elsewhere"]
    assert "older than /dev/vdd (VIRT0003) (slot 0, events 2)" in refused["refusals"][0]["detail"]
    allowed = plan(examined, uuid=SPLIT, members=["VIRT0004"], allow_degraded=True, allow_event_divergence=True,
                   identities=identities)
    assert allowed["action"] == "assemble" and allowed["command"][-3:] == ["--run", "--uuid=" + SPLIT, "/dev/vde"]


def test_the_override_does_not_admit_diverged_chosen_members():
    result = plan(examined_from("lab-split.examine.txt"), uuid=SPLIT, allow_degraded=True, allow_event_divergence=True,
                  identities=lab_identities("lab-split.lsblk.json"))
    assert rules(result) == ["events_diverge", "state_disagrees"]


def test_events_one_apart_are_accepted_as_mdadm_and_the_kernel_accept_them():
    examined = examined_from("lab-parked-healthy.examine.txt")
    examined["/dev/sdb"] = dict(examined["/dev/sdb"], events=1)
    assert plan(examined, uuid=PARKED)["action"] == "assemble"
    examined["/dev/sdb"] = dict(examined["/dev/sdb"], events=2)
    assert rules(plan(examined, uuid=PARKED)) == ["events_diverge"]


def test_a_090_superblock_table_recording_a_member_faulty_is_a_disagreement():
    # The 0.90 examine table lists every slot; the recorded one (jc's raid1 0.90 sample) shows both
    # active, so the second device's view is changed in memory to a failed slot 0.
    block = parse_mdadm_examine((FIXTURES / "md" / "mdadm" / "jc_mdadm-examine-raid1-0-90-ok.txt").read_text())["/dev/vda1"]
    second = copy.deepcopy(block)
    second["role"] = {"kind": "active", "slot": 1}
    second["devices"][0]["state"] = ["faulty", "removed"]
    identities = lab_identities()
    examined = {"/dev/vdb": block, "/dev/vdc": second}
    result = plan(examined, uuid="3f720601:29af5283:96fc04a8:108a4af7", identities=identities)
    assert rules(result) == ["state_disagrees"]
    assert "records slot 0, held by /dev/vdb (VIRT0001) (events 18), as failed" in result["refusals"][0]["detail"]
    assert result["metadata"] == "0.90.00" and result["local"] is True


def test_a_reshape_in_progress_is_refused_with_the_superblock_lines():
    examined = examined_from("lab-five.examine.txt", "derived-five-reshape.examine.txt")
    result = plan(examined, uuid=FIVE)
    assert rules(result) == ["reshape_in_progress"]
    assert ("/dev/nvme0n1 (NVME0001): Reshape pos'n: 261120 (255.00 MiB 267.39 MB); Delta Devices: 1 (2->3); "
            "Feature Map 0x5 has the reshape-active bit") in result["refusals"][0]["detail"]


def test_reshape_evidence_from_090_version():
    assert reshape_evidence({"fields": {}, "feature_map": None, "version": "0.91.00"}) == [
        "Version 0.91.00 (0.90 metadata during a reshape)"]


def test_an_unclean_raid5_can_run_complete_but_not_degraded():
    examined = examined_from("lab-five.examine.txt")
    assert plan(examined, uuid=FIVE)["action"] == "assemble"
    result = plan(examined, uuid=FIVE, members=["NVME0001", "IDE0001"], allow_degraded=True)
    assert rules(result) == ["dirty_degraded"]
    assert "State: active" in result["refusals"][0]["detail"]


def test_raid10_degraded_runs_only_with_one_device_of_each_mirror_pair():
    examined = examined_from("lab-ten.examine.txt")
    assert plan(examined, uuid=TEN)["command"][-4:] == ["/dev/vdb", "/dev/vdc", "/dev/vdd", "/dev/vde"]
    one_of_each = plan(examined, uuid=TEN, members=["VIRT0001", "VIRT0003"], allow_degraded=True)
    assert one_of_each["action"] == "assemble" and "--run" in one_of_each["command"]
    first_pair_only = plan(examined, uuid=TEN, members=["VIRT0001", "VIRT0002"], allow_degraded=True)
    assert rules(first_pair_only) == ["not_enough_to_run"]
    assert first_pair_only["refusals"][0]["detail"] == ("raid10 with 4 raid devices cannot run from slot(s) 0, 1 "
                                                        "alone (missing 2, 3)")


@pytest.mark.parametrize("level, devices, layout, clean, present, expected", [
    ("raid0", 2, None, True, {0}, False),
    ("linear", 2, None, True, {0, 1}, True),
    ("raid1", 3, None, False, {2}, True),
    ("raid1", 2, None, True, set(), False),
    ("raid5", 4, None, True, {0, 1, 3}, True),
    ("raid5", 4, None, False, {0, 1, 3}, False),
    ("raid6", 5, None, True, {0, 4, 2}, True),
    ("raid6", 5, None, True, {0, 4}, False),
    ("raid10", 4, "near=2", True, {1, 2}, True),
    ("raid10", 3, "near=2", True, {0}, False),
    ("raid10", 4, "offset=2", True, {0, 2}, True),
    ("raid10", 4, "far=2", True, {0, 2}, True),
    ("raid10", 4, "far=2", True, {1, 2}, False),
    ("raid10", 4, "near=1, far=2", True, {2, 3}, False),
    ("raid10", 4, None, True, {0}, None),
    ("multipath", 2, None, True, {0}, None),
])
def test_can_run(level, devices, layout, clean, present, expected):
    assert can_run(level, devices, layout, clean, present) is expected


def test_two_devices_with_one_member_superblock_are_refused():
    examined = examined_from("lab-parked-healthy.examine.txt")
    examined["/dev/nvme0n1"] = examined["/dev/sda"]  # a copied disk, or a partition overlapping its disk
    result = plan(examined, uuid=PARKED)
    assert rules(result) == ["duplicate_device"]
    assert result["refusals"][0]["detail"].startswith("/dev/nvme0n1 (NVME0001) and /dev/sda (IDE0001) carry the same")


def test_a_member_held_or_mounted_is_refused():
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=PARKED,
                  holders={"sda": ["dm-0"], "sdb": []}, mounts={"sdb": ["/mnt/old"]})
    assert [(r["rule"], r["detail"]) for r in result["refusals"]] == [
        ("member_in_use", "/dev/sda (IDE0001) is held by dm-0"),
        ("member_in_use", "/dev/sdb (IDE0002) is mounted at /mnt/old")]


def test_a_write_protected_member_is_refused_naming_it_and_the_way_out():
    # An imported iSCSI disk after blockdev --setro: the kernel's md_import_device fails with EROFS.
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=PARKED, read_only={"sda": True, "sdb": False})
    assert rules(result) == ["member_write_protected"] and result["command"] == []
    assert result["refusals"][0]["detail"] == (
        "/dev/sda (IDE0001) is write-protected (/sys/class/block/sda/ro is 1): md would fail with EROFS; make a "
        "copy-on-write overlay over it (lifeline.storage.overlay) and name the overlay")


def test_an_unknown_read_only_flag_is_not_a_refusal():
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=PARKED, read_only={"sda": None})
    assert rules(result) == [] and result["action"] == "assemble"


def test_an_array_running_read_write_from_the_members_is_refused_not_changed():
    arrays = arrays_from("lab-healthy.mdstat.txt", {"md0": "clean"})
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=HEALTHY, arrays=arrays,
                  holders={"vdb": ["md0"], "vdc": ["md0"]})
    assert rules(result) == ["already_active_read_write"]
    assert "running as /dev/md0 from the chosen members with array_state clean" in result["refusals"][0]["detail"]


def test_an_array_running_read_only_from_exactly_the_members_is_no_change():
    arrays = arrays_from("lab-healthy.mdstat.txt", {"md0": "readonly"})
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=HEALTHY, arrays=arrays,
                  holders={"vdb": ["md0"], "vdc": ["md0"]})
    assert (result["action"], result["kernel_name"], result["command"], result["refusals"]) == ("none", "md0", [], [])


def test_an_array_running_from_other_members_is_refused():
    arrays = arrays_from("lab-healthy.mdstat.txt", {"md0": "readonly"})
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=HEALTHY, members=["VIRT0001"],
                  allow_degraded=True, arrays=arrays, holders={"vdb": ["md0"], "vdc": ["md0"]})
    assert rules(result) == ["already_active_other_members"]


def test_a_partial_inactive_assembly_by_udev_is_refused_until_stopped():
    arrays = arrays_from("lab-split.mdstat.txt", {"md3": "read-auto"})
    arrays[0]["state"] = "inactive"
    result = plan(examined_from("lab-split.examine.txt"), uuid=SPLIT, members=["VIRT0003"], allow_degraded=True,
                  arrays=arrays, identities=lab_identities("lab-split.lsblk.json"), holders={"vdd": ["md3"]})
    assert rules(result) == ["already_active_other_members"]
    assert "partly assembled (inactive) as /dev/md3" in result["refusals"][0]["detail"]


def test_the_auto_read_only_array_udev_started_is_refused_as_read_write():
    arrays = arrays_from("lab-split.mdstat.txt", {"md3": "read-auto"})
    result = plan(examined_from("lab-split.examine.txt"), uuid=SPLIT, members=["VIRT0003"], allow_degraded=True,
                  arrays=arrays, identities=lab_identities("lab-split.lsblk.json"), holders={"vdd": ["md3"]})
    assert rules(result) == ["already_active_read_write"]
    assert "array_state read-auto" in result["refusals"][0]["detail"]


def test_an_array_name_already_taken_is_refused():
    arrays = arrays_from("lab-healthy.mdstat.txt", {"md0": "clean"})
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=PARKED, arrays=arrays, array="/dev/md0")
    assert rules(result) == ["array_name_in_use"]
    result = plan(examined_from("lab-parked-healthy.examine.txt"), uuid=PARKED, arrays=arrays, array="/dev/md/healthy",
                  md_links={"/dev/md/healthy": "md0"})
    assert rules(result) == ["array_name_in_use"]


def test_every_rule_a_refusal_names_is_documented():
    documented = (Path(__file__).resolve().parents[4] / "docs" / "md-assemble.md").read_text()
    for rule in RULES:
        assert "`%s`" % rule in documented, rule


def test_refusal_message_is_one_line_per_rule():
    message = refusal_message("assemble read-only", [{"rule": "incomplete", "detail": "a"},
                                                     {"rule": "events_diverge", "detail": "b"}])
    assert message.splitlines() == ["refusing to assemble read-only (2 rules fired):", "incomplete: a",
                                    "events_diverge: b"]


# ---------------------------------------------------------------------------------------------
# Planning a stop
# ---------------------------------------------------------------------------------------------

def stop_host(**extra) -> dict:
    host = {"arrays": arrays_from("lab-healthy.mdstat.txt", {"md0": "clean"}), "identities": lab_identities(),
            "partitions": [], "holders": {"md0": []}, "mounts": {}, "swaps": []}
    host.update(extra)
    return host


def test_stop_plans_mdadm_stop_of_the_kernel_device():
    result = plan_stop({"array": "/dev/md/healthy", "uuid": HEALTHY}, "md0", stop_host(),
                       examined_from("lab-parked-healthy.examine.txt"))
    assert (result["action"], result["command"], result["uuid"], result["level"]) == (
        "stop", ["--stop", "/dev/md0"], HEALTHY, "raid1")
    assert [m["serial"] for m in result["members"]] == ["VIRT0002", "VIRT0001"]


def test_stop_of_an_array_that_does_not_run_is_no_change():
    assert plan_stop({"array": "/dev/md5"}, "md5", stop_host(), {})["action"] == "none"
    assert plan_stop({"array": "/dev/md/gone"}, None, stop_host(), {})["action"] == "none"


def test_stop_refuses_when_held_mounted_swapped_or_another_array():
    host = stop_host(partitions=["md0p1"], holders={"md0": ["dm-3"], "md0p1": []}, mounts={"md0p1": ["/srv"]},
                     swaps=["md0"])
    result = plan_stop({"array": "/dev/md0", "uuid": PARKED}, "md0", host, examined_from("lab-parked-healthy.examine.txt"))
    assert rules(result) == ["uuid_mismatch", "held", "swap", "mounted"]
    assert result["command"] == []


# ---------------------------------------------------------------------------------------------
# The module's run, through a fake runner (not an integration test)
# ---------------------------------------------------------------------------------------------

def examine_blocks(*names: str) -> dict[str, str]:
    """Recorded `mdadm --examine` output split into each device's block of text."""
    blocks: dict[str, str] = {}
    for name in names:
        for block in re.split(r"(?m)^(?=/dev/\S+:$)", text(name)):
            if block.strip():
                blocks[block.split(":", 1)[0]] = block
    return blocks


class FakeRunner:
    """Answers lsblk and mdadm from recordings; --assemble and --stop call the test's hooks."""

    def __init__(self, lsblk: str, blocks: dict[str, str], missing: tuple[str, ...] = ()) -> None:
        self.lsblk = lsblk
        self.blocks = blocks
        self.binaries = {name: "/usr/sbin/" + name for name in ("mdadm", "lsblk", "timeout") if name not in missing}
        self.history: list[list[str]] = []
        self.on_assemble = None
        self.on_stop = None

    def find(self, name: str) -> str | None:
        return self.binaries.get(name)

    def has(self, name: str) -> bool:
        return name in self.binaries

    def run(self, name: str, args: list[str], ok_rcs: tuple[int, ...] = (0,)) -> CommandResult:
        cmd = [self.binaries[name]] + args
        self.history.append(cmd)
        if name == "lsblk":
            return CommandResult(cmd, 0, self.lsblk, "")
        assert name == "mdadm" and not set(FORBIDDEN) & set(args), cmd
        if args[0] == "--examine":
            devices = args[1:]
            stdout = "".join(self.blocks[d] for d in devices if d in self.blocks)
            stderr = "".join("mdadm: No md superblock detected on %s.\n" % d for d in devices if d not in self.blocks)
            rc = 1 if stderr else 0
            assert rc in ok_rcs
            return CommandResult(cmd, rc, stdout, stderr)
        hook = self.on_assemble if args[0] == "--assemble" else self.on_stop
        assert hook is not None, "unexpected %s" % cmd
        hook(cmd)
        return CommandResult(cmd, 0, "", "")


MOUNTINFO = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"  # written for these tests


def healthy_lab_host(array_state: str = "clean", **changes) -> tuple[FakeRunner, FakeFiles]:
    """The md_raid1 lab host: md0 running from vdb+vdc, "parked" on sda+sdb stopped, Debian's mdadm installed."""
    files = debian_host(**{"/proc/mdstat": text("lab-healthy.mdstat.txt"), "/proc/self/mountinfo": MOUNTINFO,
                           "/sys/block/md0/md/array_state": array_state + "\n", "/sys/block/md0/md/sync_action": "idle\n",
                           "/sys/class/block/md0/dev": "9:0\n", "/proc/swaps": "Filename Type Size Used Priority\n"})
    files.update(changes)
    links = dict(json.loads(text("lab-healthy.by-id.json")), **{"/dev/md/healthy": "../md0"})
    dirs = {"/sys/class/block/%s/holders" % name for name in ("sda", "sdb", "vda", "nvme0n1", "vdd", "vde", "md0")}
    fake_files = FakeFiles({k: v for k, v in files.items() if v is not False}, links, dirs)
    fake_files.files.update({"/sys/class/block/vdb/holders/md0": "", "/sys/class/block/vdc/holders/md0": ""})
    runner = FakeRunner(text("lab-healthy.lsblk.json"), examine_blocks("lab-parked-healthy.examine.txt"))
    return runner, fake_files


def assemble_parked(files: FakeFiles, array_state: str = "readonly", sync_action: str = "idle"):
    """What the kernel shows after mdadm assembled "parked" as md127."""
    def hook(_cmd: list[str]) -> None:
        files.files["/proc/mdstat"] = files.files["/proc/mdstat"].replace(
            "unused devices", "md127 : active (read-only) raid1 sdb[1] sda[0]\n      523264 blocks super 1.2 [2/2] [UU]\n"
            "      \nunused devices")
        files.files["/sys/block/md127/md/array_state"] = array_state + "\n"
        files.files["/sys/block/md127/md/sync_action"] = sync_action + "\n"
        files.links["/dev/md/lifeline-ac46cbc0"] = "../md127"
        for name in ("sda", "sdb"):
            files.files["/sys/class/block/%s/holders/md127" % name] = ""
    return hook


def run(runner, files, check_mode: bool = False, **params):
    full = dict({"array": None, "uuid": None, "members": None, "allow_degraded": False,
                 "allow_event_divergence": False, "timeout": 60}, **params)
    return run_md_assemble(full, runner, files, check_mode)


RESULT_KEYS = {"changed", "msg", "command", "array", "kernel_name", "uuid", "level", "raid_devices", "members",
               "other_members", "degraded", "array_state", "sync_action", "verified", "auto_assembly", "refusals",
               "unreadable"}
MEMBER_KEYS = {"device", "serial", "stable_name", "requested_as", "role", "slot", "events", "state", "update_time"}


def test_check_mode_reads_only_and_returns_the_command_it_would_run():
    runner, files = healthy_lab_host()
    failed, result, warnings = run(runner, files, check_mode=True, state="readonly", uuid=PARKED.upper())
    assert (failed, warnings, set(result)) == (False, [], RESULT_KEYS)
    assert result["changed"] is True and result["verified"] is None
    assert result["command"] == ["/usr/sbin/mdadm", "--assemble", "--readonly", "--config=none",
                                 "/dev/md/lifeline-ac46cbc0", "--uuid=" + PARKED, "/dev/sda", "/dev/sdb"]
    assert [cmd[1] for cmd in runner.history] == ["--json", "--examine"]
    assert runner.history[1][2:] == ["/dev/md0", "/dev/nvme0n1", "/dev/sda", "/dev/sdb", "/dev/vda", "/dev/vdb",
                                     "/dev/vdc", "/dev/vdd", "/dev/vde"]
    assert all(set(m) == MEMBER_KEYS for m in result["members"])
    assert result["unreadable"] == [] and result["refusals"] == []
    auto = result["auto_assembly"]
    assert (auto["active"], auto["udev_incremental"], auto["last_resort_timer"]) == (True, True, True)


def test_assembly_runs_once_is_verified_read_only_and_a_second_run_changes_nothing():
    runner, files = healthy_lab_host()
    runner.on_assemble = assemble_parked(files)
    failed, result, warnings = run(runner, files, state="readonly", uuid=PARKED)
    assert (failed, warnings, result["changed"], result["verified"]) == (False, [], True, True)
    assert (result["kernel_name"], result["array_state"], result["sync_action"]) == ("md127", "readonly", "idle")
    assert [cmd for cmd in runner.history if "--assemble" in cmd] == [result["command"]]
    runner.history.clear()
    failed, again, warnings = run(runner, files, state="readonly", uuid=PARKED)
    assert (failed, warnings, again["changed"], again["command"], again["verified"]) == (False, [], False, [], True)
    assert again["msg"] == "already assembled read-only as /dev/md127 from the requested members"
    assert [cmd[1] for cmd in runner.history] == ["--json", "--examine"]
    failed, again, _warnings = run(runner, files, check_mode=True, state="readonly", uuid=PARKED)
    assert (failed, again["changed"], again["command"]) == (False, False, [])


def test_a_member_the_kernel_marks_read_only_is_refused_before_mdadm_runs():
    runner, files = healthy_lab_host(**{"/sys/class/block/sdb/ro": "1\n", "/sys/class/block/sda/ro": "0\n"})
    runner.on_assemble = assemble_parked(files)
    failed, result, _warnings = run(runner, files, state="readonly", uuid=PARKED)
    assert failed and [r["rule"] for r in result["refusals"]] == ["member_write_protected"]
    assert "/dev/sdb (IDE0002) is write-protected" in result["msg"]
    assert not [cmd for cmd in runner.history if "--assemble" in cmd]


def test_members_given_by_mixed_names_give_the_same_command():
    runner, files = healthy_lab_host()
    failed, result, _warnings = run(runner, files, check_mode=True, state="readonly",
                                    members=["/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001", "sdb"])
    assert not failed and result["command"][-3:] == ["--uuid=" + PARKED, "/dev/sda", "/dev/sdb"]
    assert [m["requested_as"] for m in result["members"]] == ["/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001", "sdb"]


def test_an_array_left_read_auto_or_syncing_is_reported_not_fixed():
    runner, files = healthy_lab_host()
    runner.on_assemble = assemble_parked(files, array_state="read-auto", sync_action="resync")
    failed, result, warnings = run(runner, files, state="readonly", uuid=PARKED)
    assert (failed, result["changed"], result["verified"], result["array_state"]) == (False, True, False, "read-auto")
    assert warnings == [
        "/dev/md127: array_state is read-auto, not readonly: read-auto turns read-write at the first write; this module "
        "does not change it - stop the array if that is not wanted",
        "/dev/md127: sync_action is resync: md is writing to the members; this module does not change it - stop the "
        "array if that is not wanted"]
    assert len([cmd for cmd in runner.history if cmd[1] not in ("--json", "--examine")]) == 1


def test_a_device_mdadm_cannot_open_is_reported_with_the_reason_and_a_warning():
    runner, files = healthy_lab_host()
    original = runner.run

    def run_with_unreadable(name, args, ok_rcs=(0,)):
        result = original(name, args, ok_rcs)
        if args[0] == "--examine":
            stderr = result.stderr.replace("mdadm: No md superblock detected on /dev/vde.\n",
                                           "mdadm: cannot open /dev/vde: Input/output error\n")
            return CommandResult(result.cmd, result.rc, result.stdout, stderr)
        return result
    runner.run = run_with_unreadable
    failed, result, warnings = run(runner, files, check_mode=True, state="readonly", uuid=PARKED)
    assert not failed and result["unreadable"] == [{"device": "/dev/vde",
                                                   "reason": "mdadm: cannot open /dev/vde: Input/output error"}]
    assert warnings == ["1 device(s) could not be examined, so members or newer copies of the array on them are "
                        "unknown: /dev/vde"]


def test_refusal_fails_with_one_line_per_rule_and_runs_nothing():
    runner, files = healthy_lab_host()
    failed, result, _warnings = run(runner, files, state="readonly", uuid=HEALTHY)
    assert failed and result["changed"] is False and result["command"] == []
    assert result["msg"].splitlines()[0] == "refusing to assemble read-only (1 rule fired):"
    assert result["msg"].splitlines()[1].startswith("already_active_read_write: the array is running as /dev/md0")
    assert [cmd[1] for cmd in runner.history] == ["--json", "--examine"]


def test_mdadm_failing_is_reported_with_its_output():
    runner, files = healthy_lab_host()

    def refuse(cmd):
        raise CommandError(cmd, 1, "", "mdadm: /dev/sda is busy - skipping\n", "mdadm exited with 1")
    runner.on_assemble = refuse
    failed, result, _warnings = run(runner, files, state="readonly", uuid=PARKED)
    assert failed and result["rc"] == 1 and result["stderr"] == "mdadm: /dev/sda is busy - skipping\n"
    assert result["cmd"][:3] == ["/usr/sbin/mdadm", "--assemble", "--readonly"]


@pytest.mark.parametrize("params, message", [
    ({"uuid": "not-a-uuid"}, "uuid 'not-a-uuid' is neither"),
    ({"uuid": PARKED, "array": "/dev/sda"}, "array '/dev/sda' must be /dev/mdN or /dev/md/NAME"),
    ({}, "state=readonly needs uuid"),
    ({"members": []}, "members is an empty list"),
])
def test_bad_requests_fail_before_anything_runs(params, message):
    runner, files = healthy_lab_host()
    failed, result, _warnings = run(runner, files, state="readonly", **params)
    assert failed and message in result["msg"] and runner.history == []


def test_a_member_name_matching_no_device_fails_before_any_mdadm_call():
    runner, files = healthy_lab_host()
    failed, result, _warnings = run(runner, files, state="readonly", members=["IDE0001", "WD-GONE"])
    assert failed and result["msg"] == "no block device on this host is named WD-GONE; nothing was run"
    assert [cmd[0] for cmd in runner.history] == ["/usr/sbin/lsblk"]


def test_missing_mdadm_fails_and_runs_nothing():
    runner, files = healthy_lab_host()
    runner.binaries.pop("mdadm")
    failed, result, _warnings = run(runner, files, state="readonly", uuid=PARKED)
    assert failed and result["msg"] == "mdadm is not installed on this host; nothing was run" and runner.history == []


def test_malformed_examine_output_fails_naming_it():
    runner, files = healthy_lab_host()
    runner.blocks["/dev/sda"] = "/dev/sda:\nthis is not mdadm output\n"
    failed, result, _warnings = run(runner, files, state="readonly", uuid=PARKED)
    assert failed and result["msg"].startswith("cannot parse mdadm --examine at line")


def test_stop_runs_once_then_reports_no_change():
    runner, files = healthy_lab_host()

    def stop(_cmd):
        files.files["/proc/mdstat"] = text("lab-healthy.mdstat.txt").replace(
            "md0 : active raid1 vdc[1] vdb[0]\n      523264 blocks super 1.2 [2/2] [UU]\n"
            "      bitmap: 1/1 pages [4KB], 65536KB chunk\n\n", "")
    runner.on_stop = stop
    failed, result, _warnings = run(runner, files, check_mode=True, state="stopped", array="/dev/md/healthy")
    assert (failed, result["changed"], result["command"]) == (False, True, ["/usr/sbin/mdadm", "--stop", "/dev/md0"])
    failed, result, warnings = run(runner, files, state="stopped", array="/dev/md/healthy", uuid=HEALTHY)
    assert (failed, warnings, result["changed"], result["verified"], result["uuid"]) == (False, [], True, True, HEALTHY)
    failed, result, _warnings = run(runner, files, state="stopped", array="/dev/md/healthy")
    assert (failed, result["changed"], result["command"]) == (False, False, [])


def test_stop_of_a_mounted_array_is_refused_and_nothing_runs():
    runner, files = healthy_lab_host(**{"/proc/self/mountinfo": MOUNTINFO + "40 22 9:0 / /srv rw - ext4 /dev/md0 rw\n"})
    failed, result, _warnings = run(runner, files, state="stopped", array="/dev/md0")
    assert failed and [r["rule"] for r in result["refusals"]] == ["mounted"]
    assert result["msg"].splitlines()[1] == "mounted: /dev/md0 is mounted at /srv"
    assert not [cmd for cmd in runner.history if "--stop" in cmd]
