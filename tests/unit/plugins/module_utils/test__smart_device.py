"""Real smartctl outputs (pySMART's own recorded data sets) read through pySMART into our model.

Every expected value below was read from the fixture file named in the case (see
tests/unit/fixtures/smart/SOURCES.md), not from the code's output.
"""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._smart_device import read_device
from ansible_collections.lifeline.storage.plugins.module_utils._smart_health import assess

from .smartctl_replay import FIXTURES, SmartctlReplay

PYSMART = FIXTURES / "pysmart"
DERIVED = FIXTURES / "derived"


def read(directory, case: str, device: str, interface: str, transport: str | None = None) -> dict:
    runner = SmartctlReplay(directory, case)
    disk = read_device(runner, device, True, transport, interface=interface)
    disk["query"] = "read"
    disk["health"] = assess(disk)
    return disk


def reason_codes(disk: dict) -> list[str]:
    return [reason["code"] for reason in disk["health"]["reasons"]]


def test_sata_hdd_identity_attributes_and_clean_verdict():
    disk = read(PYSMART, "singletests__sat_hdd_0_issue70", "/dev/sg2", "sat", "sata")
    assert (disk["model"], disk["serial_reported"], disk["firmware"]) == ("ST2000NM000A-2J2100", "WS10SM2A", "TN03")
    assert (disk["interface"], disk["rotation_rate_rpm"], disk["solid_state"]) == ("sata", 7200, False)
    assert disk["assessment"] == "PASS"
    assert disk["power_on_hours"] == 1380
    assert disk["attributes"]["188"]["raw_value"] == 0
    assert disk["attributes"]["199"]["normalized"] == 200
    assert disk["error_log_count"] == 0
    # "# 1  Extended offline    Completed without error  00%  1284": 1380 - 1284 hours ago.
    assert disk["self_test"]["last"] == {"type": "Extended offline", "result": "Completed without error",
                                         "lifetime_hours": 1284, "age_hours": 96}
    assert disk["health"] == {"status": "healthy", "score": 100, "reasons": []}


def test_usb_bridge_ssd_with_a_command_timeout_is_watched():
    disk = read(PYSMART, "singletests__usb_ssd_0_issue_50", "/dev/sda", "ata", "usb")
    assert disk["interface"] == "usb"
    assert disk["model"] == "LITEONIT LCT-512L9S-11 2.5 7mm 512GB"
    assert disk["solid_state"] is True  # "Rotation Rate: Solid State Device"
    assert disk["attributes"]["9"]["threshold"] is None  # THRESH "---"
    assert disk["power_on_hours"] == 20379
    assert disk["attributes"]["188"]["raw_value"] == 1
    assert disk["health"]["status"] == "watch"
    assert reason_codes(disk) == ["ATA_COMMAND_TIMEOUT"]
    assert disk["self_test"]["last"]["age_hours"] == 20379 - 2376


def test_reallocated_and_pending_sectors_are_not_healthy():
    clean = read(PYSMART, "singletests__sata_hdd_1_issue46", "/dev/sdau", "ata")
    assert clean["health"]["status"] == "healthy"
    damaged = read(DERIVED, "reallocated_pending", "/dev/sdau", "ata")
    assert damaged["attributes"]["5"]["raw_value"] == 8
    assert damaged["attributes"]["197"]["raw_value"] == 2
    assert damaged["health"]["status"] == "watch"
    assert sorted(reason_codes(damaged)) == ["ATA_PENDING_SECTORS", "ATA_REALLOCATED_SECTORS"]
    assert damaged["health"]["score"] < clean["health"]["score"]


def test_attribute_failing_now_and_failed_assessment_are_failing():
    disk = read(DERIVED, "failing_now", "/dev/sdau", "ata")
    assert disk["assessment"] == "FAIL"
    assert disk["attributes"]["5"]["when_failed"] == "FAILING_NOW"
    assert disk["health"]["status"] == "failing"
    assert {"SMART_ASSESSMENT_FAIL", "ATA_ATTRIBUTE_FAILING_NOW", "ATA_REALLOCATED_SECTORS"} <= set(reason_codes(disk))


def test_nvme_health_log():
    disk = read(PYSMART, "singletests__nvme_0", "/dev/nvme0", "nvme", "nvme")
    assert disk["model"] == "KBG30ZMV256G TOSHIBA"
    assert disk["nvme"]["critical_warning"] == 0
    assert (disk["nvme"]["available_spare"], disk["nvme"]["available_spare_threshold"]) == (100, 10)
    assert disk["nvme"]["percentage_used"] == 28
    assert disk["nvme"]["media_errors"] == 0
    assert disk["nvme"]["error_log_entries"] == 1356  # printed as "1.356"
    assert disk["error_log_count"] == 1356
    # NVMe error log entries are mostly commands the host sent that the drive rejected: not a
    # media problem, so no penalty (docs/smart-health.md).
    assert disk["health"]["status"] == "healthy"


def test_nvme_critical_warning_is_failing():
    disk = read(DERIVED, "nvme_critical_warning", "/dev/nvme0", "nvme", "nvme")
    assert disk["nvme"]["critical_warning"] == 4
    assert disk["health"]["status"] == "failing"
    assert reason_codes(disk) == ["NVME_CRITICAL_WARNING"]


def test_nvme_output_with_bytes_outside_utf8_is_reported_not_guessed():
    # Recorded on Windows: thousands separators are 0xa0 bytes. The runner shows them as the text
    # \xa0 (as it shows any byte that is not UTF-8) rather than guessing a code page, so pySMART
    # cannot read "21\xa0600\xa0976" as a number; the smart subset reports that disk as an error
    # (SMART_QUERY_FAILED). The runner's C locale keeps such separators out of Linux outputs.
    with pytest.raises(ValueError) as raised:
        read(PYSMART, "singletests__nvme_9_issue_72", "/dev/sda", "nvme")
    assert repr("21\\xa0600\\xa0976") in str(raised.value)


def test_sas_hdd():
    disk = read(PYSMART, "singletests__sas_hdd_0_issue_51", "/dev/sdc", "scsi", "sas")
    assert disk["interface"] == "sas"
    assert disk["temperature_c"] == 32  # "Current Drive Temperature: 32 C"
    assert disk["scsi"]["grown_defects"] == 0  # "Elements in grown defect list: 0"
    assert disk["attributes"] == {} and disk["nvme"] is None
    assert disk["health"]["status"] == "healthy"


def test_megaraid_passthrough_sata_disk():
    disk = read(PYSMART, "singletests__megaraid_ph_sata_hdd_0", "/dev/bus/0", "megaraid,16")
    assert disk["model"] == "HGST HUS724040ALE640"
    assert disk["power_on_hours"] == 47396
    assert disk["health"]["status"] == "healthy"


def test_raid_controller_volume_without_smart_is_unknown():
    disk = read(PYSMART, "singletests__unsupported_0", "/dev/sda", "scsi")
    assert disk["smart_supported"] is False
    assert disk["health"] == {"status": "unknown", "score": None,
                              "reasons": [{"code": "NO_SMART_CAPABILITY", "verdict": "unknown", "penalty": 0,
                                           "message": "the device reports no SMART capability"}]}


@pytest.mark.parametrize("case,device,interface", [
    ("singletests__nvme_usb_asmedia_issue_97", "/dev/sda", "sntasmedia"),
])
def test_usb_nvme_bridge(case, device, interface):
    disk = read(PYSMART, case, device, interface, "usb")
    assert disk["interface"] == "usb"
    assert disk["model"] == "Samsung Portable SSD T7"
    assert disk["nvme"] is not None


def test_output_without_serial_or_model_is_incomplete_and_unknown():
    # Derived: the lab's SATA output without its Device Model and Serial Number lines.
    disk = read(DERIVED, "no_identity", "/dev/sda", "sat", "sata")
    assert (disk["serial_reported"], disk["model"]) == (None, None)
    assert disk["identity_incomplete"] == {"missing": ["serial", "model"], "command": "/usr/sbin/smartctl -d sat --all /dev/sda"}
    assert disk["health"]["status"] == "unknown" and disk["health"]["score"] is None
    assert reason_codes(disk) == ["IDENTITY_INCOMPLETE"]
    assert "/usr/sbin/smartctl -d sat --all /dev/sda" in disk["health"]["reasons"][0]["message"]


def test_output_with_serial_and_model_is_complete():
    disk = read(PYSMART, "singletests__sas_hdd_0_issue_51", "/dev/sdc", "scsi", "sas")
    assert disk["identity_incomplete"] is None
