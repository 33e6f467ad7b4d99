"""Parsers for /proc/mdstat and md sysfs files, checked against real captured outputs.

The mdstat fixtures are verbatim recorded outputs under tests/unit/fixtures/md/mdstat/, with
their provenance in tests/unit/fixtures/md/SOURCES.md. Strings written in this file are labelled
hand-written, with the kernel documentation or source they follow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._mdstat_parse import (
    parse_mdstat,
    parse_sysfs_md_member_state,
    parse_sysfs_sync_completed,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "md"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


def _array(parsed: dict, name: str) -> dict:
    matches = [array for array in parsed["arrays"] if array["name"] == name]
    assert len(matches) == 1, name
    return matches[0]


def _members(array: dict) -> list[tuple[str, int, list[str]]]:
    return [(member["name"], member["index"], member["flags"]) for member in array["members"]]


# ------------------------------------------------------------------------------------------
# /proc/mdstat
# ------------------------------------------------------------------------------------------

def test_mdstat_procfs_fixture_arrays_and_order():
    parsed = parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt"))
    assert parsed["personalities"] == ["linear", "multipath", "raid0", "raid1", "raid6", "raid5", "raid4", "raid10"]
    assert [array["name"] for array in parsed["arrays"]] == [
        "md3", "md127", "md0", "md4", "md6", "md8", "md201", "md7", "md9", "md10", "md11", "md12", "md126",
        "md219", "md00", "md120", "md101", "md42"]
    assert parsed["unused_devices"] == []


def test_mdstat_raid6_with_spares_keeps_member_order_and_indexes():
    md3 = _array(parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt")), "md3")
    assert md3["state"] == "active" and md3["level"] == "raid6" and md3["read_only"] is None
    assert _members(md3) == [
        ("sda1", 8, []), ("sdh1", 7, []), ("sdg1", 6, []), ("sdf1", 5, []), ("sde1", 11, []), ("sdd1", 3, []),
        ("sdc1", 10, []), ("sdb1", 9, []), ("sdd1", 10, ["spare"]), ("sdd2", 11, ["spare"])]
    assert md3["blocks"] == 5853468288 and md3["size_bytes"] == 5853468288 * 1024
    assert (md3["metadata"], md3["chunk_kib"], md3["algorithm"]) == ("1.2", 64, 2)
    assert (md3["raid_disks"], md3["active_disks"], md3["member_status"]) == (8, 8, "UUUUUUUU")
    assert md3["sync"] is None and md3["sync_pending"] is None and md3["bitmap"] is None


def test_mdstat_without_super_keeps_metadata_unknown():
    md127 = _array(parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt")), "md127")
    # No "super" means 0.90 to the kernel; the parser reports what the line says.
    assert md127["metadata"] is None
    assert md127["blocks"] == 312319552 and md127["member_status"] == "UU"


def test_mdstat_degraded_recovery_with_faulty_and_spare():
    md6 = _array(parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt")), "md6")
    assert _members(md6) == [("sdb2", 2, ["faulty"]), ("sdc", 1, ["spare"]), ("sda2", 0, [])]
    assert (md6["raid_disks"], md6["active_disks"], md6["member_status"]) == (2, 1, "U_")
    assert md6["sync"] == {"action": "recovery", "percent": 8.5, "done_blocks": 16775552,
                           "total_blocks": 195310144, "finish_minutes": 17.0, "speed_kib_s": 259783}


def test_mdstat_resync_and_check_progress():
    parsed = parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt"))
    md8 = _array(parsed, "md8")
    assert md8["sync"]["action"] == "resync" and md8["sync"]["percent"] == 8.5
    assert _members(md8)[2:] == [("sdc", 2, ["spare"]), ("sde", 3, ["spare"])]
    md201 = _array(parsed, "md201")
    assert md201["sync"] == {"action": "check", "percent": 5.7, "done_blocks": 114176, "total_blocks": 1993728,
                             "finish_minutes": 0.2, "speed_kib_s": 114176}


def test_mdstat_reshape_with_bitmap():
    md42 = _array(parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt")), "md42")
    assert md42["sync"] == {"action": "reshape", "percent": 56.1, "done_blocks": 1096879076,
                            "total_blocks": 1953381440, "finish_minutes": 1868.1, "speed_kib_s": 7640}
    assert (md42["raid_disks"], md42["active_disks"], md42["member_status"]) == (3, 2, "UU_")
    assert md42["bitmap"] == {"pages_used": 4, "pages_total": 15, "size_kib": 16, "chunk_kib": 65536,
                              "chunk_bytes": 65536 * 1024, "file": None}
    assert _members(md42)[0] == ("sda1", 3, ["spare"])


def test_mdstat_degraded_raid6_with_faulty_member_and_bitmap():
    md7 = _array(parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt")), "md7")
    assert md7["member_status"] == "U_UU" and (md7["raid_disks"], md7["active_disks"]) == (4, 3)
    assert ("sdc1", 1, ["faulty"]) in _members(md7)
    assert md7["bitmap"]["pages_used"] == 0 and md7["bitmap"]["pages_total"] == 30


def test_mdstat_resync_delayed_and_pending():
    parsed = parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt"))
    md9 = _array(parsed, "md9")
    assert md9["sync_pending"] == "DELAYED" and md9["sync"] is None
    assert [m["name"] for m in md9["members"] if m["flags"] == ["faulty"]] == ["sde", "sdf"]
    md11 = _array(parsed, "md11")
    assert md11["sync_pending"] == "PENDING" and md11["read_only"] == "auto-read-only"
    assert _members(md11) == [("sdb2", 0, []), ("sdc2", 1, []), ("sdc3", 2, ["faulty"]), ("hda", 4, ["spare"]),
                              ("ssdc2", 3, ["spare"])]


def test_mdstat_raid0_chunks_linear_rounding_and_read_only():
    parsed = parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt"))
    md10 = _array(parsed, "md10")
    assert (md10["level"], md10["chunk_kib"], md10["raid_disks"], md10["member_status"]) == ("raid0", 64, None, None)
    md120 = _array(parsed, "md120")
    assert (md120["level"], md120["chunk_kib"], md120["blocks"]) == ("linear", 0, 2095104)
    assert _members(md120) == [("sda1", 1, []), ("sdb1", 0, [])]
    md101 = _array(parsed, "md101")
    assert md101["read_only"] == "read-only" and md101["chunk_kib"] == 512
    assert _array(parsed, "md00")["members"] == [{"name": "xvdb", "index": 0, "flags": []}]


def test_mdstat_external_metadata_and_inactive_container():
    parsed = parse_mdstat(_read("mdstat/procfs_fixtures_mdstat.txt"))
    md126 = _array(parsed, "md126")
    assert md126["metadata"] == "external:/md127/0" and md126["chunk_kib"] == 128
    md219 = _array(parsed, "md219")
    assert (md219["state"], md219["level"], md219["metadata"], md219["blocks"]) == (
        "inactive", None, "external:imsm", 7932)
    assert all(member["flags"] == ["spare"] for member in md219["members"])
    md4 = _array(parsed, "md4")
    assert (md4["state"], md4["level"]) == ("inactive", "raid1")
    assert _members(md4) == [("sda3", 0, ["faulty"]), ("sdb3", 1, ["spare"])]


def test_mdstat_libstorage_resync_then_bitmap():
    md0 = _array(parse_mdstat(_read("mdstat/libstorage-ng_parse1.txt")), "md0")
    assert md0["size_bytes"] == 8588820480 and md0["metadata"] == "1.0"
    assert md0["sync"] == {"action": "resync", "percent": 23.4, "done_blocks": 1963200, "total_blocks": 8387520,
                           "finish_minutes": 4.6, "speed_kib_s": 23178}
    assert md0["bitmap"] == {"pages_used": 1, "pages_total": 1, "size_kib": 4, "chunk_kib": 65536,
                             "chunk_bytes": 67108864, "file": None}


def test_mdstat_imsm_container_with_whitespace_separator_lines():
    parsed = parse_mdstat(_read("mdstat/libstorage-ng_parse2.txt"))
    assert parsed["personalities"] == ["raid1", "raid0"]
    md125 = _array(parsed, "md125")
    assert md125["read_only"] == "auto-read-only" and md125["metadata"] == "external:/md127/0"
    assert md125["size_bytes"] == 4294967296
    md127 = _array(parsed, "md127")
    assert (md127["state"], md127["level"], md127["metadata"], md127["size_bytes"]) == (
        "inactive", None, "external:imsm", 5226496)
    assert _members(md127) == [("sdb", 1, ["spare"]), ("sda", 0, ["spare"])]


def test_mdstat_ddf_container():
    md127 = _array(parse_mdstat(_read("mdstat/libstorage-ng_parse3.txt")), "md127")
    assert md127["metadata"] == "external:ddf" and md127["size_bytes"] == 67108864


def test_mdstat_faulty_fourth_member_beside_clean_status():
    md0 = _array(parse_mdstat(_read("mdstat/libstorage-ng_parse4.txt")), "md0")
    assert _members(md0) == [("sdd", 4, ["faulty"]), ("sdc", 3, []), ("sdb", 1, []), ("sda", 0, [])]
    assert md0["member_status"] == "UUU" and md0["size_bytes"] == 34326183936


def test_mdstat_named_array_journal_and_raid10_copies():
    assert _array(parse_mdstat(_read("mdstat/libstorage-ng_parse5.txt")), "md_test")["chunk_kib"] == 512
    md0 = _array(parse_mdstat(_read("mdstat/libstorage-ng_parse6.txt")), "md0")
    assert _members(md0)[-1] == ("sdb1", 0, ["journal"])
    raid10 = _array(parse_mdstat(_read("mdstat/libstorage-ng_parse7.txt")), "md0")
    assert (raid10["level"], raid10["chunk_kib"], raid10["raid10_copies"]) == ("raid10", 512, "2 near-copies")
    assert raid10["member_status"] == "UUUUUU" and raid10["size_bytes"] == 103019446272


def test_mdstat_inactive_non_container_without_level():
    parsed = parse_mdstat(_read("mdstat/libstorage-ng_parse_inactive_noncontainer.txt"))
    md126 = _array(parsed, "md126")
    assert (md126["state"], md126["level"], md126["metadata"], md126["size_bytes"]) == (
        "inactive", None, "1.0", 103772160)
    assert _members(md126) == [("sde1", 0, ["spare"])]
    assert _array(parsed, "md127")["chunk_kib"] == 128


def test_mdstat_raid0_over_md_arrays():
    md0 = _array(parse_mdstat(_read("mdstat/libstorage-ng_probe/md2_proc_mdstat.txt")), "md0")
    assert _members(md0) == [("md2", 1, []), ("md1", 0, [])]


def test_mdstat_empty_and_header_only_files_have_no_arrays():
    assert parse_mdstat(_read("mdstat/libstorage-ng_parse_empty1.txt")) == {
        "personalities": [], "arrays": [], "unused_devices": []}
    assert parse_mdstat(_read("mdstat/libstorage-ng_parse_empty2.txt")) == {
        "personalities": ["raid0"], "arrays": [], "unused_devices": []}


# Hand-written from the kernel's /proc/mdstat format (drivers/md/md.c, md_seq_show and
# md_bitmap_status): unused devices listed, (W) and (R) flags, a bitmap file with an escaped blank.
HAND_WRITTEN_MDSTAT = (
    "Personalities : [raid1] \n"
    "md5 : active raid1 sdc1[2](R) sdb1[1](W) sda1[0]\n"
    "      1046528 blocks super 1.2 [2/2] [UU]\n"
    "      [==>..................]  recovery = 12.6% (132096/1046528) finish=0.1min speed=132096K/sec\n"
    "      bitmap: 1/1 pages [4KB], 512B chunk, file: /var/lib/md\\040bitmaps/md5\n"
    "\n"
    "md9 : inactive\n"
    "       \n"
    "md8 : inactive super 1.2\n"
    "       \n"
    "unused devices: sdd1 sde1 \n"
)


def test_mdstat_hand_written_flags_bitmap_file_members_and_unused():
    parsed = parse_mdstat(HAND_WRITTEN_MDSTAT)
    md5 = _array(parsed, "md5")
    assert _members(md5) == [("sdc1", 2, ["replacement"]), ("sdb1", 1, ["write_mostly"]), ("sda1", 0, [])]
    assert md5["bitmap"] == {"pages_used": 1, "pages_total": 1, "size_kib": 4, "chunk_kib": None,
                             "chunk_bytes": 512, "file": "/var/lib/md bitmaps/md5"}
    md9 = _array(parsed, "md9")
    assert md9["members"] == [] and md9["blocks"] is None and md9["metadata"] is None
    assert _array(parsed, "md8")["metadata"] == "1.2"
    assert parsed["unused_devices"] == ["sdd1", "sde1"]


@pytest.mark.parametrize("text, line_number, message", [
    ("Personalities : [raid1] \nmd0 : active raid1 sda1[0]\n      100 blocks [1/1] [U]\n", 3, "unused devices"),
    ("Personalities : [raid1] \n      100 blocks [1/1] [U]\nunused devices: <none>\n", 2, "outside the block"),
    ("unused devices: <none>\nmd0 : active raid1 sda1[0]\n", 2, "after the 'unused devices'"),
    ("md0 : active raid1 sda1[0]\n      100 blocks [1/1] [U]\n      something new\nunused devices: <none>\n", 3,
     "unrecognised line"),
    ("md0 : active raid1 sda1[0]\n      100 blocks [1/1] [U] mystery\nunused devices: <none>\n", 2, "mystery"),
    ("md0 : active raid1 sda1[0]\n      many blocks\nunused devices: <none>\n", 2, "status line of md0"),
    ("Personalities : [raid1]\nPersonalities : [raid1]\nunused devices: <none>\n", 2, "second Personalities"),
    ("Personalities : raid1\nunused devices: <none>\n", 1, "[name]"),
])
def test_mdstat_errors_name_the_line(text, line_number, message):
    with pytest.raises(ParseError) as raised:
        parse_mdstat(text)
    assert raised.value.line_number == line_number
    assert raised.value.line == text.split("\n")[line_number - 1]
    assert message in str(raised.value)
    assert "line %d: %r" % (line_number, raised.value.line) in str(raised.value)


def test_mdstat_truncated_file_names_the_array_line():
    with pytest.raises(ParseError) as raised:
        parse_mdstat(_read("mdstat/libstorage-ng_parse_error1.txt"))
    assert raised.value.line_number == 2
    assert "md0 : active raid1 sda1[1] sdb1[0]" in str(raised.value)
    assert "truncated" in str(raised.value)


# ------------------------------------------------------------------------------------------
# sysfs (hand-written from Documentation/admin-guide/md.rst and drivers/md/md.c)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("in_sync\n", ["in_sync"]),
    ("in_sync,write_mostly\n", ["in_sync", "write_mostly"]),
    ("faulty,blocked,write_error\n", ["faulty", "blocked", "write_error"]),
    ("spare\n", ["spare"]),
    ("in_sync,replacement,want_replacement,failfast,external_bbl\n",
     ["in_sync", "replacement", "want_replacement", "failfast", "external_bbl"]),
    ("journal", ["journal"]),
    ("\n", []),
])
def test_member_state_words(text, words):
    assert parse_sysfs_md_member_state(text) == words


@pytest.mark.parametrize("text, line_number", [("in_sync,,spare\n", 1), ("In Sync\n", 1), ("in_sync\nspare\n", 2)])
def test_member_state_errors(text, line_number):
    with pytest.raises(ParseError) as raised:
        parse_sysfs_md_member_state(text)
    assert raised.value.line_number == line_number and raised.value.line == text.split("\n")[line_number - 1]


@pytest.mark.parametrize("text, expected", [
    ("none\n", None),
    ("delayed\n", None),
    ("123 / 456\n", (123, 456)),
    ("0 / 2093056", (0, 2093056)),
])
def test_sync_completed(text, expected):
    assert parse_sysfs_sync_completed(text) == expected


@pytest.mark.parametrize("text", ["", "12 of 34\n", "-1 / 5\n", "idle\n"])
def test_sync_completed_errors(text):
    with pytest.raises(ParseError) as raised:
        parse_sysfs_sync_completed(text)
    assert raised.value.line_number == 1
    assert repr(raised.value.line) in str(raised.value)
