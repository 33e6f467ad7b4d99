"""The Prometheus textfile of one host, rendered from facts recorded in the lab (see fleet_hosts.py).

Each rendering is also checked by promtool (Debian's prometheus package, installed by
tests/lab/install-deps), the parser and linter Prometheus itself ships.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.lifeline.storage.plugins.filter.prometheus_textfile import prometheus_textfile
from ansible_collections.lifeline.storage.plugins.module_utils._prometheus_textfile import render_textfile

from .fleet_hosts import failing_disk, lab_smart, md_facts

PROMTOOL = shutil.which("promtool")


def promtool_check(text: str) -> None:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (tests/lab/install-deps installs Debian's prometheus package)")
    done = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def samples(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_degraded_array_member_states_and_findings():
    text = render_textfile({"lifeline_md": md_facts("md_degraded")}, 1764940000)
    promtool_check(text)
    lines = samples(text)
    assert "lifeline_storage_collection_timestamp_seconds 1764940000.0" in lines
    assert 'lifeline_storage_md_array_degraded{array="md1"} 1' in lines
    assert 'lifeline_storage_md_array_state{array="md1",level="raid1",state="clean"} 1' in lines
    assert 'lifeline_storage_md_member_state{array="md1",device="/dev/vdb",serial="VIRT0001",slot="0",state="in_sync"} 1' in lines
    # The slot VIRT0002 dropped out of: still named by its serial.
    assert 'lifeline_storage_md_member_state{array="md1",device="/dev/vdc",serial="VIRT0002",slot="1",state="missing"} 1' in lines
    assert 'lifeline_storage_md_array_sync_completed_ratio{array="md1"} 1.0' in lines
    assert 'lifeline_storage_findings{code="MD_ARRAY_DEGRADED",severity="critical"} 1' in lines
    assert 'lifeline_storage_findings_by_severity{severity="critical"} 2' in lines
    assert 'lifeline_storage_findings_by_severity{severity="info"} 0' in lines
    assert 'lifeline_storage_subset_available{subset="md"} 1' in lines


def test_resync_progress_and_smart_health_per_serial():
    smart = lab_smart()
    smart["disks"].append(failing_disk("WD0001", "/dev/sdc"))
    text = prometheus_textfile({"lifeline_md": md_facts("md_raid5_resync"), "lifeline_smart": smart}, 1764940000.25)
    promtool_check(text)
    lines = samples(text)
    assert 'lifeline_storage_md_array_sync_action{action="resync",array="md5"} 1' in lines
    assert 'lifeline_storage_md_array_sync_completed_ratio{array="md5"} 0.009' in lines  # 0.9 % recorded
    assert 'lifeline_storage_md_array_mismatch_sectors{array="md5"} 0' in lines
    assert 'lifeline_storage_disk_smart_status{device="/dev/sdc",serial="WD0001",status="failing"} 1' in lines
    assert 'lifeline_storage_disk_smart_status{device="/dev/sdc",serial="WD0001",status="healthy"} 0' in lines
    assert 'lifeline_storage_disk_smart_status{device="/dev/vdb",serial="VIRT0001",status="unknown"} 1' in lines
    assert 'lifeline_storage_disk_smart_score{device="/dev/sdc",serial="WD0001"} 0' in lines
    assert 'lifeline_storage_disk_power_on_seconds{device="/dev/sdc",serial="WD0001"} %d' % (592 * 3600) in lines
    assert 'lifeline_storage_findings{code="MD_SYNC_IN_PROGRESS",severity="warning"} 1' in lines


def test_label_values_are_escaped_and_an_unavailable_subset_is_zero():
    facts = {"lifeline_md": {"available": False, "findings": [], "arrays": []},
             "lifeline_smart": {"available": True, "findings": [],
                                "disks": [{"serial": 'odd"serial\\with\nnewline', "device": "/dev/sdz", "health": None}]}}
    text = render_textfile(facts, 0)
    promtool_check(text)
    assert 'lifeline_storage_subset_available{subset="md"} 0' in text
    assert 'serial="odd\\"serial\\\\with\\nnewline"' in text
