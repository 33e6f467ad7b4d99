"""mirror_compare: the comparison engine on files with known differences, and the data-area plan.

Engine cases run on real temporary files through the same read-only reader the module uses, and
are checked against a byte-by-byte reference written from the documented region rule. The data
areas are read from real `mdadm --examine` outputs under tests/unit/fixtures/mirror_compare/
(provenance: SOURCES.md there). Strings written in this file are labelled hand-written, with the
mdadm source they follow.
"""

from __future__ import annotations

import errno
import os
import random
import threading
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult, ToolMissing
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_compare import (
    PAGE_SIZE,
    FileRangeReader,
    ReadFailed,
    compare_ranges,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_plan import (
    NO_SUPERBLOCK,
    DataArea,
    PlanError,
    data_area_from_examine,
    device_holders,
    examine_size_bytes,
    examine_with_mdadm,
    option_errors,
    plan_comparison,
    run_plan,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mirror_compare"
KIB = 1024
MIB = 1024 * 1024


# ------------------------------------------------------------------------------------------
# Helpers: files with known differences, and a reference that looks at every byte
# ------------------------------------------------------------------------------------------

def write_pair(tmp_path: Path, size: int, flips: list[int], prefix_b: bytes = b"", seed: int = 1) -> tuple[Path, Path]:
    """Two files: A random, B the same bytes with each position in FLIPS changed, after PREFIX_B."""
    data = random.Random(seed).randbytes(size)
    changed = bytearray(data)
    for position in flips:
        changed[position] ^= 0x5A
    path_a, path_b = tmp_path / "a.img", tmp_path / "b.img"
    path_a.write_bytes(data)
    path_b.write_bytes(prefix_b + bytes(changed))
    return path_a, path_b


def compare_files(path_a: Path, path_b: Path, length: int, start_a: int = 0, start_b: int = 0, **options):
    with FileRangeReader(str(path_a)) as reader_a, FileRangeReader(str(path_b)) as reader_b:
        return compare_ranges(reader_a, start_a, reader_b, start_b, length, **options)


def reference(data_a: bytes, data_b: bytes, max_regions: int) -> dict:
    """The documented result, byte by byte: a region ends where a whole page between two differences is equal."""
    positions = [index for index, (one, other) in enumerate(zip(data_a, data_b)) if one != other]
    regions: list[dict] = []
    for position in positions:
        if regions and position // PAGE_SIZE <= regions[-1]["last_page"] + 1:
            regions[-1].update(end=position + 1, last_page=position // PAGE_SIZE)
        else:
            regions.append({"offset": position, "end": position + 1, "last_page": position // PAGE_SIZE})
    listed = [{"offset": region["offset"], "length": region["end"] - region["offset"]} for region in regions]
    return {"identical": not positions, "first_difference": positions[0] if positions else None,
            "differing_bytes": len(positions), "regions": listed[:max_regions],
            "regions_truncated": len(listed) > max_regions, "bytes_compared": len(data_a)}


def summary(comparison) -> dict:
    result = comparison.as_dict()
    return {key: result[key] for key in ("identical", "first_difference", "differing_bytes", "regions",
                                         "regions_truncated", "bytes_compared")}


# ------------------------------------------------------------------------------------------
# The engine
# ------------------------------------------------------------------------------------------

def test_identical_files(tmp_path):
    path_a, path_b = write_pair(tmp_path, 3 * 64 * KIB + 100, [])
    result = compare_files(path_a, path_b, 3 * 64 * KIB + 100, block_size=64 * KIB).as_dict()
    assert result["identical"] is True
    assert result["first_difference"] is None and result["differing_bytes"] == 0
    assert result["regions"] == [] and result["regions_truncated"] is False
    assert result["bytes_compared"] == 3 * 64 * KIB + 100
    assert result["seconds"] >= 0 and set(result) == {
        "identical", "first_difference", "differing_bytes", "regions", "regions_truncated", "bytes_compared",
        "seconds", "mib_per_second", "no_majority_bytes", "no_majority_regions"}


def test_first_byte_differs(tmp_path):
    path_a, path_b = write_pair(tmp_path, 256 * KIB, [0])
    assert summary(compare_files(path_a, path_b, 256 * KIB, block_size=64 * KIB)) == {
        "identical": False, "first_difference": 0, "differing_bytes": 1, "regions": [{"offset": 0, "length": 1}],
        "regions_truncated": False, "bytes_compared": 256 * KIB}


def test_last_byte_differs_and_length_is_not_a_multiple_of_the_block_size(tmp_path):
    size = 5 * 64 * KIB + 4097
    path_a, path_b = write_pair(tmp_path, size, [size - 1])
    result = summary(compare_files(path_a, path_b, size, block_size=64 * KIB))
    assert result["first_difference"] == size - 1 and result["differing_bytes"] == 1
    assert result["regions"] == [{"offset": size - 1, "length": 1}]


def test_a_short_last_block_ignores_what_its_recycled_buffer_held(tmp_path):
    # With one block of read-ahead, block 2 reuses block 0's buffers, which differ at byte 200.
    block = 16 * KIB
    size = 2 * block + 100
    path_a, path_b = write_pair(tmp_path, size, [200, 2 * block + 50])
    result = summary(compare_files(path_a, path_b, size, block_size=block, read_ahead=1))
    assert result["differing_bytes"] == 2
    assert result["regions"] == [{"offset": 200, "length": 1}, {"offset": 2 * block + 50, "length": 1}]


def test_a_difference_spanning_two_blocks_is_one_region(tmp_path):
    block = 64 * KIB
    path_a, path_b = write_pair(tmp_path, 4 * block, list(range(block - 3, block + 3)))
    result = summary(compare_files(path_a, path_b, 4 * block, block_size=block))
    assert result["differing_bytes"] == 6
    assert result["regions"] == [{"offset": block - 3, "length": 6}]


def test_scattered_single_bytes_are_separate_regions(tmp_path):
    flips = [5, 70000, 300001, 999999]
    path_a, path_b = write_pair(tmp_path, MIB, flips)
    result = summary(compare_files(path_a, path_b, MIB, block_size=128 * KIB))
    assert result["first_difference"] == 5 and result["differing_bytes"] == 4
    assert result["regions"] == [{"offset": position, "length": 1} for position in flips]


def test_more_regions_than_max_regions_still_counts_every_byte(tmp_path):
    flips = list(range(100, MIB, 3 * PAGE_SIZE))
    path_a, path_b = write_pair(tmp_path, MIB, flips)
    result = summary(compare_files(path_a, path_b, MIB, block_size=64 * KIB, max_regions=10))
    assert result["regions_truncated"] is True and len(result["regions"]) == 10
    assert result["differing_bytes"] == len(flips) and result["first_difference"] == 100
    assert result["regions"][9] == {"offset": flips[9], "length": 1}


def test_max_regions_zero_lists_nothing_but_says_so(tmp_path):
    path_a, path_b = write_pair(tmp_path, 64 * KIB, [7])
    result = summary(compare_files(path_a, path_b, 64 * KIB, block_size=64 * KIB, max_regions=0))
    assert result["regions"] == [] and result["regions_truncated"] is True and result["differing_bytes"] == 1


def test_offsets_differ_between_the_two_devices(tmp_path):
    # B holds A's bytes after 12345 bytes of its own, as two members with different data offsets do.
    path_a, path_b = write_pair(tmp_path, 300 * KIB, [4096, 200000], prefix_b=b"\xee" * 12345)
    result = summary(compare_files(path_a, path_b, 300 * KIB, start_a=0, start_b=12345, block_size=64 * KIB))
    assert result["first_difference"] == 4096 and result["differing_bytes"] == 2
    assert result["regions"] == [{"offset": 4096, "length": 1}, {"offset": 200000, "length": 1}]


def test_compared_range_can_start_inside_both_files(tmp_path):
    path_a, path_b = write_pair(tmp_path, 300 * KIB, [100, 150000])
    result = summary(compare_files(path_a, path_b, 100 * KIB, start_a=100 * KIB, start_b=100 * KIB, block_size=64 * KIB))
    assert result["first_difference"] == 150000 - 100 * KIB and result["differing_bytes"] == 1
    assert result["bytes_compared"] == 100 * KIB


@pytest.mark.parametrize("first, second, regions", [
    # Less than 4096 bytes apart: always one region.
    (4000, 8095, [{"offset": 4000, "length": 4096}]),
    # In adjacent pages, 8190 bytes apart: one region (no whole equal page between them).
    (0, 8191, [{"offset": 0, "length": 8192}]),
    # A whole equal page between them: two regions.
    (4095, 12288, [{"offset": 4095, "length": 1}, {"offset": 12288, "length": 1}]),
])
def test_region_merge_rule(tmp_path, first, second, regions):
    path_a, path_b = write_pair(tmp_path, 64 * KIB, [first, second])
    result = summary(compare_files(path_a, path_b, 64 * KIB, block_size=16 * KIB))
    assert result["regions"] == regions and result["differing_bytes"] == 2


def test_fully_different_data_is_counted_exactly(tmp_path):
    size = 3 * MIB + 12345
    path_a, path_b = tmp_path / "zeros", tmp_path / "ones"
    path_a.write_bytes(b"\x00" * size)
    path_b.write_bytes(b"\xff" * size)
    result = summary(compare_files(path_a, path_b, size, block_size=MIB))
    assert result["differing_bytes"] == size and result["first_difference"] == 0
    assert result["regions"] == [{"offset": 0, "length": size}]


def test_random_data_matches_the_byte_by_byte_reference(tmp_path):
    rng = random.Random(42)
    data_a, data_b = rng.randbytes(700 * KIB), rng.randbytes(700 * KIB)
    (tmp_path / "a").write_bytes(data_a)
    (tmp_path / "b").write_bytes(data_b)
    result = summary(compare_files(tmp_path / "a", tmp_path / "b", len(data_a), block_size=64 * KIB))
    assert result == reference(data_a, data_b, 64)


@pytest.mark.parametrize("seed", range(12))
def test_random_cases_match_the_reference(tmp_path, seed):
    rng = random.Random(seed)
    size = rng.randrange(1, 600 * KIB)
    flips: set[int] = set()
    for _burst in range(rng.randrange(0, 12)):
        start = rng.randrange(size)
        flips.update(range(start, min(size, start + rng.choice((1, 2, 50, 4096, 9000, 70000)))))
    flips.update(rng.randrange(size) for _single in range(rng.randrange(0, 40)))
    path_a, path_b = write_pair(tmp_path, size, sorted(flips), seed=seed)
    block_size = PAGE_SIZE * rng.choice((1, 3, 16, 17, 64))
    max_regions = rng.choice((0, 1, 5, 64))
    result = summary(compare_files(path_a, path_b, size, block_size=block_size, max_regions=max_regions,
                                   read_ahead=rng.choice((1, 3))))
    assert result == reference(path_a.read_bytes(), path_b.read_bytes(), max_regions)


def test_a_device_that_ends_early_is_a_clear_error(tmp_path):
    path_a, path_b = write_pair(tmp_path, 200 * KIB, [])
    with open(path_b, "r+b") as shrinking:
        shrinking.truncate(150 * KIB)
    with pytest.raises(ReadFailed, match=r"b\.img ended at byte 153600, before the compared range did \(byte 204800\)"):
        compare_files(path_a, path_b, 200 * KIB, block_size=64 * KIB)


class FailingReader:
    """Reads zeros, then fails with EIO at one position, as a dying disk does."""

    def __init__(self, name: str, fail_at: int) -> None:
        self.name = name
        self.fail_at = fail_at

    def read_into(self, view: memoryview, position: int) -> int:
        if position <= self.fail_at < position + len(view):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view[:] = bytes(len(view))
        return len(view)


class ZeroReader(FailingReader):
    def __init__(self, name: str) -> None:
        super().__init__(name, -1)


def test_a_read_error_names_the_device_and_byte_and_stops_both_readers():
    threads_before = threading.active_count()
    with pytest.raises(ReadFailed, match=r"cannot read /dev/sdz at byte 131072: Input/output error"):
        compare_ranges(ZeroReader("/dev/sdy"), 0, FailingReader("/dev/sdz", 140000), 0, 10 * MIB, block_size=64 * KIB)
    assert threading.active_count() == threads_before


def test_block_size_must_be_whole_pages():
    with pytest.raises(ValueError):
        compare_ranges(ZeroReader("a"), 0, ZeroReader("b"), 0, 10, block_size=1000)


def test_every_open_is_read_only(tmp_path, monkeypatch):
    """The module's whole path (plan and comparison) opens devices with O_RDONLY and nothing else."""
    path_a, path_b = write_pair(tmp_path, 100 * KIB, [3])
    flags_seen: list[int] = []
    real_open = os.open

    def recording_open(path, flags, *args, **kwargs):
        flags_seen.append(flags)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    plan = plan_comparison([str(path_a), str(path_b)], 0, None, examine=None)
    run_plan(plan, 64 * KIB, 64)
    assert flags_seen and all(flags == os.O_RDONLY for flags in flags_seen)


# ------------------------------------------------------------------------------------------
# Sizes and data areas from mdadm --examine
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, version, expected", [
    # Current mdadm, 1.x: the unit word is printed (fixture jc_mdadm-examine-raid1-ok.txt).
    ("202752 sectors (99.00 MiB 103.81 MB)", "1.2", 202752 * 512),
    ("101376 KiB (99.00 MiB 103.81 MB)", "1.2", 101376 * 1024),
    # 0.90: KiB with no unit word (fixture jc_mdadm-examine-raid1-0-90-ok.txt).
    ("102336 (99.94 MiB 104.79 MB)", "0.90.00", 102336 * 1024),
    # Hand-written in mdadm 3.x's 1.x form, printf "%llu%s" of sb->size in sectors: the human size decides.
    ("3906766720 (1862.89 GiB 2000.26 GB)", "1.2", 3906766720 * 512),
    # Hand-written: under 5 MB mdadm prints no human size, so the metadata version decides.
    ("8000", "1.0", 8000 * 512),
    ("4000", "0.90.00", 4000 * 1024),
    ("unknown", "1.2", None),
    (None, "1.2", None),
])
def test_examine_size_bytes(value, version, expected):
    assert examine_size_bytes(value, version) == expected


def examine_fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_data_area_of_a_1_2_member():
    area = data_area_from_examine("/dev/vda1", 0, examine_fixture("jc_mdadm-examine-raid1-ok.txt"), "")
    assert (area.offset, area.offset_source) == (2048 * 512, "md superblock (1.2)")
    # No Used Dev Size line: mdadm prints it only when it differs from Avail Dev Size.
    assert (area.size, area.size_source) == (202752 * 512, "md superblock (Avail Dev Size)")
    assert area.array_uuid == "e054553a:fbccdcfe:0ae80bc8:9379377a" and area.warnings == []


def test_data_area_of_a_1_1_member():
    area = data_area_from_examine("/dev/sdb1", 0, examine_fixture("jc_mdadm-examine.txt"), "")
    assert (area.offset, area.offset_source) == (264 * 512, "md superblock (1.1)")
    assert area.size == 11721041656 * 512


def test_data_area_of_a_0_90_member_starts_at_zero():
    area = data_area_from_examine("/dev/vda1", 0, examine_fixture("jc_mdadm-examine-raid1-0-90-ok.txt"), "")
    assert (area.offset, area.offset_source) == (0, "md superblock (0.90.00)")
    assert (area.size, area.size_source) == (102336 * 1024, "md superblock (Used Dev Size)")


def test_examine_of_an_assembled_array_has_no_member_superblock():
    area = data_area_from_examine("/dev/md126", 0, examine_fixture("jc_mdadm-examine-raid1-checking.txt"), "")
    assert (area.offset, area.offset_source, area.size) == (0, NO_SUPERBLOCK, None)


def test_no_superblock_exit_is_offset_zero():
    # Hand-written: mdadm's Examine.c message for a device without md metadata, with exit code 1.
    area = data_area_from_examine("/dev/sdc", 1, "", "mdadm: No md superblock detected on /dev/sdc.\n")
    assert (area.offset, area.offset_source) == (0, NO_SUPERBLOCK)


def test_container_metadata_is_refused():
    with pytest.raises(PlanError, match=r"/dev/vda holds DDF metadata .*give offset and length"):
        data_area_from_examine("/dev/vda", 0, examine_fixture("jc_mdadm-examine-container1.txt"), "")


def test_other_mdadm_failures_are_errors():
    with pytest.raises(PlanError, match=r"mdadm --examine /dev/sdc failed \(exit 1\): mdadm: cannot open /dev/sdc"):
        data_area_from_examine("/dev/sdc", 1, "", "mdadm: cannot open /dev/sdc: Permission denied\n")


class FakeRunner:
    def __init__(self, rc: int = 0, stdout: str = "", stderr: str = "", missing: bool = False) -> None:
        self.rc, self.stdout, self.stderr, self.missing = rc, stdout, stderr, missing
        self.calls: list[list[str]] = []

    def has(self, name):
        return not (self.missing and name == "mdadm")

    def run(self, name, args, ok_rcs=(0,)):
        self.calls.append([name] + list(args))
        assert self.rc in ok_rcs
        return CommandResult([name] + list(args), self.rc, self.stdout, self.stderr)


def test_examine_with_mdadm_runs_one_examine_per_device():
    runner = FakeRunner(stdout=examine_fixture("jc_mdadm-examine-raid5-ok.txt"))
    area = examine_with_mdadm(runner, "/dev/vda1")
    assert runner.calls == [["mdadm", "--examine", "/dev/vda1"]]
    assert area.offset == 4096 * 512


def test_examine_without_mdadm_says_to_give_the_offset():
    runner = FakeRunner(missing=True)
    with pytest.raises(PlanError, match=r"data offset of /dev/vda1 must come from its md superblock, but mdadm is not "
                                        r"installed on this host; install mdadm or give offset \(and length\)"):
        examine_with_mdadm(runner, "/dev/vda1")
    assert runner.calls == []


def test_examine_with_mdadm_failure_carries_the_command():
    class GoneAtRun(FakeRunner):
        def run(self, name, args, ok_rcs=(0,)):
            raise ToolMissing([name] + list(args), None, "", "", "mdadm is not installed on this host (searched PATH)")

    with pytest.raises(PlanError, match=r"^mdadm is not installed on this host \(searched PATH\)") as raised:
        examine_with_mdadm(GoneAtRun(), "/dev/vda1")
    assert raised.value.details["cmd"] == ["mdadm", "--examine", "/dev/vda1"] and "msg" not in raised.value.details


def test_examine_with_mdadm_refusal_carries_the_output():
    output = examine_fixture("jc_mdadm-examine-container1.txt")
    with pytest.raises(PlanError) as raised:
        examine_with_mdadm(FakeRunner(stdout=output), "/dev/vda")
    assert raised.value.details["stdout"] == output and raised.value.details["rc"] == 0


# ------------------------------------------------------------------------------------------
# Options and the plan
# ------------------------------------------------------------------------------------------

def test_option_errors():
    assert option_errors(["/dev/sda", "/dev/sdb"], None, None, 4 * MIB, 64, 30) == []
    assert option_errors(["/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"], None, None, 4 * MIB, 64, 30) == []
    assert option_errors(["/dev/sda"], None, None, 4 * MIB, 64, 30) == [
        "devices must name at least two devices to compare, got 1"]
    assert option_errors(["/dev/sda", "/dev/sda"], -1, 0, 5000, -1, 0) == [
        "devices lists /dev/sda 2 times; name each device once",
        "offset must be 0 or more, got -1",
        "length must be at least 1, got 0",
        "block_size must be a multiple of 4096 between 4096 and 268435456, got 5000",
        "max_regions must be 0 or more, got -1",
        "timeout must be at least 1, got 0"]


def images(tmp_path: Path, size_a: int, size_b: int) -> list[str]:
    paths = [tmp_path / "a.img", tmp_path / "b.img"]
    for path, size in zip(paths, (size_a, size_b)):
        path.write_bytes(bytes(size))
    return [str(path) for path in paths]


def test_plan_uses_each_devices_own_data_area(tmp_path):
    paths = images(tmp_path, 4 * MIB, 5 * MIB)
    areas = {paths[0]: DataArea(MIB, "md superblock (1.2)", 3 * MIB, "md superblock (Avail Dev Size)", "u1"),
             paths[1]: DataArea(2 * MIB, "md superblock (1.2)", 3 * MIB, "md superblock (Avail Dev Size)", "u1")}
    plan = plan_comparison(paths, None, None, areas.__getitem__)
    assert plan["length"] == 3 * MIB and plan["warnings"] == []
    assert plan["length_source"] == "data area of %s: md superblock (Avail Dev Size)" % paths[0]
    assert [(entry["offset"], entry["data_size"]) for entry in plan["devices"]] == [(MIB, 3 * MIB), (2 * MIB, 3 * MIB)]


def test_plan_takes_the_smaller_data_area_and_says_so(tmp_path):
    paths = images(tmp_path, 4 * MIB, 3 * MIB)
    plan = plan_comparison(paths, None, None, lambda path: DataArea(0, NO_SUPERBLOCK))
    assert plan["length"] == 3 * MIB
    assert plan["length_source"] == "data area of %s: device size minus offset" % paths[1]
    assert plan["warnings"] == ["the data areas differ in size (%s: 4194304 bytes, %s: 3145728 bytes); "
                                "only the first 3145728 bytes are compared" % tuple(paths)]


def test_plan_with_an_offset_does_not_examine(tmp_path):
    paths = images(tmp_path, MIB, MIB)

    def examine(_path):
        raise AssertionError("mdadm must not run when offset is given")

    plan = plan_comparison(paths, 4096, None, examine)
    assert plan["length"] == MIB - 4096 and plan["length_source"] == "data area of %s: device size minus offset" % paths[0]
    assert {entry["offset_source"] for entry in plan["devices"]} == {"option"}


def test_plan_refuses_the_same_file_twice(tmp_path):
    paths = images(tmp_path, MIB, MIB)
    os.link(paths[0], tmp_path / "hardlink.img")
    with pytest.raises(PlanError, match=r"are the same regular file"):
        plan_comparison([paths[0], str(tmp_path / "hardlink.img")], 0, None, None)


def test_plan_refuses_what_is_not_there(tmp_path):
    paths = images(tmp_path, MIB, MIB)
    with pytest.raises(PlanError, match=r"^%s does not exist$" % (tmp_path / "missing.img")):
        plan_comparison([paths[0], str(tmp_path / "missing.img")], 0, None, None)
    with pytest.raises(PlanError, match=r"is neither a block device nor a regular file"):
        plan_comparison([paths[0], str(tmp_path)], 0, None, None)


def test_plan_refuses_an_offset_beyond_the_end(tmp_path):
    paths = images(tmp_path, MIB, 2 * MIB)
    with pytest.raises(PlanError, match=r"offset 1048576 \(option\) is at or beyond the end of .*a\.img, which has 1048576 bytes"):
        plan_comparison(paths, MIB, None, None)


def test_plan_refuses_a_length_past_the_end_naming_the_device(tmp_path):
    paths = images(tmp_path, 2 * MIB, MIB)
    with pytest.raises(PlanError, match=r"length 1048576 from offset 4096 runs 4096 bytes past the end of .*b\.img"):
        plan_comparison(paths, 4096, MIB, None)


def test_plan_trusts_the_device_over_a_superblock_that_claims_more(tmp_path):
    paths = images(tmp_path, 2 * MIB, 2 * MIB)
    area = DataArea(MIB, "md superblock (1.2)", 5 * MIB, "md superblock (Used Dev Size)")
    plan = plan_comparison(paths, None, None, lambda path: area)
    assert plan["length"] == MIB and plan["devices"][0]["data_size_source"] == "device size minus offset"
    assert "the device is shorter than its superblock expects" in plan["warnings"][0]


def test_plan_warns_about_members_of_different_arrays(tmp_path):
    paths = images(tmp_path, MIB, MIB)
    areas = {paths[0]: DataArea(0, "md superblock (1.2)", array_uuid="aaaa"),
             paths[1]: DataArea(0, "md superblock (1.2)", array_uuid="bbbb")}
    plan = plan_comparison(paths, None, None, areas.__getitem__)
    assert plan["warnings"] == ["%s and %s belong to different md arrays (aaaa and bbbb); they are not mirrors "
                                "of each other" % tuple(paths)]


def test_device_holders_from_sysfs(tmp_path):
    (tmp_path / "sdb1" / "holders" / "md127").mkdir(parents=True)
    assert device_holders("/dev/sdb1", str(tmp_path)) == ["md127"]
    assert device_holders("/dev/sdc1", str(tmp_path)) == []


def test_run_plan_reports_the_first_difference_on_each_device(tmp_path):
    # Members whose data offsets differ by 8 KiB: the same data, one changed byte at 5000 into the data area.
    data = random.Random(3).randbytes(200 * KIB)
    changed = bytearray(data)
    changed[5000] ^= 1
    (tmp_path / "a.img").write_bytes(b"\x01" * 4096 + data)
    (tmp_path / "b.img").write_bytes(b"\x02" * 12288 + bytes(changed))
    paths = [str(tmp_path / "a.img"), str(tmp_path / "b.img")]
    areas = {paths[0]: DataArea(4096, "md superblock (1.2)", len(data), "md superblock (Avail Dev Size)"),
             paths[1]: DataArea(12288, "md superblock (1.2)", len(data), "md superblock (Avail Dev Size)")}
    result = run_plan(plan_comparison(paths, None, None, areas.__getitem__), 64 * KIB, 64)
    assert set(result) == {"identical", "first_difference", "differing_bytes", "regions", "regions_truncated",
                           "bytes_compared", "seconds", "mib_per_second", "devices", "length", "length_source",
                           "no_majority_bytes", "no_majority_regions", "disagreeing_members"}
    assert (result["identical"], result["first_difference"], result["differing_bytes"]) == (False, 5000, 1)
    assert [entry["first_difference_at"] for entry in result["devices"]] == [4096 + 5000, 12288 + 5000]
    assert set(result["devices"][0]) == {"path", "size", "offset", "offset_source", "data_size", "data_size_source",
                                         "holders", "first_difference_at", "serial", "member", "disagreeing_bytes",
                                         "disagreeing_regions"}
    # Two devices cannot form a majority: regions keep their two keys, and nobody is named.
    assert result["regions"] == [{"offset": 5000, "length": 1}]
    assert (result["no_majority_bytes"], result["no_majority_regions"], result["disagreeing_members"]) == (1, 1, [])
    assert [(entry["member"], entry["serial"], entry["disagreeing_bytes"]) for entry in result["devices"]] == [
        (paths[0], None, 0), (paths[1], None, 0)]


def test_run_plan_turns_a_short_read_into_a_plan_error(tmp_path):
    paths = images(tmp_path, MIB, MIB)
    plan = plan_comparison(paths, 0, None, None)
    os.truncate(paths[1], MIB // 2)
    with pytest.raises(PlanError, match=r"b\.img ended at byte 524288"):
        run_plan(plan, 64 * KIB, 64)
