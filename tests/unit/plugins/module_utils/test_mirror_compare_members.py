"""mirror_compare over three or more members: the per-page vote, the regions it splits, the names.

Engine cases run on real temporary files through the module's read-only reader and are checked
against a page-by-page reference written from the documented rule (devices holding the same
bytes in a page form a group; a group of more than half the devices is the majority). Serials
and sysfs contents in this file are hand-written, in the shapes lsblk and the kernel give them.
"""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils import _mirror_plan
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_compare import (
    PAGE_SIZE,
    FileRangeReader,
    ReadFailed,
    compare_members,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_members import (
    device_identity,
    member_names,
    name_regions,
    verdict,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mirror_plan import (
    DataArea,
    PlanError,
    option_errors,
    plan_comparison,
    run_plan,
)

KIB = 1024
MIB = 1024 * 1024


# ------------------------------------------------------------------------------------------
# Helpers: members with known differences, and a reference that votes page by page
# ------------------------------------------------------------------------------------------

def write_members(tmp_path: Path, data: bytes, changes: list[dict[int, bytes]]) -> list[Path]:
    """One file per entry of CHANGES: DATA with each {offset: bytes} of the entry written over it."""
    paths = []
    for index, change in enumerate(changes):
        member = bytearray(data)
        for offset, replacement in change.items():
            member[offset:offset + len(replacement)] = replacement
        path = tmp_path / ("m%d.img" % index)
        path.write_bytes(bytes(member))
        paths.append(path)
    return paths


def compare_files(paths: list[Path], length: int, **options):
    readers = [FileRangeReader(str(path)) for path in paths]
    try:
        return compare_members([(reader, 0) for reader in readers], length, **options)
    finally:
        for reader in readers:
            reader.close()


def reference(members: list[bytes], max_regions: int) -> dict:
    """The documented result, page by page and byte by byte."""
    count = len(members)
    length = len(members[0])
    regions: list[dict] = []
    differing = no_majority = 0
    disagreeing_bytes = [0] * count
    first_difference = None
    for page_start in range(0, length, PAGE_SIZE):
        pages = [member[page_start:page_start + PAGE_SIZE] for member in members]
        groups: list[list[int]] = []
        for index, page in enumerate(pages):
            for group in groups:
                if pages[group[0]] == page:
                    group.append(index)
                    break
            else:
                groups.append([index])
        if len(groups) == 1:
            continue
        positions = [page_start + offset for offset in range(len(pages[0]))
                     if len({page[offset] for page in pages}) > 1]
        differing += len(positions)
        if first_difference is None:
            first_difference = positions[0]
        largest = max(groups, key=len)
        majority = largest if 2 * len(largest) > count else None
        if majority is None:
            no_majority += len(positions)
        else:
            for index in range(count):
                if index not in majority:
                    disagreeing_bytes[index] += sum(1 for one, other in zip(pages[majority[0]], pages[index]) if one != other)
        key = tuple(tuple(group) for group in groups)
        page = page_start // PAGE_SIZE
        if regions and regions[-1]["last_page"] == page - 1 and regions[-1]["key"] == key:
            regions[-1].update(end=positions[-1] + 1, last_page=page)
        else:
            regions.append({"offset": positions[0], "end": positions[-1] + 1, "last_page": page, "key": key,
                            "majority": majority})
    listed = []
    disagreeing_regions = [0] * count
    for region in regions:
        majority = region["majority"]
        outside = [] if majority is None else [index for index in range(count) if index not in majority]
        for index in outside:
            disagreeing_regions[index] += 1
        entry = {"offset": region["offset"], "length": region["end"] - region["offset"]}
        if count > 2:
            entry.update(groups=[list(group) for group in sorted(region["key"], key=lambda group: (-len(group), group[0]))],
                         disagreeing=outside)
        listed.append(entry)
    return {"identical": differing == 0, "first_difference": first_difference, "differing_bytes": differing,
            "regions": listed[:max_regions], "regions_truncated": len(listed) > max_regions, "bytes_compared": length,
            "no_majority_bytes": no_majority, "no_majority_regions": sum(1 for region in regions if region["majority"] is None),
            "disagreeing_bytes": disagreeing_bytes, "disagreeing_regions": disagreeing_regions}


def summary(comparison) -> dict:
    result = comparison.as_dict()
    keys = ("identical", "first_difference", "differing_bytes", "regions", "regions_truncated", "bytes_compared",
            "no_majority_bytes", "no_majority_regions")
    return dict({key: result[key] for key in keys}, disagreeing_bytes=comparison.disagreeing_bytes,
                disagreeing_regions=comparison.disagreeing_regions)


def inverted(data: bytes, offset: int, length: int) -> bytes:
    return bytes(byte ^ 0xFF for byte in data[offset:offset + length])


# ------------------------------------------------------------------------------------------
# The vote
# ------------------------------------------------------------------------------------------

def test_a_stale_member_of_three_is_the_one_that_disagrees(tmp_path):
    # The lab's incident: 64 KiB of one member of a 3-way RAID1 hold other bytes, at an offset
    # that is not on a page boundary so a rounding error shows.
    data = random.Random(1).randbytes(MIB)
    offset = 300 * KIB + 123
    paths = write_members(tmp_path, data, [{}, {offset: inverted(data, offset, 64 * KIB)}, {}])
    assert summary(compare_files(paths, MIB, block_size=128 * KIB)) == {
        "identical": False, "first_difference": offset, "differing_bytes": 64 * KIB,
        "regions": [{"offset": offset, "length": 64 * KIB, "groups": [[0, 2], [1]], "disagreeing": [1]}],
        "regions_truncated": False, "bytes_compared": MIB, "no_majority_bytes": 0, "no_majority_regions": 0,
        "disagreeing_bytes": [0, 64 * KIB, 0], "disagreeing_regions": [0, 1, 0]}


def test_three_identical_members(tmp_path):
    data = random.Random(2).randbytes(200 * KIB)
    result = summary(compare_files(write_members(tmp_path, data, [{}, {}, {}]), len(data), block_size=64 * KIB))
    assert result["identical"] is True and result["regions"] == [] and result["differing_bytes"] == 0
    assert result["disagreeing_bytes"] == [0, 0, 0] and result["no_majority_bytes"] == 0


def test_a_region_ends_where_another_member_starts_to_disagree(tmp_path):
    # Member 2 differs in pages 1-2, member 1 in pages 3-4, directly after: two regions, one verdict each.
    data = bytes(64 * KIB)
    paths = write_members(tmp_path, data, [{}, {3 * PAGE_SIZE: b"\x01" * 2 * PAGE_SIZE},
                                           {PAGE_SIZE: b"\x02" * 2 * PAGE_SIZE}])
    result = summary(compare_files(paths, len(data), block_size=16 * KIB))
    assert result["regions"] == [
        {"offset": PAGE_SIZE, "length": 2 * PAGE_SIZE, "groups": [[0, 1], [2]], "disagreeing": [2]},
        {"offset": 3 * PAGE_SIZE, "length": 2 * PAGE_SIZE, "groups": [[0, 2], [1]], "disagreeing": [1]}]
    assert result["disagreeing_regions"] == [0, 1, 1]


def test_three_different_pages_have_no_majority(tmp_path):
    data = bytes(32 * KIB)
    paths = write_members(tmp_path, data, [{}, {5000: b"\x01"}, {5001: b"\x02"}])
    result = summary(compare_files(paths, len(data), block_size=16 * KIB))
    assert result["regions"] == [{"offset": 5000, "length": 2, "groups": [[0], [1], [2]], "disagreeing": []}]
    assert (result["differing_bytes"], result["no_majority_bytes"], result["no_majority_regions"]) == (2, 2, 1)
    assert result["disagreeing_bytes"] == [0, 0, 0]


@pytest.mark.parametrize("changes, groups, disagreeing", [
    # Three of four agree: a majority.
    ([{}, {}, {9000: b"\x01"}, {}], [[0, 1, 3], [2]], [2]),
    # Two against two: half is not a majority.
    ([{}, {}, {9000: b"\x01"}, {9000: b"\x01"}], [[0, 1], [2, 3]], []),
    # The first member alone is outvoted like any other.
    ([{9000: b"\x07"}, {}, {}, {}], [[1, 2, 3], [0]], [0]),
])
def test_four_members(tmp_path, changes, groups, disagreeing):
    data = bytes(16 * KIB)
    result = summary(compare_files(write_members(tmp_path, data, changes), len(data), block_size=16 * KIB))
    assert result["regions"] == [{"offset": 9000, "length": 1, "groups": groups, "disagreeing": disagreeing}]


def test_counts_per_member_are_exact_beyond_max_regions(tmp_path):
    data = bytes(MIB)
    changes: list[dict[int, bytes]] = [{}, {}, {}]
    for number, offset in enumerate(range(100, MIB, 3 * PAGE_SIZE)):
        changes[number % 3][offset] = b"\x01\x02"
    paths = write_members(tmp_path, data, changes)
    result = summary(compare_files(paths, MIB, block_size=64 * KIB, max_regions=5))
    assert result["regions_truncated"] is True and len(result["regions"]) == 5
    total = len(range(100, MIB, 3 * PAGE_SIZE))
    assert sum(result["disagreeing_regions"]) == total and result["differing_bytes"] == 2 * total
    assert result["disagreeing_bytes"] == [2 * len(range(number, total, 3)) for number in range(3)]


@pytest.mark.parametrize("seed", range(16))
def test_random_cases_match_the_page_by_page_reference(tmp_path, seed):
    rng = random.Random(seed)
    count = rng.choice((2, 3, 3, 4, 5))
    size = rng.randrange(1, 400 * KIB)
    data = rng.randbytes(size)
    changes: list[dict[int, bytes]] = [{} for _member in range(count)]
    for _burst in range(rng.randrange(0, 10)):
        start = rng.randrange(size)
        burst = rng.choice((1, 2, 50, 4096, 9000, 40000))
        value = bytes([rng.randrange(1, 256)]) * min(burst, size - start)
        # Sometimes two members carry the same other bytes, so the groups are not all singletons.
        for member in rng.sample(range(count), rng.choice((1, 1, 2))):
            changes[member][start] = bytes(byte ^ value[0] for byte in data[start:start + len(value)])
    paths = write_members(tmp_path, data, changes)
    block_size = PAGE_SIZE * rng.choice((1, 3, 16, 17, 64))
    max_regions = rng.choice((0, 1, 5, 64))
    result = summary(compare_files(paths, size, block_size=block_size, max_regions=max_regions,
                                   read_ahead=rng.choice((1, 3))))
    assert result == reference([path.read_bytes() for path in paths], max_regions)


class ZeroReader:
    def __init__(self, name: str, fail_at: int = -1) -> None:
        self.name = name
        self.fail_at = fail_at

    def read_into(self, view: memoryview, position: int) -> int:
        if position <= self.fail_at < position + len(view):
            raise OSError(5, os.strerror(5))
        view[:] = bytes(len(view))
        return len(view)


def test_a_read_error_on_the_third_member_names_it_and_stops_every_reader():
    threads_before = threading.active_count()
    with pytest.raises(ReadFailed, match=r"cannot read /dev/sdc at byte 196608: Input/output error"):
        compare_members([(ZeroReader("/dev/sda"), 0), (ZeroReader("/dev/sdb"), 0), (ZeroReader("/dev/sdc", 200000), 0)],
                        10 * MIB, block_size=64 * KIB)
    assert threading.active_count() == threads_before


def test_one_member_is_not_a_comparison():
    with pytest.raises(ValueError, match="at least two"):
        compare_members([(ZeroReader("/dev/sda"), 0)], 4096)


# ------------------------------------------------------------------------------------------
# Names and verdicts
# ------------------------------------------------------------------------------------------

def test_member_names_prefer_serials_and_fall_back_to_paths():
    identities = {"/dev/sda2": {"serial": "ZC11AAAA", "partition": 2}, "/dev/sdb": {"serial": "ZC11BBBB", "partition": None},
                  "/dev/dm-3": {"serial": None, "partition": None}}
    assert member_names(["/dev/sda2", "/dev/sdb", "/dev/dm-3", "/srv/c.img"], identities) == [
        "ZC11AAAA-part2", "ZC11BBBB", "/dev/dm-3", "/srv/c.img"]


def test_member_names_that_would_collide_are_paths():
    # A USB bridge that reports one serial for every disk behind it.
    identities = {"/dev/sdb": {"serial": "000000000001"}, "/dev/sdc": {"serial": "000000000001"},
                  "/dev/sdd": {"serial": "WD-1"}}
    assert member_names(["/dev/sdb", "/dev/sdc", "/dev/sdd"], identities) == ["/dev/sdb", "/dev/sdc", "WD-1"]


@pytest.mark.parametrize("groups, disagreeing, expected", [
    ([["A", "C"], ["B"]], ["B"], "B disagrees with A and C, which agree"),
    ([["A", "B", "C"], ["D"], ["E"]], ["D", "E"], "D and E disagree with A, B and C, which agree"),
    ([["A"], ["B"], ["C"]], [], "no majority: A / B / C"),
    ([["A", "B"], ["C", "D"]], [], "no majority: A, B / C, D"),
])
def test_verdicts(groups, disagreeing, expected):
    assert verdict(groups, disagreeing) == expected


def test_name_regions_leaves_two_member_regions_alone():
    regions = [{"offset": 0, "length": 1}]
    assert name_regions(regions, ["a", "b"]) is regions


def test_device_identity_from_lsblk_records_by_id_links_and_sysfs(tmp_path):
    (tmp_path / "sys/class/block/sdb2").mkdir(parents=True)
    (tmp_path / "sys/class/block/sdb2/partition").write_text("2\n")
    identity = IdentityMap({
        "sdb": {"kernel_name": "sdb", "type": "disk", "serial": "ZC11BBBB", "stable_name": "/dev/disk/by-id/ata-X_ZC11BBBB"},
        "sdb2": {"kernel_name": "sdb2", "type": "part", "serial": "ZC11BBBB",
                 "stable_name": "/dev/disk/by-id/ata-X_ZC11BBBB-part2"}}, None)
    links = {"/dev/disk/by-id/ata-X_ZC11BBBB-part2": "/dev/sdb2"}
    files = HostFiles(str(tmp_path))
    assert device_identity("/dev/disk/by-id/ata-X_ZC11BBBB-part2", identity, files, links.get) == {
        "serial": "ZC11BBBB", "partition": 2, "stable_name": "/dev/disk/by-id/ata-X_ZC11BBBB-part2"}
    assert device_identity("/dev/sdq", identity, files, lambda path: path) == {
        "serial": None, "partition": None, "stable_name": None}


# ------------------------------------------------------------------------------------------
# Options, plan and run with three members
# ------------------------------------------------------------------------------------------

def test_option_errors_bound_the_memory_of_all_members_together():
    assert option_errors(["/dev/sd%s" % letter for letter in "abc"], None, None, 256 * MIB, 64, 30) == [
        "3 devices with block_size 268435456 would hold 3072 MiB of buffers, more than 2048 MiB; lower block_size"]
    assert option_errors(["/dev/sd%s" % letter for letter in "abcdefgh"], None, None, 64 * MIB, 64, 30) == []
    assert option_errors(["/dev/sda", "/dev/sdb", "/dev/sda", "/dev/sda"], None, None, 4 * MIB, 64, 30) == [
        "devices lists /dev/sda 3 times; name each device once"]


def three_images(tmp_path: Path, data: bytes, changes: list[dict[int, bytes]]) -> list[str]:
    return [str(path) for path in write_members(tmp_path, data, changes)]


def as_block_devices(monkeypatch, size: int) -> None:
    """Let the plan take the test's files for block devices of disks (which have serials to look up)."""
    monkeypatch.setattr(_mirror_plan, "inspect_device",
                        lambda path: _mirror_plan.Device(path, size, ("block device", path), []))


def test_plan_refuses_the_same_file_under_two_names_among_three(tmp_path):
    paths = three_images(tmp_path, bytes(MIB), [{}, {}, {}])
    os.link(paths[1], tmp_path / "again.img")
    with pytest.raises(PlanError, match=r"m1\.img and .*again\.img are the same regular file; compare different devices"):
        plan_comparison(paths + [str(tmp_path / "again.img")], 0, None, None)


def test_plan_warns_about_members_of_different_arrays_among_three(tmp_path):
    paths = three_images(tmp_path, bytes(MIB), [{}, {}, {}])
    uuids = dict(zip(paths, ("aaaa", "aaaa", "bbbb")))
    plan = plan_comparison(paths, None, None, lambda path: DataArea(0, "md superblock (1.2)", array_uuid=uuids[path]))
    assert plan["warnings"] == ["the devices belong to different md arrays (%s: aaaa, %s: aaaa, %s: bbbb); only members "
                                "of one array mirror each other" % tuple(paths)]


def test_plan_names_regular_files_by_path_without_looking_anything_up(tmp_path):
    paths = three_images(tmp_path, bytes(MIB), [{}, {}, {}])

    def identify(_paths):
        raise AssertionError("regular files have no serial to look up")

    plan = plan_comparison(paths, 0, None, None, identify)
    assert [(entry["member"], entry["serial"]) for entry in plan["devices"]] == [(path, None) for path in paths]


def test_run_plan_names_the_member_that_disagrees_by_serial(tmp_path, monkeypatch):
    data = random.Random(5).randbytes(MIB)
    offset = 512 * KIB
    paths = three_images(tmp_path, data, [{}, {}, {offset: inverted(data, offset, 64 * KIB)}])
    serials = dict(zip(paths, ("VIRT0003", "VIRT0004", "NVME0001")))
    as_block_devices(monkeypatch, MIB)
    plan = plan_comparison(paths, 0, None, None,
                           lambda block_paths: ({path: {"serial": serials[path], "partition": None} for path in block_paths}, None))
    assert plan["warnings"] == []
    result = run_plan(plan, 256 * KIB, 64)
    assert result["regions"] == [{
        "offset": offset, "length": 64 * KIB, "groups": [["VIRT0003", "VIRT0004"], ["NVME0001"]],
        "disagreeing": ["NVME0001"], "verdict": "NVME0001 disagrees with VIRT0003 and VIRT0004, which agree"}]
    assert result["disagreeing_members"] == ["NVME0001"]
    assert (result["no_majority_bytes"], result["no_majority_regions"], result["differing_bytes"]) == (0, 0, 64 * KIB)
    assert [(entry["member"], entry["serial"], entry["disagreeing_bytes"], entry["disagreeing_regions"],
             entry["first_difference_at"]) for entry in result["devices"]] == [
        ("VIRT0003", "VIRT0003", 0, 0, offset), ("VIRT0004", "VIRT0004", 0, 0, offset),
        ("NVME0001", "NVME0001", 64 * KIB, 1, offset)]


def test_unknown_serials_are_a_warning_with_three_members_only(tmp_path, monkeypatch):
    paths = three_images(tmp_path, bytes(64 * KIB), [{}, {}, {}])
    as_block_devices(monkeypatch, 64 * KIB)

    def identify(block_paths):
        return {path: {"serial": None, "partition": None} for path in block_paths}, "identity map incomplete: lsblk is not installed"

    three = plan_comparison(paths, 0, None, None, identify)
    assert three["warnings"] == ["serials could not be read (identity map incomplete: lsblk is not installed); members "
                                 "without one are named by their paths"]
    assert [entry["member"] for entry in three["devices"]] == paths
    assert plan_comparison(paths[:2], 0, None, None, identify)["warnings"] == []


def test_every_open_of_three_members_is_read_only(tmp_path, monkeypatch):
    paths = three_images(tmp_path, bytes(100 * KIB), [{}, {3: b"\x01"}, {}])
    flags_seen: list[int] = []
    real_open = os.open

    def recording_open(path, flags, *args, **kwargs):
        flags_seen.append(flags)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    result = run_plan(plan_comparison(paths, 0, None, None), 64 * KIB, 64)
    assert result["disagreeing_members"] == [paths[1]]
    assert len(flags_seen) == 6 and all(flags == os.O_RDONLY for flags in flags_seen)
