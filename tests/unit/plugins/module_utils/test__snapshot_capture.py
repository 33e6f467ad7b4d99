"""What a snapshot keeps, decided from storage facts."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ansible_collections.lifeline.storage.plugins.module_utils._block_read import read_range
from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._snapshot_capture import SnapshotCapture, disk_map, raw_targets


def device(name, kind, **extra):
    base = {"kernel_name": name, "device": "/dev/" + name, "type": kind, "serial": None, "wwn": None,
            "stable_name": None, "by_id": [], "size_bytes": 1 << 20, "holders": [], "partitions": [],
            "mountpoints": [], "md_member": False, "md_array_uuid": None, "partition_table": None}
    base.update(extra)
    return base


FACTS = {
    "lifeline_md": {"arrays": [{"name": "md0", "uuid": "1:2:3:4", "level": "raid1", "members": [
        {"kernel_name": "vdc", "slot": 0, "role": "active", "events": 18},
        {"kernel_name": "vdd", "slot": 1, "role": "active", "events": 18}]}]},
    "lifeline_lvm": {"pvs": [{"name": "/dev/md0", "uuid": "pv-uuid", "vg_name": "vault"}]},
    "lifeline_disks": {"devices": [
        device("vdb", "disk", serial="VIRT0001", partitions=["vdb1"], partition_table={"type": "gpt"}),
        device("vdb1", "part", serial="VIRT0001", mountpoints=["/srv"]),
        device("vdc", "disk", serial="VIRT0002", holders=["md0"], md_member=True, md_array_uuid="1:2:3:4"),
        device("vdd", "disk", serial="VIRT0003", holders=["md0"], md_member=True, md_array_uuid="1:2:3:4"),
        device("md0", "raid1", holders=["dm-0"]),
        device("dm-0", "lvm"),
        device("loop0", "loop"),
    ]},
}


def test_disk_map_names_slot_and_pv_by_serial():
    entries = {entry["kernel_name"]: entry for entry in disk_map(FACTS)}
    assert entries["vdc"]["serial"] == "VIRT0002"
    assert entries["vdc"]["md_slots"] == [{"array": "md0", "array_uuid": "1:2:3:4", "level": "raid1", "slot": 0,
                                           "role": "active", "events": 18}]
    assert entries["md0"]["lvm_pv"] == {"uuid": "pv-uuid", "vg": "vault"}
    assert entries["vdb"]["partition_table"] == "gpt"


def test_raw_targets_are_disks_partitions_and_arrays_and_mounted_ones_are_volatile():
    targets = {t["kernel_name"]: t for t in raw_targets(FACTS)}
    assert sorted(targets) == ["md0", "vdb", "vdb1", "vdc", "vdd"]  # no dm or loop device
    assert targets["vdb1"]["volatile"] and targets["vdb"]["volatile"]  # the partition is mounted
    assert not targets["vdc"]["volatile"] and targets["vdc"]["md_member"]


def test_read_range_head_and_tail(tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(range(256)) * 16)  # 4096 bytes
    assert read_range(str(image), 0, 4) == bytes([0, 1, 2, 3])
    assert read_range(str(image), -4, 4) == bytes([252, 253, 254, 255])
    assert len(read_range(str(image), 0, 1 << 20)) == 4096  # never past the end


# ---------------------------------------------------------------------------------------------
# md geometry and data samples, from the lab's recorded RAID10 superblocks
# ---------------------------------------------------------------------------------------------

GEOMETRY_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "md_geometry"
TEN_UUID = "8df85f3a:afc88ac7:a6a07d82:8d471423"
DATA_OFFSET = 4096 * 512
MIDDLE = 267386880  # half of the 1044480-sector data area, on a 512 KiB chunk boundary


def examine_blocks(text: str) -> dict[str, str]:
    """The recorded `mdadm --examine` output of four devices, one device's block each."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines(keepends=True):
        if line.startswith("/dev/"):
            current = line.strip().rstrip(":")
            blocks[current] = ""
        blocks[current] += line
    return blocks


class MdRunner:
    """mdadm answers from recorded output; every other tool is missing."""

    def __init__(self, examine: dict[str, str], details: dict[str, str]) -> None:
        self.examine, self.details, self.history = examine, details, []

    def has(self, name):
        return name == "mdadm"

    def run(self, name, args, ok_rcs=(0,)):
        self.history.append([name] + args)
        if name != "mdadm":
            raise CommandError([name] + args, None, "", "", "%s is not installed" % name)
        if args[:1] == ["--examine"] and args[1] != "--export":
            return CommandResult([name] + args, 0, self.examine[args[-1]], "")
        if args[:1] == ["--detail"] and args[-1] in self.details:
            return CommandResult([name] + args, 0, self.details[args[-1]], "")
        return CommandResult([name] + args, 0, "", "")


class NoHostFiles:
    def read_bytes(self, path):
        return None

    def list_dir(self, path):
        return []


def lab_ten(tmp_path, mounted: bool = False) -> tuple[dict, MdRunner]:
    """Facts for four member images (sparse files) holding a known byte at each sampled place."""
    recorded = examine_blocks((GEOMETRY_FIXTURES / "lab-ten.examine.txt").read_text())
    devices, examine = [], {}
    for number, name in enumerate(["vdb", "vdc", "vdd", "vde"], 1):
        image = tmp_path / (name + ".img")
        with open(image, "wb") as handle:
            handle.truncate(DATA_OFFSET + 1044480 * 512)
            handle.seek(DATA_OFFSET)
            handle.write(bytes([number]) * 4096)
            handle.seek(DATA_OFFSET + MIDDLE)
            handle.write(bytes([0x10 + number]) * 4096)
        examine[str(image)] = recorded["/dev/" + name].replace("/dev/" + name, str(image), 1)
        devices.append(device(name, "disk", device=str(image), serial="VIRT000%d" % number, holders=["md10"], md_member=True,
                              md_array_uuid=TEN_UUID, stable_name="/dev/disk/by-id/virtio-VIRT000%d" % number))
    devices.append(device("md10", "raid10", holders=["dm-0"]))
    devices.append(device("dm-0", "lvm", mountpoints=["/srv"] if mounted else []))
    facts = {"lifeline_md": {"arrays": []}, "lifeline_lvm": {}, "lifeline_disks": {"devices": devices}}
    return facts, MdRunner(examine, {})


def test_geometry_and_samples_are_captured_by_serial(tmp_path):
    facts, runner = lab_ten(tmp_path)
    capture = SnapshotCapture(runner, NoHostFiles(), facts, 4096, False, md_sample_bytes=65536)
    items = {item.path: item for item in capture.items()}
    document = json.loads(items["md/geometry.json"].data)
    [ten] = document["arrays"]
    assert document["sample_bytes"] == 65536 and not items["md/geometry.json"].volatile
    assert [(m["slot"], m["key"]) for m in ten["members"]] == [(0, "VIRT0001"), (1, "VIRT0002"), (2, "VIRT0003"), (3, "VIRT0004")]
    assert (ten["level"], ten["chunk_kib"], ten["layout"], ten["data_offset_sectors"]) == ("raid10", 512, "near=2", 4096)
    prefix = "md/samples/8df85f3a-afc88ac7-a6a07d82-8d471423/"
    start, middle = items[prefix + "slot2-VIRT0003.start"], items[prefix + "slot2-VIRT0003.middle"]
    assert start.data[:4096] == b"\x03" * 4096 and start.data[4096:] == bytes(65536 - 4096)  # past the data offset
    assert middle.data[:4096] == b"\x13" * 4096 and len(middle.data) == 65536
    assert not start.volatile and "slot 2" in start.source
    assert [s["path"] for s in ten["samples"]].count(prefix + "slot0-VIRT0001.middle") == 1
    assert [gap for gap in capture.gaps if gap.path.startswith("md/")] == []


def test_samples_under_a_mounted_file_system_are_volatile_and_zero_bytes_keeps_none(tmp_path):
    facts, runner = lab_ten(tmp_path, mounted=True)
    items = {item.path: item for item in SnapshotCapture(runner, NoHostFiles(), facts, 4096, False, 65536).items()}
    assert all(item.volatile for path, item in items.items() if path.startswith("md/samples/"))
    assert not items["md/geometry.json"].volatile  # the geometry does not change with the data
    facts, runner = lab_ten(tmp_path)
    items = {item.path: item for item in SnapshotCapture(runner, NoHostFiles(), facts, 4096, False, 0).items()}
    assert "md/geometry.json" in items and not any(path.startswith("md/samples/") for path in items)


def test_running_arrays_get_their_detail_and_an_unreadable_member_is_a_gap(tmp_path):
    facts, runner = lab_ten(tmp_path)
    facts["lifeline_md"]["arrays"] = [{"name": "md10", "device": "/dev/md10", "uuid": TEN_UUID, "members": []}]
    runner.details["/dev/md10"] = (GEOMETRY_FIXTURES / "jc_mdadm-query-raid5-homehost.txt").read_text()  # another array's
    vde = next(d for d in facts["lifeline_disks"]["devices"] if d["kernel_name"] == "vde")
    os.unlink(vde["device"])  # mdadm read it (recorded output); then it went away
    capture = SnapshotCapture(runner, NoHostFiles(), facts, 4096, False, 65536)
    items = {item.path: item for item in capture.items()}
    assert items["md/detail/md10.txt"].volatile
    document = json.loads(items["md/geometry.json"].data)
    assert {array["uuid"] for array in document["arrays"]} == {TEN_UUID}
    assert ["mdadm", "--detail", "/dev/md10"] in runner.history
    gaps = [gap for gap in capture.gaps if gap.path.startswith("md/samples/")]
    assert len(gaps) == 2 and "slot3-VIRT0004" in gaps[0].path
