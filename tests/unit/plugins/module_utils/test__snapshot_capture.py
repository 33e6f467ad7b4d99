"""What a snapshot keeps, decided from storage facts."""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._block_read import read_range
from ansible_collections.lifeline.storage.plugins.module_utils._snapshot_capture import disk_map, raw_targets


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
