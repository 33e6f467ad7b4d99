"""Relative paths in options that name a place on the managed host are refused, naming the option and value.

Covers metadata_snapshot's dest (the module fails before reading or writing anything),
mirror_compare's devices, and the role variables that name a directory on the host
(facts_pysmart_path, rescue_mount_root), whose assert tasks are evaluated with Ansible's templar.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.lifeline.storage.plugins.module_utils._mirror_plan import option_errors
from ansible_collections.lifeline.storage.plugins.module_utils._paths import relative_path_error
from ansible_collections.lifeline.storage.plugins.modules import metadata_snapshot

ROLES = Path(__file__).resolve().parents[4] / "roles"


def test_absolute_paths_pass_and_relative_ones_are_named():
    assert relative_path_error("dest", "/var/lib/x") is None
    message = relative_path_error("dest", "snapshots")
    assert message.startswith("dest must be an absolute path on the managed host, got 'snapshots'")


class Failed(Exception):
    pass


class FakeModule:
    """AnsibleModule as metadata_snapshot's main sees it, with DEST given."""

    def __init__(self, dest: str):
        def build(argument_spec, supports_check_mode):
            self.params = {name: spec.get("default") for name, spec in argument_spec.items()}
            self.params["dest"] = dest
            self.check_mode = False
            return self
        self.build = build
        self.failed_with: dict | None = None

    def fail_json(self, **result):
        self.failed_with = result
        raise Failed()


@pytest.mark.parametrize("dest", ["snapshots", "./snapshots", "var/lib/lifeline-storage/snapshots"])
def test_metadata_snapshot_refuses_a_relative_dest_before_doing_anything(monkeypatch, dest):
    fake = FakeModule(dest)
    monkeypatch.setattr(metadata_snapshot, "AnsibleModule", fake.build)

    def must_not_run(*args, **kwargs):
        raise AssertionError("ran with a relative dest")
    for name in ("CommandRunner", "HostFiles", "gather_storage_facts", "write_snapshot", "plan_only"):
        monkeypatch.setattr(metadata_snapshot, name, must_not_run)
    with pytest.raises(Failed):
        metadata_snapshot.main()
    assert fake.failed_with == {"msg": relative_path_error("dest", dest)}
    assert "dest" in fake.failed_with["msg"] and repr(dest) in fake.failed_with["msg"]


def test_mirror_compare_refuses_relative_devices():
    errors = option_errors(["disk-a.img", "/dev/sdb"], None, None, 1048576, 100, 30)
    assert errors == [relative_path_error("devices", "disk-a.img")]
    assert option_errors(["/dev/sda", "/tmp/b.img"], None, None, 1048576, 100, 30) == []


def _assert_task(role: str, name: str) -> dict:
    tasks = yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text())
    return next(task["ansible.builtin.assert"] for task in tasks if task.get("name") == name)


def _evaluate(check: dict, variables: dict) -> tuple[bool, str]:
    templar = Templar(loader=DataLoader(), variables=variables)
    passed = all(templar.template(trust_as_template("{{ %s }}" % condition)) for condition in check["that"])
    return passed, templar.template(trust_as_template(check["fail_msg"]))


@pytest.mark.parametrize("role, task, variable, allows_empty", [
    ("facts", "Check that the pySMART directory is an absolute path", "facts_pysmart_path", False),
    ("rescue", "Check that the mount directory is empty or an absolute path", "rescue_mount_root", True),
])
def test_role_path_variables_must_be_absolute(role, task, variable, allows_empty):
    check = _assert_task(role, task)
    default = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())[variable]
    assert _evaluate(check, {variable: default})[0]
    passed, message = _evaluate(check, {variable: "lifeline/python"})
    assert not passed and message.startswith('%s must be' % variable) and '"lifeline/python"' in message
    assert _evaluate(check, {variable: ""})[0] is allows_empty
