"""recreate_md: the mdadm --create --assume-clean command for a recorded geometry, from real superblocks."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.filter.recreate_md import recreate_md
from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry import geometries, normal_uuid
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_detail, parse_mdadm_examine

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "md_geometry"
TEN_UUID = "8df85f3a:afc88ac7:a6a07d82:8d471423"
LAB_DISKS = [{"kernel_name": name, "device": "/dev/" + name, "type": "disk", "serial": serial, "wwn": None,
              "stable_name": "/dev/disk/by-id/virtio-" + serial, "by_id": ["/dev/disk/by-id/virtio-" + serial]}
             for name, serial in (("vdb", "VIRT0001"), ("vdc", "VIRT0002"), ("vdd", "VIRT0003"), ("vde", "VIRT0004"))]


def recorded_ten() -> dict:
    examined = parse_mdadm_examine((FIXTURES / "lab-ten.examine.txt").read_text())
    return {"format": 1, "arrays": geometries(examined, {}, {TEN_UUID: "md10"}, LAB_DISKS)}


def test_lab_raid10_is_rebuilt_with_every_parameter_spelled_out():
    plan = recreate_md(recorded_ten())
    assert plan["argv"] == [
        "mdadm", "--create", "/dev/md10", "--assume-clean", "--metadata=1.2", "--level=raid10", "--raid-devices=4",
        "--chunk=512", "--layout=n2", "--data-offset=2048", "--size=522240", "--bitmap=none", "--name=ten",
        "--homehost=lifeline-lab", "--uuid=" + TEN_UUID,
        "/dev/disk/by-id/virtio-VIRT0001", "/dev/disk/by-id/virtio-VIRT0002", "/dev/disk/by-id/virtio-VIRT0003",
        "/dev/disk/by-id/virtio-VIRT0004"]
    assert shlex.split(plan["command"]) == plan["argv"]
    assert [member["found_by"] for member in plan["members"]][0] == "the by-id name recorded for VIRT0001"


def test_devices_given_by_serial_replace_the_recorded_names_and_missing_leaves_one_out():
    plan = recreate_md(recorded_ten(), {"VIRT0002": "/dev/sdq", "VIRT0003": "missing"}, TEN_UUID, "/dev/md/rebuilt")
    assert plan["argv"][2] == "/dev/md/rebuilt"
    assert plan["argv"][-4:] == ["/dev/disk/by-id/virtio-VIRT0001", "/dev/sdq", "missing", "/dev/disk/by-id/virtio-VIRT0004"]
    assert plan["members"][1]["found_by"] == "given for VIRT0002"
    assert any("slots 2 are given as missing" in note for note in plan["notes"])


def test_the_command_string_quotes_what_a_shell_would_split():
    recorded = recorded_ten()
    recorded["arrays"][0]["members"][0]["stable_name"] = "/dev/disk/by-id/usb-Odd Name_1"
    plan = recreate_md(recorded)
    assert "'/dev/disk/by-id/usb-Odd Name_1'" in plan["command"]
    assert shlex.split(plan["command"]) == plan["argv"]


def test_bitmap_name_without_homehost_and_metadata_090():
    examined = parse_mdadm_examine((FIXTURES / "jc_mdadm-examine.txt").read_text())
    detail = parse_mdadm_detail((FIXTURES / "jc_mdadm-query-detail.txt").read_text())
    uuid = normal_uuid(detail["uuid"])
    [mirror] = geometries(examined, {uuid: detail}, {uuid: "md0"}, [])
    plan = recreate_md(mirror)
    assert "--bitmap=internal" in plan["argv"] and "--data-offset=132" in plan["argv"] and "--metadata=1.1" in plan["argv"]
    assert "--chunk" not in plan["command"] and "--layout" not in plan["command"]
    assert plan["argv"][-2:] == ["/dev/sdb1", "missing"]  # the other member was never examined
    assert "check it" in plan["members"][0]["found_by"]  # a kernel name of the day, said so
    [old] = geometries(parse_mdadm_examine((FIXTURES / "jc_mdadm-examine-raid5-meta09.txt").read_text()), {}, {}, [])
    plan = recreate_md(old, array="/dev/md0")
    assert "--metadata=0.90" in plan["argv"] and "--layout=left-symmetric" in plan["argv"]
    assert not any(arg.startswith(("--name", "--homehost", "--data-offset")) for arg in plan["argv"])
    assert any("bitmap was not recorded" in note for note in plan["notes"])


def test_a_name_recorded_without_homehost_is_not_given_this_hosts_name():
    recorded = recorded_ten()["arrays"][0]
    recorded.update(name="vault", homehost=None, short_name="vault")
    assert recreate_md(recorded)["argv"][12:14] == ["--name=vault", "--homehost=<none>"]


def test_members_with_different_data_offsets_get_one_each():
    recorded = recorded_ten()["arrays"][0]
    recorded["data_offsets_vary"] = True
    recorded["members"][3]["data_offset_sectors"] = 2048
    argv = recreate_md(recorded)["argv"]
    assert "--data-offset=variable" in argv and argv[-1] == "/dev/disk/by-id/virtio-VIRT0004:1024"


@pytest.mark.parametrize("change, message", [
    ({"layout": "near=2, far=2"}, "near and far copies at once"),
    ({"metadata": "imsm"}, "containers are not planned"),
    ({"problems": ["a reshape was in progress (feature map 0x4): the geometry was changing"]}, "reshape"),
    ({"running_as": None}, "name the md device"),
    ({"level": "raid0", "members": [{"slot": 0, "missing": True}]}, "cannot be created with a member missing"),
    ({"data_offset_sectors": None}, "data offset of this 1.2 array was not recorded"),
])
def test_what_cannot_be_rebuilt_is_refused_with_the_reason(change, message):
    recorded = recorded_ten()["arrays"][0]
    recorded.update(change)
    with pytest.raises(AnsibleFilterError, match=message):
        recreate_md(recorded)


def test_several_arrays_need_a_uuid():
    recorded = recorded_ten()
    recorded["arrays"].append(dict(recorded["arrays"][0], uuid="00000000:00000000:00000000:00000001"))
    with pytest.raises(AnsibleFilterError, match="name the array by UUID"):
        recreate_md(recorded)
    assert recreate_md(recorded, uuid="8df85f3a-afc8-8ac7-a6a0-7d828d471423")["uuid"] == TEN_UUID
    with pytest.raises(AnsibleFilterError, match="no array with UUID"):
        recreate_md(recorded, uuid="ffffffff:00000000:00000000:00000001")
    with pytest.raises(AnsibleFilterError, match="devices must map"):
        recreate_md(recorded, ["/dev/sda"])
