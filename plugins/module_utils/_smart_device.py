# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: one disk's SMART data, read through pySMART.

pySMART owns the device model and the parsing of smartctl's output. Its smartctl calls are
routed through the collection's CommandRunner (timeout, C locale, errors that carry the
command), and unless waking is allowed every call carries smartctl's no-wake option.

A disk costs one smartctl call where smartctl has JSON output (7.0 and later): `--json=o --all`
checks the power mode before it reads anything, names the device type it detected, and carries
the text output pySMART parses, which pySMART is then handed instead of running its own type
detection and `--all`. An older smartctl gets the three calls pySMART alone would make after
the power check: `-i`, `-d test`, `-d TYPE --all`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import traceback
import types

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._smartctl_parse import (
    NO_WAKE_ARGS,
    JSON_ALL_ARGS,
    STANDBY_EXIT_STATUS,
    is_standby_result,
    low_power_mode,
    parse_ata_error_count,
    parse_smartctl_info,
    parse_smartctl_json_text,
)

# Where the facts role installs pySMART: the default of facts_pysmart_path in
# roles/facts/defaults/main.yml (a unit test keeps the two equal). The role runs storage_facts
# with it on PYTHONPATH; an ad hoc call has no such environment, so the directory is searched too.
FACTS_ROLE_PYSMART_PATH = "/var/lib/lifeline-storage/python"


class ImportedOnFirstUse(types.ModuleType):
    """Stands in for an installed module until one of its attributes is used, then imports it."""

    def __getattr__(self, name: str):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


# pySMART imports chardet only for its own output decoder, Smartctl._decode_output, which
# RunnerSmartctl never reaches (it replaces _exec, the decoder's one caller). Importing chardet
# took 0.15-0.2 s of every run in the lab guest. Only an installed chardet is stood in for, so a
# pySMART whose dependencies are missing still fails to import as before.
DEFERRED_PYSMART_DEPENDENCIES = ("chardet",)


def _import_pysmart() -> tuple:
    for name in DEFERRED_PYSMART_DEPENDENCIES:
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            sys.modules[name] = ImportedOnFirstUse(name)
    from pySMART import Device  # pylint: disable=import-outside-toplevel
    from pySMART.interface.ata import AtaAttributes as Ata  # pylint: disable=import-outside-toplevel
    from pySMART.interface.nvme import NvmeAttributes as Nvme  # pylint: disable=import-outside-toplevel
    from pySMART.interface.scsi import SCSIAttributes as Scsi  # pylint: disable=import-outside-toplevel
    from pySMART.smartctl import Smartctl  # pylint: disable=import-outside-toplevel
    return Device, Ata, Nvme, Scsi, Smartctl


def load_pysmart(fallback_directory: str, importer=_import_pysmart) -> tuple[tuple | None, str | None]:
    """(pySMART's classes, None), or (None, the import traceback).

    Tries the Python path first, then FALLBACK_DIRECTORY (appended to sys.path, so a pySMART
    installed elsewhere wins); the directory is taken off the path again when that fails too.
    """
    try:
        return importer(), None
    except ImportError:
        error = traceback.format_exc()
    if not os.path.isdir(fallback_directory) or fallback_directory in sys.path:
        return None, error
    sys.path.append(fallback_directory)
    try:
        return importer(), None
    except ImportError:
        sys.path.remove(fallback_directory)
        return None, traceback.format_exc()


PYSMART_CLASSES, PYSMART_IMPORT_ERROR = load_pysmart(FACTS_ROLE_PYSMART_PATH)
if PYSMART_CLASSES is not None:
    PySmartDevice, AtaAttributes, NvmeAttributes, SCSIAttributes, PySmartSmartctl = PYSMART_CLASSES
else:
    PySmartDevice = AtaAttributes = NvmeAttributes = SCSIAttributes = None
    PySmartSmartctl = object


class DiskAsleep(Exception):
    """smartctl stopped because answering would have woken the disk."""

    def __init__(self, mode: str) -> None:
        super().__init__("the disk is in %s mode" % mode)
        self.mode = mode


class RunnerSmartctl(PySmartSmartctl):
    """pySMART's smartctl interface, running every call through the collection's runner.

    Keeps the text of each call so fields pySMART does not model can be read from it. PREREAD,
    the answer of a `--json=o --all` call already made for the device, answers pySMART's
    `--all` call instead of running smartctl again.
    """

    def __init__(self, runner, wake: bool, preread: CommandResult | None = None) -> None:
        if PYSMART_IMPORT_ERROR is None:
            super().__init__(smartctl_path="smartctl")
        self._runner = runner
        self._wake = wake
        self._preread = preread
        self.outputs: list[tuple[list[str], str]] = []
        # The last call's exit status and stderr, for the error when pySMART could not use its answer.
        self.last_rc: int | None = None
        self.last_stderr = ""

    def _exec(self, cmd: list[str]) -> tuple[list[str], int]:
        if self._preread is not None and "--all" in cmd:
            result, self._preread = self._preread, None
        else:
            args = list(cmd[1:]) if self._wake else list(NO_WAKE_ARGS) + list(cmd[1:])
            # smartctl's exit status is a bit mask of findings, not success or failure.
            result = self._runner.run("smartctl", args, ok_rcs=tuple(range(256)))
        # The runner has decoded the output already (bytes that are not UTF-8 as \xNN escapes).
        # pySMART's own decoder is not used: it guesses a code page and drops what is not ASCII.
        output = result.stdout
        self.last_rc, self.last_stderr = result.rc, result.stderr
        if not self._wake and is_standby_result(result.rc, output):
            raise DiskAsleep(low_power_mode(output) or "standby")
        self.outputs.append((result.cmd, output))
        return output.splitlines(), result.rc


def read_all(runner, device: str, wake: bool) -> tuple[CommandResult, str | None] | None:
    """`smartctl --json=o --all`, with the no-wake option unless WAKE, as (result, device type).

    The result's stdout is smartctl's text output; the device type is the one it opened (None
    when it opened none). None when this smartctl printed no JSON (older than 7.0).
    """
    args = list(JSON_ALL_ARGS) + [device] if wake else list(NO_WAKE_ARGS) + list(JSON_ALL_ARGS) + [device]
    result = runner.run("smartctl", args, ok_rcs=tuple(range(256)))
    answer = parse_smartctl_json_text(result.stdout)
    if answer is None:
        return None
    return CommandResult(result.cmd, result.rc, answer["text"], result.stderr), answer["device_type"]


def check_power_mode(runner, device: str, wake: bool) -> dict:
    """`smartctl -i`, with the no-wake option unless WAKE: power mode and SMART support."""
    args = ["-i", device] if wake else list(NO_WAKE_ARGS) + ["-i", device]
    return power_state(runner.run("smartctl", args, ok_rcs=tuple(range(256))), wake)


def power_state(result: CommandResult, wake: bool) -> dict:
    """Power mode and SMART support from a smartctl text answer (`-i`, or `--all`: both begin the same)."""
    info = parse_smartctl_info(result.stdout)
    info["standby"] = not wake and result.rc == STANDBY_EXIT_STATUS and info["power_mode"] is not None
    info["rc"] = result.rc
    info["output"] = result.stdout
    info["unanswered"] = None if info["standby"] or info["device_type_unknown"] else unanswered_reason(result)
    return info


# smartctl's exit status bits 0 and 1: the command line did not parse, or the device could not be opened.
_OPEN_FAILED_BITS = 0b11
_IDENTITY_LINE = re.compile(r"^(=== START OF INFORMATION SECTION ===|Device Model:|Model Number:|Product:|"
                            r"SMART support is:|Serial Number:|Vendor:)", re.M)


def unanswered_reason(result) -> str | None:
    """Why `smartctl -i` said nothing about the device, or None when it described it.

    A smartctl that failed to start, was killed, or could not open the device prints no
    information section; reading on would report a disk as read with every field empty.
    """
    if _IDENTITY_LINE.search(result.stdout) and not result.rc & _OPEN_FAILED_BITS:
        return None
    return "%s exited with %s and described no device: %s" % (
        " ".join(result.cmd), result.rc, smartctl_said(result.stdout + "\n" + result.stderr, 3))


def smartctl_said(text: str, lines: int) -> str:
    """The last LINES lines smartctl printed after its version banner, or that it printed nothing."""
    said = [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith(("smartctl ", "Copyright (C)"))]
    return " / ".join(said[-lines:]) if said else "it printed nothing"


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _attribute(attribute) -> dict:
    return {
        "id": attribute.num,
        "name": attribute.name,
        "normalized": _int_or_none(attribute.value),
        "worst": _int_or_none(attribute.worst),
        "threshold": attribute.thresh,
        "type": attribute.type,
        "when_failed": None if attribute.when_failed in ("-", "") else attribute.when_failed,
        "raw": attribute.raw,
        "raw_value": attribute.raw_int,
    }


def ata_attributes(device) -> dict[str, dict]:
    """Attribute id (as a string, for JSON) -> attribute; only for ATA/SATA data."""
    if AtaAttributes is None or not isinstance(device.if_attributes, AtaAttributes):
        return {}
    return {str(attribute.num): _attribute(attribute)
            for attribute in device.if_attributes.legacyAttributes if attribute is not None}


def nvme_health(device) -> dict | None:
    if NvmeAttributes is None or not isinstance(device.if_attributes, NvmeAttributes):
        return None
    health = device.if_attributes
    return {
        "critical_warning": health.criticalWarning,
        "media_errors": health.integrityErrors,
        "percentage_used": health.percentageUsed,
        "available_spare": health.availableSpare,
        "available_spare_threshold": health.availableSpareThreshold,
        "unsafe_shutdowns": health.unsafeShutdowns,
        "error_log_entries": health.errorEntries,
        "power_cycles": health.powerCycles,
        "power_on_hours": health.powerOnHours,
    }


def scsi_health(device) -> dict | None:
    if SCSIAttributes is None or not isinstance(device.if_attributes, SCSIAttributes):
        return None
    diagnostics = device.if_attributes.diagnostics
    return {
        "grown_defects": diagnostics.Reallocated_Sector_Ct,
        "uncorrected_read_errors": diagnostics._Uncorrected_Reads,  # pylint: disable=protected-access
        "uncorrected_write_errors": diagnostics._Uncorrected_Writes,  # pylint: disable=protected-access
        "non_medium_errors": diagnostics.Non_Medium_Errors,
        "power_on_hours": diagnostics.Power_On_Hours,
    }


def power_on_hours(attributes: dict[str, dict], nvme: dict | None, scsi: dict | None) -> int | None:
    if "9" in attributes:
        return attributes["9"]["raw_value"]
    if nvme is not None:
        return nvme["power_on_hours"]
    if scsi is not None:
        return scsi["power_on_hours"]
    return None


def self_test_log(device, hours_now: int | None) -> dict:
    """The newest self-test (pySMART lists newest first), with its age in power-on hours."""
    tests = list(device.tests or [])
    last = None
    if tests:
        newest = tests[0]
        lifetime = _int_or_none(newest.hours)
        last = {
            "type": newest.type,
            "result": newest.status,
            "lifetime_hours": lifetime,
            "age_hours": hours_now - lifetime if hours_now is not None and lifetime is not None else None,
        }
    return {"count": len(tests), "last": last, "running": bool(getattr(device, "_test_running", False))}


# lsblk's TRAN column names the attachment more exactly than smartctl's device type: a SATA
# disk behind a SAS HBA is "sas" here and "sat" to smartctl.
_TRANSPORTS = {"ata": "ata", "sata": "sata", "sas": "sas", "usb": "usb", "nvme": "nvme", "spi": "scsi",
               "fc": "fc", "iscsi": "iscsi"}


def interface_kind(dev_interface: str | None, transport: str | None) -> str:
    """ata, sata, sas, scsi, nvme, usb, ...: how the disk is attached, as an operator names it."""
    if transport in _TRANSPORTS:
        return _TRANSPORTS[transport]
    if dev_interface is None:
        return "unknown"
    kind = dev_interface.lower()
    if "megaraid" in kind:
        return "megaraid"
    if kind in ("sat", "sata", "ata"):
        return "sata" if kind != "ata" else "ata"
    if kind in ("nvme", "sntasmedia", "sntjmicron", "sntrealtek"):
        return "nvme"
    return kind


def _capacity_bytes(device) -> int | None:
    try:
        return device.size or None
    except (ValueError, TypeError):  # a capacity text humanfriendly cannot read
        return None


def _solid_state(device, info: dict) -> bool | None:
    if device.is_ssd or info["solid_state"]:
        return True
    if device.rotation_rate or info["rotation_rate_rpm"]:
        return False
    return None


def identity_gap(device, smartctl_outputs: list[tuple[list[str], str]]) -> dict | None:
    """{missing, command} when pySMART found no serial or no model, else None.

    pySMART leaves them empty when smartctl's output lacks the banner lines; data that cannot be
    tied to a disk must not count as that disk's health.
    """
    missing = [name for name, value in (("serial", device.serial), ("model", device.model)) if not value]
    if not missing:
        return None
    commands = [cmd for cmd, output in smartctl_outputs if "--all" in cmd] or [cmd for cmd, output in smartctl_outputs]
    return {"missing": missing, "command": " ".join(commands[0]) if commands else None}


def device_facts(device, smartctl_outputs: list[tuple[list[str], str]], transport: str | None) -> dict:
    """Everything the smart subset reports about one disk that pySMART read."""
    all_output = "\n".join(output for cmd, output in smartctl_outputs if "--all" in cmd)
    info = parse_smartctl_info(all_output)
    dev_interface = device.dev_interface
    attributes = ata_attributes(device)
    nvme = nvme_health(device)
    scsi = scsi_health(device)
    hours = power_on_hours(attributes, nvme, scsi)
    if nvme is not None:
        error_log_count = nvme["error_log_entries"]
    elif attributes:
        error_log_count = parse_ata_error_count(all_output)
    else:
        error_log_count = None
    return {
        "model": device.model,
        "firmware": device.firmware,
        "serial_reported": device.serial,
        "interface": interface_kind(dev_interface, transport),
        "smartctl_type": device.smartctl_interface,
        "capacity_bytes": _capacity_bytes(device),
        "rotation_rate_rpm": device.rotation_rate or info["rotation_rate_rpm"],
        "solid_state": _solid_state(device, info),
        "smart_supported": bool(device.smart_capable),
        "smart_enabled": bool(device.smart_enabled),
        "assessment": device.assessment,
        "messages": list(device.messages or []),
        "power_on_hours": hours,
        "temperature_c": device.temperature,
        "attributes": attributes,
        "nvme": nvme,
        "scsi": scsi,
        "error_log_count": error_log_count,
        "self_test": self_test_log(device, hours),
        "identity_incomplete": identity_gap(device, smartctl_outputs),
    }


def pysmart_knows_type(device_type: str) -> bool:
    """True when pySMART accepts DEVICE_TYPE (a smartctl -d type) as a Device's interface."""
    from pySMART.utils import smartctl_isvalid_type  # pylint: disable=import-outside-toplevel
    return smartctl_isvalid_type(device_type.lower())


def read_device(runner, device_path: str, wake: bool, transport: str | None, interface: str | None = None,
                preread: CommandResult | None = None) -> dict:
    """Query one disk with pySMART; raises DiskAsleep or CommandError.

    INTERFACE (a smartctl -d type) skips pySMART's detection; None lets it detect. PREREAD, the
    text answer of `--json=o --all` for this disk, is what pySMART parses instead of running
    `--all` itself; it is used only with the INTERFACE smartctl detected in that same call.
    """
    if interface is not None and not pysmart_knows_type(interface):
        interface = None  # pySMART refuses a type it has no name for; it detects one itself then
    smartctl = RunnerSmartctl(runner, wake, preread if interface is not None else None)
    device = PySmartDevice(device_path, interface=interface, smartctl=smartctl)
    if device.smartctl_interface is None and not smartctl.outputs:
        raise CommandError(["smartctl", device_path], None, "", "", "pySMART could not open %s" % device_path)
    if device.smartctl_interface is None and interface is None:
        # pySMART found no "opened" line in `smartctl -d test` and read nothing more.
        cmd, output = smartctl.outputs[-1]
        raise CommandError(cmd, smartctl.last_rc, output, smartctl.last_stderr,
                           "smartctl detected no device type for %s (exit status %s): %s"
                           % (device_path, smartctl.last_rc, smartctl_said(output + "\n" + smartctl.last_stderr, 2)))
    return device_facts(device, smartctl.outputs, transport)
