# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fs_repair's host layer: a refused or check-mode step runs no command; the check reads e2fsck's recorded output."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils import _fs_repair_host
from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "repair"
EXT4 = [{"type": "ext4", "kind": "filesystem"}]


class RecordingRunner:
    """Answers e2fsck with the recorded output; records every command."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def run(self, name: str, args: list[str], ok_rcs=(0,)) -> CommandResult:
        self.commands.append([name] + args)
        output, rc = (FIXTURES / "e2fsck-fn-1.47.0.txt").read_text().rsplit("rc=", 1)
        return CommandResult([name] + args, int(rc), output, "")


def stack(sync_action: str = "idle", mountpoints=None) -> dict:
    devices = [
        {"kernel_name": "md0", "device": "/dev/md0", "type": "raid1", "slaves": ["sda", "sdb"], "disk": "md0",
         "serial": None, "mountpoints": mountpoints or [], "signatures": EXT4},
        {"kernel_name": "sda", "device": "/dev/sda", "type": "disk", "slaves": [], "disk": "sda", "serial": "S1",
         "mountpoints": [], "signatures": []},
        {"kernel_name": "sdb", "device": "/dev/sdb", "type": "disk", "slaves": [], "disk": "sdb", "serial": "S2",
         "mountpoints": [], "signatures": []},
    ]
    sync = {"action": sync_action, "pending": None, "percent": 40.0 if sync_action != "idle" else None}
    arrays = [{"name": "md0", "degraded": 0, "mismatch_cnt": 0, "sync": sync,
               "members": [{"kernel_name": "sda", "events": 9}, {"kernel_name": "sdb", "events": 9}]}]
    return {"lifeline_disks": {"available": True, "devices": devices},
            "lifeline_md": {"available": True, "arrays": arrays, "stray_superblocks": []},
            "lifeline_smart": {"available": False, "error": "no SMART in this guest", "disks": []}}


@pytest.fixture(name="facts")
def fixture_facts(monkeypatch):
    state = {"facts": stack()}
    monkeypatch.setattr(_fs_repair_host, "gather_storage_facts", lambda runner, files, subsets: state["facts"])
    return state


def params(step: str, **extra) -> dict:
    return dict({"filesystem": "/dev/md0", "step": step, "backup_directory": None, "overlay_device": None,
                 "run_id": "r1", "confirm_device": None, "rehearsal": None, "backup": None}, **extra)


def test_refused_steps_run_no_command(facts):
    facts["facts"] = stack(sync_action="recover")
    runner = RecordingRunner()
    for step in ("plan", "check", "rehearse", "apply"):
        failed, result = _fs_repair_host.run_fs_repair(params(step, overlay_device="/dev/mapper/x"), runner, None, False)
        assert failed is (step != "plan")
        assert result["refusals"][0]["rule"] == "md_rebuilding" and "recover at 40.0%" in result["msg"]
    assert runner.commands == []


def test_mounted_file_system_is_refused(facts):
    facts["facts"] = stack(mountpoints=["/srv"])
    failed, result = _fs_repair_host.run_fs_repair(params("check"), RecordingRunner(), None, False)
    assert failed and [r["rule"] for r in result["refusals"]] == ["mounted"]


def test_check_mode_shows_the_commands_and_runs_none(facts):
    runner = RecordingRunner()
    failed, result = _fs_repair_host.run_fs_repair(params("check"), runner, None, True)
    assert not failed and runner.commands == []
    assert result["commands"]["check"] == ["e2fsck", "-f", "-n", "/dev/md0"]
    assert [unknown["subject"] for unknown in result["unknowns"]] == ["smart", "sda", "sdb"]


def test_check_reports_what_e2fsck_found(facts):
    runner = RecordingRunner()
    failed, result = _fs_repair_host.run_fs_repair(params("check"), runner, None, False)
    assert not failed and runner.commands == [["e2fsck", "-f", "-n", "/dev/md0"]]
    assert result["check"]["report"]["status"] == ["errors_left_uncorrected", "operational_error"]


def test_apply_without_rehearsal_or_backup_runs_nothing(facts):
    runner = RecordingRunner()
    failed, result = _fs_repair_host.run_fs_repair(params("apply", confirm_device="/dev/md0"), runner, None, False)
    assert failed and [r["rule"] for r in result["refusals"]] == ["not_rehearsed", "no_backup"]
    assert runner.commands == []


def test_apply_with_a_backup_whose_file_changed_is_refused(facts, tmp_path):
    backup_file = tmp_path / "md0.e2i.qcow2"
    backup_file.write_bytes(b"metadata")
    rehearsal = {"step": "rehearse", "origin": "/dev/md0", "run_id": "r1", "rc": 1}
    backup = {"source": "/dev/md0", "path": str(backup_file), "sha256": "0" * 64}
    runner = RecordingRunner()
    failed, result = _fs_repair_host.run_fs_repair(
        params("apply", confirm_device="/dev/md0", rehearsal=rehearsal, backup=backup), runner, None, False)
    assert failed and [r["rule"] for r in result["refusals"]] == ["no_backup"] and runner.commands == []


def test_walk_lists_sizes_directories_and_links(tmp_path):
    (tmp_path / "home" / "alice").mkdir(parents=True)
    (tmp_path / "home" / "alice" / "doc").write_bytes(b"x" * 300)
    (tmp_path / "link").symlink_to("home/missing")
    listing, directories, error = _fs_repair_host.walk_listing(str(tmp_path))
    assert listing == {"home": -1, "home/alice": -1, "home/alice/doc": 300, "link": -1} and error is None
    assert directories == {tmp_path.stat().st_ino: "", (tmp_path / "home").stat().st_ino: "home",
                           (tmp_path / "home" / "alice").stat().st_ino: "home/alice"}
