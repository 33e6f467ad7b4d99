# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the SMART health verdict and the ranking of disks by health.

The rule table is documented, with its sources, in docs/smart-health.md; a change here is a
change there. A verdict is the worst status any rule gives; the score starts at 100 and each
matching rule takes its penalty off, so disks with the same status can still be ordered.
"""

from __future__ import annotations

from typing import NamedTuple

STATUS_ORDER = ("healthy", "watch", "unknown", "failing")
_STATUS_RANK = {status: rank for rank, status in enumerate(STATUS_ORDER)}
_VERDICT_RANK = {"healthy": 0, "watch": 1, "failing": 2}

# Past this many counted events a count-based rule's penalty stops growing: the verdict is
# already made and the score only has to order disks.
_COUNT_PENALTY_CAP = 20


class CountRule(NamedTuple):
    code: str
    verdict: str
    penalty: int
    what: str


# ATA attribute id -> rule, applied when the raw value is above zero. These are the attributes
# large fleet studies found to predict failure; see docs/smart-health.md.
ATA_RAW_RULES = {
    5: CountRule("ATA_REALLOCATED_SECTORS", "watch", 20, "reallocated sectors"),
    187: CountRule("ATA_REPORTED_UNCORRECTABLE", "watch", 20, "uncorrectable errors reported to the host"),
    188: CountRule("ATA_COMMAND_TIMEOUT", "watch", 10, "command timeouts"),
    196: CountRule("ATA_REALLOCATION_EVENTS", "watch", 10, "reallocation events"),
    197: CountRule("ATA_PENDING_SECTORS", "watch", 25, "sectors pending reallocation"),
    198: CountRule("ATA_OFFLINE_UNCORRECTABLE", "watch", 25, "sectors uncorrectable in offline scan"),
    199: CountRule("ATA_CRC_ERRORS", "watch", 5, "interface CRC errors (usually the cable or backplane)"),
}

NVME_MEDIA_ERRORS = CountRule("NVME_MEDIA_ERRORS", "watch", 25, "media and data integrity errors")
SCSI_GROWN_DEFECTS = CountRule("SCSI_GROWN_DEFECTS", "watch", 20, "grown defects")
SCSI_UNCORRECTED = CountRule("SCSI_UNCORRECTED_ERRORS", "watch", 25, "uncorrected read/write errors")
ERROR_LOG = CountRule("ERROR_LOG_ENTRIES", "watch", 5, "entries in the device error log")


def _reason(code: str, verdict: str, penalty: int, message: str) -> dict:
    return {"code": code, "verdict": verdict, "penalty": penalty, "message": message}


def _count_reason(rule: CountRule, count: int) -> dict:
    penalty = rule.penalty + min(count, _COUNT_PENALTY_CAP)
    return _reason(rule.code, rule.verdict, penalty, "%d %s" % (count, rule.what))


def _ata_reasons(attributes: dict[str, dict]) -> list[dict]:
    reasons = []
    for attribute in attributes.values():
        if attribute.get("when_failed") == "FAILING_NOW":
            reasons.append(_reason("ATA_ATTRIBUTE_FAILING_NOW", "failing", 60, "attribute %s (%s) is below its threshold now"
                                   % (attribute["id"], attribute["name"])))
        elif attribute.get("when_failed"):
            reasons.append(_reason("ATA_ATTRIBUTE_FAILED_IN_PAST", "watch", 10, "attribute %s (%s) fell below its threshold in the past"
                                   % (attribute["id"], attribute["name"])))
    for attribute_id, rule in ATA_RAW_RULES.items():
        attribute = attributes.get(str(attribute_id))
        raw_value = attribute.get("raw_value") if attribute else None
        if raw_value:
            reasons.append(_count_reason(rule, raw_value))
    return reasons


def _nvme_reasons(nvme: dict) -> list[dict]:
    reasons = []
    warning = nvme.get("critical_warning")
    if warning:
        reasons.append(_reason("NVME_CRITICAL_WARNING", "failing", 60, "critical warning 0x%02x is set" % warning))
    spare, threshold = nvme.get("available_spare"), nvme.get("available_spare_threshold")
    if spare is not None and threshold and spare < threshold:
        reasons.append(_reason("NVME_SPARE_BELOW_THRESHOLD", "failing", 60,
                               "available spare %d%% is below its threshold %d%%" % (spare, threshold)))
    if nvme.get("media_errors"):
        reasons.append(_count_reason(NVME_MEDIA_ERRORS, nvme["media_errors"]))
    used = nvme.get("percentage_used")
    if used is not None and used >= 100:
        reasons.append(_reason("NVME_ENDURANCE_USED", "watch", 15, "%d%% of the rated endurance is used" % used))
    return reasons


def _scsi_reasons(scsi: dict) -> list[dict]:
    reasons = []
    if scsi.get("grown_defects"):
        reasons.append(_count_reason(SCSI_GROWN_DEFECTS, scsi["grown_defects"]))
    uncorrected = (scsi.get("uncorrected_read_errors") or 0) + (scsi.get("uncorrected_write_errors") or 0)
    if uncorrected:
        reasons.append(_count_reason(SCSI_UNCORRECTED, uncorrected))
    return reasons


def _self_test_reasons(self_test: dict) -> list[dict]:
    last = self_test.get("last")
    if not last or not last.get("result"):
        return []
    result = str(last["result"]).lower()
    # "Completed: read failure", "Completed: unknown failure", "Failed in segment ...".
    if "fail" in result:
        return [_reason("SELF_TEST_FAILED", "failing", 60, "the last self-test (%s) ended: %s" % (last["type"], last["result"]))]
    return []


def _has_health_data(disk: dict) -> bool:
    """Anything a verdict could rest on: an assessment, attributes or a health log."""
    nvme_values = [value for value in (disk.get("nvme") or {}).values() if value is not None]
    scsi_values = [value for value in (disk.get("scsi") or {}).values() if value is not None]
    return bool(disk.get("assessment") or disk.get("attributes") or nvme_values or scsi_values)


def assess(disk: dict) -> dict:
    """{status, score, reasons} for one disk entry of the smart subset."""
    if disk.get("query") != "read":
        return {"status": "unknown", "score": None,
                "reasons": [_reason("NOT_READ", "unknown", 0, disk.get("reason") or "SMART data was not read")]}
    gap = disk.get("identity_incomplete")
    if gap:
        return {"status": "unknown", "score": None,
                "reasons": [_reason("IDENTITY_INCOMPLETE", "unknown", 0, "smartctl reported no %s (%s): the data cannot be tied to "
                                    "this disk" % (" and no ".join(gap["missing"]), gap["command"]))]}
    if not _has_health_data(disk):
        if disk.get("smart_supported") is False:
            why = _reason("NO_SMART_CAPABILITY", "unknown", 0, "the device reports no SMART capability")
        elif disk.get("smart_enabled") is False:
            why = _reason("SMART_DISABLED", "unknown", 0, "SMART is disabled on this disk")
        else:
            why = _reason("NO_HEALTH_DATA", "unknown", 0, "smartctl's output held no health data")
        return {"status": "unknown", "score": None, "reasons": [why]}
    reasons = []
    if disk.get("assessment") == "FAIL":
        reasons.append(_reason("SMART_ASSESSMENT_FAIL", "failing", 60, "the disk's own SMART health self-assessment failed"))
    reasons += _ata_reasons(disk.get("attributes") or {})
    if disk.get("nvme"):
        reasons += _nvme_reasons(disk["nvme"])
    if disk.get("scsi"):
        reasons += _scsi_reasons(disk["scsi"])
    if disk.get("error_log_count") and disk.get("nvme") is None:
        reasons.append(_count_reason(ERROR_LOG, disk["error_log_count"]))
    reasons += _self_test_reasons(disk.get("self_test") or {})
    status = "healthy"
    for reason in reasons:
        if _VERDICT_RANK[reason["verdict"]] > _VERDICT_RANK[status]:
            status = reason["verdict"]
    score = max(0, 100 - sum(reason["penalty"] for reason in reasons))
    return {"status": status, "score": score, "reasons": sorted(reasons, key=lambda reason: -reason["penalty"])}


def rank_key(disk: dict) -> tuple:
    """Healthiest first: status, then score, then fewer power-on hours; unknown sorts before failing."""
    health = disk.get("health") or {}
    score = health.get("score")
    hours = disk.get("power_on_hours")
    return (
        _STATUS_RANK.get(health.get("status"), _STATUS_RANK["unknown"]),
        -(score if score is not None else -1),
        hours if hours is not None else float("inf"),
        disk.get("serial") or "",
        disk.get("device") or "",
    )


def explain_order(better: dict, worse: dict) -> str:
    """Why BETTER sorts before WORSE, in the words of the first key that differs."""
    better_key, worse_key = rank_key(better), rank_key(worse)
    name_better = better.get("serial") or better.get("device")
    name_worse = worse.get("serial") or worse.get("device")
    if better_key[0] != worse_key[0]:
        return "%s is %s, %s is %s" % (name_better, better["health"]["status"], name_worse, worse["health"]["status"])
    if better_key[1] != worse_key[1]:
        return "both %s; %s scores %s, %s scores %s" % (
            better["health"]["status"], name_better, better["health"]["score"], name_worse, worse["health"]["score"])
    if better_key[2] != worse_key[2]:
        return "same status and score; %s has fewer power-on hours (%s against %s)" % (
            name_better, better.get("power_on_hours"), worse.get("power_on_hours"))
    order = "serial" if better.get("serial") and worse.get("serial") else "name"
    return "%s and %s cannot be told apart by SMART; ordered by %s" % (name_better, name_worse, order)
