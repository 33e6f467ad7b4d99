"""playbooks/fleet_facts.yml: reports on the controller, worst first, and never a change."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from labcheck import run_playbook

PLAYBOOK = str(Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks" / "fleet_facts.yml")


def _recap_changed(output: str) -> dict[str, int]:
    recap = output[output.rindex("PLAY RECAP"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s*:.*?changed=(\d+)", recap, re.M)}


def test_two_runs_report_no_change_and_write_reports(request, tmp_path):
    inventory = request.config.option.ansible_inventory
    reports = tmp_path / "reports"
    for run in (1, 2):
        # 120 s per command, as converge.yml gives it: the guest shares two cores with other guests.
        changed = _recap_changed(run_playbook(inventory, PLAYBOOK, {"facts_report_dir": str(reports),
                                                                    "facts_gather_timeout": 120}))
        assert changed and set(changed.values()) == {0}, (run, changed)

    host_report = json.loads((reports / "hosts" / "lifeline-lab.json").read_text())
    arrays = {a["name"]: a for a in host_report["lifeline_md"]["arrays"]}
    assert sorted(arrays) == ["md0", "md1"]
    assert sorted(m["serial"] for m in arrays["md1"]["members"]) == ["VIRT0003"]

    summary = json.loads((reports / "fleet-summary.json").read_text())
    lab = [h for h in summary["hosts"] if h["host"] == "lifeline-lab"][0]
    assert lab["status"] == "critical"
    assert lab["findings"][0]["severity"] == "critical"
    assert "MD_ARRAY_DEGRADED" in [f["code"] for f in lab["findings"]]
    severities = [f["severity"] for f in lab["findings"]]
    assert severities == sorted(severities, key=["critical", "warning", "info"].index)
    assert "lifeline-lab: CRITICAL" in (reports / "fleet-summary.txt").read_text()

    # The lvm subset joins the run too (no VG in this scenario).
    assert host_report["lifeline_lvm"]["available"] is True
    assert host_report["lifeline_lvm"]["vgs"] == []

    # The smart subset joins the run: the role installed pySMART, the QEMU IDE and NVMe disks
    # were read, the virtio disks have no SMART, and the summary counts disks by health.
    smart = {d["serial"]: d for d in host_report["lifeline_smart"]["disks"]}
    queried = {serial: (disk["query"], disk["reason"]) for serial, disk in smart.items()}
    assert all(smart[s]["query"] == "read" for s in ("IDE0001", "IDE0002", "NVME0001")), queried
    assert all(smart[s]["query"] == "unsupported" for s in ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004"))
    assert lab["disk_health"]["healthy"] == 3
    assert "SMART_UNSUPPORTED" in [f["code"] for f in lab["findings"]]
    assert "disks by SMART health: 0 failing, 0 watch, 3 healthy" in (reports / "fleet-summary.txt").read_text()
