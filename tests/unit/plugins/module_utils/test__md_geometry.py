"""The geometry a snapshot records, from real mdadm --examine and --detail outputs (fixtures/md_geometry/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry import (
    geometries,
    member_identity,
    normal_uuid,
    plan_samples,
    split_name,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_detail, parse_mdadm_examine

from .corpus_checks import assert_inventory

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "md_geometry"
TEN_UUID = "8df85f3a:afc88ac7:a6a07d82:8d471423"


def examine(name: str) -> dict:
    return parse_mdadm_examine((FIXTURES / name).read_text())


def detail(name: str) -> dict:
    return parse_mdadm_detail((FIXTURES / name).read_text())


def disk(name: str, serial: str | None, kind: str = "disk", parent: str | None = None, prefix: str = "virtio-") -> dict:
    stable = "/dev/disk/by-id/%s%s" % (prefix, serial) if serial else None
    if stable and kind == "part":
        stable += "-part" + name[-1]
    return {"kernel_name": name, "device": "/dev/" + name, "type": kind, "parent": parent, "serial": serial, "wwn": None,
            "stable_name": stable, "by_id": [stable] if stable else []}


LAB_DISKS = [disk("vdb", "VIRT0001"), disk("vdc", "VIRT0002"), disk("vdd", "VIRT0003"), disk("vde", "VIRT0004")]


def test_lab_raid10_geometry_names_every_slot_by_serial():
    [ten] = geometries(examine("lab-ten.examine.txt"), {}, {TEN_UUID: "md10"}, LAB_DISKS)
    assert {key: ten[key] for key in ("uuid", "name", "homehost", "short_name", "metadata", "level", "raid_devices", "chunk_kib",
                                      "layout", "data_offset_sectors", "component_size_sectors", "component_size_kib",
                                      "array_size_kib", "bitmap", "running_as", "problems")} == {
        "uuid": TEN_UUID, "name": "lifeline-lab:ten", "homehost": "lifeline-lab", "short_name": "ten", "metadata": "1.2",
        "level": "raid10", "raid_devices": 4, "chunk_kib": 512, "layout": "near=2", "data_offset_sectors": 4096,
        "component_size_sectors": 1044480, "component_size_kib": 522240, "array_size_kib": 1044480, "bitmap": "none",
        "running_as": "md10", "problems": []}
    assert [(m["slot"], m["key"], m["stable_name"], m["kernel_name"]) for m in ten["members"]] == [
        (0, "VIRT0001", "/dev/disk/by-id/virtio-VIRT0001", "vdb"), (1, "VIRT0002", "/dev/disk/by-id/virtio-VIRT0002", "vdc"),
        (2, "VIRT0003", "/dev/disk/by-id/virtio-VIRT0003", "vdd"), (3, "VIRT0004", "/dev/disk/by-id/virtio-VIRT0004", "vde")]
    assert ten["members"][0]["device_uuid"] == "72f5398a:60926db5:60687f73:b0276b64"
    assert all("events" not in member for member in ten["members"])  # they change on every superblock write


def test_lab_raid5_on_three_buses_with_its_internal_bitmap():
    disks = [disk("nvme0n1", "NVME0001", prefix="nvme-QEMU_NVMe_Ctrl_"), disk("sda", "IDE0001", prefix="ata-QEMU_HARDDISK_"),
             disk("sdb", "IDE0002", prefix="ata-QEMU_HARDDISK_")]
    [five] = geometries(examine("lab-five.examine.txt"), {}, {}, disks)
    assert (five["level"], five["layout"], five["chunk_kib"], five["bitmap"], five["bitmap_detail"]) == (
        "raid5", "left-symmetric", 512, "internal", "8 sectors from superblock")
    assert five["running_as"] is None
    assert five["component_size_sectors"] == 1044480  # Avail Dev Size; Array Size 1044480 KiB = 2 data disks x 522240 KiB
    assert {m["slot"]: m["key"] for m in five["members"]} == {0: "IDE0001", 1: "IDE0002", 2: "NVME0001"}


def test_detail_of_the_running_array_adds_the_bitmap_and_consistency_policy():
    examined = examine("jc_mdadm-examine.txt")  # one member of a two-device RAID1, 1.1 metadata
    shown = detail("jc_mdadm-query-detail.txt")
    uuid = normal_uuid(shown["uuid"])
    [mirror] = geometries(examined, {uuid: shown}, {uuid: "md0"}, [disk("sdb1", "WD-1", "part", "sdb"), disk("sdb", "WD-1")])
    assert (mirror["metadata"], mirror["level"], mirror["chunk_kib"], mirror["data_offset_sectors"]) == ("1.1", "raid1", None, 264)
    assert (mirror["bitmap"], mirror["bitmap_detail"], mirror["consistency_policy"]) == ("internal", "Internal", "bitmap")
    assert mirror["members"][0]["key"] == "WD-1-part1" and mirror["members"][0]["partition"] == 1
    assert mirror["members"][1] == {"slot": 1, "missing": True}  # its other member was not examined
    assert mirror["problems"] == []


def test_metadata_090_has_data_at_offset_zero_and_no_name():
    [old] = geometries(examine("jc_mdadm-examine-raid5-meta09.txt"), {}, {}, [disk("vda1", "V1", "part", "vda"), disk("vda", "V1")])
    assert (old["metadata"], old["name"], old["homehost"], old["data_offset_sectors"]) == ("0.90", None, None, 0)
    assert old["component_size_sectors"] == 204288 * 2  # Used Dev Size, printed in KiB without a unit
    assert old["uuid"] == "4de9c6a6:ce05eada:96fc04a8:108a4af7"
    assert old["bitmap"] is None  # 0.90 has no feature map, and the array was not running: unknown


def test_raid0_component_is_the_data_area_rounded_to_the_chunk():
    [stripe] = geometries(examine("jc_mdadm-examine-raid0-ok.txt"), {}, {}, [])
    assert stripe["level"] == "raid0" and stripe["component_size_sectors"] == 200704 and stripe["layout"] is None
    assert stripe["members"][0]["key"] == "/dev/vda1"  # no identity known: the path, never a guess


def test_detail_and_superblocks_disagreeing_is_a_problem():
    examined = examine("jc_mdadm-examine-raid5-homehost.txt")
    shown = dict(detail("jc_mdadm-query-raid5-homehost.txt"), chunk_kib=64)
    uuid = normal_uuid(shown["uuid"])
    [five] = geometries(examined, {uuid: shown}, {uuid: "md0"}, [])
    assert five["problems"] == ["mdadm --detail says chunk_kib 64, the superblocks 512"]


def test_a_stale_member_claiming_a_slot_is_left_out():
    examined = examine("lab-ten.examine.txt")
    # An old disk that once held slot 1 of the same array, put back: its event count is lower.
    examined["/dev/sda"] = dict(examined["/dev/vdc"], device="/dev/sda", device_uuid="00000000:00000000:00000000:00000001")
    examined["/dev/vdc"] = dict(examined["/dev/vdc"], events=9)
    [ten] = geometries(examined, {}, {}, LAB_DISKS + [disk("sda", "OLD1")])
    assert ten["members"][1]["key"] == "VIRT0002"
    assert [entry["key"] for entry in ten["left_out"]] == ["OLD1"]
    assert ten["problems"] == ["two devices claim slot 1: VIRT0002 and OLD1"]


def test_samples_are_the_start_and_the_chunk_aligned_middle_of_each_data_area():
    [ten] = geometries(examine("lab-ten.examine.txt"), {}, {}, LAB_DISKS)
    samples = plan_samples(ten, 1 << 20)
    assert len(samples) == 8
    first, middle = samples[0], samples[1]
    assert first == {"slot": 0, "key": "VIRT0001", "label": "start", "member_offset": 0, "length": 1 << 20,
                     "device_offset": 4096 * 512, "path": "md/samples/8df85f3a-afc88ac7-a6a07d82-8d471423/slot0-VIRT0001.start"}
    assert middle["member_offset"] == 267386880 and middle["member_offset"] % (512 * 1024) == 0
    assert middle["device_offset"] == 4096 * 512 + 267386880
    assert plan_samples(ten, 0) == []


def test_a_member_too_small_for_two_samples_gets_one():
    [ten] = geometries(examine("lab-ten.examine.txt"), {}, {}, LAB_DISKS)
    for member in ten["members"]:
        member["used_sectors"] = 2048  # 1 MiB
    assert {sample["label"] for sample in plan_samples(ten, 1 << 20)} == {"start"}


def test_names_and_identities():
    assert split_name("lifeline-lab:vault", "1.2") == ("lifeline-lab", "vault")
    assert split_name("vault", "1.2") == (None, "vault")
    assert split_name(None, "0.90") == (None, None)
    assert normal_uuid("8df85f3a-afc8-8ac7-a6a0-7d828d471423") == TEN_UUID
    nvme = [disk("nvme0n1", "S1", prefix="nvme-X_"), disk("nvme0n1p2", "S1", "part", "nvme0n1", prefix="nvme-X_")]
    assert member_identity("/dev/nvme0n1p2", nvme)["key"] == "S1-part2"


def test_every_fixture_has_one_provenance_line_and_parses():
    names = sorted(path.name for path in FIXTURES.iterdir() if path.name != "SOURCES.md")
    assert_inventory(FIXTURES, names, 10, {})
    for name in names:
        (parse_mdadm_detail if "query" in name else parse_mdadm_examine)((FIXTURES / name).read_text())


def test_members_with_different_or_unknown_data_offsets():
    examined = examine("lab-ten.examine.txt")
    examined["/dev/vde"] = dict(examined["/dev/vde"], data_offset_sectors=2048)
    [varied] = geometries(examined, {}, {}, LAB_DISKS)
    assert (varied["data_offset_sectors"], varied["data_offsets_vary"]) == (None, True)
    examined["/dev/vde"] = dict(examined["/dev/vde"], data_offset_sectors=None)
    [unknown] = geometries(examined, {}, {}, LAB_DISKS)
    assert (unknown["data_offset_sectors"], unknown["data_offsets_vary"]) == (None, False)
    assert unknown["problems"] == ["the data offset of a member was not recorded"]
