"""Where a member's bytes sit in the array: md's placement rules, checked against the layouts' published tables."""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._md_layout import (
    LayoutUnknown,
    array_pieces,
    parse_raid10_layout,
    raid10_dev_chunks,
    raid456_devices,
    shape_of,
)

CHUNK_KIB = 4
CHUNK = CHUNK_KIB * 1024


def geometry(level: str, devices: int, layout: str | None = None, component_sectors: int | None = 64, **extra) -> dict:
    base = {"level": level, "raid_devices": devices, "chunk_kib": CHUNK_KIB, "layout": layout,
            "component_size_sectors": component_sectors,
            "members": [{"slot": slot, "used_sectors": component_sectors} for slot in range(devices)]}
    base.update(extra)
    return base


def stripe_table(level: str, layout: str, devices: int, stripes: int) -> list[list[str]]:
    """Each stripe as the row of a layout table: "D<n>" for array chunk n, "P", "Q"."""
    shape = shape_of(geometry(level, devices, layout))
    rows = []
    for stripe in range(stripes):
        row = []
        for slot in range(devices):
            piece = array_pieces(shape, slot, stripe * CHUNK, CHUNK)[0]
            row.append("D%d" % (piece["array_offset"] // CHUNK) if piece["kind"] == "data"
                       else {"parity": "P", "syndrome": "Q"}[piece["kind"]])
        rows.append(row)
    return rows


# The RAID5 tables as md(4) and the Linux RAID wiki draw them for four devices.
RAID5_TABLES = {
    "left-symmetric": [["D0", "D1", "D2", "P"], ["D4", "D5", "P", "D3"], ["D8", "P", "D6", "D7"], ["P", "D9", "D10", "D11"]],
    "left-asymmetric": [["D0", "D1", "D2", "P"], ["D3", "D4", "P", "D5"], ["D6", "P", "D7", "D8"], ["P", "D9", "D10", "D11"]],
    "right-symmetric": [["P", "D0", "D1", "D2"], ["D5", "P", "D3", "D4"], ["D7", "D8", "P", "D6"], ["D9", "D10", "D11", "P"]],
    "right-asymmetric": [["P", "D0", "D1", "D2"], ["D3", "P", "D4", "D5"], ["D6", "D7", "P", "D8"], ["D9", "D10", "D11", "P"]],
    "parity-first": [["P", "D0", "D1", "D2"], ["P", "D3", "D4", "D5"], ["P", "D6", "D7", "D8"], ["P", "D9", "D10", "D11"]],
    "parity-last": [["D0", "D1", "D2", "P"], ["D3", "D4", "D5", "P"], ["D6", "D7", "D8", "P"], ["D9", "D10", "D11", "P"]],
}


@pytest.mark.parametrize("layout", sorted(RAID5_TABLES))
def test_raid5_layouts_match_their_tables(layout):
    assert stripe_table("raid5", layout, 4, 4) == RAID5_TABLES[layout]


def test_raid5_aliases_and_default():
    assert stripe_table("raid5", "ls", 4, 4) == RAID5_TABLES["left-symmetric"]
    assert stripe_table("raid5", None, 4, 4) == RAID5_TABLES["left-symmetric"]
    assert stripe_table("raid5", "ddf-N-restart", 4, 4) == RAID5_TABLES["left-asymmetric"]
    assert stripe_table("raid4", None, 4, 2) == RAID5_TABLES["parity-last"][:2]


def test_raid6_left_symmetric_rotates_p_and_q_as_md_does():
    # md's raid5_compute_sector for level 6: P on disk N-1-(stripe mod N), Q after it, data after Q.
    assert stripe_table("raid6", "left-symmetric", 4, 4) == [
        ["Q", "D0", "D1", "P"], ["D2", "D3", "P", "Q"], ["D5", "P", "Q", "D4"], ["P", "Q", "D6", "D7"]]


@pytest.mark.parametrize("layout", ["left-asymmetric", "right-asymmetric", "left-symmetric", "right-symmetric", "parity-first",
                                    "parity-last", "ddf-zero-restart", "ddf-N-restart", "ddf-N-continue", "left-asymmetric-6",
                                    "right-asymmetric-6", "left-symmetric-6", "right-symmetric-6", "parity-first-6"])
def test_every_raid6_layout_puts_each_chunk_once_and_p_q_on_other_devices(layout):
    shape = shape_of(geometry("raid6", 5, layout))
    for stripe in range(10):
        placed = [raid456_devices(shape, stripe, index) for index in range(3)]
        data_devices = [device for device, _pd, _qd in placed]
        _device, pd, qd = placed[0]
        assert sorted(data_devices + [pd, qd]) == [0, 1, 2, 3, 4], (layout, stripe, placed)
    if layout.endswith("-6"):
        assert all(raid456_devices(shape, stripe, 0)[2] == 4 for stripe in range(10))  # Q on the last device


def test_raid10_near2_on_four_devices_pairs_neighbours():
    shape = shape_of(geometry("raid10", 4, "near=2"))
    assert [array_pieces(shape, slot, 0, CHUNK)[0]["array_offset"] // CHUNK for slot in range(4)] == [0, 0, 1, 1]
    assert [array_pieces(shape, slot, CHUNK, CHUNK)[0]["array_offset"] // CHUNK for slot in range(4)] == [2, 2, 3, 3]


def test_raid10_near2_on_three_devices_wraps_copies_to_the_next_row():
    shape = shape_of(geometry("raid10", 3, "near=2"))
    row0 = [array_pieces(shape, slot, 0, CHUNK)[0]["array_offset"] // CHUNK for slot in range(3)]
    row1 = [array_pieces(shape, slot, CHUNK, CHUNK)[0]["array_offset"] // CHUNK for slot in range(3)]
    assert (row0, row1) == ([0, 0, 1], [1, 2, 2])


def test_raid10_far2_second_half_holds_the_copies_rotated_by_one_device():
    shape = shape_of(geometry("raid10", 4, "far=2", component_sectors=64))  # 8 chunks per device, stride 4
    assert raid10_dev_chunks(shape) == 8
    first = [array_pieces(shape, slot, 0, CHUNK)[0]["array_offset"] // CHUNK for slot in range(4)]
    copies = [array_pieces(shape, slot, 4 * CHUNK, CHUNK)[0]["array_offset"] // CHUNK for slot in range(4)]
    assert first == [0, 1, 2, 3] and copies == [3, 0, 1, 2]


def test_raid10_offset2_repeats_each_stripe_one_device_further_on_the_next_chunk():
    shape = shape_of(geometry("raid10", 4, "offset=2"))
    rows = [[array_pieces(shape, slot, row * CHUNK, CHUNK)[0]["array_offset"] // CHUNK for slot in range(4)] for row in range(4)]
    assert rows == [[0, 1, 2, 3], [3, 0, 1, 2], [4, 5, 6, 7], [7, 4, 5, 6]]


def test_raid10_space_past_the_used_chunks_is_unused():
    shape = shape_of(geometry("raid10", 3, "near=2", component_sectors=9 * 8))  # 9 chunks, 13 array chunks, 9 used
    assert raid10_dev_chunks(shape) == 9
    assert array_pieces(shape, 2, 9 * CHUNK, CHUNK)[0]["kind"] == "unused"


def test_raid0_stripes_and_raid1_mirrors():
    raid0 = shape_of(geometry("raid0", 2))
    assert [p["array_offset"] for p in array_pieces(raid0, 1, 0, 2 * CHUNK)] == [CHUNK, 3 * CHUNK]
    raid1 = shape_of({"level": "raid1", "raid_devices": 2})
    assert array_pieces(raid1, 1, 12345, 100) == [{"member_offset": 12345, "length": 100, "kind": "data", "array_offset": 12345}]


def test_pieces_split_at_chunk_boundaries():
    shape = shape_of(geometry("raid0", 2))
    pieces = array_pieces(shape, 0, CHUNK - 100, 300)
    found = [(p["member_offset"], p["length"], p["array_offset"]) for p in pieces]
    assert found == [(CHUNK - 100, 100, CHUNK - 100), (CHUNK, 200, 2 * CHUNK)]


def test_linear_concatenates_members_in_slot_order():
    shape = shape_of({"level": "linear", "raid_devices": 2, "members": [{"slot": 0, "used_sectors": 8}, {"slot": 1, "used_sectors": 16}]})
    assert array_pieces(shape, 1, 100, 10)[0]["array_offset"] == 8 * 512 + 100
    assert [p["kind"] for p in array_pieces(shape, 0, 4000, 200)] == ["data", "unused"]


@pytest.mark.parametrize("bad, reason", [
    (geometry("raid10", 4, "near=2, far=2"), None),
    (geometry("raid10", 4, None), "layout was not recorded"),
    (geometry("raid5", 4, "nonsense"), "not one this collection can place"),
    (geometry("raid0", 2, members=[{"slot": 0, "used_sectors": 8}, {"slot": 1, "used_sectors": 16}]), "several zones"),
    (geometry("raid10", 4, "far=2", component_sectors=None), "component size"),
    (geometry("raid5", 4, chunk_kib=None), "chunk size"),
    (geometry("multipath", 2), "no known data layout"),
])
def test_what_cannot_be_placed_says_why(bad, reason):
    if reason is None:  # near and far at once can be placed; mdadm cannot create it, see recreate_md
        assert array_pieces(shape_of(bad), 0, 0, CHUNK)[0]["kind"] == "data"
        return
    with pytest.raises(LayoutUnknown, match=reason):
        shape_of(bad)


def test_raid10_layout_words():
    assert parse_raid10_layout("near=2") == (2, 1, False)
    assert parse_raid10_layout("offset=3") == (1, 3, True)
    assert parse_raid10_layout("near=2, far=2") == (2, 2, False)
    with pytest.raises(LayoutUnknown):
        parse_raid10_layout("n2")
