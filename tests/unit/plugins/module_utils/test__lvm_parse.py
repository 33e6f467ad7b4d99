"""Parsers for LVM's JSON reports, lv_attr and LVM2 text metadata, checked against recorded outputs.

Fixtures under tests/unit/fixtures/lvm/ are verbatim copies of outputs other projects recorded or
wrote (provenance and what each one is: tests/unit/fixtures/lvm/SOURCES.md). Every expected
value below was read from the fixture files themselves, or computed from them (extents times
extent size, sectors times 512), never taken from the parser's output. Strings written in this
file are labelled hand-written, with the documentation they follow; inputs derived from a
fixture say what was changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import (
    decode_lv_attr,
    parse_lvm_fullreport,
    parse_lvm_metadata_backup,
    parse_lvm_report_json,
)

from .corpus_checks import assert_inventory, assert_parses_or_fails_at

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "lvm"

# Fixtures that must raise ParseError: (1-based line the error names, why the input is invalid).
EXPECTED_INVALID = {
    "libstorage-ng_lvs_parse2.json": (7, "trailing comma after the last row (as stored upstream)"),
    "libstorage-ng_lvs_parse4.json": (8, "trailing comma after the last row (as stored upstream)"),
    "libstorage-ng_lvs_parse8.json": (7, "trailing comma after the last row (as stored upstream)"),
    "lvm2_man_fullreport_with_log.json": (37, "man-page example: trailing comma in the log list"),
    "lvm2_man_lvs_json.json": (5, "man-page example: lv_size '4.00m' is not a byte count"),
    "xenserver_shrinklvm_invalid_config.vg.txt": (8, "testvg has no id or seqno (and a segment inside pv0)"),
}


def _fixture_names() -> list[str]:
    return sorted(str(path.relative_to(FIXTURES)) for path in FIXTURES.rglob("*")
                  if path.is_file() and path.name != "SOURCES.md")


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


def _parser_for(name: str):
    """The parser each fixture is the output of, by where it came from."""
    base = Path(name).name
    if base.endswith(".vg.txt"):
        return parse_lvm_metadata_backup
    if base.startswith("hansmi_") or base == "lvm2_man_fullreport_with_log.json":
        return parse_lvm_fullreport
    for command in ("pvs", "vgs", "lvs"):
        if "_%s_" % command in base or base.endswith("_%s.json" % command):
            return lambda text, kind=command: parse_lvm_report_json(text, kind)
    if base.startswith("lvm2_"):
        return lambda text: parse_lvm_report_json(text, "lv")
    raise AssertionError("no parser is known for fixture %s" % name)


def _by_name(records: list[dict]) -> dict[str, dict]:
    return {record["name"]: record for record in records}


# ------------------------------------------------------------------------------------------
# Every fixture, file by file
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", _fixture_names())
def test_every_fixture_parses_or_is_listed_invalid(name):
    assert_parses_or_fails_at(_parser_for(name), _read(name), EXPECTED_INVALID.get(name))


def test_fixture_inventory_is_complete():
    assert_inventory(FIXTURES, _fixture_names(), 39, EXPECTED_INVALID)


# ------------------------------------------------------------------------------------------
# lvm fullreport
# ------------------------------------------------------------------------------------------

def test_fullreport_mirrored_unhealthy_vg_is_partial_with_one_missing_pv():
    parsed = parse_lvm_fullreport(_read("hansmi_mirrored-unhealthy.json"))
    assert parsed["vgs"] == [{
        "uuid": "Uq6z0j-D3zp-fNVa-frk9-s83o-81qH-8vfnWG", "name": "vgaaa", "attr": "wz-pn-", "seqno": 5,
        "extent_size_bytes": 4194304, "extent_count": 498, "free_extent_count": 481,
        "size_bytes": 2088763392, "free_bytes": 2017460224, "pv_count": 2, "lv_count": 2, "snap_count": 0,
        "missing_pv_count": 1, "partial": True, "exported": False}]
    assert len(parsed["pvs"]) == 2
    present, missing = parsed["pvs"][0], parsed["pvs"][1]
    assert (present["name"], present["missing"], present["pe_alloc_count"]) == ("/dev/loop0", False, 9)
    assert missing == {
        "uuid": "WVIH97-eRwc-thU9-mCj9-80zl-UDp6-VlhBOg", "name": None, "vg_name": "vgaaa",
        "vg_uuid": "Uq6z0j-D3zp-fNVa-frk9-s83o-81qH-8vfnWG", "size_bytes": 1044381696, "free_bytes": 1010827264,
        "used_bytes": 33554432, "dev_size_bytes": 0, "pe_start_bytes": 1048576, "pe_count": 249, "pe_alloc_count": 8, "attr": "a-m",
        "missing": True, "duplicate": False, "exported": False}


def test_fullreport_mirrored_unhealthy_lvs_segments_and_health():
    lvs = _by_name(parse_lvm_fullreport(_read("hansmi_mirrored-unhealthy.json"))["lvs"])
    assert list(lvs) == ["data", "mirrored", "mirrored_rimage_0", "mirrored_rmeta_0", "mirrored_rimage_1",
                         "mirrored_rmeta_1"]
    mirrored = lvs["mirrored"]
    assert (mirrored["segtype"], mirrored["segtypes"], mirrored["segment_count"]) == ("raid1", ["raid1"], 1)
    assert (mirrored["health_status"], mirrored["attributes"]["health"]) == ("partial", "partial")
    assert (mirrored["active"], mirrored["hidden"], mirrored["path"]) == (False, False, "/dev/vgaaa/mirrored")
    assert (mirrored["uuid"], mirrored["full_name"], mirrored["size_bytes"]) == (
        "X5tkZ2-pzPA-Aumf-lCF1-eKI8-AuPk-lf1VHq", "vgaaa/mirrored", 29360128)
    image = lvs["mirrored_rimage_1"]
    assert (image["hidden"], image["path"], image["segtype"], image["attr"]) == (True, None, "linear", "Iwi---r-p-")
    assert image["attributes"]["volume_type"] == "image_out_of_sync"
    assert lvs["mirrored_rimage_0"]["attributes"]["health"] is None
    assert lvs["data"]["segtype"] == "linear" and lvs["data"]["vg_name"] == "vgaaa"


def test_fullreport_healthy_mirror_is_active_and_not_partial():
    parsed = parse_lvm_fullreport(_read("hansmi_mirrored.json"))
    assert [(vg["name"], vg["seqno"], vg["partial"], vg["missing_pv_count"]) for vg in parsed["vgs"]] == [
        ("vgaaa", 5, False, 0)]
    assert [(pv["name"], pv["missing"]) for pv in parsed["pvs"]] == [("/dev/loop1", False), ("/dev/loop0", False)]
    mirrored = _by_name(parsed["lvs"])["mirrored"]
    assert (mirrored["active"], mirrored["attributes"]["state"], mirrored["health_status"]) == (True, "active", None)


def test_fullreport_thin_pool():
    parsed = parse_lvm_fullreport(_read("hansmi_issue105-thin-pool.json"))
    assert [(vg["name"], vg["seqno"], vg["size_bytes"], vg["free_bytes"]) for vg in parsed["vgs"]] == [
        ("testvg", 6, 2092957696, 1010827264)]
    lvs = _by_name(parsed["lvs"])
    pool = lvs["testpool"]
    assert (pool["attr"], pool["attributes"]["volume_type"], pool["attributes"]["target_type"]) == (
        "twi-aot---", "thin_pool", "thin")
    # This LVM printed lv_active as "1"/"0"; the pool has no /dev path.
    assert (pool["active"], pool["path"], pool["size_bytes"]) == (True, None, 1073741824)
    # The seg rows carry only lv_uuid here: one segment each, type not reported.
    assert (pool["segment_count"], pool["segtypes"], pool["segtype"]) == (1, [None], None)
    thin = lvs["test_thin"]
    assert (thin["pool_lv"], thin["attributes"]["volume_type"], thin["path"]) == (
        "testpool", "thin_volume", "/dev/testvg/test_thin")
    assert lvs["lvol0_pmspare"]["active"] is False and lvs["lvol0_pmspare"]["hidden"] is True


def test_fullreport_cache_names_origin_and_pool_without_brackets():
    lvs = _by_name(parse_lvm_fullreport(_read("hansmi_vgdata-cached.json"))["lvs"])
    cached = lvs["cached"]
    assert (cached["segtype"], cached["origin"], cached["pool_lv"], cached["active"]) == (
        "cache", "cached_corig", "fast", True)
    assert (lvs["fast"]["segtype"], lvs["fast"]["active"], lvs["fast"]["hidden"]) == ("cache-pool", False, True)
    assert lvs["cached_corig"]["attributes"]["volume_type"] == "origin"


def test_fullreport_several_volume_groups():
    parsed = parse_lvm_fullreport(_read("hansmi_multivg.json"))
    assert [(vg["name"], vg["uuid"], vg["free_bytes"]) for vg in parsed["vgs"]] == [
        ("vgbbb", "mWV48V-DjUS-HkXL-Thmy-RTZD-kz8j-ottiqy", 914358272),
        ("vgaaa", "Uq6z0j-D3zp-fNVa-frk9-s83o-81qH-8vfnWG", 1040187392)]
    assert [(pv["name"], pv["vg_name"]) for pv in parsed["pvs"]] == [("/dev/loop1", "vgbbb"), ("/dev/loop0", "vgaaa")]
    assert [(lv["name"], lv["vg_name"], lv["size_bytes"]) for lv in parsed["lvs"]] == [
        ("other", "vgbbb", 130023424), ("data", "vgaaa", 4194304)]


def test_fullreport_vg_without_lvs():
    parsed = parse_lvm_fullreport(_read("hansmi_issue76-log.json"))
    assert [(vg["name"], vg["seqno"], vg["size_bytes"], vg["free_bytes"], vg["pv_count"]) for vg in parsed["vgs"]] == [
        ("cached", 27, 273741250560, 0, 2)]
    assert [(pv["name"], pv["size_bytes"]) for pv in parsed["pvs"]] == [
        ("/dev/nvme1n1", 214744170496), ("/dev/nvme2n1", 58997080064)]
    assert parsed["lvs"] == []


def test_fullreport_unknown_activation_stays_unknown():
    lvs = _by_name(parse_lvm_fullreport(_read("hansmi_vgdata-loop.json"))["lvs"])
    home = lvs["home"]
    assert (home["attr"], home["active"]) == ("-wi-XX----", None)
    assert (home["attributes"]["state"], home["attributes"]["device_open"]) == ("unknown", None)


def test_fullreport_column_selection_leaves_the_rest_unknown():
    lvs = parse_lvm_fullreport(_read("hansmi_issue30-lockargs.json"))["lvs"]
    assert [lv["name"] for lv in lvs] == ["alpinetest", "lvtest", "lvmlock"]
    assert lvs[2] == {
        "uuid": "PN2YZw-aWgL-O0Rc-Vkbx-Dx09-lvDp-fhpbXe", "name": "lvmlock", "hidden": True, "vg_name": None,
        "full_name": None, "path": None, "attr": None, "attributes": decode_lv_attr(""), "size_bytes": None,
        "segtype": None, "segtypes": None, "segment_count": None, "pool_lv": None, "origin": None,
        "active": None, "health_status": None, "partial": None, "refresh_needed": None, "data_percent": None,
        "metadata_percent": None, "snap_percent": None, "sync_percent": None, "sync_action": None}
    assert set(decode_lv_attr("").values()) == {None}


def test_fullreport_empty_objects_are_skipped_and_segments_matched_by_uuid():
    parsed = parse_lvm_fullreport(_read("hansmi_snapshot.json"))
    # vg and pv are [{}]: no column of theirs was selected.
    assert parsed["vgs"] == [] and parsed["pvs"] == []
    assert [(lv["name"], lv["segment_count"]) for lv in parsed["lvs"]] == [
        ("lv_home", 3), ("lv_root", 1), ("lv_docker", 2), ("lv_libvirt_images", 3), ("lv_csmeta", 1),
        ("lv_home_snapshot", 1)]


def test_fullreport_does_not_guess_segments_when_the_counts_do_not_add_up():
    # Derived from the fixture: one seg row removed, so seg_count no longer matches the rows.
    document = json.loads(_read("hansmi_mirrored-unhealthy.json"))
    del document["report"][0]["seg"][0]
    lvs = parse_lvm_fullreport(json.dumps(document))["lvs"]
    assert [(lv["segtypes"], lv["segtype"], lv["segment_count"]) for lv in lvs] == [(None, None, 1)] * 6


def test_fullreport_matches_segments_by_position_across_multi_segment_lvs():
    # Derived from the fixture: "data" given a second (striped) segment, its seg_count raised to 2.
    document = json.loads(_read("hansmi_mirrored-unhealthy.json"))
    group = document["report"][0]
    group["lv"][0]["seg_count"] = "2"
    group["seg"].insert(1, dict(group["seg"][0], segtype="striped", seg_start="4194304"))
    lvs = parse_lvm_fullreport(json.dumps(document))["lvs"]
    assert [(lv["name"], lv["segtypes"], lv["segtype"]) for lv in lvs[:3]] == [
        ("data", ["linear", "striped"], None), ("mirrored", ["raid1"], "raid1"),
        ("mirrored_rimage_0", ["linear"], "linear")]


def test_fullreport_orphan_group_is_not_a_volume_group():
    # Hand-written: no recorded fullreport with orphan PVs is in the corpus; LVM names the orphan
    # pseudo volume group "" or "#orphans_lvm2".
    for orphan_name in ("", "#orphans_lvm2"):
        text = json.dumps({"report": [{"vg": [{"vg_name": orphan_name, "vg_uuid": ""}],
                                       "pv": [{"pv_name": "/dev/sdc", "pv_uuid": "x", "pv_attr": "---"}]}]})
        parsed = parse_lvm_fullreport(text)
        assert parsed["vgs"] == []
        assert [(pv["name"], pv["vg_name"], pv["missing"]) for pv in parsed["pvs"]] == [("/dev/sdc", None, False)]


# ------------------------------------------------------------------------------------------
# lvm fullreport: usage, sync and health (the numbers that warn before an outage)
# ------------------------------------------------------------------------------------------

def _derived(name: str, lv_name: str, **columns) -> str:
    """The fixture with COLUMNS set on the LV row named LV_NAME (a value of None deletes the column)."""
    document = json.loads(_read(name))
    rows = [row for entry in document["report"] for row in entry.get("lv", []) if row.get("lv_name") == lv_name]
    assert len(rows) == 1, "%s has no single LV row %s" % (name, lv_name)
    for column, value in columns.items():
        if value is None:
            rows[0].pop(column, None)
        else:
            rows[0][column] = value
    return json.dumps(document, indent=2)


def test_fullreport_thin_pool_data_and_metadata_percent():
    parsed = parse_lvm_fullreport(_read("hansmi_issue105-thin-pool.json"))
    lvs = _by_name(parsed["lvs"])
    # testpool: "data_percent": "0.00", "metadata_percent": "10.94", "sync_percent": "".
    pool = lvs["testpool"]
    assert (pool["data_percent"], pool["metadata_percent"], pool["sync_percent"]) == (0.0, 10.94, None)
    assert (pool["health_status"], pool["partial"], pool["refresh_needed"]) == (None, False, False)
    # test_thin: LVM reports its own data_percent, no metadata; it lives in testpool.
    thin = lvs["test_thin"]
    assert (thin["data_percent"], thin["metadata_percent"], thin["pool_lv"], thin["origin"]) == (
        0.0, None, "testpool", None)
    # The pool's hidden data LV reports no percentages at all.
    percent_columns = ("data_percent", "metadata_percent", "snap_percent", "sync_percent")
    assert {lvs["testpool_tdata"][key] for key in percent_columns} == {None}
    assert [(vg["name"], vg["snap_count"]) for vg in parsed["vgs"]] == [("testvg", 0)]
    assert [(pv["name"], pv["used_bytes"], pv["free_bytes"]) for pv in parsed["pvs"]] == [
        ("/dev/loop0", 1082130432, 1010827264)]


def test_fullreport_raid1_sync_percent_and_pv_usage():
    parsed = parse_lvm_fullreport(_read("hansmi_mirrored.json"))
    lvs = _by_name(parsed["lvs"])
    # mirrored: "sync_percent": "100.00", "raid_sync_action": "idle", "lv_health_status": "".
    mirrored = lvs["mirrored"]
    assert (mirrored["sync_percent"], mirrored["sync_action"]) == (100.0, "idle")
    assert (mirrored["partial"], mirrored["refresh_needed"]) == (False, False)
    assert (lvs["data"]["sync_percent"], lvs["data"]["sync_action"]) == (None, None)
    assert [(pv["name"], pv["used_bytes"], pv["free_bytes"]) for pv in parsed["pvs"]] == [
        ("/dev/loop1", 37748736, 1006632960), ("/dev/loop0", 33554432, 1010827264)]


def test_fullreport_unhealthy_mirror_is_partial_and_its_sync_unknown():
    lvs = _by_name(parse_lvm_fullreport(_read("hansmi_mirrored-unhealthy.json"))["lvs"])
    mirrored = lvs["mirrored"]
    # "lv_health_status": "partial" and lv_attr "rwi---r-p-"; inactive, so "sync_percent": "".
    assert (mirrored["health_status"], mirrored["partial"], mirrored["sync_percent"]) == ("partial", True, None)
    assert mirrored["refresh_needed"] is None  # LVM checks partial first: it hides a refresh
    assert [(name, lvs[name]["partial"]) for name in ("mirrored_rimage_0", "mirrored_rimage_1", "data")] == [
        ("mirrored_rimage_0", False), ("mirrored_rimage_1", True), ("data", False)]


def test_fullreport_cache_reports_its_percentages_as_lvm_prints_them():
    cached = _by_name(parse_lvm_fullreport(_read("hansmi_vgdata-cached.json"))["lvs"])["cached"]
    # "data_percent": "11.06", "metadata_percent": "0.49", "copy_percent"/"sync_percent": "0.00" (dirty share).
    assert (cached["data_percent"], cached["metadata_percent"], cached["sync_percent"]) == (11.06, 0.49, 0.0)


def test_fullreport_vg_without_lvs_pv_usage():
    parsed = parse_lvm_fullreport(_read("hansmi_issue76-log.json"))
    assert [(pv["name"], pv["used_bytes"], pv["free_bytes"]) for pv in parsed["pvs"]] == [
        ("/dev/nvme1n1", 214744170496, 0), ("/dev/nvme2n1", 58997080064, 0)]
    assert parsed["vgs"][0]["snap_count"] == 0


def test_sync_percent_falls_back_to_copy_percent():
    # Derived from the fixture: sync_percent removed, as older reports lack it; copy_percent changed.
    text = _derived("hansmi_mirrored.json", "mirrored", sync_percent=None, copy_percent="37.50")
    assert _by_name(parse_lvm_fullreport(text)["lvs"])["mirrored"]["sync_percent"] == 37.5
    # Derived: both present and different; sync_percent is LVM's name and wins.
    text = _derived("hansmi_mirrored.json", "mirrored", sync_percent="99.99", copy_percent="1.00")
    assert _by_name(parse_lvm_fullreport(text)["lvs"])["mirrored"]["sync_percent"] == 99.99


@pytest.mark.parametrize("attr, health_status, partial, refresh_needed", [
    # Derived from the fixture: lv_health_status removed, so lv_attr's ninth letter decides.
    ("rwi---r-p-", None, True, None),
    ("rwi-a-r-r-", None, False, True),
    ("rwi-a-r---", None, False, False),
    ("rwi-a-r-X-", None, None, None),
    ("-wi-ao", None, None, None),  # LVM before 2.02.95: no health letter
    # Derived: lv_health_status as lib/report/report.c prints it wins over lv_attr.
    ("rwi-a-r---", "refresh needed", False, True),
    ("rwi-a-r---", "mismatches exist", False, False),
    ("rwi-a-r---", "undefined", None, None),
])
def test_partial_and_refresh_needed(attr, health_status, partial, refresh_needed):
    text = _derived("hansmi_mirrored.json", "mirrored", lv_attr=attr, lv_health_status=health_status)
    mirrored = _by_name(parse_lvm_fullreport(text)["lvs"])["mirrored"]
    assert (mirrored["partial"], mirrored["refresh_needed"]) == (partial, refresh_needed)


def test_percentages_in_both_json_formats():
    # lvm2's own examples: "0.00"/"" in the json format, 0.00/null in json_std.
    for name in ("lvm2_test_report-format_json.json", "lvm2_test_report-format_json_std.json"):
        lvs = parse_lvm_report_json(_read(name), "lv")
        assert [(lv["name"], lv["data_percent"]) for lv in lvs] == [
            ("lvol1", 0.0), ("lvol2", None), ("lvol3", None)], name


@pytest.mark.parametrize("value, expected", [("100.00", 100.0), ("0", 0.0), ("85.5", 85.5), ("-1", None),
                                             (85, 85.0), (-1, None), (99.99, 99.99)])
def test_percent_values(value, expected):
    # Derived from the fixture: testpool's data_percent replaced.
    text = _derived("hansmi_issue105-thin-pool.json", "testpool", data_percent=value)
    assert _by_name(parse_lvm_fullreport(text)["lvs"])["testpool"]["data_percent"] == expected


@pytest.mark.parametrize("column, value, message", [
    ("data_percent", "85.00%", "data_percent is not a percentage: '85.00%'"),
    ("metadata_percent", "100.01", "metadata_percent is not a percentage between 0 and 100"),
    ("snap_percent", "1e3", "snap_percent is not a percentage"),
    ("sync_percent", "-5.00", "sync_percent is not a percentage"),
    ("copy_percent", "abc", "copy_percent is not a percentage"),
])
def test_bad_percent_is_a_parse_error_naming_the_column_and_line(column, value, message):
    # Derived from the fixture: one percent column of testpool given a value LVM does not print.
    columns = {column: value}
    if column == "copy_percent":
        columns["sync_percent"] = None  # copy_percent is read only without sync_percent
    text = _derived("hansmi_issue105-thin-pool.json", "testpool", **columns)
    with pytest.raises(ParseError) as raised:
        parse_lvm_fullreport(text)
    assert message in str(raised.value)
    assert raised.value.line.strip() == '"%s": %s,' % (column, json.dumps(value))
    assert text.split("\n")[raised.value.line_number - 1] == raised.value.line


@pytest.mark.parametrize("value", [101, -2, 1e400, float("nan"), 10 ** 400, True])
def test_bad_native_percent_is_a_parse_error(value):
    # Hand-written json_std-style row: numbers LVM never prints for a percentage.
    text = json.dumps({"report": [{"lv": [{"lv_name": "pool", "data_percent": value}]}]})
    with pytest.raises(ParseError) as raised:
        parse_lvm_report_json(text, "lv")
    assert "data_percent is not a percentage" in str(raised.value)


# ------------------------------------------------------------------------------------------
# pvs / vgs / lvs --reportformat json
# ------------------------------------------------------------------------------------------

def test_pvs_missing_pv_from_attr():
    pvs = parse_lvm_report_json(_read("libstorage-ng_pvs_parse_missing.json"), "pv")
    assert [(pv["name"], pv["uuid"], pv["vg_name"], pv["attr"], pv["missing"]) for pv in pvs] == [
        ("/dev/sda1", "smMwqo-zDbE-fa6S-ouy2-MmJN-pxlg-VOjrOX", "test", "a--", False),
        (None, "vfbt1o-rEi2-ph1Q-ksMt-qhTw-4lwl-iruKqS", "test", "a-m", True)]
    # pv_size was not asked for: unknown, not zero.
    assert pvs[0]["size_bytes"] is None and pvs[0]["pe_start_bytes"] == 1048576


def test_pvs_orphan_has_no_vg():
    assert parse_lvm_report_json(_read("libstorage-ng_pvs_parse2.json"), "pvs") == [{
        "uuid": "nA8nKb-VSgN-fRvo-pGqm-pRBl-MX3M-Hf2sjT", "name": "/dev/md127", "vg_name": None, "vg_uuid": None,
        "size_bytes": None, "free_bytes": None, "used_bytes": None, "dev_size_bytes": None, "pe_start_bytes": 1048576,
        "pe_count": None, "pe_alloc_count": None, "attr": "---", "missing": False, "duplicate": False,
        "exported": False}]


def test_pvs_duplicate_missing_and_non_pv_devices():
    pvs = parse_lvm_report_json(_read("libstorage-ng_probe/lvm-errors1_pvs.json"), "pv")
    assert [(pv["name"], pv["uuid"], pv["vg_name"], pv["duplicate"], pv["missing"]) for pv in pvs] == [
        ("/dev/sdb1", "u6c690-dm2j-IC7t-v8Lg-3Ylk-sUXY-BHsVmY", "test1", False, False),
        ("/dev/sdb2", "u6c690-dm2j-IC7t-v8Lg-3Ylk-sUXY-BHsVmY", "test1", True, False),
        ("/dev/sdc1", "mGE1D8-R1d2-H4ue-qhhp-yZNL-RJ5o-gYkrwS", "test2", False, False),
        ("/dev/sdc2", None, None, False, False),
        (None, "lv08LY-exMW-YKNh-GgX7-q0Ja-dW8H-lJ9Ejw", "test2", False, True)]


def test_vgs_sizes_from_extents():
    vgs = parse_lvm_report_json(_read("libstorage-ng_vgs_parse1.json"), "vg")
    assert vgs == [{
        "uuid": "OMPzXF-m3am-1zIl-AVdQ-i5Wx-tmyN-cevmRn", "name": "system", "attr": "wz--n-", "seqno": None,
        "extent_size_bytes": 4194304, "extent_count": 230400, "free_extent_count": 71666,
        "size_bytes": 966367641600, "free_bytes": 300588990464, "pv_count": None, "lv_count": None,
        "snap_count": None, "missing_pv_count": None, "partial": False, "exported": False}]


def test_vgs_partial_from_attr():
    vgs = parse_lvm_report_json(_read("libstorage-ng_probe/lvm-errors1_vgs.json"), "vgs")
    assert [(vg["name"], vg["attr"], vg["partial"], vg["size_bytes"]) for vg in vgs] == [
        ("test1", "wz--n-", False, 532676608), ("test2", "wz-pn-", True, 1065353216)]


def test_lvs_plain_volumes_active_from_attr():
    lvs = parse_lvm_report_json(_read("libstorage-ng_lvs_parse1.json"), "lv")
    assert [(lv["name"], lv["full_name"], lv["size_bytes"], lv["active"], lv["attributes"]["device_open"])
            for lv in lvs] == [("root", "system/root", 34359738368, True, True),
                               ("swap", "system/swap", 2147483648, True, True)]


def test_lvs_thin_pool_and_thin_volumes():
    lvs = _by_name(parse_lvm_report_json(_read("libstorage-ng_lvs_parse3.json"), "lv"))
    assert list(lvs) == ["lvol0_pmspare", "thin-pool", "thin-pool_tdata", "thin-pool_tmeta", "thin1", "thin2"]
    pool = lvs["thin-pool"]
    assert (pool["hidden"], pool["attributes"]["volume_type"], pool["attributes"]["zero"]) == (False, "thin_pool", True)
    assert [(name, lvs[name]["pool_lv"], lvs[name]["size_bytes"]) for name in ("thin1", "thin2")] == [
        ("thin1", "thin-pool", 2147483648), ("thin2", "thin-pool", 3221225472)]
    assert lvs["thin-pool_tdata"]["attributes"]["volume_type"] == "thin_pool_data"


def test_lvs_segtypes_snapshots_and_skip_activation():
    lvs = _by_name(parse_lvm_report_json(_read("libstorage-ng_lvs_parse6.json"), "lv"))
    assert [(name, lvs[name]["segtype"], lvs[name]["origin"], lvs[name]["pool_lv"]) for name in (
        "thin-pool", "linear1-snap1", "linear3-snap2", "thin2-snap1")] == [
        ("thin-pool", "thin-pool", None, None), ("linear1-snap1", "linear", "linear1", None),
        ("linear3-snap2", "thin", "linear3", "thin-pool"), ("thin2-snap1", "thin", "thin2", "thin-pool")]
    assert lvs["thin2-snap1"]["attributes"]["skip_activation"] is True
    assert lvs["thin2-snap2"]["active"] is False and lvs["thin2-snap2"]["attr"] == "Vwi---tz-k"
    assert lvs["linear3"]["attributes"]["permissions"] == "read_only"
    assert lvs["linear1-snap1"]["attributes"]["volume_type"] == "snapshot"


def test_lvs_mirror_and_raid():
    mirror = _by_name(parse_lvm_report_json(_read("libstorage-ng_lvs_parse7.json"), "lv"))
    assert [(name, lv["segtype"], lv["attributes"]["volume_type"]) for name, lv in mirror.items()] == [
        ("mirror", "mirror", "mirror"), ("mirror_mimage_0", "linear", "image"),
        ("mirror_mimage_1", "linear", "image"), ("mirror_mlog", "linear", "mirror_log")]
    raid = _by_name(parse_lvm_report_json(_read("libstorage-ng_probe/lvm-raid1_lvs.json"), "lv"))
    assert (raid["data1"]["segtype"], raid["data2"]["segtype"], raid["data2"]["size_bytes"]) == (
        "raid1", "raid5", 5368709120)
    assert raid["data2_rmeta_2"]["attributes"]["volume_type"] == "metadata"


def test_lvs_one_row_per_segment_is_one_lv():
    lvs = parse_lvm_report_json(_read("libstorage-ng_probe/lvm-cache+thin1_lvs.json"), "lv")
    assert len(lvs) == 15  # 16 rows: [lvol0_pmspare] has two segments
    spare = _by_name(lvs)["lvol0_pmspare"]
    assert (spare["uuid"], spare["segtypes"], spare["segment_count"], spare["size_bytes"]) == (
        "vLO1sd-Slsj-VY6P-sTzJ-ZEya-0hFZ-uAJTuq", ["linear", "linear"], 2, 12582912)


def test_lvs_json_std_native_types():
    lvs = parse_lvm_report_json(_read("lvm2_test_report-format_json_std.json"), "lv")
    assert [(lv["name"], lv["uuid"], lv["size_bytes"]) for lv in lvs] == [
        ("lvol1", None, None), ("lvol2", None, None), ("lvol3", None, None)]


def test_report_kind_is_checked():
    with pytest.raises(ValueError):
        parse_lvm_report_json(_read("libstorage-ng_pvs_parse1.json"), "pvseg")
    with pytest.raises(ParseError) as raised:
        parse_lvm_report_json(_read("libstorage-ng_pvs_parse1.json"), "vg")
    assert "no 'vg' rows" in str(raised.value) and raised.value.line_number == 1


# ------------------------------------------------------------------------------------------
# JSON errors (hand-written inputs)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line_number, message", [
    ("  WARNING: Locking disabled. Be careful!\n", 1, "not valid JSON"),
    ("[]\n", 1, "no 'report' list"),
    ('{\n  "report": {}\n}\n', 1, "no 'report' list"),
    ('{\n  "report": [\n    "vg"\n  ]\n}\n', 2, "'report' entry is not an object"),
    ('{\n  "report": [\n    {"pv": {"pv_name": "/dev/sda"}}\n  ]\n}\n', 3, "'pv' is not a list of objects"),
    ('{"report": [\n  {"vg": [\n    {"vg_name": "vg", "vg_seqno": "five"}\n  ]}\n]}\n', 3, "vg_seqno is not a whole"),
    ('{"report": [\n  {"vg": [\n    {"vg_name": "vg",\n     "vg_size": "200.00m"}\n  ]}\n]}\n', 4, "--units b"),
])
def test_fullreport_errors_name_the_line(text, line_number, message):
    with pytest.raises(ParseError) as raised:
        parse_lvm_fullreport(text)
    assert raised.value.line_number == line_number
    assert raised.value.line == text.split("\n")[line_number - 1]
    assert message in str(raised.value) and "lvm fullreport JSON" in str(raised.value)


def test_sizes_accept_the_b_suffix_and_native_numbers():
    # Hand-written: --units b without --nosuffix appends "B"; json_std prints numbers.
    text = json.dumps({"report": [{"pv": [{"pv_name": "/dev/sda", "pv_size": "1044381696B", "pv_free": 0,
                                           "pv_pe_count": -1}]}]})
    pv = parse_lvm_report_json(text, "pv")[0]
    assert (pv["size_bytes"], pv["free_bytes"], pv["pe_count"]) == (1044381696, 0, None)


# ------------------------------------------------------------------------------------------
# lv_attr
# ------------------------------------------------------------------------------------------

FIELDS = ("volume_type", "permissions", "allocation_policy", "allocation_locked", "fixed_minor", "state",
          "device_open", "target_type", "zero", "health", "skip_activation")


@pytest.mark.parametrize("attr, expected", [
    # From the fixtures.
    ("twi-aotz--", ("thin_pool", "writeable", "inherited", False, False, "active", True, "thin", True, None, False)),
    ("Vwi---tz-k", ("thin_volume", "writeable", "inherited", False, False, None, False, "thin", True, None, True)),
    ("rwi---r-p-", ("raid", "writeable", "inherited", False, False, None, False, "raid", False, "partial", False)),
    ("ori-a-s---", ("origin", "read_only", "inherited", False, False, "active", False, "snapshot", False, None,
                    False)),
    ("-wi-XX----", (None, "writeable", "inherited", False, False, "unknown", None, None, False, None, False)),
    ("lwi-aom---", ("mirror_log", "writeable", "inherited", False, False, "active", True, "mirror", False, None,
                    False)),
    ("Cwi-aoC---", ("cache", "writeable", "inherited", False, False, "active", True, "cache", False, None, False)),
    # Hand-written from lvs(8): locked cling allocation, fixed minor, suspended, out of data space.
    ("-wLms-----", (None, "writeable", "cling", True, True, "suspended", False, None, False, None, False)),
    ("twi-aot-D-", ("thin_pool", "writeable", "inherited", False, False, "active", True, "thin", False,
                    "out_of_data_space", False)),
    ("Rri-a-r-m-", ("raid_not_synced", "read_only", "inherited", False, False, "active", False, "raid", False,
                    "mismatches", False)),
    # Hand-written: the six letters LVM 2.02 before 2.02.95 printed.
    ("-wi-ao", (None, "writeable", "inherited", False, False, "active", True, None, None, None, None)),
    # Hand-written: letters lvs(8) does not document are kept as printed.
    ("QwZ-aoY?!-", ("Q", "writeable", "Z", None, False, "active", True, "Y", "?", "!", False)),
])
def test_decode_lv_attr(attr, expected):
    assert decode_lv_attr(attr) == dict(zip(FIELDS, expected))


# ------------------------------------------------------------------------------------------
# LVM2 text metadata
# ------------------------------------------------------------------------------------------

def test_metadata_backup_file():
    parsed = parse_lvm_metadata_backup(_read("xenserver_shrinklvm_example_config.vg.txt"))
    assert parsed == {
        "vg_name": "testvg", "vg_uuid": "RX2i78-sZFz-B21A-QeEa-Ac9C-IPZh-Ls6FKk", "seqno": 5, "format": "lvm2",
        "status": ["RESIZEABLE", "READ", "WRITE"], "extent_size_bytes": 8192 * 512,
        "contents": "Text Format Volume Group", "version": 1,
        "description": "Created *after* executing 'lvremove testvg/testlv1'",
        "creation_host": "xenrt107157219", "creation_time": 1699626718,
        "pvs": [{"name": "pv0", "uuid": "Fjpscc-pSRx-iUtV-60PY-zlYX-07Vb-Mul3yB", "device_hint": "/dev/xvdb1",
                 "status": ["ALLOCATABLE"], "flags": [], "missing": False, "dev_size_bytes": 2095071 * 512,
                 "pe_start_bytes": 2048 * 512, "pe_count": 255}],
        "lvs": [{"name": "testlv2", "uuid": "HDbrMS-SQln-SJfu-cQR2-pZcj-ScO0-Li8JHQ", "status": ["READ", "WRITE", "VISIBLE"],
                 "segment_count": 1, "creation_time": 1699626708},
                {"name": "testlv3", "uuid": "07i0W6-fJdo-otZ9-3cbS-8AQo-sfLR-xibOjB", "status": ["READ", "WRITE", "VISIBLE"],
                 "segment_count": 2, "creation_time": 1699626712}]}


@pytest.mark.parametrize("name, seqno, creation_time, description, lv_names", [
    ("xenserver_shrinklvm_real_config.vg.txt", 27, 1699888031, "Write from lvremove testvg/tmp3.",
     ["testlv3", "testlv4", "testlv9", "testlv5"]),
    ("xenserver_shrinklvm_wrapped_config.vg.txt", 406, 1700495098, "Write from lvcreate -l 50 -n testlvtmp testvg.",
     ["testlv3", "testlv4", "testlv9", "testlv5", "testlvtmp"]),
])
def test_metadata_area_text_with_vg_first(name, seqno, creation_time, description, lv_names):
    parsed = parse_lvm_metadata_backup(_read(name))
    assert (parsed["vg_name"], parsed["vg_uuid"], parsed["seqno"]) == (
        "testvg", "zk0Ftr-9oWM-28V1-H9tN-kfTR-CdaA-9D5gD0", seqno)
    assert (parsed["creation_time"], parsed["creation_host"], parsed["description"]) == (
        creation_time, "xenrt107157219", description)
    assert [(pv["name"], pv["uuid"], pv["device_hint"], pv["dev_size_bytes"]) for pv in parsed["pvs"]] == [
        ("pv0", "HS9GnK-dVQF-Uuce-DKrj-EyYL-vozb-J0qG6n", "/dev/xvdb4", 2097152 * 512)]
    assert [lv["name"] for lv in parsed["lvs"]] == lv_names


def test_metadata_cut_off_anywhere_before_the_end_is_refused():
    text = _read("xenserver_shrinklvm_example_config.vg.txt")
    last_brace = text.rindex("}")
    for end in range(last_brace):
        with pytest.raises(ParseError):
            parse_lvm_metadata_backup(text[:end])
    assert parse_lvm_metadata_backup(text[:last_brace + 1])["seqno"] == 5


def test_metadata_missing_pv_flag():
    # Derived from the fixture by hand: the flag vgreduce --removemissing and a failed PV leave.
    text = _read("xenserver_shrinklvm_example_config.vg.txt").replace(
        'flags = []\n                        dev_size', 'flags = ["MISSING"]\n                        dev_size')
    pv = parse_lvm_metadata_backup(text)["pvs"][0]
    assert (pv["flags"], pv["missing"]) == (["MISSING"], True)


HAND_WRITTEN_VG = '''contents = "Text Format Volume Group"
version = 1
description = "Created *before* executing 'vgchange -a y \\"vg 0\\" \\\\'"
creation_time = 1700000000
vg0 {
\tid = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"
\tseqno = 12
\tphysical_volumes {
\t\tpv0 {
\t\t\tid = "hhhhhh-iiii-jjjj-kkkk-llll-mmmm-nnnnnn"
\t\t\tdevice = "/dev/sda2"
\t\t}
\t\tpv1 {
\t\t\tid = "oooooo-pppp-qqqq-rrrr-ssss-tttt-uuuuuu"
\t\t\tflags = ["MISSING"]
\t\t}
\t}
}
'''


def test_metadata_escapes_and_several_pvs():
    # Hand-written after the LVM2 text format (lvm.conf(5) syntax; vgcfgbackup output layout).
    parsed = parse_lvm_metadata_backup(HAND_WRITTEN_VG)
    assert parsed["description"] == 'Created *before* executing \'vgchange -a y "vg 0" \\\''
    assert [(pv["name"], pv["device_hint"], pv["missing"]) for pv in parsed["pvs"]] == [
        ("pv0", "/dev/sda2", False), ("pv1", None, True)]
    assert (parsed["seqno"], parsed["lvs"], parsed["creation_host"]) == (12, [], None)


@pytest.mark.parametrize("text, line_number, message", [
    (HAND_WRITTEN_VG.rsplit("}", 1)[0], 5, "section 'vg0' opened here is never closed"),
    (HAND_WRITTEN_VG + "}\n", 19, "'}' closes no section"),
    ('contents = "Text Format Volume Group\nvg0 {\n}\n', 1, "string opened here is never closed"),
    (HAND_WRITTEN_VG.replace("seqno = 12", "seqno 12"), 7, "expected '=' or '{' after 'seqno'"),
    (HAND_WRITTEN_VG.replace("seqno = 12", 'seqno = "12"'), 7, "seqno in section 'vg0' is not a whole number"),
    (HAND_WRITTEN_VG.replace("seqno = 12", "seqno = @"), 7, "unexpected character '@'"),
    (HAND_WRITTEN_VG.replace("seqno = 12", 'status = ["READ",'), 8, "expected a string or a number, found 'physical"),
    ('contents = "Text Format Volume Group"\nvg0 {\n\tstatus = ["READ",\n', 3, "list opened here is never closed"),
    (HAND_WRITTEN_VG.replace("seqno = 12", 'status = ["READ" "WRITE"]'), 7, "expected ',' or ']' in a list"),
    (HAND_WRITTEN_VG.replace("seqno = 12", "id = 12"), 7, "'id' appears twice in section 'vg0'"),
    (HAND_WRITTEN_VG.replace("seqno = 12\n", ""), 5, "section 'vg0' has no seqno"),
    (HAND_WRITTEN_VG + "vg1 {\n}\n", 19, "more than one top-level section: 'vg1'"),
    (HAND_WRITTEN_VG.replace("Text Format Volume Group", "Text Format"), 1, "contents is 'Text Format'"),
    (HAND_WRITTEN_VG.replace("device = ", "segment1 {\n}\ndevice = "), 11,
     "section 'segment1' inside physical volume 'pv0'"),
    (HAND_WRITTEN_VG.replace("\t\tpv1 {", "\t\tpv_count = 2\n\t\tpv1 {"), 13, "'pv_count' in physical_volumes"),
])
def test_metadata_errors_name_the_line(text, line_number, message):
    with pytest.raises(ParseError) as raised:
        parse_lvm_metadata_backup(text)
    assert raised.value.line_number == line_number
    assert raised.value.line == text.split("\n")[line_number - 1]
    assert message in str(raised.value) and "LVM metadata backup" in str(raised.value)


def test_metadata_without_a_volume_group_names_no_line():
    with pytest.raises(ParseError) as raised:
        parse_lvm_metadata_backup('contents = "Text Format Volume Group"\nversion = 1\n')
    assert raised.value.line_number is None and "no volume group section" in str(raised.value)
