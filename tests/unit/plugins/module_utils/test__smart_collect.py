"""The smart subset end to end: power check, pySMART reading, verdicts and findings.

smartctl is replayed from outputs recorded on the lab guest (tests/unit/fixtures/smart/lab) and
from a standby answer (fixtures/smart/standby); see fixtures/smart/SOURCES.md.
"""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import LibraryMissing
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap, build_identity_map
from ansible_collections.lifeline.storage.plugins.module_utils import _smart_collect
from ansible_collections.lifeline.storage.plugins.module_utils._smart_collect import collect_smart, select_disks
from ansible_collections.lifeline.storage.plugins.module_utils._smartctl_parse import NO_WAKE_ARGS

from .smartctl_replay import FIXTURES, SmartctlReplay, lab_identity

LAB = FIXTURES / "lab"
STANDBY = FIXTURES / "standby"


def by_serial(facts: dict) -> dict[str, dict]:
    return {disk["serial"]: disk for disk in facts["disks"]}


def test_lab_disks_ide_and_nvme_read_virtio_unsupported():
    runner = SmartctlReplay(LAB)
    facts = collect_smart(runner, None, lab_identity(), {})
    disks = by_serial(facts)
    assert sorted(disks) == ["IDE0001", "NVME0001", "VIRT0001"]  # whole disks only: no partition, no md

    ide = disks["IDE0001"]
    assert (ide["query"], ide["model"], ide["firmware"], ide["interface"], ide["smartctl_type"]) == (
        "read", "QEMU HARDDISK", "2.5+", "ata", "sat")
    assert ide["power_mode"] == "active"
    assert ide["power_on_hours"] == 1 and ide["temperature_c"] == 31  # 9 Power_On_Hours raw 1; 190 raw 31
    assert ide["attributes"]["5"] == {"id": 5, "name": "Reallocated_Sector_Ct", "normalized": 100, "worst": 100,
                                      "threshold": 36, "type": "Pre-fail", "when_failed": None, "raw": "0", "raw_value": 0}
    assert ide["error_log_count"] == 0  # "No Errors Logged"
    assert ide["self_test"] == {"count": 0, "last": None, "running": False}
    assert ide["health"] == {"status": "healthy", "score": 100, "reasons": []}
    assert ide["stable_name"] == "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001"

    nvme = disks["NVME0001"]
    assert (nvme["query"], nvme["interface"], nvme["temperature_c"]) == ("read", "nvme", 50)
    assert nvme["nvme"]["critical_warning"] == 0 and nvme["nvme"]["media_errors"] == 0
    assert nvme["health"]["status"] == "healthy"

    virtio = disks["VIRT0001"]
    assert virtio["query"] == "unsupported"
    assert "cannot detect its device type" in virtio["reason"]
    assert virtio["health"]["status"] == "unknown"
    assert ("SMART_UNSUPPORTED", "VIRT0001") in [(f["code"], f["subject"]) for f in facts["findings"]]
    # Every disk costs one call: it checks the power mode, tells a virtio disk has no SMART and
    # reads the others.
    assert sorted(runner.calls) == [["smartctl", "-n", "standby,3", "--json=o", "--all", device]
                                    for device in ("/dev/nvme0n1", "/dev/sda", "/dev/vdb")]


def test_one_call_reads_what_the_three_calls_of_an_older_smartctl_read():
    """smartctl 7.3's --json=o answer and its -i, -d test and --all answers, recorded on the same disks."""
    one_call = by_serial(collect_smart(SmartctlReplay(LAB), None, lab_identity(), {}))
    without_json = AnswersFor("/dev/sda", {"--json=o": (1, OLD_SMARTCTL, "")}, also=("/dev/nvme0n1", "/dev/vdb"))
    three_calls = by_serial(collect_smart(without_json, None, lab_identity(), {}))
    for serial in ("IDE0001", "VIRT0001"):
        assert one_call[serial] == three_calls[serial], serial
    # The NVMe recordings were made at different times: its read counters moved in between.
    assert {key: value for key, value in one_call["NVME0001"].items() if key != "nvme"} == \
        {key: value for key, value in three_calls["NVME0001"].items() if key != "nvme"}
    assert sorted(call[3:] for call in without_json.calls if call[-1] == "/dev/sda") == [
        ["--json=o", "--all", "/dev/sda"], ["-d", "sat", "--all", "/dev/sda"], ["-d", "test", "/dev/sda"], ["-i", "/dev/sda"]]


def test_every_call_carries_the_no_wake_option():
    runner = SmartctlReplay(LAB)
    collect_smart(runner, None, lab_identity(), {})
    assert len(runner.calls) == 3  # one --json=o --all on each of the three disks
    for call in runner.calls:
        assert call[1:3] == list(NO_WAKE_ARGS), call


def test_standby_disk_is_left_asleep_after_one_call():
    runner = SmartctlReplay(STANDBY)
    sleeper = {"kernel_name": "sdc", "type": "disk", "parent": None, "serial": "SLEEPY01", "wwn": None,
               "model": "WDC WD40EFRX", "size_bytes": 4000787030016, "rotational": True, "transport": "sata"}
    identity = IdentityMap(build_identity_map([sleeper], {}), None)
    facts = collect_smart(runner, None, identity, {})
    disk = facts["disks"][0]
    assert (disk["query"], disk["power_mode"]) == ("standby", "standby")
    assert disk["health"]["status"] == "unknown"
    assert runner.calls == [["smartctl", "-n", "standby,3", "--json=o", "--all", "/dev/sdc"]]
    assert [f["code"] for f in facts["findings"]] == ["SMART_DISK_STANDBY"]


def test_standby_disk_is_left_asleep_by_a_smartctl_without_json():
    runner = AnswersFor("/dev/sdc", {"--json=o": (1, OLD_SMARTCTL, "")}, directory=STANDBY)
    sleeper = {"kernel_name": "sdc", "type": "disk", "parent": None, "serial": "SLEEPY01", "wwn": None,
               "model": "WDC WD40EFRX", "size_bytes": 4000787030016, "rotational": True, "transport": "sata"}
    facts = collect_smart(runner, None, IdentityMap(build_identity_map([sleeper], {}), None), {})
    assert (facts["disks"][0]["query"], facts["disks"][0]["power_mode"]) == ("standby", "standby")
    assert runner.calls == [["smartctl", "-n", "standby,3", "--json=o", "--all", "/dev/sdc"],
                            ["smartctl", "-n", "standby,3", "-i", "/dev/sdc"]]


def test_wake_true_queries_without_the_no_wake_option():
    runner = SmartctlReplay(LAB)
    facts = collect_smart(runner, None, lab_identity(), {"smart_wake": True, "smart_devices": ["IDE0001"]})
    assert [disk["serial"] for disk in facts["disks"]] == ["IDE0001"]
    assert facts["disks"][0]["query"] == "read"
    assert runner.calls == [["smartctl", "--json=o", "--all", "/dev/sda"]]


def test_a_disk_that_errors_is_reported_and_others_still_read():
    # No recording exists for sdz: the replay fails its call as smartctl failing would.
    broken = {"kernel_name": "sdz", "type": "disk", "parent": None, "serial": "BROKEN01", "wwn": None,
              "model": None, "size_bytes": None, "rotational": None, "transport": "sata"}
    facts = collect_smart(SmartctlReplay(LAB), None, lab_identity((broken,)), {})
    disks = by_serial(facts)
    assert disks["BROKEN01"]["query"] == "error"
    assert disks["BROKEN01"]["error"]["cmd"] == ["smartctl", "-n", "standby,3", "--json=o", "--all", "/dev/sdz"]
    assert disks["IDE0001"]["query"] == "read"
    assert "SMART_QUERY_FAILED" in [f["code"] for f in facts["findings"]]


# What a smartctl older than 7.0 answers to --json=o (its usage error; smartctl 6.6's wording).
OLD_SMARTCTL = """smartctl 6.6 2016-05-31 r4324 [x86_64-linux-4.19.0-27-amd64] (local build)
Copyright (C) 2002-16, Bruce Allen, Christian Franke, www.smartmontools.org

=======> UNRECOGNIZED OPTION: json=o

Use smartctl -h to get a usage summary

"""


class AnswersFor(SmartctlReplay):
    """The recordings in DIRECTORY, except that the calls whose arguments end with DEVICE (or a device in ALSO) get ANSWER."""

    def __init__(self, device: str, answer: dict[str, tuple[int, str, str]], also: tuple[str, ...] = (), directory=LAB) -> None:
        super().__init__(directory)
        self._devices = (device,) + also
        self._answer = answer

    def run(self, name, args, ok_rcs=(0,)):
        if args[-1] in self._devices:
            for option, (rc, stdout, stderr) in self._answer.items():
                if option in args:
                    with self._lock:
                        self.calls.append([name] + list(args))
                    return CommandResult(["/usr/sbin/smartctl"] + list(args), rc, stdout, stderr, stdout.encode())
        return super().run(name, args, ok_rcs)


def test_a_smartctl_that_printed_nothing_is_an_error_naming_its_exit_status_not_a_read():
    # What a smartctl that could not start looks like: no output, exit status 127, a shell's complaint.
    runner = AnswersFor("/dev/vdb", {"--json=o": (127, "", "sh: 1: exec: /usr/sbin/smartctl: not found\n"),
                                     "-i": (127, "", "sh: 1: exec: /usr/sbin/smartctl: not found\n")})
    disks = by_serial(collect_smart(runner, None, lab_identity(), {}))
    virtio = disks["VIRT0001"]
    assert virtio["query"] == "error", virtio
    assert "exited with 127 and described no device" in virtio["reason"]
    assert "exec: /usr/sbin/smartctl: not found" in virtio["reason"]
    assert virtio["health"]["status"] == "unknown"
    assert disks["IDE0001"]["query"] == "read"  # the other disks are still read


def test_a_device_pysmart_cannot_type_is_an_error_quoting_smartctl_not_an_empty_read():
    header = (LAB / "-i__dev_sda.txt").read_text().split("=== START")[0]
    runner = AnswersFor("/dev/sda", {"--json=o": (1, OLD_SMARTCTL, ""),
                                     "test": (1, header + "/dev/sda: Device disappeared during detection\n", "")})
    ide = by_serial(collect_smart(runner, None, lab_identity(), {}))["IDE0001"]
    assert ide["query"] == "error", ide
    assert ide["reason"] == ("smartctl detected no device type for /dev/sda (exit status 1): "
                             "/dev/sda: Device disappeared during detection")
    assert ide["assessment"] is None and ide["health"]["status"] == "unknown"


def test_a_detection_that_printed_only_the_banner_names_its_exit_status_and_stderr():
    """Seen in the lab under load: `smartctl -d test` printed its banner and nothing else on stdout."""
    header = (LAB / "-i__dev_sda.txt").read_text().split("=== START")[0]
    runner = AnswersFor("/dev/sda", {"--json=o": (1, OLD_SMARTCTL, ""),
                                     "test": (2, header, "Smartctl open device: /dev/sda failed: No such device\n")})
    ide = by_serial(collect_smart(runner, None, lab_identity(), {}))["IDE0001"]
    assert ide["query"] == "error", ide
    assert ide["reason"] == ("smartctl detected no device type for /dev/sda (exit status 2): "
                             "Smartctl open device: /dev/sda failed: No such device")
    assert ide["error"]["rc"] == 2 and "No such device" in ide["error"]["stderr"]


def test_select_disks_by_serial_by_id_path_and_kernel_name():
    identity = lab_identity()
    chosen, not_found = select_disks(identity, ["NVME0001", "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001", "vdb", "NOPE"])
    assert chosen == ["nvme0n1", "sda", "vdb"]
    assert not_found == [{"request": "NOPE", "reason": "no whole disk on this host is named NOPE"}]
    # A partition is not a disk SMART can be asked about.
    assert select_disks(identity, ["vdb1"])[0] == []


def test_missing_pysmart_raises_the_standard_message(monkeypatch):
    monkeypatch.setattr(_smart_collect, "PYSMART_IMPORT_ERROR", "Traceback: No module named 'pySMART'")
    with pytest.raises(LibraryMissing) as raised:
        collect_smart(SmartctlReplay(LAB), None, lab_identity(), {})
    assert "Failed to import the required Python library (pySMART)" in str(raised.value)
    assert "No module named" in raised.value.import_traceback


def test_missing_smartctl_names_the_tool():
    from ansible_collections.lifeline.storage.plugins.module_utils._command import ToolMissing

    class NoSmartctl(SmartctlReplay):
        def run(self, name, args, ok_rcs=(0,)):
            raise ToolMissing([name] + list(args), None, "", "", "%s is not installed on this host" % name)

    with pytest.raises(ToolMissing, match="smartctl is not installed"):
        collect_smart(NoSmartctl(LAB, missing=("smartctl",)), None, lab_identity(), {})


def test_selftest_findings_respect_the_age_limit():
    disk = {"query": "read", "interface": "sata", "device": "/dev/sda", "serial": "S1", "stable_name": None,
            "self_test": {"count": 1, "running": False,
                          "last": {"type": "Short offline", "result": "Completed without error", "lifetime_hours": 100, "age_hours": 800}}}
    old = _smart_collect._self_test_findings(disk, "S1", {}, 720)
    assert [f["code"] for f in old] == ["SMART_SELFTEST_OLD"]
    assert _smart_collect._self_test_findings(disk, "S1", {}, 1000) == []


def test_incomplete_identity_gets_a_finding_naming_the_command_and_an_unknown_verdict():
    disk = _smart_collect._base_entry({"kernel_name": "sda", "device": "/dev/sda", "serial": "IDE0001", "by_id": []})
    disk.update(query="read", assessment="PASS", model="QEMU HARDDISK",
                identity_incomplete={"missing": ["serial"], "command": "/usr/sbin/smartctl -n standby -d sat --all /dev/sda"})
    disk["health"] = _smart_collect.assess(disk)
    assert disk["health"]["status"] == "unknown"
    findings = _smart_collect.smart_findings([disk], [], 720)
    assert [finding["code"] for finding in findings] == ["SMART_IDENTITY_INCOMPLETE"]
    finding = findings[0]
    assert finding["severity"] == "warning" and finding["subject"] == "IDE0001"
    assert "no serial" in finding["message"] and "/usr/sbin/smartctl -n standby -d sat --all /dev/sda" in finding["message"]
    assert finding["evidence"]["command"] == "/usr/sbin/smartctl -n standby -d sat --all /dev/sda"
    assert finding["evidence"]["missing"] == ["serial"]


def test_missing_pysmart_message_names_the_role_and_its_directory(monkeypatch):
    monkeypatch.setattr(_smart_collect, "PYSMART_IMPORT_ERROR", "Traceback: No module named 'pySMART'")
    with pytest.raises(LibraryMissing) as raised:
        collect_smart(SmartctlReplay(LAB), None, lab_identity(), {})
    assert "/var/lib/lifeline-storage/python" in str(raised.value)
    assert "lifeline.storage.facts role" in str(raised.value) and "facts_pysmart_path" in str(raised.value)
