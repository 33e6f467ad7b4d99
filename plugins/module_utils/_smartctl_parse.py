# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the few smartctl text fields pySMART does not model.

pySMART parses attributes, NVMe health and self-test logs. It does not keep the power mode,
whether SMART is supported or enabled, the ATA error log count or the rotation rate; these
parsers read them from the same smartctl text output.
"""

from __future__ import annotations

import json
import re

from ansible_collections.lifeline.storage.plugins.module_utils._text import json_with_escapes

# smartctl -n standby,STATUS exits with STATUS when the device would have to spin up. smartctl's
# exit codes are a bit mask; 3 means "command line did not parse" together with "device open
# failed", which smartctl never reports together, so 3 cannot be mistaken for another result.
STANDBY_EXIT_STATUS = 3
NO_WAKE_ARGS = ("-n", "standby,%d" % STANDBY_EXIT_STATUS)
# One call per disk: JSON output ("o" adds smartctl's text output to it, line by line) with
# everything --all reads. The JSON adds the device type smartctl detected; the text is what
# pySMART parses, the same as smartctl prints without JSON.
JSON_ALL_ARGS = ("--json=o", "--all")

# "Device is in STANDBY mode, exit(3)", "... STANDBY (OS) mode ...", "... SLEEP mode ...".
_LOW_POWER_LINE = re.compile(r"^Device is in (?P<mode>[A-Z_]+)(?: \(OS\))? mode", re.MULTILINE)
_FIELD_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9 /()._-]*?):\s+(?P<value>.*?)\s*$")
_ATA_ERROR_COUNT = re.compile(r"^ATA Error Count:\s+(\d+)", re.MULTILINE)
_NO_ERRORS_LOGGED = re.compile(r"^No Errors Logged\s*$", re.MULTILINE)
_RPM = re.compile(r"^(\d+) rpm")


def low_power_mode(output: str) -> str | None:
    """The low-power mode smartctl refused to leave (`standby`, `sleep`), or None."""
    match = _LOW_POWER_LINE.search(output)
    if match is None:
        return None
    return match.group("mode").lower().split("_")[0]


def is_standby_result(rc: int, output: str) -> bool:
    """True when smartctl stopped because of -n standby: both the exit status and its message."""
    return rc == STANDBY_EXIT_STATUS and low_power_mode(output) is not None


def _fields(output: str) -> list[tuple[str, str]]:
    fields = []
    for line in output.splitlines():
        match = _FIELD_LINE.match(line)
        if match:
            fields.append((match.group("key").strip(), match.group("value")))
    return fields


def parse_smartctl_info(output: str) -> dict:
    """Fields of `smartctl -i` (or the information section of `--all`) that decide what to do next.

    smart_supported / smart_enabled are None when smartctl does not say (NVMe devices always
    have their health log; smartctl prints no "SMART support is" line for them).
    """
    info: dict = {
        "power_mode": None,
        "smart_supported": None,
        "smart_enabled": None,
        "device_type_unknown": "Unable to detect device type" in output,
        "rotation_rate_rpm": None,
        "solid_state": None,
        "sata_version": None,
        "transport_protocol": None,
    }
    mode = low_power_mode(output)
    if mode is not None:
        info["power_mode"] = mode
    for key, value in _fields(output):
        lowered = value.lower()
        if key == "SMART support is":
            if lowered.startswith("available"):
                info["smart_supported"] = True
            elif lowered.startswith("unavailable"):
                info["smart_supported"] = False
            elif lowered.startswith("enabled"):
                info["smart_enabled"] = True
            elif lowered.startswith("disabled"):
                info["smart_enabled"] = False
        elif key == "Power mode is" or key == "Power mode was":
            info["power_mode"] = "active" if "active" in lowered or "idle" in lowered else lowered.split()[0]
        elif key == "Rotation Rate":
            rpm = _RPM.match(value)
            info["rotation_rate_rpm"] = int(rpm.group(1)) if rpm else None
            info["solid_state"] = "solid state" in lowered
        elif key == "SATA Version is":
            info["sata_version"] = value
        elif key == "Transport protocol":
            info["transport_protocol"] = value
    return info


def parse_ata_error_count(output: str) -> int | None:
    """Errors in the ATA SMART error log: the count, 0 for "No Errors Logged", None when absent."""
    match = _ATA_ERROR_COUNT.search(output)
    if match:
        return int(match.group(1))
    if _NO_ERRORS_LOGGED.search(output):
        return 0
    return None


def parse_smartctl_json_text(stdout: str) -> dict | None:
    """{text, device_type} from `smartctl --json=o` output, or None when STDOUT is not such output.

    text is smartctl's text output as it prints it without --json; device_type is the type it
    detected and opened (`sat`, `nvme`, `scsi`, ...), None when it opened none. None for the
    whole answer: a smartctl older than 7.0 (no JSON output), or one that printed nothing.
    """
    try:
        # Bytes that are not UTF-8 (a serial, a model) keep the \\xNN the text output would show.
        document = json.loads(json_with_escapes(stdout))
    except ValueError:
        return None
    smartctl = document.get("smartctl") if isinstance(document, dict) else None
    lines = smartctl.get("output") if isinstance(smartctl, dict) else None
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        return None
    device = document.get("device")
    device_type = device.get("type") if isinstance(device, dict) else None
    return {"text": "\n".join(lines) + "\n", "device_type": device_type if isinstance(device_type, str) and device_type else None}
