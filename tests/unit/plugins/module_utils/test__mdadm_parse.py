"""Parsers for mdadm --examine, --detail and --detail --export, checked against real captured outputs.

This file also checks the whole md fixture tree, /proc/mdstat outputs included: every fixture
parses with the parser for its kind or is listed invalid, and SOURCES.md gives each one provenance.

Fixtures under tests/unit/fixtures/md/ are verbatim copies of outputs other projects recorded
(provenance: tests/unit/fixtures/md/SOURCES.md). Strings written in this file are labelled
hand-written, with the documentation or source they follow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import (
    parse_mdadm_detail,
    parse_mdadm_detail_export,
    parse_mdadm_examine,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mdstat_parse import parse_mdstat

from .corpus_checks import assert_inventory, assert_parses_or_fails_at

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "md"

# Fixtures that must raise ParseError: (1-based line the error names, why the input is invalid).
EXPECTED_INVALID = {
    "mdstat/libstorage-ng_parse_error1.txt": (2, "cut off after the array line: no status line follows md0"),
    "mdstat/procfs_invalid_1.txt": (3, "array state 'invalid' is neither active nor inactive"),
    "mdstat/procfs_invalid_2.txt": (3, "blank line between md12's device line and its status line"),
    "mdstat/procfs_invalid_3.txt": (2, "member flag (Z) does not exist"),
    "mdstat/procfs_invalid_4.txt": (2, "member index [X] is not a number"),
}


def _fixture_names() -> list[str]:
    return sorted(str(path.relative_to(FIXTURES)) for path in FIXTURES.rglob("*.txt"))


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


def _parser_for(name: str):
    """The parser each fixture is the output of, by where it came from."""
    base = Path(name).name
    if name.startswith("mdstat/"):
        return parse_mdstat
    if base.endswith(".export.txt"):
        return parse_mdadm_detail_export
    if base.startswith("jc_mdadm-query-"):
        return parse_mdadm_detail
    if base.startswith("jc_mdadm-examine"):
        return parse_mdadm_examine
    raise AssertionError("no parser is known for fixture %s" % name)


# ------------------------------------------------------------------------------------------
# Every fixture, file by file
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", _fixture_names())
def test_every_fixture_parses_or_is_listed_invalid(name):
    assert_parses_or_fails_at(_parser_for(name), _read(name), EXPECTED_INVALID.get(name))


def test_fixture_inventory_is_complete():
    assert_inventory(FIXTURES, _fixture_names(), 84, EXPECTED_INVALID)


# ------------------------------------------------------------------------------------------
# mdadm --detail --export
# ------------------------------------------------------------------------------------------

def test_detail_export_raid1():
    parsed = parse_mdadm_detail_export(_read("mdadm/libstorage-ng_mdadm-detail_parse1.export.txt"))
    assert {key: parsed[key] for key in ("level", "raid_devices", "metadata", "uuid", "name", "devname",
                                         "container", "member")} == {
        "level": "raid1", "raid_devices": 2, "metadata": "1.0", "uuid": "35dd06d4:b4e9e248:9262c3ad:02b61654",
        "name": "linux:0", "devname": None, "container": None, "member": None}
    assert parsed["devices"] == [
        {"name": "sda1", "device": "/dev/sda1", "role": "0", "key": "sda1"},
        {"name": "sdb1", "device": "/dev/sdb1", "role": "1", "key": "sdb1"}]
    assert parsed["raw"]["MD_DEVICE_sdb1_ROLE"] == "1"


def test_detail_export_names_devices_from_their_path_and_keeps_spare_role():
    parsed = parse_mdadm_detail_export(_read("mdadm/libstorage-ng_mdadm-detail_parse2.export.txt"))
    assert parsed["devname"] == "test" and parsed["level"] == "raid10" and parsed["raid_devices"] == 4
    assert [(device["name"], device["role"]) for device in parsed["devices"]] == [
        ("sdd2", "3"), ("sdc2", "2"), ("sdd3", "1"), ("sdc3", "spare"), ("sdc1", "0")]
    assert parsed["devices"][3]["key"] == "ev_sdc3"


def test_detail_export_container_member_and_container():
    member = parse_mdadm_detail_export(_read("mdadm/libstorage-ng_probe/md-ddf1_detail_export_md_a.export.txt"))
    assert (member["container"], member["member"], member["metadata"], member["devname"]) == (
        "/dev/md/ddf0", "0", None, "a")
    container = parse_mdadm_detail_export(
        _read("mdadm/libstorage-ng_probe/md-imsm1_detail_export_md_imsm0.export.txt"))
    assert (container["level"], container["metadata"], container["raid_devices"]) == ("container", "imsm", 3)
    assert {device["role"] for device in container["devices"]} == {"spare"}


def test_detail_export_without_devices():
    parsed = parse_mdadm_detail_export(_read("mdadm/libstorage-ng_probe/md1_detail_export_md0.export.txt"))
    assert parsed["raid_devices"] is None and parsed["devices"] == [] and parsed["name"] is None
    assert parsed["uuid"] == "2ce25515:3d255c09:a0e91f18:d9c098d3"


@pytest.mark.parametrize("text, line_number, message", [
    ("MD_LEVEL=raid1\nmdadm: cannot open /dev/md0\n", 2, "KEY=VALUE"),
    ("MD_LEVEL=raid1\nMD_DEVICES=two\n", 2, "MD_DEVICES is not a whole number"),
    ("MD_LEVEL=raid1\nMD_UUID=a\nMD_LEVEL=raid5\n", 3, "appears twice"),
])
def test_detail_export_errors_name_the_line(text, line_number, message):
    with pytest.raises(ParseError) as raised:
        parse_mdadm_detail_export(text)
    assert raised.value.line_number == line_number
    assert raised.value.line == text.split("\n")[line_number - 1]
    assert message in str(raised.value) and repr(raised.value.line) in str(raised.value)


# ------------------------------------------------------------------------------------------
# mdadm --examine
# ------------------------------------------------------------------------------------------

def _examine(name: str) -> dict:
    parsed = parse_mdadm_examine(_read(name))
    assert len(parsed) == 1
    return next(iter(parsed.values()))


def test_examine_1_2_member_all_mapped_fields():
    parsed = parse_mdadm_examine(_read("mdadm/jc_mdadm-examine-raid1-ok.txt"))
    assert list(parsed) == ["/dev/vda1"]
    sb = parsed["/dev/vda1"]
    assert {key: sb[key] for key in (
        "magic", "version", "feature_map", "array_uuid", "name", "creation_time", "level", "raid_devices",
        "avail_dev_size_sectors", "array_size_kib", "used_dev_size_sectors", "data_offset_sectors",
        "super_offset_sectors", "recovery_offset_sectors", "state", "device_uuid", "flags", "update_time",
        "checksum", "checksum_ok", "events", "events_raw", "chunk_kib", "layout", "device_role", "role",
        "array_state", "superblock")} == {
        "magic": "a92b4efc", "version": "1.2", "feature_map": "0x0",
        "array_uuid": "e054553a:fbccdcfe:0ae80bc8:9379377a", "name": "sysrescue:126",
        "creation_time": "Sun Aug  7 21:15:49 2022", "level": "raid1", "raid_devices": 2,
        "avail_dev_size_sectors": 202752, "array_size_kib": 101376, "used_dev_size_sectors": None,
        "data_offset_sectors": 2048, "super_offset_sectors": 8, "recovery_offset_sectors": None,
        "state": "clean", "device_uuid": "1ec6a01d:e96d7f47:59970cf2:f0c056d2", "flags": [],
        "update_time": "Sun Aug  7 21:20:08 2022", "checksum": "2e1bdeb8", "checksum_ok": True, "events": 17,
        "events_raw": "17", "chunk_kib": None, "layout": None, "device_role": "Active device 0",
        "role": {"kind": "active", "slot": 0}, "array_state": "AA", "superblock": "md"}
    assert sb["fields"]["Bad Block Log"] == "512 entries available at offset 16 sectors"
    assert sb["fields"]["Name"] == "sysrescue:126  (local to host sysrescue)"


def test_examine_replacement_with_write_mostly_and_failfast():
    sb = _examine("mdadm/jc_mdadm-examine-raid1-replacing.txt")
    assert sb["feature_map"] == "0x12" and sb["recovery_offset_sectors"] == 115200
    assert sb["flags"] == ["write-mostly", "failfast"]
    assert sb["device_role"] == "Replacement device 1" and sb["role"] == {"kind": "replacement", "slot": 1}
    assert sb["array_state"] == "AR" and sb["events"] == 75


def test_examine_failfast_spare_and_missing_peer():
    failfast = _examine("mdadm/jc_mdadm-examine-raid1-failfast.txt")
    assert failfast["flags"] == ["failfast"] and failfast["role"] == {"kind": "active", "slot": 1}
    assert failfast["events"] == 51
    spare = _examine("mdadm/jc_mdadm-examine-raid1-spare.txt")
    assert spare["device_role"] == "spare" and spare["role"] == {"kind": "spare", "slot": None}
    faulty = _examine("mdadm/jc_mdadm-examine-raid1-faulty1.txt")
    assert faulty["array_state"] == "A." and faulty["events"] == 25
    moreflags = _examine("mdadm/jc_mdadm-examine-raid1-moreflags.txt")
    assert moreflags["flags"] == ["write-mostly", "failfast"] and moreflags["events"] == 78


def test_examine_raid5_layout_chunk_and_homehost_name():
    sb = _examine("mdadm/jc_mdadm-examine-raid5-homehost.txt")
    assert (sb["level"], sb["raid_devices"], sb["layout"], sb["chunk_kib"]) == ("raid5", 3, "left-symmetric", 512)
    assert sb["name"] == "foohost:0" and sb["array_state"] == "AAA"
    assert sb["data_offset_sectors"] == 4096 and sb["avail_dev_size_sectors"] == 405504


def test_examine_1_1_with_internal_bitmap():
    sb = _examine("mdadm/jc_mdadm-examine.txt")
    assert (sb["version"], sb["feature_map"], sb["super_offset_sectors"], sb["data_offset_sectors"]) == (
        "1.1", "0x1", 0, 264)
    assert sb["avail_dev_size_sectors"] == 11721041656 and sb["array_size_kib"] == 5860520828
    assert sb["events"] == 2193679 and sb["fields"]["Internal Bitmap"] == "8 sectors from superblock"
    assert sb["name"] == "virttest:0"
    assert sb["internal_bitmap"] == "8 sectors from superblock"
    assert _examine("mdadm/jc_mdadm-examine-raid0-ok.txt")["internal_bitmap"] is None


def test_examine_raid0_chunk():
    sb = _examine("mdadm/jc_mdadm-examine-raid0-ok.txt")
    assert (sb["level"], sb["chunk_kib"], sb["events"], sb["array_size_kib"]) == ("raid0", 512, 0, None)


def test_examine_0_90_maps_uuid_events_and_this_row():
    sb = _examine("mdadm/jc_mdadm-examine-raid1-0-90-ok.txt")
    assert sb["version"] == "0.90.00" and sb["superblock"] == "md"
    assert sb["array_uuid"] == "3f720601:29af5283:96fc04a8:108a4af7"
    assert (sb["events"], sb["level"], sb["raid_devices"], sb["state"]) == (18, "raid1", 2, "clean")
    # 0.90 prints sizes in KiB without a unit.
    assert sb["array_size_kib"] == 102336 and sb["used_dev_size_sectors"] == 204672
    assert sb["update_time"] == "Sun Aug  7 21:54:35 2022" and sb["checksum_ok"] is True
    assert sb["device_role"] is None and sb["role"] == {"kind": "active", "slot": 0}
    assert sb["this_device"] == {"number": 0, "major": 254, "minor": 1, "raid_device": 0,
                                 "state": ["active", "sync"], "device": "/dev/vda1", "this": True, "slot": None}
    assert [(row["slot"], row["raid_device"], row["device"]) for row in sb["devices"]] == [
        (0, 0, "/dev/vda1"), (1, 1, "/dev/vda2")]
    assert sb["fields"]["Preferred Minor"] == "0"


def test_examine_0_90_raid5_device_table():
    sb = _examine("mdadm/jc_mdadm-examine-raid5-meta09.txt")
    assert sb["array_uuid"] == "4de9c6a6:ce05eada:96fc04a8:108a4af7" and sb["events"] == 19
    assert sb["layout"] == "left-symmetric" and sb["chunk_kib"] == 512
    assert [row["device"] for row in sb["devices"]] == ["/dev/vda1", "/dev/vda2", "/dev/vda3"]


def test_examine_old_0_90_events_are_high_and_low_halves():
    # Hand-edited from the 0.90 fixture: mdadm before 3.0 printed 0.90 events as HIGH.LOW.
    text = _read("mdadm/jc_mdadm-examine-raid1-0-90-ok.txt").replace("Events : 18", "Events : 1.31")
    sb = parse_mdadm_examine(text)["/dev/vda1"]
    assert sb["events"] == (1 << 32) + 31 and sb["events_raw"] == "1.31"


def test_examine_ddf_container_keeps_magic_version_fields_and_disks():
    sb = _examine("mdadm/jc_mdadm-examine-container1.txt")
    assert (sb["magic"], sb["version"], sb["superblock"]) == ("de11de11", "01.02.00", "ddf")
    assert sb["array_uuid"] is None and sb["level"] is None and sb["role"] == {"kind": "unknown", "slot": None}
    assert sb["fields"]["Controller GUID"] == (
        "4C696E75:782D4D44:20202020:20202073:79737265:73637565 (Linux-MD       sysrescue)")
    assert sb["fields"]["Container GUID"].endswith("(Linux-MD 08/16/22 16:20:42)")
    assert sb["fields"]["Raid Level[0]"] == "RAID1" and sb["fields"]["Physical Disks"] == "1023"
    assert sb["physical_disks"] == [
        {"number": 0, "ref_no": "d32b14d7", "size_kib": 786432, "device": "/dev/vda", "type_state": "active/Online"},
        {"number": 1, "ref_no": "886a9f58", "size_kib": 913408, "device": None, "type_state": "active/Online"}]


def test_examine_ddf_container_with_two_virtual_disks():
    sb = parse_mdadm_examine(_read("mdadm/jc_mdadm-examine-container2-dev2.txt"))["/dev/vdb"]
    assert sb["fields"]["Name[1]"] == "vol1" and sb["fields"]["Raid Devices[1]"] == "2 (1@1024K 0@1024K)"
    assert [disk["device"] for disk in sb["physical_disks"]] == [None, "/dev/vdb"]


def test_examine_of_an_array_prints_its_detail_view():
    # `mdadm --examine /dev/md126` printed the array (--detail) view: no Magic, a device table.
    sb = _examine("mdadm/jc_mdadm-examine-raid1-checking.txt")
    assert sb["magic"] is None and sb["superblock"] is None
    assert (sb["array_uuid"], sb["events"], sb["state"]) == (
        "e054553a:fbccdcfe:0ae80bc8:9379377a", 18, "clean, checking")
    assert [(row["number"], row["raid_device"], row["state"], row["device"]) for row in sb["devices"]] == [
        (0, 0, ["active", "sync"], "/dev/vda1"), (1, 1, ["active", "sync"], "/dev/vda2")]
    assert sb["fields"]["Check Status"] == "21% complete"


def test_examine_several_devices_keyed_by_path():
    text = _read("mdadm/jc_mdadm-examine-raid1-ok.txt") + _read("mdadm/jc_mdadm-examine-raid1-failfast.txt")
    parsed = parse_mdadm_examine(text)
    assert list(parsed) == ["/dev/vda1", "/dev/vda2"]
    assert parsed["/dev/vda1"]["events"] == 17 and parsed["/dev/vda2"]["events"] == 51


# Hand-written from the shape of mdadm's IMSM --examine output (super-intel.c): a "[Volume0]:"
# section, per-disk State lines that repeat a key, and a heading line with no value.
HAND_WRITTEN_IMSM = """/dev/sdb:
          Magic : Intel Raid ISM Cfg Sig.
        Version : 1.1.00
    Orig Family : 6453e91b
         Family : 6453e91b
     Generation : 00000010
           UUID : 9a3b2c1d:11223344:55667788:99aabbcc
       Checksum : 4e5ef3a1 correct
    MPB Sectors : 2
          Disks : 2
   RAID Devices : 1

  Disk00 Serial : S1234567
          State : active
             Id : 00000000
    Usable Size : 1953518862 (931.51 GiB 1000.20 GB)

[Volume0]:
           UUID : 0f0e0d0c:0b0a0908:07060504:03020100
     RAID Level : 1
        Members : 2
          Slots : [UU]
     Chunk Size : 64 KiB
    Dirty State : clean

  Disk01 Serial : S7654321
          State : active
             Id : 00000001
    Usable Size : 1953518862 (931.51 GiB 1000.20 GB)

    Bad Block Management Log:
       Log Size : 2000
"""


def test_examine_imsm_sections_and_repeated_keys():
    sb = parse_mdadm_examine(HAND_WRITTEN_IMSM)["/dev/sdb"]
    assert (sb["magic"], sb["version"], sb["superblock"]) == ("Intel Raid ISM Cfg Sig.", "1.1.00", "imsm")
    assert sb["array_uuid"] == "9a3b2c1d:11223344:55667788:99aabbcc"
    assert (sb["checksum"], sb["checksum_ok"]) == ("4e5ef3a1", True)
    assert sb["state"] is None and sb["level"] is None
    assert sb["sections"]["Volume0"]["RAID Level"] == "1"
    assert sb["sections"]["Bad Block Management Log"] == {"Log Size": "2000"}
    assert [value for section, key, value in sb["field_list"] if key == "Disk01 Serial"] == ["S7654321"]
    assert [section for section, key, value in sb["field_list"] if key == "State"] == [None, None]


def test_examine_partition_table_only():
    # Hand-written from mdadm's output for a disk that carries a partition table and no md superblock.
    text = "/dev/sda:\n   MBR Magic : aa55\nPartition[0] :   1953521664 sectors at         2048 (type fd)\n"
    sb = parse_mdadm_examine(text)["/dev/sda"]
    assert sb["superblock"] == "mbr" and sb["magic"] is None
    assert sb["fields"]["Partition[0]"] == "1953521664 sectors at         2048 (type fd)"


def test_examine_empty_output_has_no_devices():
    assert parse_mdadm_examine("") == {}


@pytest.mark.parametrize("text, line_number, message", [
    ("          Magic : a92b4efc\n", 1, "device line"),
    ("/dev/sda1:\n          Magic : a92b4efc\nnonsense here\n", 3, "unrecognised line"),
    ("/dev/sda1:\n   Raid Devices : two\n", 2, "Raid Devices is not a whole number"),
    ("/dev/sda1:\n  Data Offset : lots\n", 2, "Data Offset is not a size"),
    ("/dev/sda1:\n     Magic : a92b4efc\n/dev/sda1:\n     Magic : a92b4efc\n", 3, "appears twice"),
    ("/dev/md0:\n    Number   Major   Minor   RaidDevice State\n       0     8  1  0   active sync   /dev/sda1\n"
     "       x  y\n", 4, "row of the device table"),
])
def test_examine_errors_name_the_line(text, line_number, message):
    with pytest.raises(ParseError) as raised:
        parse_mdadm_examine(text)
    assert raised.value.line_number == line_number
    assert raised.value.line == text.split("\n")[line_number - 1]
    assert message in str(raised.value) and repr(raised.value.line) in str(raised.value)


# ------------------------------------------------------------------------------------------
# mdadm --detail
# ------------------------------------------------------------------------------------------

def _rows(parsed: dict) -> list[tuple]:
    return [(row["number"], row["major"], row["minor"], row["raid_device"], row["state"], row["device"])
            for row in parsed["devices"]]


def test_detail_degraded_with_removed_slot():
    parsed = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid1-faulty-and-removed.txt"))
    assert parsed["device"] == "/dev/md127" and parsed["version"] == "1.2" and parsed["level"] == "raid1"
    assert parsed["state"] == "clean, degraded" and parsed["state_flags"] == ["clean", "degraded"]
    assert (parsed["raid_devices"], parsed["total_devices"], parsed["active_devices"], parsed["working_devices"],
            parsed["failed_devices"], parsed["spare_devices"]) == (2, 1, 1, 1, 0, 0)
    assert parsed["array_size_kib"] == 101376 and parsed["used_dev_size_kib"] == 101376
    assert parsed["uuid"] == "e054553a:fbccdcfe:0ae80bc8:9379377a" and parsed["name"] == "sysrescue:126"
    assert parsed["events"] == 31 and parsed["consistency_policy"] == "resync"
    assert _rows(parsed) == [(0, 254, 1, 0, ["active", "sync"], "/dev/vda1"), (None, 0, 0, 1, ["removed"], None)]
    assert parsed["rebuild_status"] is None and parsed["resync_status"] is None


def test_detail_faulty_member_outside_the_slots():
    parsed = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid1-faulty.txt"))
    assert _rows(parsed)[1:] == [(None, 0, 0, 1, ["removed"], None), (1, 254, 2, None, ["faulty"], "/dev/vda2")]


def test_detail_write_mostly_failfast_and_faulty_rows():
    parsed = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid1-failed-and-flags.txt"))
    assert _rows(parsed) == [
        (0, 254, 1, 0, ["active", "sync"], "/dev/vda1"),
        (2, 254, 2, 1, ["active", "sync", "writemostly", "failfast"], "/dev/vda2"),
        (3, 254, 4, None, ["faulty"], "/dev/vda4")]


def test_detail_rebuild_with_spare_and_failed_member():
    parsed = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid1-faulty-with-spare.txt"))
    assert parsed["state_flags"] == ["clean", "degraded", "recovering"] and parsed["rebuild_status"] == 24
    assert _rows(parsed)[1:] == [(3, 254, 4, 1, ["spare", "rebuilding"], "/dev/vda4"),
                                 (2, 254, 2, None, ["faulty", "failfast"], "/dev/vda2")]


def test_detail_resync_and_check_status():
    assert parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid1-syncing.txt"))["resync_status"] == 4
    rebuilding = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid1-spare-writem-rebuild.txt"))
    assert rebuilding["rebuild_status"] == 30
    assert _rows(rebuilding)[1][4] == ["writemostly", "failfast", "spare", "rebuilding"]
    # jc recorded these two with `mdadm --examine /dev/md126`, which printed the --detail view.
    assert parse_mdadm_detail(_read("mdadm/jc_mdadm-examine-raid1-checking.txt"))["check_status"] == 21
    assert parse_mdadm_detail(_read("mdadm/jc_mdadm-examine-raid1-resync.txt"))["resync_status"] == 27


def test_detail_0_90_events():
    parsed = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid1-ok-0-9.txt"))
    assert parsed["version"] == "0.90" and parsed["events_raw"] == "0.18" and parsed["events"] == 18
    assert parsed["uuid"] == "3f720601:29af5283:96fc04a8:108a4af7" and parsed["name"] is None


def test_detail_bitmap_raid0_and_raid5():
    detail = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-detail.txt"))
    assert detail["intent_bitmap"] == "Internal" and detail["events"] == 2193679
    assert [(row["number"], row["device"]) for row in detail["devices"]] == [(3, "/dev/sdb1"), (2, "/dev/sdc1")]
    raid0 = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid0-ok.txt"))
    assert (raid0["layout"], raid0["chunk_kib"], raid0["consistency_policy"], raid0["used_dev_size_kib"]) == (
        "-unknown-", 512, "none", None)
    raid5 = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-raid5-ok.txt"))
    assert (raid5["array_size_kib"], raid5["used_dev_size_kib"], raid5["layout"]) == (405504, 202752,
                                                                                      "left-symmetric")


def test_detail_container_member_and_container():
    member = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-container1-member.txt"))
    assert (member["container"], member["member"], member["version"]) == ("/dev/md0", "0", None)
    assert member["fields"]["Container GUID"].endswith("(Linux-MD 08/16/22 16:20:42)")
    root = parse_mdadm_detail(_read("mdadm/jc_mdadm-query-container2-root.txt"))
    assert (root["version"], root["level"], root["raid_devices"], root["state"]) == ("ddf", "container", None, None)
    assert root["member_arrays"] == ["/dev/md/vol0", "/dev/md/vol1"]
    assert _rows(root) == [(None, 254, 0, None, [], "/dev/vda"), (None, 254, 16, None, [], "/dev/vdb")]


def test_detail_state_with_pending_note():
    # Hand-written from mdadm's --detail State line (Detail.c): "active, resyncing (PENDING) ".
    text = "/dev/md1:\n             State : active, resyncing (PENDING) \n"
    assert parse_mdadm_detail(text)["state_flags"] == ["active", "resyncing", "PENDING"]


@pytest.mark.parametrize("text, line_number, message", [
    ("", 1, "empty output"),
    ("/dev/md0:\n  Raid Level : raid1\n/dev/md1:\n  Raid Level : raid1\n", 3, "more than one array"),
    ("/dev/md0:\n   Container : /dev/md/imsm0\n", 2, "Container is not"),
    ("/dev/md0:\n    Rebuild Status : soon\n", 2, "not 'N% complete'"),
    ("/dev/md0:\n    Number   Major   Minor   RaidDevice State\n       0     8  1  0   active, sync  /dev/sda1\n",
     3, "not a word"),
])
def test_detail_errors_name_the_line(text, line_number, message):
    with pytest.raises(ParseError) as raised:
        parse_mdadm_detail(text)
    assert raised.value.line_number == line_number
    assert raised.value.line == text.split("\n")[line_number - 1]
    assert message in str(raised.value) and repr(raised.value.line) in str(raised.value)
