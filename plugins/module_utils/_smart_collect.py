# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: gathers the `smart` subset of storage_facts.

Each disk is asked for its power mode first, with smartctl's no-wake option: a disk in standby
is reported as such and left asleep. The same call reads the rest where smartctl can (see
_smart_device). Disks are queried in parallel by a bounded pool, so a
host costs about its slowest disk. No single disk can fail the subset: a disk without SMART,
one that errors or one that times out is reported with the reason.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, LibraryMissing
from ansible_collections.lifeline.storage.plugins.module_utils._findings import make_finding, sort_findings
from ansible_collections.lifeline.storage.plugins.module_utils._smart_device import (
    FACTS_ROLE_PYSMART_PATH,
    PYSMART_IMPORT_ERROR,
    DiskAsleep,
    check_power_mode,
    power_state,
    read_all,
    read_device,
)
from ansible_collections.lifeline.storage.plugins.module_utils._smart_health import assess

DEFAULT_OPTIONS = {
    "smart_wake": False,
    "smart_devices": None,
    "smart_max_workers": 8,
    "smart_selftest_max_age_hours": 720,
}

_IDENTITY_FIELDS = ("kernel_name", "device", "serial", "wwn", "stable_name", "by_id", "size_bytes", "rotational", "transport")


def select_disks(identity, requested: list[str] | None) -> tuple[list[str], list[dict]]:
    """Kernel names of the disks to query, and a not-found entry for each request that matched none.

    A request may be a kernel name, a /dev path, a /dev/disk/by-id path, a serial or a WWN.
    """
    disks = identity.disks()
    if not requested:
        return disks, []
    chosen: list[str] = []
    not_found: list[dict] = []
    for request in requested:
        match = next((name for name in disks if _matches(identity.lookup(name), request)), None)
        if match is None:
            not_found.append({"request": request, "reason": "no whole disk on this host is named %s" % request})
        elif match not in chosen:
            chosen.append(match)
    return chosen, not_found


def _matches(disk: dict, request: str) -> bool:
    return request in (disk["kernel_name"], disk["device"], disk["serial"], disk["wwn"]) or request in disk["by_id"]


def _base_entry(identity_record: dict) -> dict:
    entry = {key: identity_record.get(key) for key in _IDENTITY_FIELDS}
    entry.update({
        "query": None, "reason": None, "error": None, "power_mode": "unknown",
        "model": identity_record.get("model"), "firmware": None, "interface": None, "smartctl_type": None,
        "capacity_bytes": identity_record.get("size_bytes"), "rotation_rate_rpm": None, "solid_state": None,
        "smart_supported": None, "smart_enabled": None, "assessment": None, "messages": [],
        "power_on_hours": None, "temperature_c": None, "attributes": {}, "nvme": None, "scsi": None,
        "error_log_count": None, "self_test": None, "serial_reported": None, "identity_incomplete": None,
    })
    return entry


def query_disk(runner, identity_record: dict, wake: bool) -> dict:
    """One disk's entry; never raises for a problem with the disk itself."""
    entry = _base_entry(identity_record)
    device = identity_record["device"]
    try:
        answer = read_all(runner, device, wake)
        power = check_power_mode(runner, device, wake) if answer is None else power_state(answer[0], wake)
        if power["standby"]:
            entry.update(query="standby", power_mode=power["power_mode"],
                         reason="the disk is in %s mode; not woken (set smart_wake to read it)" % power["power_mode"])
            return entry
        entry["power_mode"] = power["power_mode"] or "unknown"
        entry["smart_supported"] = power["smart_supported"]
        entry["smart_enabled"] = power["smart_enabled"]
        if power["unanswered"]:
            entry.update(query="error", reason=power["unanswered"],
                         error={"msg": power["unanswered"], "cmd": None, "rc": power["rc"], "stdout": power["output"], "stderr": None})
            return entry
        if power["device_type_unknown"] or power["smart_supported"] is False:
            detail = "smartctl cannot detect its device type" if power["device_type_unknown"] else "the device has no SMART capability"
            entry.update(query="unsupported", reason="SMART is not available: %s" % detail)
            return entry
        preread, device_type = answer if answer is not None else (None, None)
        entry.update(read_device(runner, device, wake, identity_record.get("transport"), device_type, preread))
        entry["query"] = "read"
        entry["serial"] = entry["serial"] or entry["serial_reported"]
    except DiskAsleep as asleep:
        entry.update(query="standby", power_mode=asleep.mode,
                     reason="the disk went to %s mode while being read; not woken" % asleep.mode)
    except CommandError as error:
        entry.update(query="error", reason=str(error), error=error.as_dict())
    except Exception as error:  # pylint: disable=broad-exception-caught
        # pySMART raises whatever its parsing meets (ValueError, IndexError, ...); one odd
        # output must not cost the other disks their facts.
        entry.update(query="error", reason="pySMART could not read the smartctl output of %s: %s: %s"
                     % (device, type(error).__name__, error))
    return entry


def smart_findings(disks: list[dict], not_found: list[dict], selftest_max_age_hours: int) -> list[dict]:
    findings = []
    for disk in disks:
        subject = disk["serial"] or disk["device"]
        evidence = {"device": disk["device"], "serial": disk["serial"], "stable_name": disk["stable_name"]}
        health = disk["health"]
        reasons = "; ".join(reason["message"] for reason in health["reasons"])
        if health["status"] == "failing":
            findings.append(make_finding("SMART_DISK_FAILING", "critical", subject,
                                         "Disk %s (%s) is failing: %s. Replace it; do not choose it as the copy to keep." % (subject, disk["device"], reasons),
                                         dict(evidence, health=health)))
        elif health["status"] == "watch":
            findings.append(make_finding("SMART_DISK_WATCH", "warning", subject,
                                         "Disk %s (%s) shows early failure signs: %s." % (subject, disk["device"], reasons),
                                         dict(evidence, health=health)))
        gap = disk.get("identity_incomplete")
        if gap:
            findings.append(make_finding("SMART_IDENTITY_INCOMPLETE", "warning", subject,
                                         "smartctl reported no %s for disk %s (%s) (command: %s); its SMART data cannot be tied to "
                                         "the disk, so its health is unknown." % (" and no ".join(gap["missing"]), subject, disk["device"],
                                                                                  gap["command"]),
                                         dict(evidence, missing=gap["missing"], command=gap["command"])))
        if disk["query"] == "unsupported":
            findings.append(make_finding("SMART_UNSUPPORTED", "info", subject, "Disk %s (%s): %s." % (subject, disk["device"], disk["reason"]), evidence))
        elif disk["query"] == "error":
            findings.append(make_finding("SMART_QUERY_FAILED", "warning", subject,
                                         "SMART data of disk %s (%s) could not be read: %s" % (subject, disk["device"], disk["reason"]),
                                         dict(evidence, error=disk["error"])))
        elif disk["query"] == "standby":
            findings.append(make_finding("SMART_DISK_STANDBY", "info", subject, "Disk %s (%s): %s." % (subject, disk["device"], disk["reason"]), evidence))
        if disk["smart_enabled"] is False:
            findings.append(make_finding("SMART_DISABLED", "warning", subject,
                                         "SMART is disabled on disk %s (%s); enable it with smartctl -s on %s." % (subject, disk["device"], disk["device"]),
                                         evidence))
        findings += _self_test_findings(disk, subject, evidence, selftest_max_age_hours)
    for missing in not_found:
        findings.append(make_finding("SMART_DISK_NOT_FOUND", "warning", missing["request"],
                                     "Requested disk %s: %s." % (missing["request"], missing["reason"]), missing))
    return sort_findings(findings)


def _self_test_findings(disk: dict, subject: str, evidence: dict, max_age_hours: int) -> list[dict]:
    if disk["query"] != "read" or disk["self_test"] is None or disk["interface"] == "nvme" and disk["self_test"]["count"] == 0:
        # Many NVMe drives have no self-test log at all; its absence says nothing about them.
        return []
    last = disk["self_test"]["last"]
    if last is None:
        return [make_finding("SMART_SELFTEST_NEVER", "info", subject,
                             "Disk %s (%s) has no self-test in its log; run smartctl -t long %s." % (subject, disk["device"], disk["device"]),
                             evidence)]
    if last["age_hours"] is not None and last["age_hours"] > max_age_hours:
        return [make_finding("SMART_SELFTEST_OLD", "info", subject,
                             "The last self-test of disk %s (%s) ran %d power-on hours ago (more than %d)."
                             % (subject, disk["device"], last["age_hours"], max_age_hours),
                             dict(evidence, last_self_test=last))]
    return []


def collect_smart(runner, files, identity, options: dict | None = None) -> dict:  # pylint: disable=unused-argument
    """The `lifeline_smart` fact."""
    settings = dict(DEFAULT_OPTIONS, **(options or {}))
    if PYSMART_IMPORT_ERROR is not None:
        # Imported here, not at the top: the recorder of lab host states runs this code where
        # only the collection, not ansible, is on the path.
        from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel
        reason = ("for the smart subset; searched the Python path and %s, where the lifeline.storage.facts role installs it "
                  "(facts_pysmart_path); a role run with another facts_pysmart_path puts that directory on PYTHONPATH only "
                  "for its own tasks" % FACTS_ROLE_PYSMART_PATH)
        raise LibraryMissing(missing_required_lib("pySMART", reason=reason), PYSMART_IMPORT_ERROR)
    if not runner.has("smartctl"):
        runner.run("smartctl", ["--version"])  # raises ToolMissing with the standard message
    names, not_found = select_disks(identity, settings["smart_devices"])
    records = [identity.lookup(name) for name in names]
    workers = max(1, min(settings["smart_max_workers"], len(records) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        disks = list(pool.map(lambda record: query_disk(runner, record, settings["smart_wake"]), records))
    for disk in disks:
        disk["health"] = assess(disk)
    return {
        "available": True,
        "error": None,
        "wake": settings["smart_wake"],
        "disks": disks,
        "not_found": not_found,
        "findings": smart_findings(disks, not_found, settings["smart_selftest_max_age_hours"]),
    }
