"""The sample check: member bytes recorded in a snapshot, read back through an array assembled right or wrong.

Member images are built here from an array's bytes with the textbook RAID5 left-symmetric and
RAID10 near=2 rules (written out in this file, not taken from the code under test), and arrays
are "assembled" from them with a chosen member order and chunk size, as md would.
"""

from __future__ import annotations

import hashlib
import json
import os
import random

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry import plan_samples
from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry_check_host import CheckError, run_geometry_check
from ansible_collections.lifeline.storage.plugins.module_utils._md_sample_check import (
    SnapshotFiles,
    check_samples,
    compare_piece,
    live_differences,
)
from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult

KIB = 1024
CHUNK = 16 * KIB
MEMBER = 512 * KIB  # data area of each member
SAMPLE = 64 * KIB


def raid5_ls_device(stripe: int, index: int, disks: int) -> tuple[int, int]:
    """(device of data chunk INDEX of STRIPE, parity device): left-symmetric, parity moving left from the last disk."""
    parity = (disks - 1) - stripe % disks
    return (parity + 1 + index) % disks, parity


def build_raid5(array: bytes, disks: int, chunk: int) -> list[bytearray]:
    members = [bytearray(MEMBER) for _member in range(disks)]
    data_disks = disks - 1
    for stripe in range(MEMBER // chunk):
        parity = bytearray(chunk)
        for index in range(data_disks):
            number = stripe * data_disks + index
            data = array[number * chunk:(number + 1) * chunk]
            device, parity_device = raid5_ls_device(stripe, index, disks)
            members[device][stripe * chunk:(stripe + 1) * chunk] = data
            parity = bytearray(a ^ b for a, b in zip(parity, data))
        members[parity_device][stripe * chunk:(stripe + 1) * chunk] = parity
    return members


def assemble_raid5(members: list, order: list[int], chunk: int) -> bytes:
    """The array md would show from MEMBERS put in slots ORDER (slot -> member index), left-symmetric, CHUNK."""
    disks = len(order)
    data_disks = disks - 1
    out = bytearray()
    for stripe in range(MEMBER // chunk):
        for index in range(data_disks):
            device, _parity = raid5_ls_device(stripe, index, disks)
            out += members[order[device]][stripe * chunk:(stripe + 1) * chunk]
    return bytes(out)


def build_raid10_near2(array: bytes, chunk: int) -> list[bytearray]:
    """Four devices, two copies: array chunk n on devices 2n mod 4 and 2n+1 mod 4, row 2n div 4."""
    members = [bytearray(MEMBER) for _member in range(4)]
    for number in range(len(array) // chunk):
        for copy in range(2):
            position = 2 * number + copy
            device, row = position % 4, position // 4
            members[device][row * chunk:(row + 1) * chunk] = array[number * chunk:(number + 1) * chunk]
    return members


def assemble_raid10_near2(members: list, order: list[int], chunk: int) -> bytes:
    out = bytearray()
    for number in range(2 * MEMBER // chunk):
        position = 2 * number
        device, row = position % 4, position // 4
        out += members[order[device]][row * chunk:(row + 1) * chunk]
    return bytes(out)


def geometry(level: str, disks: int, layout: str) -> dict:
    recorded = {"uuid": "11111111:22222222:33333333:44444444", "level": level, "raid_devices": disks, "chunk_kib": CHUNK // KIB,
                "layout": layout, "component_size_sectors": MEMBER // 512, "metadata": "1.2",
                "members": [{"slot": slot, "key": "SER%d" % slot, "missing": False, "data_offset_sectors": 0,
                             "used_sectors": MEMBER // 512} for slot in range(disks)]}
    recorded["samples"] = plan_samples(recorded, SAMPLE)
    return recorded


def sample_data(recorded: dict, members: list) -> dict:
    return {sample["path"]: bytes(members[sample["slot"]][sample["device_offset"]:sample["device_offset"] + sample["length"]])
            for sample in recorded["samples"]}


def check(recorded: dict, members: list, array: bytes, labels=None) -> dict:
    def read(offset: int, length: int) -> bytes:
        return array[offset:offset + length]
    return check_samples(recorded, recorded["samples"], sample_data(recorded, members), read, len(array), labels)


@pytest.fixture(name="raid5")
def fixture_raid5():
    array = random.Random(5).randbytes(2 * MEMBER)
    members = build_raid5(array, 3, CHUNK)
    assert assemble_raid5(members, [0, 1, 2], CHUNK) == array  # the test's own encoder and decoder agree
    return geometry("raid5", 3, "left-symmetric"), members, array


def test_raid5_assembled_as_recorded_matches(raid5):
    recorded, members, array = raid5
    result = check(recorded, members, array)
    assert result["verdict"] == "matches", result["reason"]
    assert result["counts"]["differs"] == 0 and result["counts"]["parity"] > 0  # parity chunks are not compared
    assert result["unverified"] == []


def test_raid5_with_two_members_swapped_does_not_match(raid5):
    recorded, members, _array = raid5
    result = check(recorded, members, assemble_raid5(members, [1, 0, 2], CHUNK))
    assert result["verdict"] == "does not match"
    assert {piece["key"] for piece in result["differing_pieces"]} >= {"SER0", "SER1"}


@pytest.mark.parametrize("wrong_chunk", [CHUNK // 2, CHUNK * 2])
def test_raid5_with_another_chunk_size_does_not_match(raid5, wrong_chunk):
    recorded, members, _array = raid5
    assert check(recorded, members, assemble_raid5(members, [0, 1, 2], wrong_chunk))["verdict"] == "does not match"


def test_raid5_with_another_data_offset_does_not_match(raid5):
    recorded, members, _array = raid5
    shifted = [member[4096:] + bytes(4096) for member in members]  # data area starting 4 KiB later
    assert check(recorded, members, assemble_raid5(shifted, [0, 1, 2], CHUNK))["verdict"] == "does not match"


def test_a_few_blocks_written_since_the_snapshot_still_match(raid5):
    recorded, members, array = raid5
    written = bytearray(array)
    written[512:1024] = b"LABELONE" * 64  # a PV label where the old one was
    result = check(recorded, members, bytes(written))
    assert result["verdict"] == "matches" and result["counts"]["partly differs"] == 1
    assert "differ in a few blocks" in result["reason"]


def test_an_overwritten_start_is_ignored_when_only_middle_samples_count(raid5):
    recorded, members, array = raid5
    written = bytearray(array)
    written[:256 * KIB] = random.Random(9).randbytes(256 * KIB)  # an installer's mkfs over the start
    assert check(recorded, members, bytes(written))["verdict"] == "does not match"
    assert check(recorded, members, bytes(written), labels=["middle"])["verdict"] == "matches"


def test_raid10_near2_order_within_a_mirror_pair_reads_the_same_but_across_pairs_does_not():
    array = random.Random(10).randbytes(2 * MEMBER)
    members = build_raid10_near2(array, CHUNK)
    recorded = geometry("raid10", 4, "near=2")
    assert check(recorded, members, assemble_raid10_near2(members, [0, 1, 2, 3], CHUNK))["verdict"] == "matches"
    # Slots 0 and 1 hold the same data: swapping them changes nothing a reader could see.
    assert check(recorded, members, assemble_raid10_near2(members, [1, 0, 2, 3], CHUNK))["verdict"] == "matches"
    assert check(recorded, members, assemble_raid10_near2(members, [0, 2, 1, 3], CHUNK))["verdict"] == "does not match"


def test_never_written_members_tell_nothing():
    recorded = geometry("raid5", 3, "left-symmetric")
    members = [bytearray(MEMBER) for _member in range(3)]
    result = check(recorded, members, bytes(2 * MEMBER))
    assert result["verdict"] == "unknown" and "could tell one geometry from another" in result["reason"]


def test_a_smaller_array_does_not_match(raid5):
    recorded, members, array = raid5
    assert check(recorded, members, array[:MEMBER // 2])["verdict"] == "does not match"


def test_missing_samples_and_unplaceable_layouts_are_said():
    recorded = geometry("raid5", 3, "left-symmetric")
    result = check_samples(recorded, recorded["samples"], {}, lambda offset, length: b"", 2 * MEMBER)
    assert result["verdict"] == "unknown" and len(result["unchecked"]) == 6
    unplaceable = dict(recorded, level="multipath")
    assert "cannot be placed" in check_samples(unplaceable, [], {}, None, 0)["reason"]


def test_compare_piece_counts_blocks():
    zeros, data = bytes(8192), random.Random(1).randbytes(8192)
    assert compare_piece(zeros, zeros) == (0, 0)
    assert compare_piece(data, data) == (2, 0)
    other = random.Random(2).randbytes(4096)
    assert compare_piece(data, data[:4096] + other) == (2, 1)
    # Recorded data where the array now holds zeros: what a wrong chunk or order mostly shows.
    assert compare_piece(data, data[:4096] + zeros[:4096]) == (2, 1)
    assert compare_piece(data, zeros) == (2, 2)


def test_live_differences_name_members_by_serial():
    recorded = {"level": "raid10", "raid_devices": 4, "chunk_kib": 512, "layout": "near=2", "metadata": "1.2",
                "uuid": "8df85f3a:afc88ac7:a6a07d82:8d471423", "name": "lab:ten", "component_size_kib": 522240,
                "data_offset_sectors": 4096,
                "members": [{"slot": n, "key": "VIRT000%d" % (n + 1)} for n in range(4)]}
    detail = {"level": "raid10", "raid_devices": 4, "chunk_kib": 64, "layout": "near=2", "version": "1.2",
              "uuid": "00000000:afc88ac7:a6a07d82:8d471423", "name": "lab:ten", "used_dev_size_kib": 522240,
              "devices": [{"raid_device": n, "device": "/dev/vd" + "bcde"[o]} for n, o in enumerate([1, 0, 2, 3])]}
    devices = [{"kernel_name": "vd" + letter, "device": "/dev/vd" + letter, "type": "disk", "serial": "VIRT000%d" % (n + 1)}
               for n, letter in enumerate("bcde")]
    examined = {"/dev/vdb": {"superblock": "md", "data_offset_sectors": 2048}}
    found = {entry["field"]: entry for entry in live_differences(recorded, detail, examined, devices)}
    assert sorted(found) == ["chunk_kib", "data_offset_sectors", "member order", "uuid"]
    assert found["member order"]["now"] == ["VIRT0002", "VIRT0001", "VIRT0003", "VIRT0004"]


# ---------------------------------------------------------------------------------------------
# The module's host side: a snapshot directory and an "array" that is an image file
# ---------------------------------------------------------------------------------------------

class FakeRunner:
    """Answers mdadm --detail/--examine and lsblk like a host whose array is ARRAY_PATH."""

    def __init__(self, detail_text: str) -> None:
        self.detail_text = detail_text
        self.history = []

    def has(self, name):
        return True

    def run(self, name, args, ok_rcs=(0,)):
        self.history.append([name] + args)
        if name == "mdadm" and args[0] == "--detail":
            return CommandResult([name] + args, 0, self.detail_text, "")
        if name == "lsblk":
            disks = [{"name": kname, "kname": kname, "type": "disk", "serial": "SER%d" % n} for n, kname in enumerate(["vdb", "vdc", "vdd"])]
            return CommandResult([name] + args, 0, json.dumps({"blockdevices": disks}), "")
        return CommandResult([name] + args, 0, "", "")


class NoFiles:
    def list_dir(self, path):
        return []

    def read_link(self, path):
        return None


def write_snapshot(directory, recorded: dict, files: dict[str, bytes], others: tuple = ()) -> None:
    entries = []
    document = json.dumps({"format": 1, "arrays": [recorded] + list(others)}).encode()
    for path, data in list(files.items()) + [("md/geometry.json", document)]:
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        entries.append({"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "volatile": False})
    (directory / "manifest.json").write_text(json.dumps({"id": "20261123T161507Z-3bb16e98", "files": entries, "gaps": []}))


DETAIL = """/dev/md0:
           Version : 1.2
        Raid Level : raid5
        Array Size : 1024 (1.00 MiB)
      Raid Devices : 3
            Layout : left-symmetric
        Chunk Size : 16K
              Name : lab:five
              UUID : 11111111:22222222:33333333:44444444

    Number   Major   Minor   RaidDevice State
       0     254        1        0      active sync   /dev/vdb
       1     254        2        1      active sync   /dev/vdc
       2     254        3        2      active sync   /dev/vdd
"""


def test_the_module_reads_the_snapshot_and_the_array_and_says_matches(tmp_path, raid5):
    recorded, members, array = raid5
    write_snapshot(tmp_path / "snap", recorded, sample_data(recorded, members))
    image = tmp_path / "md0.img"
    image.write_bytes(array)
    result = run_geometry_check({"snapshot": str(tmp_path / "snap"), "array": str(image), "uuid": None, "samples": None},
                                FakeRunner(DETAIL), NoFiles())
    assert result["verdict"] == "matches" and result["matches"] is True and result["changed"] is False
    assert result["snapshot_id"] == "20261123T161507Z-3bb16e98"
    assert result["live_differences"] == []  # same level, chunk, layout, UUID
    assert os.stat(image).st_size == 2 * MEMBER


def test_the_module_refuses_a_damaged_snapshot_copy(tmp_path, raid5):
    recorded, members, array = raid5
    write_snapshot(tmp_path / "snap", recorded, sample_data(recorded, members))
    (tmp_path / "snap" / "md" / "geometry.json").write_text("{}")
    image = tmp_path / "md0.img"
    image.write_bytes(array)
    with pytest.raises(CheckError, match="sha256 does not match the manifest"):
        run_geometry_check({"snapshot": str(tmp_path / "snap"), "array": str(image)}, FakeRunner(DETAIL), NoFiles())


def test_a_damaged_sample_is_unchecked_not_believed(tmp_path, raid5):
    recorded, members, _array = raid5
    data = sample_data(recorded, members)
    write_snapshot(tmp_path, recorded, data)
    victim = recorded["samples"][0]["path"]
    (tmp_path / victim).write_bytes(b"x" + data[victim][1:])
    assert "does not match the manifest" in SnapshotFiles(str(tmp_path)).read(victim)
    assert SnapshotFiles(str(tmp_path)).read("md/samples/none").startswith("not in the snapshot")


def test_the_recorded_array_is_the_one_with_the_arrays_uuid_or_must_be_named(tmp_path, raid5):
    recorded, members, array = raid5
    other = dict(recorded, uuid="99999999:22222222:33333333:44444444", samples=[])
    write_snapshot(tmp_path / "snap", recorded, sample_data(recorded, members), others=(other,))
    image = tmp_path / "md0.img"
    image.write_bytes(array)
    params = {"snapshot": str(tmp_path / "snap"), "array": str(image)}
    assert run_geometry_check(params, FakeRunner(DETAIL), NoFiles())["recorded"]["uuid"] == recorded["uuid"]
    recreated = DETAIL.replace("11111111:22222222", "abcdef01:22222222")  # a re-create gave it a new UUID
    with pytest.raises(CheckError, match="name the array by UUID"):
        run_geometry_check(params, FakeRunner(recreated), NoFiles())
    named = run_geometry_check(dict(params, uuid=recorded["uuid"]), FakeRunner(recreated), NoFiles())
    assert named["verdict"] == "matches"
    assert named["live_differences"] == [{"field": "uuid", "recorded": recorded["uuid"], "now": "abcdef01:22222222:33333333:44444444"}]


def test_pieces_below_skip_bytes_are_not_compared():
    """An installer's pvcreate rewrote the array's first blocks: with the PV's data start skipped they do not count."""
    from ansible_collections.lifeline.storage.plugins.module_utils._md_sample_check import _past
    piece = {"kind": "data", "array_offset": 0, "member_offset": 4096, "length": 8192}
    assert _past(piece, 0) == piece
    assert _past(piece, 4096) == {"kind": "data", "array_offset": 4096, "member_offset": 8192, "length": 4096}
    assert _past(piece, 8192) is None
    later = dict(piece, array_offset=1 << 20)
    assert _past(later, 1 << 20) == later
