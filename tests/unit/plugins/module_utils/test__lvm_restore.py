"""Planning an LVM restore from a snapshot: devices found by serial, contents judged, commands quoted.

The snapshot is one the lab recorded (tests/unit/fixtures/lvm_restore/SOURCES.md); the host's
state after the incident is derived from its facts here, one visible change at a time.
"""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import parse_lvm_metadata_backup
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_restore import (
    RestoreRefused,
    plan_restore,
    render_plan,
)

FIXTURES = Path(__file__).resolve().parents[3] / "unit" / "fixtures" / "lvm_restore"
DISK_MAP = json.loads((FIXTURES / "disk-map.json").read_text())
FACTS = json.loads((FIXTURES / "facts.json").read_text())
METADATA = parse_lvm_metadata_backup((FIXTURES / "vault.vg").read_text())
PV_UUID = "DOjb0S-fdcr-p17q-cjyA-82Bx-PmI0-GdM6lj"
FOREIGN_UUID = "f00f00-0000-0000-0000-0000-0000-000000"


def options(**changes) -> dict:
    base = {"vg": "vault", "devices": {}, "activate": "readonly", "overwrite_devices": [],
            "restore_file": "/run/lifeline-storage-restore-vault.vg", "save_dir": "/var/lib/lifeline-storage/restore",
            "stamp": "20261205T070000Z"}
    base.update(changes)
    return base


def after_installer(name: str = "debian:0", kernel_name: str = "md127", pv: str | None = "foreign", lvs: int = 0) -> dict:
    """The lab host after an installer ran mdadm --create over the same members and pvcreate -ff on the array."""
    facts = copy.deepcopy(FACTS)
    array = facts["lifeline_md"]["arrays"][0]
    array.update(name=kernel_name, device="/dev/" + kernel_name, array_name=name, uuid="0badc0de:00000000:00000000:00000001")
    for device in facts["lifeline_disks"]["devices"]:
        if device["kernel_name"] == "md0":
            device.update(kernel_name=kernel_name, device="/dev/" + kernel_name, holders=[], mountpoints=[],
                          by_id=["/dev/disk/by-id/md-name-" + name], stable_name="/dev/disk/by-id/md-name-" + name,
                          signatures=[{"type": "LVM2_member", "uuid": FOREIGN_UUID}] if pv else [])
        if device.get("holders") == ["md0"]:
            device["holders"] = [kernel_name]
    facts["lifeline_disks"]["devices"] = [d for d in facts["lifeline_disks"]["devices"] if d["type"] != "lvm"]
    vg = "installer" if lvs else None
    facts["lifeline_lvm"]["pvs"] = [{"name": "/dev/" + kernel_name, "uuid": FOREIGN_UUID, "vg_name": vg}] if pv else []
    facts["lifeline_lvm"]["vgs"] = [{"name": "installer", "lv_count": lvs}] if lvs else []
    facts["lifeline_lvm"]["lvs"] = [{"name": "root%d" % n, "vg_name": "installer"} for n in range(lvs)]
    return facts


def test_the_installer_s_array_is_found_by_its_members_serials_and_its_foreign_label_replaced():
    plan = plan_restore(METADATA, DISK_MAP, after_installer(), options())
    assert plan["refusals"] == []
    [pv] = plan["pvs"]
    assert pv["device"] == "/dev/md127"
    assert pv["found_by"].startswith("md array /dev/md127 (name debian:0, uuid 0badc0de:00000000:00000000:00000001), "
                                     "assembled now from 4 of the 4 members the snapshot recorded (VIRT0001, VIRT0002, "
                                     "VIRT0003, VIRT0004)")
    assert "/dev/md0 (/dev/disk/by-id/md-name-lifeline-lab:vault)" in pv["found_by"]
    assert pv["holds"]["kind"] == "pv" and FOREIGN_UUID in pv["holds"]["detail"]
    assert pv["recorded_array_uuid"] == "7fa13e75:b956eea1:68eeebb5:b2ce44ca"  # for the geometry check
    commands = [step["command"] for step in plan["steps"]]
    config = "'backup { backup = 0 archive = 0 } activation { read_only_volume_list = [ \"vault\" ] }'"
    assert commands == [
        "dd if=/dev/md127 of=/var/lib/lifeline-storage/restore/20261205T070000Z-%s-dev_md127.head bs=1M count=1 iflag=direct" % PV_UUID,
        "lvm pvcreate --restorefile /run/lifeline-storage-restore-vault.vg --uuid %s -ff -y /dev/md127 --devicesfile '' --config %s"
        % (PV_UUID, config),
        "lvm vgcfgrestore -f /run/lifeline-storage-restore-vault.vg vault --devicesfile '' --config %s" % config,
        "udevadm settle",
        "lvm vgchange -an vault --devicesfile '' --config %s" % config,
        "lvm vgchange -ay vault --devicesfile '' --config %s" % config,
    ]
    # Every printed command is what runs: the shell splits it back into the same argv.
    assert all(shlex.split(step["command"]) == step["argv"] for step in plan["steps"])


def test_a_blank_array_gets_the_label_without_a_saved_head_or_force():
    plan = plan_restore(METADATA, DISK_MAP, after_installer(pv=None), options())
    assert [step["action"] for step in plan["steps"]] == ["run"] * 5
    assert "-ff" not in plan["steps"][0]["argv"] and plan["pvs"][0]["holds"]["kind"] == "empty"


def test_the_snapshot_s_own_label_is_kept():
    facts = after_installer(pv=None)
    facts["lifeline_lvm"]["pvs"] = [{"name": "/dev/md127", "uuid": PV_UUID, "vg_name": None}]
    plan = plan_restore(METADATA, DISK_MAP, facts, options())
    assert [step["argv"][1] for step in plan["steps"]] == ["vgcfgrestore", "settle", "vgchange", "vgchange"]
    assert plan["pvs"][0]["action"].startswith("keep its label")


def test_a_device_with_another_vg_s_lvs_is_refused_with_the_evidence_unless_named_for_overwrite():
    plan = plan_restore(METADATA, DISK_MAP, after_installer(lvs=2), options())
    assert plan["refusals"] == ["PV %s on /dev/md127: it holds a PV label with UUID %s in VG installer with 2 LVs; set "
                                "restore_overwrite_devices to include /dev/md127 to write the PV label over it (its first MiB "
                                "is saved first)" % (PV_UUID, FOREIGN_UUID)]
    allowed = plan_restore(METADATA, DISK_MAP, after_installer(lvs=2), options(overwrite_devices=["/dev/md127"]))
    assert allowed["refusals"] == [] and allowed["steps"][0]["action"] == "save_head"


def test_a_file_system_is_refused_and_a_device_in_use_always():
    facts = after_installer(pv=None)
    array = next(d for d in facts["lifeline_disks"]["devices"] if d["kernel_name"] == "md127")
    array["signatures"] = [{"type": "ext4", "uuid": "x"}]
    assert "ext4 signature" in plan_restore(METADATA, DISK_MAP, facts, options())["refusals"][0]
    array["mountpoints"] = ["/target"]
    refused = plan_restore(METADATA, DISK_MAP, facts, options(overwrite_devices=["/dev/md127"]))["refusals"]
    assert refused and "in use (holders none, mounted at /target)" in refused[0]


def test_no_array_from_those_members_says_which_serials_and_restore_devices_overrides():
    facts = after_installer()
    facts["lifeline_md"]["arrays"] = []
    plan = plan_restore(METADATA, DISK_MAP, facts, options())
    assert plan["refusals"] and "no md array is assembled now from the members the snapshot recorded for /dev/md0" in plan["refusals"][0]
    assert "VIRT0001, VIRT0002, VIRT0003, VIRT0004" in plan["refusals"][0] and "restore_devices" in plan["refusals"][0]
    named = plan_restore(METADATA, DISK_MAP, facts, options(devices={PV_UUID: "/dev/md127"}))
    assert named["refusals"] == [] and named["pvs"][0]["found_by"] == "named by restore_devices"


def test_a_degraded_array_of_some_of_the_members_is_found():
    facts = after_installer()
    array = facts["lifeline_md"]["arrays"][0]
    array["members"] = array["members"][:2]
    plan = plan_restore(METADATA, DISK_MAP, facts, options())
    assert "assembled now from 2 of the 4 members" in plan["pvs"][0]["found_by"]


def test_an_array_that_mixes_in_another_disk_is_not_taken_for_the_recorded_one():
    facts = after_installer()
    array = facts["lifeline_md"]["arrays"][0]
    array["members"][0]["kernel_name"] = "ubdf"  # IDE0001: never a member in the snapshot
    assert "no md array is assembled now" in plan_restore(METADATA, DISK_MAP, facts, options())["refusals"][0]


def test_activation_modes():
    readwrite = plan_restore(METADATA, DISK_MAP, after_installer(), options(activate="readwrite"))
    assert "read_only_volume_list" not in readwrite["steps"][-1]["command"] and readwrite["steps"][-1]["argv"][1] == "vgchange"
    none = plan_restore(METADATA, DISK_MAP, after_installer(), options(activate="none"))
    assert none["steps"][-1]["argv"][1:3] == ["vgchange", "-an"]  # what autoactivation started is taken down


def test_a_complete_vg_on_the_host_is_refused_and_unknown_override_uuids_too():
    with pytest.raises(RestoreRefused, match="present and complete"):
        plan_restore(METADATA, DISK_MAP, FACTS, options())
    with pytest.raises(RestoreRefused, match="does not hold: nope"):
        plan_restore(METADATA, DISK_MAP, after_installer(), options(devices={"nope": "/dev/sdz"}))


def test_a_pv_on_a_whole_disk_is_found_by_serial_under_a_new_kernel_name():
    disk_map = copy.deepcopy(DISK_MAP)
    for entry in disk_map:
        entry["lvm_pv"] = {"uuid": PV_UUID, "vg": "vault"} if entry["kernel_name"] == "ubdf" else None
    facts = after_installer(pv=None)
    for device in facts["lifeline_disks"]["devices"]:  # IDE0001 is ubdg now, IDE0002 ubdf
        if device.get("serial") in ("IDE0001", "IDE0002"):
            device["kernel_name"] = {"IDE0001": "ubdg", "IDE0002": "ubdf"}[device["serial"]]
            device["device"] = "/dev/" + device["kernel_name"]
    plan = plan_restore(METADATA, disk_map, facts, options())
    assert plan["pvs"][0]["device"] == "/dev/ubdg"
    assert plan["pvs"][0]["found_by"].startswith("/dev/ubdg, by serial IDE0001; the snapshot had it as /dev/ubdf")


def test_render_plan_lists_each_pv_then_numbered_commands():
    lines = render_plan(plan_restore(METADATA, DISK_MAP, after_installer(), options()))
    assert lines[0].startswith("PV %s: device /dev/md127, found by md array" % PV_UUID)
    assert lines[1].startswith("1. dd if=/dev/md127 ") and lines[-1].startswith("6. lvm vgchange -ay vault ")
