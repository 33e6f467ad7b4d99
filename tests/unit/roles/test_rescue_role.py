"""The rescue role on the controller: where its report goes and what check mode writes.

The role's report tasks run through ansible-playbook against a local host, with a plan from the
collection's rescue_plan filter and stand-ins for md_assemble's result. The playbook lies in one
directory and ansible-playbook starts in another, as when an operator runs the collection's
playbook: a relative report directory must be taken from the second, and the path printed must be
the file written. Check mode must write nothing and count no change."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.lifeline.storage.plugins.filter.rescue_plan import rescue_plan

COLLECTION = Path(__file__).resolve().parents[3]
ROLE = COLLECTION / "roles" / "rescue"
HOST = "rescue-host"
REPORT_NAME = "rescue-%s.md" % HOST

# A module that hands back the facts it is given, so the report sees ansible_facts as the facts
# role leaves them.
FACTS_MODULE = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

module = AnsibleModule(argument_spec={"facts": {"type": "dict", "required": True}}, supports_check_mode=True)
module.exit_json(changed=False, ansible_facts=module.params["facts"])
'''


def defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def test_argument_spec_and_defaults_name_the_same_options_with_the_same_values() -> None:
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(spec) == set(defaults())
    for name, value in defaults().items():
        assert spec[name].get("default") == value, name


def _device(name: str, serial: str, slot: int) -> dict:
    return {"device": "/dev/" + name, "kernel_name": name, "serial": serial, "wwn": None,
            "stable_name": "/dev/disk/by-id/virtio-" + serial, "by_id": ["/dev/disk/by-id/virtio-" + serial],
            "slot": slot, "events": 40, "role": "active"}


MD_FACTS = {"arrays": [], "stray_superblocks": [{
    "array_uuid": "0a1b2c3d:4e5f6a7b:8c9d0e1f:2a3b4c5d", "array_name": "lab:vault", "level": "raid10",
    "layout": "near=2", "raid_devices": 4, "metadata": "1.2", "assembled_as": None,
    "devices": [_device("vdb", "VIRT0001", 0), _device("vdc", "VIRT0002", 1),
                _device("vdd", "VIRT0003", 2), _device("vde", "VIRT0004", 3)]}]}
SMART_READ = {"available": True, "error": None, "disks": [
    {"serial": serial, "device": None, "power_on_hours": 10, "health": {"status": status, "score": None, "reasons": []}}
    for serial, status in (("VIRT0001", "watch"), ("VIRT0002", "healthy"), ("VIRT0003", "healthy"), ("VIRT0004", "watch"))]}
SMART_MISSING = {"available": False, "error": "Failed to import the required Python library (pySMART)", "findings": []}


def _assembly(plan: dict) -> dict:
    """md_assemble's result as the role registers it: a plan in check mode, the assembled array otherwise."""
    return {"changed": True, "array": "/dev/md/lifeline-rescue", "array_state": "readonly", "sync_action": "idle",
            "command": ["/usr/sbin/mdadm", "--assemble", "--readonly", "--config=none", "/dev/md/lifeline-rescue", "--run",
                        "--uuid=" + plan["array_uuid"], *plan["members"]],
            "auto_assembly": {"active": False, "udev_incremental": False, "last_resort_timer": False,
                              "mdadm_conf_auto": "-all", "mdadm_conf_allows": False}}


def _collections_root(tmp_path: Path) -> Path:
    """A collections path holding this checkout (or staged copy) as lifeline.storage."""
    root = tmp_path / "collections"
    namespace = root / "ansible_collections" / "lifeline"
    namespace.mkdir(parents=True)
    (namespace / "storage").symlink_to(COLLECTION)
    return root


def run_report(tmp_path: Path, report_dir: str, smart: dict, check: bool = False,
               extra_env: dict | None = None) -> tuple[str, Path]:
    """Run the role's report tasks; the playbook in TMP/playbooks, ansible-playbook started in TMP/operator.

    Returns the output and the operator's directory.
    """
    plan = rescue_plan(MD_FACTS, smart if smart["available"] else None)
    playbooks = tmp_path / "playbooks"
    (playbooks / "library").mkdir(parents=True)
    (playbooks / "library" / "stand_in_facts.py").write_text(FACTS_MODULE)
    playbook = [{
        "name": "The rescue role's report", "hosts": HOST, "gather_facts": False,
        "vars": {"rescue_plan": plan, "rescue_assembly": _assembly(plan), "rescue_fs_results": [],
                 "rescue_report_dir": report_dir},
        "tasks": [
            {"name": "Facts as the facts role leaves them", "stand_in_facts": {"facts": {"lifeline_smart": smart}}},
            {"name": "Write the report", "ansible.builtin.include_role": {
                "name": "lifeline.storage.rescue", "tasks_from": "report"}},
        ],
    }]
    (playbooks / "rescue-report.yml").write_text(yaml.safe_dump(playbook))
    operator = tmp_path / "operator"
    operator.mkdir()
    (tmp_path / "inventory").write_text(
        "%s ansible_connection=local ansible_python_interpreter=%s\n" % (HOST, sys.executable))
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(_collections_root(tmp_path)), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="0",
               PWD=str(tmp_path / "playbooks"), **(extra_env or {}))
    command = [sys.executable, "-m", "ansible.cli.playbook", "-i", str(tmp_path / "inventory"),
               str(playbooks / "rescue-report.yml"), *(["--check"] if check else [])]
    result = subprocess.run(command, cwd=operator, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout, operator


def changed(output: str) -> int:
    return int(re.search(r"^%s\s*:.*?changed=(\d+)" % HOST, output[output.rindex("PLAY RECAP"):], re.M).group(1))


def printed_report(output: str) -> str:
    return re.search(r'"report: ([^"]*)"', output).group(1)


def reports_anywhere(root: Path) -> list[Path]:
    return sorted(root.rglob(REPORT_NAME))


@pytest.mark.parametrize("report_dir", ["reports", "./out/../reports"])
def test_a_relative_report_directory_is_taken_from_where_ansible_playbook_started(tmp_path: Path, report_dir: str) -> None:
    output, operator = run_report(tmp_path, report_dir, SMART_READ)
    written = operator / "reports" / REPORT_NAME
    assert written.is_file()
    assert printed_report(output) == str(written)
    # Not beside the playbook, whose directory a module delegated to localhost runs in, nor in the collection.
    assert reports_anywhere(tmp_path) == [written]
    assert reports_anywhere(COLLECTION / "playbooks") == [] and reports_anywhere(ROLE) == []
    assert changed(output) == 0
    report = written.read_text()
    assert "The array runs read-only as `/dev/md/lifeline-rescue`" in report
    assert "**VIRT0002 `/dev/disk/by-id/virtio-VIRT0002`" in report and "SMART was not read" not in report


def test_the_printed_path_is_absolute_with_symlinks_and_home_resolved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "real").mkdir(parents=True)
    (home / "link").symlink_to(home / "real")
    output, _operator = run_report(tmp_path, "~/link/reports", SMART_READ, extra_env={"HOME": str(home)})
    written = home / "real" / "reports" / REPORT_NAME
    assert written.is_file()
    assert printed_report(output) == str(written)


def test_an_absolute_report_directory_is_kept(tmp_path: Path) -> None:
    output, _operator = run_report(tmp_path, str(tmp_path / "elsewhere"), SMART_READ)
    assert printed_report(output) == str(tmp_path / "elsewhere" / REPORT_NAME)
    assert (tmp_path / "elsewhere" / REPORT_NAME).is_file()


def test_check_mode_writes_nothing_counts_no_change_and_prints_the_plan(tmp_path: Path) -> None:
    output, operator = run_report(tmp_path, "reports", SMART_READ, check=True)
    assert changed(output) == 0
    assert reports_anywhere(tmp_path) == []
    assert not (operator / "reports").exists() and not (tmp_path / "playbooks" / "reports").exists()
    assert printed_report(output) == "not written in check mode; the run writes %s" % (operator / "reports" / REPORT_NAME)
    assert "Check mode: nothing was assembled" in output
    assert "command: /usr/sbin/mdadm --assemble --readonly --config=none /dev/md/lifeline-rescue --run" in output
    assert "VIRT0002 is healthy, VIRT0001 is watch" in output
    assert "None checked: check mode neither activates the volume groups nor checks" in output
    assert "SMART was not read" not in output


def test_a_plan_made_without_smart_says_so(tmp_path: Path) -> None:
    output, _operator = run_report(tmp_path, "reports", SMART_MISSING, check=True)
    assert "SMART was not read" in output
    assert "Check mode installs nothing on the host, pySMART included" in output
    assert "Why SMART was not read: Failed to import the required Python library (pySMART)" in output
    _output, operator = run_report(tmp_path / "real", "reports", SMART_MISSING)
    report = (operator / "reports" / REPORT_NAME).read_text()
    assert "SMART was not read" in report and "Check mode installs nothing" not in report
