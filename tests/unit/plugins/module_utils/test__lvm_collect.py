"""The lvm collector, replayed on a host state recorded in the lab guest and on recorded reports.

tests/unit/fixtures/hosts/lvm.json is what storage_facts read on the guest after the lvm
scenario's prepare.yml: VG vault (LVs home, srv, scratch) on a RAID10, its last change made
with --autobackup n; VG loose on IDE0001 with its backup removed; an LVM devices file in use
that lists only the array. Rebuilt with `tests/lab/record-fixtures lvm`.
"""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_collect import (
    NO_BACKUP_CONFIG,
    collect_lvm,
    devices_file_pvids,
    fullreport_args,
)
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
    assert critical == ["LVM_PV_MISSING", "LVM_VG_PARTIAL"]
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
