# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: one host's storage facts as Prometheus metrics, in the text format.

node_exporter's textfile collector reads the result from its directory and adds the host's own
labels (instance, job), so no metric here carries a host label. Every metric is a gauge: each
value is a reading at collection time. The names and labels are documented in
docs/fleet-facts.md; a change here is a change there.
"""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._findings import SEVERITY_RANK
from ansible_collections.lifeline.storage.plugins.module_utils._fleet_arrays import host_arrays
from ansible_collections.lifeline.storage.plugins.module_utils._smart_health import STATUS_ORDER

PREFIX = "lifeline_storage_"
SUBSETS = ("md", "smart", "lvm", "disks")

# name (without prefix) -> help text, in the order the file lists them.
METRICS = {
    "collection_timestamp_seconds": "Unix time at which these storage facts were collected.",
    "subset_available": "1 when the storage_facts subset was gathered, 0 when it could not be.",
    "md_array_state": "1 for the md array's current state (md/array_state) and level.",
    "md_array_degraded": "Slots of the md array that no working member fills (md/degraded).",
    "md_array_raid_disks": "Slots the md array has.",
    "md_array_sync_action": "1 for the sync action the md array runs now (idle, resync, recover, check, repair, reshape).",
    "md_array_sync_completed_ratio": "Fraction of the running sync that is done; 1 when the array is idle.",
    "md_array_mismatch_sectors": "md/mismatch_cnt of the md array after its last check.",
    "md_member_state": "1 for each md member, by slot and serial, with its state (in_sync, faulty, missing, ...).",
    "md_member_errors": "Read errors md corrected on the member (md/dev-*/errors).",
    "disk_smart_status": "1 for the disk's SMART health verdict (healthy, watch, unknown, failing), 0 for the others.",
    "disk_smart_score": "SMART health score of the disk, 100 for no matching rule, lower is worse.",
    "disk_power_on_seconds": "Power-on time the disk reports (SMART counts hours; this is hours x 3600).",
    "findings": "Findings of this host by severity and code.",
    "findings_by_severity": "Findings of this host by severity, every severity listed.",
}


def _label_value(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, object], value: float) -> str:
    rendered = ",".join('%s="%s"' % (key, _label_value(labels[key])) for key in sorted(labels))
    number = repr(float(value)) if isinstance(value, float) else str(int(value))
    return "%s%s%s %s" % (PREFIX, name, "{%s}" % rendered if rendered else "", number)


def _md_samples(md: dict) -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {}

    def add(name: str, labels: dict, value: float) -> None:
        samples.setdefault(name, []).append(_sample(name, labels, value))

    for array in md.get("arrays") or []:
        name = array.get("name")
        add("md_array_state", {"array": name, "level": array.get("level"), "state": array.get("array_state") or array.get("state")}, 1)
        if array.get("degraded") is not None:
            add("md_array_degraded", {"array": name}, array["degraded"])
        if array.get("raid_disks") is not None:
            add("md_array_raid_disks", {"array": name}, array["raid_disks"])
        sync = array.get("sync") or {}
        action = sync.get("action") or "unknown"
        add("md_array_sync_action", {"array": name, "action": action}, 1)
        if sync.get("percent") is not None:
            add("md_array_sync_completed_ratio", {"array": name}, round(float(sync["percent"]) / 100.0, 6))
        elif action == "idle":
            add("md_array_sync_completed_ratio", {"array": name}, 1.0)
        if array.get("mismatch_cnt") is not None:
            add("md_array_mismatch_sectors", {"array": name}, array["mismatch_cnt"])
    for array in host_arrays({"lifeline_md": md}):
        for row in array["slots"]:
            labels = {"array": array["name"], "slot": row["slot"], "serial": row["serial"], "device": row["device"]}
            state = "missing" if row["role"] == "missing" else ",".join(row["state"]) or row["role"] or "unknown"
            add("md_member_state", dict(labels, state=state), 1)
            if row["errors"] is not None:
                add("md_member_errors", labels, row["errors"])
    return samples


def _smart_samples(smart: dict) -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {}
    for disk in smart.get("disks") or []:
        labels = {"serial": disk.get("serial"), "device": disk.get("device")}
        health = disk.get("health") or {}
        status = health.get("status") if health.get("status") in STATUS_ORDER else "unknown"
        for candidate in STATUS_ORDER:
            samples.setdefault("disk_smart_status", []).append(
                _sample("disk_smart_status", dict(labels, status=candidate), 1 if candidate == status else 0))
        if health.get("score") is not None:
            samples.setdefault("disk_smart_score", []).append(_sample("disk_smart_score", labels, health["score"]))
        if disk.get("power_on_hours") is not None:
            samples.setdefault("disk_power_on_seconds", []).append(_sample("disk_power_on_seconds", labels, disk["power_on_hours"] * 3600))
    return samples


def render_textfile(facts: dict, collected_at: float) -> str:
    """The text a node_exporter textfile collector reads, for one host's storage facts."""
    samples: dict[str, list[str]] = {"collection_timestamp_seconds": [_sample("collection_timestamp_seconds", {}, float(collected_at))]}
    samples["subset_available"] = [
        _sample("subset_available", {"subset": subset}, 1 if (facts.get("lifeline_" + subset) or {}).get("available") else 0)
        for subset in SUBSETS if "lifeline_" + subset in facts]
    samples.update(_md_samples(facts.get("lifeline_md") or {}))
    samples.update(_smart_samples(facts.get("lifeline_smart") or {}))
    by_code: dict[tuple[str, str], int] = {}
    by_severity = {severity: 0 for severity in SEVERITY_RANK}
    for subset in SUBSETS:
        for finding in (facts.get("lifeline_" + subset) or {}).get("findings") or []:
            key = (finding.get("severity"), finding.get("code"))
            by_code[key] = by_code.get(key, 0) + 1
            if finding.get("severity") in by_severity:
                by_severity[finding["severity"]] += 1
    samples["findings"] = [_sample("findings", {"severity": severity, "code": code}, count)
                           for (severity, code), count in sorted(by_code.items())]
    samples["findings_by_severity"] = [_sample("findings_by_severity", {"severity": severity}, count)
                                       for severity, count in by_severity.items()]
    lines = []
    for name, help_text in METRICS.items():
        if not samples.get(name):
            continue
        lines.append("# HELP %s%s %s" % (PREFIX, name, help_text))
        lines.append("# TYPE %s%s gauge" % (PREFIX, name))
        lines.extend(samples[name])
    return "\n".join(lines) + "\n"
