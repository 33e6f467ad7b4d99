"""playbooks/fleet_facts.yml: reports on the controller, worst first, and never a change.

The reports of the two runs are then checked the way their readers read them: the metrics
file the role wrote on the guest by promtool (Debian's prometheus package), and the HTML
report by headless Chromium (Debian's chromium package), whose screenshot is kept beside the
junit files.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from labcheck import run_playbook

PLAYBOOK = str(Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks" / "fleet_facts.yml")
# Created by prepare.yml, where Debian's prometheus-node-exporter reads its textfiles.
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
ARTIFACTS = Path(os.environ.get("LIFELINE_JUNIT_DIR", "/tmp"))


def _recap_changed(output: str) -> dict[str, int]:
    recap = output[output.rindex("PLAY RECAP"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s*:.*?changed=(\d+)", recap, re.M)}


@pytest.fixture(scope="module")
def reports(request, tmp_path_factory):
    """The reports of two runs of the playbook, which must both report no change."""
    inventory = request.config.option.ansible_inventory
    reports = tmp_path_factory.mktemp("fleet") / "reports"
    for run in (1, 2):
        # 120 s per command, as converge.yml gives it: the guest shares two cores with other guests.
        changed = _recap_changed(run_playbook(inventory, PLAYBOOK, {"facts_report_dir": str(reports),
                                                                    "facts_gather_timeout": 120,
                                                                    "facts_textfile_dir": TEXTFILE_DIR}))
        assert changed and set(changed.values()) == {0}, (run, changed)
    return reports


def test_two_runs_report_no_change_and_write_reports(reports):

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


def test_the_metrics_file_on_the_guest_passes_promtool(host, tmp_path, reports):
    metrics = host.file(TEXTFILE_DIR + "/lifeline_storage.prom")
    assert metrics.exists and metrics.mode == 0o644
    assert not host.file(TEXTFILE_DIR + "/lifeline_storage.prom.tmp").exists
    text = metrics.content_string
    (ARTIFACTS / "lab-fleet_facts-lifeline_storage.prom").write_text(text)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: tests/lab/install-deps installs Debian's prometheus package"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert 'lifeline_storage_md_array_degraded{array="md1"} 1' in text
    assert 'lifeline_storage_md_array_degraded{array="md0"} 0' in text
    assert re.search(r'^lifeline_storage_md_member_state\{array="md1",device="[^"]+",serial="VIRT0003",slot="\d",state="in_sync"\} 1$', text, re.M)
    # VIRT0004's slot: named by its serial while the guest still sees VIRT0004 carrying md1's superblock.
    assert re.search(r'^lifeline_storage_md_member_state\{array="md1",device="[^"]*",serial="(VIRT0004)?",slot="\d",state="missing"\} 1$',
                     text, re.M)
    assert re.search(r'^lifeline_storage_disk_smart_status\{device="[^"]+",serial="NVME0001",status="healthy"\} 1$', text, re.M)
    assert 'lifeline_storage_findings{code="MD_ARRAY_DEGRADED",severity="critical"} 1' in text


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: tests/lab/install-deps installs Debian's chromium package"
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(profile), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_html_report_in_a_browser(reports, tmp_path):
    page = reports / "fleet-report.html"
    dumped = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    # The DOM after the page's script ran: hosts in order, counts, and the degraded array's survivor by serial.
    assert re.findall(r'<section class="host[^"]*" id="host-([^"]+)"', dom) == ["lifeline-lab"]
    summary = json.loads((reports / "fleet-summary.json").read_text())
    for severity in ("critical", "warning", "info"):
        assert '<span id="total-%s">%d</span>' % (severity, summary["totals"][severity]) in dom
    assert '<span id="hosts-shown">1</span>' in dom  # written by the script: it ran
    assert re.search(r'<tr class="member" data-serial="VIRT0003"><td>\d</td><td>VIRT0003</td>', dom)
    assert '<a href="#advice-MD_ARRAY_DEGRADED">what to do</a>' in dom
    replacement = re.findall(r'<tr class="replacement[^"]*" data-action="([^"]+)"><td>\d+</td><td><a href="[^"]+">[^<]+</a></td><td>([^<]+)</td>', dom)
    # VIRT0003 holds md1's last good copy: only the replacement of its failed partner (VIRT0004 or
    # its empty slot) may come before it.
    survivor = replacement.index(("replace_partner_first", "VIRT0003"))
    assert all(action == "replace" for action, _disk in replacement[:survivor]), replacement
    assert html.escape("replace its failed partner first, never this disk") in dom
    shot = ARTIFACTS / "lab-fleet_facts-fleet-report.png"
    taken = _chromium(tmp_path, "--window-size=1280,1600", "--screenshot=" + str(shot), page.as_uri())
    assert taken.returncode == 0 and shot.stat().st_size > 10000, taken.stderr[-2000:]
