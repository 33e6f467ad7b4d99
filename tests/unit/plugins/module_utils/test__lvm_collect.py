"""The lvm collector, replayed on a host state recorded in the lab guest and on recorded reports.

tests/unit/fixtures/hosts/lvm.json is what storage_facts read on the guest after the lvm
scenario's prepare.yml: VG vault (LVs home, srv, scratch) on a RAID10, its last change made
with --autobackup n; VG loose on IDE0001 with its backup removed; an LVM devices file in use
that lists only the array. Rebuilt with `tests/lab/record-fixtures lvm`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_collect import (
    NO_BACKUP_CONFIG,
    collect_lvm,
    devices_file_pvids,
    fullreport_args,
    lvm_findings,
    thin_pool_thresholds,
)
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import parse_lvm_report_json
from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import gather_storage_facts

from .recorded_host import ReplayFiles, ReplayRunner, load_host


def recorded() -> tuple[dict, ReplayRunner, dict]:
    state = load_host("lvm")
    runner = ReplayRunner(state)
    facts = gather_storage_facts(runner, ReplayFiles(state), ["lvm"])["lifeline_lvm"]
    return facts, runner, state


def recorded_report(state: dict) -> dict:
    """The recorded fullreport, read with json.loads only: the truth the facts are checked against."""
    text = next(c["stdout"] for c in state["commands"] if c["name"] == "lvm" and c["args"][0] == "fullreport")
    return json.loads(text)["report"]


def test_vgs_pvs_and_lvs_match_the_recorded_report():
    facts, _runner, state = recorded()
    assert facts["available"] is True
    report = recorded_report(state)
    truth_vgs = {vg["vg_name"]: vg for entry in report for vg in entry["vg"]}
    vgs = {vg["name"]: vg for vg in facts["vgs"]}
    assert sorted(vgs) == sorted(truth_vgs) == ["loose", "vault"]
    for name, row in truth_vgs.items():
        assert vgs[name]["uuid"] == row["vg_uuid"]
        assert vgs[name]["seqno"] == int(row["vg_seqno"])
        assert vgs[name]["size_bytes"] == int(row["vg_size"])
    assert sorted(lv["full_name"] for lv in facts["lvs"]) == ["loose/data", "vault/home", "vault/scratch", "vault/srv"]
    assert all(lv["active"] is True for lv in facts["lvs"])


def test_the_pv_the_devices_file_hides_is_reported_with_its_serial():
    facts, _runner, state = recorded()
    listed = re.findall(r"PVID=(\w+)", state["files"]["/etc/lvm/devices/system.devices"])
    assert len(listed) == 1
    pvs = {pv["vg_name"]: pv for pv in facts["pvs"]}
    assert pvs["loose"]["serial"] == "IDE0001"
    assert pvs["loose"]["hidden_by_devices_file"] is True
    assert pvs["vault"]["hidden_by_devices_file"] is False
    assert pvs["vault"]["uuid"].replace("-", "") == listed[0]
    assert facts["devices_file"]["in_use"] is True
    assert [(f["code"], f["evidence"]["vg"]) for f in facts["findings"] if f["code"] == "LVM_PV_HIDDEN"] == [("LVM_PV_HIDDEN", "loose")]


def test_stale_and_missing_backups():
    facts, _runner, state = recorded()
    backup_seqno = int(re.search(r"^\s*seqno = (\d+)", state["files"]["/etc/lvm/backup/vault"], re.M).group(1))
    vgs = {vg["name"]: vg for vg in facts["vgs"]}
    assert vgs["vault"]["backup"]["seqno"] == backup_seqno == vgs["vault"]["seqno"] - 1
    assert vgs["vault"]["backup"]["current"] is False
    assert vgs["vault"]["backup"]["archive_count"] == len(
        [name for name in state["dirs"]["/etc/lvm/archive"] if name.startswith("vault_")])
    assert vgs["loose"]["backup"]["exists"] is False
    codes = {(f["code"], f["subject"]) for f in facts["findings"]}
    assert {("LVM_BACKUP_STALE", "vault"), ("LVM_BACKUP_MISSING", "loose")} <= codes


def test_reading_turns_lvm_backups_off_and_the_devices_file_off():
    _facts, runner, _state = recorded()
    fullreport = next(cmd for cmd in runner.history if cmd[1] == "fullreport")
    assert fullreport[fullreport.index("--config") + 1] == NO_BACKUP_CONFIG == "backup { backup = 0 archive = 0 }"
    assert fullreport[fullreport.index("--devicesfile") + 1] == ""
    assert "--readonly" not in fullreport  # it would leave LV activity unknown


class FixtureRunner:
    """Answers fullreport with a recorded report from another project (tests/unit/fixtures/lvm)."""

    def __init__(self, report_text: str, fail: bool = False) -> None:
        self._text = report_text
        self._fail = fail

    def has(self, name: str) -> bool:
        return True

    def run(self, name, args, ok_rcs=(0,)):
        if self._fail:
            raise CommandError([name] + list(args), 5, "", "  Failed to find device", "lvm exited with 5")
        assert args == fullreport_args()
        return CommandResult([name] + list(args), 0, self._text, "")


class NoFiles:
    def read_optional(self, path):
        return None

    def list_dir(self, path):
        return []


def test_missing_pv_makes_the_vg_partial_and_critical(request):
    text = (request.path.parents[2] / "fixtures" / "lvm" / "hansmi_mirrored-unhealthy.json").read_text()
    facts = collect_lvm(FixtureRunner(text), NoFiles(), IdentityMap({}, None))
    missing = [pv for pv in facts["pvs"] if pv["missing"]]
    assert len(missing) == 1  # "pv_missing": "1" on one PV of the recording
    assert facts["devices_file"] == {"path": "/etc/lvm/devices/system.devices", "exists": False, "in_use": False}
    critical = sorted(f["code"] for f in facts["findings"] if f["severity"] == "critical")
    assert critical == ["LVM_PV_MISSING", "LVM_RAID_PARTIAL", "LVM_VG_PARTIAL"]
    assert facts["findings"][0]["severity"] == "critical"


def test_a_failing_lvm_makes_the_subset_unavailable_and_names_the_command(monkeypatch):
    from ansible_collections.lifeline.storage.plugins.module_utils import _storage_facts

    monkeypatch.setattr(IdentityMap, "gather", classmethod(lambda cls, runner, files: cls({}, None)))
    facts = _storage_facts.gather_storage_facts(FixtureRunner("", fail=True), NoFiles(), ["lvm"])["lifeline_lvm"]
    assert facts["available"] is False
    assert facts["error"] == "lvm exited with 5"
    assert [f["code"] for f in facts["findings"]] == ["LVM_SUBSET_UNAVAILABLE"]


@pytest.mark.parametrize("text, expected", [
    (None, None),
    ("# comment\nVERSION=1.1.1\n", set()),
    ("IDTYPE=devname IDNAME=/dev/sdb DEVNAME=/dev/sdb PVID=wMZW9nJqNH28kDwUGhcOc5JkNd8iUPKc\n", {"wMZW9nJqNH28kDwUGhcOc5JkNd8iUPKc"}),
])
def test_devices_file_pvids(text, expected):
    assert devices_file_pvids(text) == expected


# ------------------------------------------------------------------------------------------
# Thin pools, snapshots, RAID/mirror LVs
# ------------------------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LV_CODES = ("LVM_THIN_POOL_", "LVM_SNAPSHOT_", "LVM_RAID_")


def _fixture(name: str) -> str:
    return (FIXTURES / "lvm" / name).read_text()


def _derived(name: str, lv_name: str, **columns) -> str:
    """The fixture with COLUMNS set on the LV row named LV_NAME."""
    document = json.loads(_fixture(name))
    rows = [row for entry in document["report"] for row in entry.get("lv", []) if row.get("lv_name") == lv_name]
    assert len(rows) == 1
    rows[0].update(columns)
    return json.dumps(document)


def _lv_findings(text: str, options: dict | None = None) -> list[tuple]:
    """(code, severity, subject) of the LV findings collect_lvm makes from a recorded report."""
    facts = collect_lvm(FixtureRunner(text), NoFiles(), IdentityMap({}, None), options)
    return [(f["code"], f["severity"], f["subject"]) for f in facts["findings"] if f["code"].startswith(LV_CODES)]


def test_recorded_reports_without_trouble_make_no_lv_finding():
    # Real values: testpool 0.00 % data and 10.94 % metadata, mirrored 100.00 % in sync, a cache whose
    # copy_percent (0.00, its dirty share) is not a RAID's.
    for name in ("hansmi_issue105-thin-pool.json", "hansmi_mirrored.json", "hansmi_vgdata-cached.json",
                 "hansmi_multivg.json"):
        assert _lv_findings(_fixture(name)) == [], name


def test_recorded_thin_pool_metadata_against_lowered_thresholds():
    text = _fixture("hansmi_issue105-thin-pool.json")  # testpool "metadata_percent": "10.94"
    facts = collect_lvm(FixtureRunner(text), NoFiles(), IdentityMap({}, None),
                        {"lvm_thin_pool_warning_percent": 10, "lvm_thin_pool_critical_percent": 11})
    found = [f for f in facts["findings"] if f["code"].startswith("LVM_THIN_POOL_")]
    assert [(f["code"], f["severity"], f["subject"]) for f in found] == [
        ("LVM_THIN_POOL_METADATA_HIGH", "warning", "testvg/testpool")]
    assert found[0]["evidence"] == {"lv": "testvg/testpool", "metadata_percent": 10.94, "warning_percent": 10.0,
                                    "critical_percent": 11.0, "vg_free_bytes": 1010827264}
    assert "lvextend --poolmetadatasize" in found[0]["message"] and "10.94 %" in found[0]["message"]
    # The critical threshold is inclusive too.
    assert _lv_findings(text, {"lvm_thin_pool_warning_percent": 10, "lvm_thin_pool_critical_percent": 10.94}) == [
        ("LVM_THIN_POOL_METADATA_HIGH", "critical", "testvg/testpool")]


@pytest.mark.parametrize("column, code", [("data_percent", "LVM_THIN_POOL_DATA_HIGH"),
                                          ("metadata_percent", "LVM_THIN_POOL_METADATA_HIGH")])
@pytest.mark.parametrize("value, severity", [("79.99", None), ("80.00", "warning"), ("94.99", "warning"),
                                             ("95.00", "critical"), ("100.00", "critical")])
def test_thin_pool_threshold_edges(column, code, value, severity):
    # Derived from the fixture: one of testpool's percentages set to the value.
    found = _lv_findings(_derived("hansmi_issue105-thin-pool.json", "testpool", **{column: value}))
    assert found == ([] if severity is None else [(code, severity, "testvg/testpool")])


def test_thin_pool_message_says_what_to_do():
    text = _derived("hansmi_issue105-thin-pool.json", "testpool", data_percent="96.50")
    facts = collect_lvm(FixtureRunner(text), NoFiles(), IdentityMap({}, None))
    finding = next(f for f in facts["findings"] if f["code"] == "LVM_THIN_POOL_DATA_HIGH")
    assert "96.50 %" in finding["message"] and "lvextend -L +SIZE testvg/testpool" in finding["message"]
    assert "1010827264 bytes free" in finding["message"]
    assert finding["evidence"]["data_percent"] == 96.5


@pytest.mark.parametrize("lv_name, columns", [
    ("test_thin", {"data_percent": "99.00"}),        # a thin volume, not the pool
    ("testpool", {"data_percent": ""}),              # inactive pool: LVM prints ""
    ("testpool", {"lv_attr": "-wi-a-----", "data_percent": "99.00"}),  # not a thin pool by lv_attr
])
def test_no_thin_pool_finding_without_a_thin_pool_percentage(lv_name, columns):
    # Derived from the fixture as each case says.
    assert _lv_findings(_derived("hansmi_issue105-thin-pool.json", lv_name, **columns)) == []


def test_the_recorded_host_reports_pv_use_and_no_percentages_for_linear_lvs():
    """lvm.json was recorded with the percent columns: its LVs are all linear, so LVM printed none."""
    facts, _runner, _state = recorded()
    assert {lv["segtype"] for lv in facts["lvs"]} == {"linear"}
    assert {lv[key] for lv in facts["lvs"] for key in ("data_percent", "metadata_percent", "snap_percent",
                                                       "sync_percent")} == {None}
    extent = {vg["name"]: vg["extent_size_bytes"] for vg in facts["vgs"]}
    # pv_used is read, not worked out: it must agree with the PV's allocated extents.
    assert {pv["vg_name"]: pv["used_bytes"] for pv in facts["pvs"]} == {
        pv["vg_name"]: pv["pe_alloc_count"] * extent[pv["vg_name"]] for pv in facts["pvs"]}
    assert {pv["vg_name"]: pv["used_bytes"] for pv in facts["pvs"]} == {"vault": 104 * 1024 * 1024, "loose": 16 * 1024 * 1024}
    assert {vg["snap_count"] for vg in facts["vgs"]} == {0}
    assert [f for f in facts["findings"] if f["code"].startswith(LV_CODES)] == []


def _snapshot_lvs(**columns) -> list[dict]:
    """libstorage-ng's snapshot probe (lvs JSON), linear1-snap1 given COLUMNS."""
    document = json.loads(_fixture("libstorage-ng_probe/lvm-snapshot1_lvs.json"))
    row = next(row for row in document["report"][0]["lv"] if row["lv_name"] == "linear1-snap1")
    row.update(columns)
    return parse_lvm_report_json(json.dumps(document), "lv")


def _codes(findings: list[dict]) -> list[tuple]:
    return [(f["code"], f["severity"], f["subject"]) for f in findings]


def test_snapshots_without_snap_percent_make_no_finding():
    # The recording did not ask for snap_percent: unknown, so nothing is said.
    assert _codes(lvm_findings([], [], _snapshot_lvs())) == []


@pytest.mark.parametrize("value, expected", [
    ("79.99", []),
    ("80.00", [("LVM_SNAPSHOT_FILLING", "warning", "test/linear1-snap1")]),
    ("95.00", [("LVM_SNAPSHOT_FILLING", "warning", "test/linear1-snap1")]),
])
def test_snapshot_fill_edges(value, expected):
    # Derived from the fixture: snap_percent added to the old-style snapshot linear1-snap1.
    findings = lvm_findings([], [], _snapshot_lvs(snap_percent=value))
    assert _codes(findings) == expected
    if expected:
        assert findings[0]["evidence"]["origin"] == "linear1" and findings[0]["evidence"]["snap_percent"] == float(value)
        assert "lvextend -L +SIZE test/linear1-snap1" in findings[0]["message"]


def test_invalid_snapshot_is_critical():
    # Derived from the fixture: lv_attr state I (invalid snapshot); LVM then prints snap_percent 100.00.
    findings = lvm_findings([], [], _snapshot_lvs(lv_attr="swi-I-s---", snap_percent="100.00"))
    assert _codes(findings) == [("LVM_SNAPSHOT_INVALID", "critical", "test/linear1-snap1")]
    assert "lvremove test/linear1-snap1" in findings[0]["message"]


def test_thin_snapshot_percent_is_not_an_old_style_snapshot_finding():
    # Derived from the fixture: linear3-snap2 is a thin snapshot (Vwi...); its data_percent/snap_percent
    # are use of the pool's space, which the pool's own findings cover.
    document = json.loads(_fixture("libstorage-ng_probe/lvm-snapshot1_lvs.json"))
    row = next(row for row in document["report"][0]["lv"] if row["lv_name"] == "linear3-snap2")
    row.update(snap_percent="99.00", data_percent="99.00")
    assert _codes(lvm_findings([], [], parse_lvm_report_json(json.dumps(document), "lv"))) == []


def test_unhealthy_mirror_is_partial_once_for_the_raid_lv():
    # Recorded: mirrored is "partial" (and so are two hidden sub-LVs, which get no finding of their own).
    text = _fixture("hansmi_mirrored-unhealthy.json")
    assert _lv_findings(text) == [("LVM_RAID_PARTIAL", "critical", "vgaaa/mirrored")]
    facts = collect_lvm(FixtureRunner(text), NoFiles(), IdentityMap({}, None))
    finding = next(f for f in facts["findings"] if f["code"] == "LVM_RAID_PARTIAL")
    assert finding["evidence"] == {"lv": "vgaaa/mirrored", "attr": "rwi---r-p-", "health_status": "partial"}
    assert "lvconvert --repair vgaaa/mirrored" in finding["message"]


@pytest.mark.parametrize("sync_percent, sync_action, expected", [
    ("99.99", "recover", [("LVM_RAID_NOT_SYNCED", "warning", "vgaaa/mirrored")]),
    ("0.00", "resync", [("LVM_RAID_NOT_SYNCED", "warning", "vgaaa/mirrored")]),
    ("100.00", "idle", []),
    ("", "", []),  # inactive: unknown
    ("40.00", "check", [("LVM_RAID_NOT_SYNCED", "info", "vgaaa/mirrored")]),  # a scrub
])
def test_raid_not_in_sync(sync_percent, sync_action, expected):
    # Derived from the fixture: mirrored's sync_percent and raid_sync_action changed.
    text = _derived("hansmi_mirrored.json", "mirrored", sync_percent=sync_percent, raid_sync_action=sync_action)
    assert _lv_findings(text) == expected
    if expected:
        facts = collect_lvm(FixtureRunner(text), NoFiles(), IdentityMap({}, None))
        finding = next(f for f in facts["findings"] if f["code"] == "LVM_RAID_NOT_SYNCED")
        assert finding["evidence"] == {"lv": "vgaaa/mirrored", "sync_percent": float(sync_percent),
                                       "sync_action": sync_action}


def test_raid_refresh_needed():
    # Derived from the fixture: lv_health_status as LVM prints it for a RAID whose device failed.
    text = _derived("hansmi_mirrored.json", "mirrored", lv_health_status="refresh needed", lv_attr="rwi-a-r-r-")
    assert _lv_findings(text) == [("LVM_RAID_REFRESH_NEEDED", "warning", "vgaaa/mirrored")]


def test_thresholds_reach_the_collector_through_gather_storage_facts(monkeypatch):
    monkeypatch.setattr(IdentityMap, "gather", classmethod(lambda cls, runner, files: cls({}, None)))
    text = _fixture("hansmi_issue105-thin-pool.json")
    facts = gather_storage_facts(FixtureRunner(text), NoFiles(), ["lvm"],
                                 {"lvm_thin_pool_warning_percent": 5.0, "lvm_thin_pool_critical_percent": 10.0})
    assert [(f["code"], f["severity"]) for f in facts["lifeline_lvm"]["findings"] if f["code"].startswith(LV_CODES)] == [
        ("LVM_THIN_POOL_METADATA_HIGH", "critical")]


@pytest.mark.parametrize("options, expected", [
    (None, (80.0, 95.0)),
    ({}, (80.0, 95.0)),
    ({"smart_wake": True, "lvm_thin_pool_warning_percent": None}, (80.0, 95.0)),
    ({"lvm_thin_pool_warning_percent": 50, "lvm_thin_pool_critical_percent": 50}, (50.0, 50.0)),
    ({"lvm_thin_pool_warning_percent": 0.5, "lvm_thin_pool_critical_percent": 100}, (0.5, 100.0)),
])
def test_thin_pool_thresholds(options, expected):
    assert thin_pool_thresholds(options) == expected


@pytest.mark.parametrize("warning, critical", [(0, 95), (-1, 50), (96, 95), (80, 100.01), (float("nan"), 95)])
def test_thin_pool_thresholds_are_refused_out_of_order_or_range(warning, critical):
    with pytest.raises(ValueError) as raised:
        thin_pool_thresholds({"lvm_thin_pool_warning_percent": warning, "lvm_thin_pool_critical_percent": critical})
    assert "0 < warning <= critical <= 100" in str(raised.value)


def test_every_lvm_finding_code_is_documented():
    source = (Path(__file__).resolve().parents[4] / "plugins" / "module_utils" / "_lvm_collect.py").read_text()
    documented = set(re.findall(r"^\| `(LVM_[A-Z_]+)`", (Path(__file__).resolve().parents[4] / "docs" /
                                                         "findings.md").read_text(), re.MULTILINE))
    codes = set(re.findall(r'"(LVM_[A-Z_]+)"', source))
    assert {"LVM_THIN_POOL_DATA_HIGH", "LVM_SNAPSHOT_INVALID", "LVM_RAID_NOT_SYNCED"} <= codes
    assert codes <= documented
