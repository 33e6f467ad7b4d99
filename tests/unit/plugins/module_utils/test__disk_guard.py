"""The pre-install gate's verdicts, on disks facts and on image files standing in for devices."""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._disk_guard import allow_list_errors, guard, refusal_lines, sample_offsets


def disk(tmp_path, name, serial, content=b"", size=1 << 20, **extra):
    image = tmp_path / name
    image.write_bytes(content + b"\0" * (size - len(content)))
    entry = {"kernel_name": name, "device": str(image), "type": "disk", "serial": serial, "wwn": None,
             "stable_name": "/dev/disk/by-id/ata-DISK_" + serial, "by_id": ["/dev/disk/by-id/ata-DISK_" + serial],
             "size_bytes": size, "signatures": [], "partition_table": {"type": None}, "partitions": [],
             "holders": [], "mountpoints": [], "errors": []}
    entry.update(extra)
    return entry


def verdicts(result) -> dict:
    return {d["name"]: d["verdict"] for d in result["disks"]}


def test_blank_disk_passes(tmp_path):
    result = guard({"devices": [disk(tmp_path, "sda", "BLANK1")]}, None, [], 4096)
    assert result["passed"] is True and verdicts(result) == {"BLANK1": "blank"}
    assert result["disks"][0]["evidence"] == []


def test_signature_at_the_end_refuses_and_names_type_and_offset(tmp_path):
    md10 = disk(tmp_path, "sdb", "MD10", signatures=[{"type": "linux_raid_member", "kind": "raid", "offset": 1048064, "label": None}])
    result = guard({"devices": [md10]}, ["MD10"], [], 4096)
    assert result["passed"] is False
    assert result["refused"] == ["MD10 (%s): linux_raid_member at offset 1048064" % md10["device"]]


def test_unknown_content_without_signature_is_data(tmp_path):
    head = disk(tmp_path, "sdc", "RANDOM1", content=b"\x01\x02")
    tail = disk(tmp_path, "sdd", "RANDOM2")
    with open(tail["device"], "r+b") as handle:
        handle.seek((1 << 20) - 1)
        handle.write(b"\x07")
    result = guard({"devices": [head, tail]}, None, [], 4096)
    assert verdicts(result) == {"RANDOM1": "refused", "RANDOM2": "refused"}
    details = {d["name"]: [e["detail"] for e in d["evidence"]] for d in result["disks"]}
    assert details["RANDOM1"] == ["2 non-zero bytes in the first 4096 bytes, no known signature"]
    assert details["RANDOM2"] == ["1 non-zero bytes in the last 4096 bytes, no known signature"]


def test_unreadable_disk_is_refused_not_blank(tmp_path):
    broken = disk(tmp_path, "sde", "BROKEN", signatures=None, errors=["wipefs: /dev/sde: Permission denied"])
    result = guard({"devices": [broken]}, None, [], 4096)
    assert verdicts(result) == {"BROKEN": "refused"}
    assert "could not be probed (wipefs: /dev/sde: Permission denied): treated as data" in result["refused"][0]


def test_partitions_mounts_and_holders_count(tmp_path):
    gpt = disk(tmp_path, "sdf", "GPT1", partitions=["sdf1"], partition_table={"type": "gpt"},
               signatures=[{"type": "gpt", "kind": "partition_table", "offset": 512, "label": None}])
    part = dict(disk(tmp_path, "sdf1", "GPT1"), type="part", mountpoints=["/srv data"], holders=["dm-0"],
                signatures=[{"type": "ext4", "kind": "filesystem", "offset": 1080, "label": "srv"}])
    result = guard({"devices": [gpt, part]}, ["GPT1"], [], 4096)
    kinds = [e["kind"] for e in result["disks"][0]["evidence"]]
    assert kinds == ["partition_table", "partition", "signature", "holder", "mount"]
    assert "ext4 at offset 1080 label srv" in result["refused"][0] and "mounted at /srv data" in result["refused"][0]


def test_allow_list_by_serial_or_by_id_passes_with_the_evidence_kept(tmp_path):
    luks = disk(tmp_path, "sdg", "KEEP1", signatures=[{"type": "crypto_LUKS", "kind": "crypto", "offset": 0, "label": None}])
    for entry in ("KEEP1", "/dev/disk/by-id/ata-DISK_KEEP1"):
        result = guard({"devices": [luks]}, None, [entry], 4096)
        assert result["passed"] is True and verdicts(result) == {"KEEP1": "allowed"}
        assert result["disks"][0]["allowed_by"] == entry
        assert result["disks"][0]["evidence"][0]["type"] == "crypto_LUKS"
    # A kernel name never allow-lists: the entry does not match, and it is rejected as an argument.
    assert guard({"devices": [luks]}, None, ["sdg"], 4096)["passed"] is False


def test_a_listed_disk_that_does_not_exist_fails_with_its_name(tmp_path):
    result = guard({"devices": [disk(tmp_path, "sda", "BLANK1")]}, ["BLANK1", "GONE42"], [], 4096)
    assert result["missing"] == ["GONE42"] and result["passed"] is False


@pytest.mark.parametrize("entry, bad", [("/dev/sda", True), ("/dev/nvme0n1", True), ("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", False),
                                        ("S45NNA0M123456", False)])
def test_allow_list_refuses_kernel_names(entry, bad):
    assert bool(allow_list_errors([entry])) is bad


def test_refusal_lines_only_for_refused():
    judged = [{"name": "A", "device": "/dev/sda", "verdict": "blank", "evidence": []},
              {"name": "B", "device": "/dev/sdb", "verdict": "refused", "evidence": [{"detail": "swap at offset 4086"}]}]
    assert refusal_lines(judged) == ["B (/dev/sdb): swap at offset 4086"]


MIB = 1 << 20
SAMPLING = {"count": 16, "bytes": 4096, "seed": 7}


def test_samples_start_past_the_first_edge_end_before_the_last_and_include_the_middle():
    offsets = sample_offsets(256 * MIB, MIB, 65536, 256, seed=1)
    assert offsets[0] == MIB and offsets[-1] == 255 * MIB - 65536
    assert 128 * MIB - 32768 in offsets  # the sample centred on the middle of the disk
    assert all(offset % 512 == 0 for offset in offsets) and offsets == sorted(set(offsets))
    assert 256 <= len(offsets) <= 256 + 1 + 64


def test_seeded_samples_are_repeatable_and_a_other_seed_reads_elsewhere():
    first = sample_offsets(20 * 10**12, MIB, 65536, 256, seed=12345)
    assert first == sample_offsets(20 * 10**12, MIB, 65536, 256, seed=12345)
    assert set(first) != set(sample_offsets(20 * 10**12, MIB, 65536, 256, seed=54321))


def test_the_seeded_offsets_are_the_ones_the_standalone_script_draws():
    # The same generator in sh: state = (1103515245 * state + 12345) % 2^31, offset = edge + state % (room + 1).
    evenly = set(sample_offsets(64 * MIB, MIB, 65536, 4, seed=0)) - set(sample_offsets(64 * MIB, MIB, 65536, 4, seed=99))
    assert evenly == {(2048 + 12345 % (126 * 1024 + 1)) * 512}


def test_no_samples_when_turned_off_or_when_the_edges_cover_the_disk():
    assert sample_offsets(256 * MIB, MIB, 65536, 0, seed=1) == []
    assert sample_offsets(2 * MIB, MIB, 65536, 256, seed=1) == []


@pytest.mark.parametrize("where", [4096, (1 << 20) - 2 * 4096, (1 << 20) // 2 - 2048])
def test_data_past_the_edges_is_found_by_the_samples(tmp_path, where):
    """Signatures wiped, data left: 4 KiB of it just past the first edge, just before the last, in the middle."""
    size = 1 << 20
    entry = disk(tmp_path, "sdh", "WIPED1", size=size)
    with open(entry["device"], "r+b") as handle:
        handle.seek(where)
        handle.write(b"\x5a" * 4096)
    blank_edges = guard({"devices": [entry]}, None, [], 4096)
    result = guard({"devices": [entry]}, None, [], 4096, {"count": 16, "bytes": 4096, "seed": 7})
    assert verdicts(blank_edges) == {"WIPED1": "blank"}  # what the gate said before it sampled
    assert verdicts(result) == {"WIPED1": "refused"}
    evidence = result["disks"][0]["evidence"]
    assert evidence[0]["kind"] == "nonzero_bytes" and evidence[0]["where"] == "sample"
    assert "non-zero bytes in 4096 bytes sampled at offset %d" % evidence[0]["offset"] in evidence[0]["detail"]


def test_a_blank_disk_still_passes_with_sampling_and_says_how_many_samples_it_read(tmp_path):
    result = guard({"devices": [disk(tmp_path, "sdi", "BLANK2", size=1 << 20)]}, None, [], 4096, SAMPLING)
    assert verdicts(result) == {"BLANK2": "blank"} and result["disks"][0]["samples_read"] >= 16


def test_a_sample_that_cannot_be_read_refuses_the_disk_and_names_the_offset(tmp_path):
    entry = disk(tmp_path, "sdj", "SHORT1", size=1 << 20)
    entry["size_bytes"] = 2 << 20  # the device ends before the size the kernel reported
    result = guard({"devices": [entry]}, None, [], 4096, SAMPLING)
    assert verdicts(result) == {"SHORT1": "refused"}
    assert result["disks"][0]["evidence"][0]["kind"] == "unreadable"
