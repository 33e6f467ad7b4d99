"""Running a restore plan: heads saved and hashed first, a failing step stops the run and says what was done."""

from __future__ import annotations

import hashlib
import os

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_restore import HEAD_BYTES
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_restore_host import run_plan


class Runner:
    """Records each command; fails the one whose second word is FAIL."""

    def __init__(self, fail: str | None = None, restore_file: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail
        self.restore_file = restore_file
        self.metadata_seen: list[str] = []

    def has(self, name: str) -> bool:
        return name != "udevadm"

    def run(self, name, args, ok_rcs=(0,)):
        self.calls.append([name] + list(args))
        if self.restore_file:
            with open(self.restore_file, encoding="utf-8") as metadata:
                self.metadata_seen.append(metadata.read())
        if args[0] == self.fail:
            raise CommandError([name] + list(args), 5, "", "Couldn't find device with uuid X.", "lvm %s exited with 5" % args[0])


def plan_for(device: str, save: str) -> dict:
    return {"steps": [
        {"action": "save_head", "argv": ["dd"], "command": "dd ...", "why": "keep the first MiB of %s" % device, "device": device, "path": save},
        {"action": "run", "argv": ["lvm", "pvcreate", device], "command": "lvm pvcreate " + device, "why": "write the PV label"},
        {"action": "run", "argv": ["lvm", "vgcfgrestore", "vault"], "command": "lvm vgcfgrestore vault", "why": "restore vault's metadata"},
        {"action": "run", "argv": ["lvm", "vgchange", "-ay", "vault"], "command": "lvm vgchange -ay vault", "why": "activate vault's LVs"},
    ]}


def test_the_head_is_saved_and_hashed_before_the_label_and_the_metadata_file_is_removed_after(tmp_path):
    device = tmp_path / "disk.img"
    content = os.urandom(HEAD_BYTES + 4096)
    device.write_bytes(content)
    save = tmp_path / "saves" / "head.bin"
    restore_file = tmp_path / "restore.vg"
    runner = Runner(restore_file=str(restore_file))
    outcome = run_plan(runner, plan_for(str(device), str(save)), "vault {\n}\n", str(restore_file), str(tmp_path / "saves"))
    assert outcome["error"] is None
    assert outcome["completed"] == ["dd ...", "lvm pvcreate %s" % device, "lvm vgcfgrestore vault", "lvm vgchange -ay vault"]
    assert save.read_bytes() == content[:HEAD_BYTES] and (save.stat().st_mode & 0o777) == 0o600
    assert outcome["saved_heads"] == [{"device": str(device), "path": str(save), "bytes": HEAD_BYTES,
                                       "sha256": hashlib.sha256(content[:HEAD_BYTES]).hexdigest()}]
    assert runner.metadata_seen == ["vault {\n}\n"] * 3  # present while LVM ran
    assert not restore_file.exists()


def test_a_failing_step_stops_the_run_and_says_what_was_done_and_what_was_not(tmp_path):
    device = tmp_path / "disk.img"
    device.write_bytes(b"\0" * HEAD_BYTES)
    runner = Runner(fail="vgcfgrestore")
    outcome = run_plan(runner, plan_for(str(device), str(tmp_path / "head.bin")), "vault {\n}\n", str(tmp_path / "r.vg"), str(tmp_path))
    assert [call[1] for call in runner.calls] == ["pvcreate", "vgcfgrestore"]  # vgchange never ran
    assert outcome["error"] == ("step 3 (lvm vgcfgrestore vault) failed: lvm vgcfgrestore exited with 5. Done before it: keep the "
                                "first MiB of %s; write the PV label. Not run: activate vault's LVs." % device)


def test_a_device_that_vanished_before_its_head_was_saved_writes_nothing(tmp_path):
    runner = Runner()
    outcome = run_plan(runner, plan_for(str(tmp_path / "gone"), str(tmp_path / "head.bin")), "x", str(tmp_path / "r.vg"), str(tmp_path))
    assert runner.calls == [] and outcome["completed"] == []
    assert outcome["error"].startswith("step 1 (dd ...) failed: [Errno 2] No such file or directory")
    assert outcome["error"].endswith("Nothing was written.")


def test_an_optional_step_whose_tool_is_missing_is_skipped(tmp_path):
    runner = Runner()
    plan = {"steps": [{"action": "run", "argv": ["udevadm", "settle"], "command": "udevadm settle", "why": "settle", "optional": True},
                      {"action": "run", "argv": ["lvm", "vgchange", "-an", "vault"], "command": "lvm vgchange -an vault", "why": "down"}]}
    outcome = run_plan(runner, plan, "x", str(tmp_path / "r.vg"), str(tmp_path))
    assert outcome["error"] is None and [call[0] for call in runner.calls] == ["lvm"]
    assert outcome["completed"] == ["lvm vgchange -an vault"]
