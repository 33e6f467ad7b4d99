"""The smart subset on the lab guest's real QEMU IDE, NVMe and virtio disks.

prepare.yml removed pySMART, wrapped smartctl so every command line is logged (the real
smartctl still answers) and hashed the IDE and NVMe disks; converge.yml applied the facts role,
which installed pySMART from wheels the controller pushed.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from labcheck import by_serial, gather, module_result, run_playbook, sh

PYSMART_PATH = "/var/lib/lifeline-storage/python"
SMART_DISKS = ("IDE0001", "IDE0002", "NVME0001")
VIRTIO_DISKS = ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004")
GATHER_TIMEOUT = 120


def run_module(request, tmp_path: Path, args: dict, pythonpath: bool = True, check: bool = False) -> dict:
    """storage_facts with pySMART on PYTHONPATH (as the facts role runs it), or without."""
    environment = {"PYTHONPATH": PYSMART_PATH} if pythonpath else {}
    # The qemu guest shares two cores with other guests in CI; a smartctl call there once took
    # more than the default 30 s bound. These tests are about what is read, not how fast.
    args = dict({"gather_timeout": GATHER_TIMEOUT}, **args)
    return module_result(request, tmp_path, "lifeline.storage.storage_facts", args, environment, check)


def answer(disk: dict) -> tuple:
    """What a failed assertion on one disk needs to show: its query, reason and error."""
    return disk["serial"], disk["device"], disk["query"], disk["reason"], disk["error"]


def smart_disks(result: dict) -> dict[str, dict]:
    assert result.get("failed") is not True, result.get("msg")
    return {disk["serial"]: disk for disk in result["ansible_facts"]["lifeline_smart"]["disks"]}


def clear_log(host) -> None:
    sh(host, ": > /var/log/lab-smartctl.log")


def log_lines(host) -> list[str]:
    return [line for line in sh(host, "cat /var/log/lab-smartctl.log").splitlines() if line.strip()]


def smartctl_field(text: str, field: str) -> str:
    match = re.search(r"^%s:\s+(.*?)\s*$" % re.escape(field), text, re.M)
    assert match, "%s not in smartctl output" % field
    return match.group(1)


def test_the_role_installed_pysmart_and_a_second_run_changes_nothing(host, request, tmp_path):
    marker = host.file(PYSMART_PATH + "/.installed-pySMART==1.4.3")
    assert marker.exists and marker.user == "root"
    assert host.file(PYSMART_PATH + "/pySMART/__init__.py").exists
    assert not host.file(PYSMART_PATH + ".new").exists  # no half-installed copy left behind
    playbook = tmp_path / "role.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "all", "gather_facts": False, "become": True,
        "roles": [{"role": "lifeline.storage.facts", "vars": {"facts_gather_subset": ["smart"], "facts_write_reports": False}}]}]))
    output = run_playbook(request.config.option.ansible_inventory, str(playbook), {})
    recap = output[output.rindex("PLAY RECAP"):]
    assert re.search(r"lifeline-lab\s*:.*changed=0 ", recap), recap


def test_ide_and_nvme_disks_report_what_smartctl_reports(host, request, tmp_path):
    disks = smart_disks(run_module(request, tmp_path, {"gather_subset": ["smart"]}))
    for serial in SMART_DISKS:
        device = by_serial(serial, host)
        # The truth, from the real smartctl (via the logging wrapper) with the simplest parsing.
        info = sh(host, "/usr/sbin/smartctl.lab-real -i %s" % device)
        disk = disks[serial]
        assert disk["query"] == "read", answer(disk)
        assert disk["device"] == device
        assert disk["serial"] == smartctl_field(info, "Serial Number")
        model_field = "Model Number" if serial.startswith("NVME") else "Device Model"
        assert disk["model"] == smartctl_field(info, model_field)
        assert disk["firmware"] == smartctl_field(info, "Firmware Version")
        assert disk["health"]["status"] == "healthy", disk["health"]
        assert disk["temperature_c"] is not None and disk["power_on_hours"] is not None
    assert disks["IDE0001"]["model"] == "QEMU HARDDISK" and disks["NVME0001"]["model"] == "QEMU NVMe Ctrl"
    assert disks["IDE0001"]["interface"] == "ata" and disks["NVME0001"]["interface"] == "nvme"

    attributes = sh(host, "/usr/sbin/smartctl.lab-real -A %s" % by_serial("IDE0001", host))
    raw_hours = re.search(r"^\s*9 Power_On_Hours\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)", attributes, re.M).group(1)
    assert disks["IDE0001"]["attributes"]["9"]["raw_value"] == int(raw_hours)
    nvme_log = sh(host, "/usr/sbin/smartctl.lab-real -A %s" % by_serial("NVME0001", host))
    assert disks["NVME0001"]["nvme"]["critical_warning"] == int(smartctl_field(nvme_log, "Critical Warning"), 16)

    for serial in VIRTIO_DISKS:
        assert disks[serial]["query"] == "unsupported", answer(disks[serial])
        assert "cannot detect its device type" in disks[serial]["reason"]
        assert disks[serial]["health"]["status"] == "unknown"


def test_every_smartctl_call_carries_the_no_wake_option(host, request, tmp_path):
    clear_log(host)
    disks = smart_disks(run_module(request, tmp_path, {"gather_subset": ["smart"]}))
    lines = log_lines(host)
    assert lines, "the module ran no smartctl at all"
    assert [line for line in lines if not line.startswith("-n standby,3 ")] == []
    for serial in SMART_DISKS + VIRTIO_DISKS:
        assert any(line.endswith(" " + disks[serial]["device"]) for line in lines), serial


def test_wake_true_reads_without_the_no_wake_option(host, request, tmp_path):
    clear_log(host)
    disks = smart_disks(run_module(request, tmp_path, {"gather_subset": ["smart"], "smart_wake": True}))
    assert all(disks[serial]["query"] == "read" for serial in SMART_DISKS)
    lines = log_lines(host)
    assert lines and [line for line in lines if "standby" in line] == []


def test_check_mode_reports_the_same_and_no_change(host, request, tmp_path):
    real = smart_disks(run_module(request, tmp_path, {"gather_subset": ["smart"]}))
    checked_result = run_module(request, tmp_path, {"gather_subset": ["smart"]}, check=True)
    assert checked_result["changed"] is False
    checked = smart_disks(checked_result)
    assert {s: d["health"]["status"] for s, d in checked.items()} == {s: d["health"]["status"] for s, d in real.items()}


def test_smart_devices_limits_the_query_and_names_what_it_cannot_find(host, request, tmp_path):
    clear_log(host)
    result = run_module(request, tmp_path, {"gather_subset": ["smart"], "smart_devices": ["IDE0002", "NOSUCHDISK"]})
    facts = result["ansible_facts"]["lifeline_smart"]
    assert [disk["serial"] for disk in facts["disks"]] == ["IDE0002"]
    assert facts["not_found"][0]["request"] == "NOSUCHDISK"
    assert "SMART_DISK_NOT_FOUND" in [finding["code"] for finding in facts["findings"]]
    device = by_serial("IDE0002", host)
    assert all(line.endswith(" " + device) for line in log_lines(host))


def test_ad_hoc_without_environment_finds_pysmart_where_the_role_installed_it(host):
    """`ansible HOST -m lifeline.storage.storage_facts` after the facts role: no PYTHONPATH, the subset still works."""
    facts = gather(host, subset="smart")  # testinfra's host.ansible: an ad-hoc call with no environment
    assert facts["available"] is True, facts
    assert {disk["serial"]: disk["query"] for disk in facts["disks"] if disk["serial"] in SMART_DISKS} == {
        serial: "read" for serial in SMART_DISKS}


def test_without_pysmart_smart_alone_fails_naming_the_role_and_where_it_installs(host, request, tmp_path):
    sh(host, "mv %s %s.lab-away" % (PYSMART_PATH, PYSMART_PATH))
    try:
        alone = run_module(request, tmp_path, {"gather_subset": ["smart"]}, pythonpath=False)
        both = run_module(request, tmp_path, {"gather_subset": ["md", "smart"]}, pythonpath=False)
    finally:
        sh(host, "mv %s.lab-away %s" % (PYSMART_PATH, PYSMART_PATH))
    assert alone["failed"] is True
    assert alone["msg"].startswith("Failed to import the required Python library (pySMART)")
    assert PYSMART_PATH in alone["msg"] and "lifeline.storage.facts" in alone["msg"], alone["msg"]
    assert both.get("failed") is not True
    assert both["ansible_facts"]["lifeline_md"]["available"] is True
    assert both["ansible_facts"]["lifeline_smart"]["available"] is False
    assert [f["code"] for f in both["ansible_facts"]["lifeline_smart"]["findings"]] == ["SMART_SUBSET_UNAVAILABLE"]


def test_reading_smart_never_wrote_to_the_disks(host):
    after = sh(host, "for disk in /dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001 /dev/disk/by-id/ata-QEMU_HARDDISK_IDE0002 "
                     "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_NVME0001; do printf '%s ' \"$disk\"; "
                     "dd if=\"$disk\" bs=4M iflag=direct status=none | sha256sum | cut -d' ' -f1; done")
    before = sh(host, "cat /var/tmp/lab-smart-hashes.before")
    assert len(before.splitlines()) == 3
    assert after == before
