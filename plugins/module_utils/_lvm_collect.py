# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: gathers the `lvm` subset of storage_facts.

One `lvm fullreport` call reads every PV, VG and LV, with the LVM devices file switched off so
PVs that a devices file hides from `pvs` are still seen; each PV says whether the devices file
would hide it. LVM's reporting commands rewrite /etc/lvm/backup/<vg> when they find it older
than the live metadata; the call turns backups and archives off so that reading never writes,
and a stale backup is reported instead of silently replaced. Then each VG's
metadata backup in /etc/lvm/backup is compared with the live metadata: a recovery after the
metadata was overwritten depends on that file, so a missing or stale backup is a finding.
Thin pools filling up, old-style snapshots filling up or invalid, and RAID or mirror LVs that are
partial, need a refresh or are not in sync are findings too; a percentage LVM did not report
makes none.
"""

from __future__ import annotations

import posixpath
import re
import time

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._findings import make_finding, sort_findings
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import (
    parse_lvm_fullreport,
    parse_lvm_metadata_backup,
)

BACKUP_DIR = "/etc/lvm/backup"
ARCHIVE_DIR = "/etc/lvm/archive"
DEVICES_FILE = "/etc/lvm/devices/system.devices"

# Without this, `vgs` and `lvm fullreport` write a fresh /etc/lvm/backup/<vg> (and an archive)
# whenever the backup is older than the live metadata (seen with lvm2 2.03.16).
NO_BACKUP_CONFIG = "backup { backup = 0 archive = 0 }"

# The columns the lvm subset reads, one --configreport per sub-report of fullreport. The percent
# columns and raid_sync_action feed the thin pool, snapshot and RAID findings (the parser also
# reads copy_percent, sync_percent's older name, from other reports).
REPORT_COLUMNS = {
    "pv": "pv_uuid,pv_name,vg_name,vg_uuid,pv_size,pv_free,pv_used,dev_size,pe_start,pv_pe_count,pv_pe_alloc_count,"
          "pv_attr,pv_missing",
    "vg": "vg_uuid,vg_name,vg_attr,vg_seqno,vg_extent_size,vg_extent_count,vg_free_count,vg_size,vg_free,"
          "pv_count,lv_count,snap_count,vg_missing_pv_count,vg_partial",
    "lv": "lv_uuid,lv_name,vg_name,lv_full_name,lv_path,lv_attr,lv_size,seg_count,pool_lv,origin,lv_active,lv_health_status,"
          "data_percent,metadata_percent,snap_percent,sync_percent,raid_sync_action",
    "seg": "lv_uuid,segtype",
}

# storage_facts options: a thin pool's data or metadata use at or above these is a finding.
THIN_POOL_OPTION_DEFAULTS = {"lvm_thin_pool_warning_percent": 80.0, "lvm_thin_pool_critical_percent": 95.0}
# An old-style snapshot this full is a warning: at 100 % LVM invalidates it.
SNAPSHOT_WARNING_PERCENT = 80.0
# decode_lv_attr's volume types of the LVs whose sync_percent is a redundancy copy's progress.
_RAID_VOLUME_TYPES = ("raid", "raid_not_synced", "mirror", "mirror_not_synced")
_INVALID_SNAPSHOT_STATES = ("invalid_snapshot", "invalid_suspended_snapshot")
# raid_sync_action values of a scrub: the copies were in sync when it started.
_SCRUB_ACTIONS = ("check", "repair")

# "PVID=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" in a devices file line (lvmdevices(8)).
_PVID = re.compile(r"\bPVID=([A-Za-z0-9]{32})\b")


def fullreport_args() -> list[str]:
    # Not --readonly: it skips device-mapper, so whether an LV is active would be unknown.
    args = ["fullreport", "--config", NO_BACKUP_CONFIG, "--reportformat", "json", "--units", "b", "--nosuffix", "--binary",
            "--devicesfile", ""]
    for report, columns in REPORT_COLUMNS.items():
        args += ["--configreport", report, "-o", columns]
    return args


_USE_DEVICES_FILE = re.compile(r"^\s*use_devicesfile\s*=\s*(\d+)", re.MULTILINE)


def devices_file_pvids(text: str | None) -> set[str] | None:
    """PVIDs a devices file lists, or None when there is no devices file."""
    if text is None:
        return None
    return set(_PVID.findall(text))


def devices_file_in_use(runner) -> bool | None:
    """lvm.conf's devices/use_devicesfile (defaults included); None when lvm cannot say."""
    result = runner.run("lvm", ["lvmconfig", "--typeconfig", "full", "devices/use_devicesfile"], ok_rcs=(0, 5))
    match = _USE_DEVICES_FILE.search(result.stdout)
    return None if result.rc != 0 or match is None else match.group(1) != "0"


def _pvid(uuid: str | None) -> str | None:
    return uuid.replace("-", "") if uuid else None


def backup_state(files, vg: dict, now: float) -> dict:
    """How the VG's /etc/lvm/backup file compares with the live metadata."""
    path = posixpath.join(BACKUP_DIR, vg["name"])
    archives = sorted(name for name in files.list_dir(ARCHIVE_DIR)
                      if name.startswith(vg["name"] + "_") and name.endswith(".vg"))
    state = {"path": path, "exists": False, "seqno": None, "created": None, "age_hours": None,
             "current": None, "error": None, "archive_count": len(archives)}
    text = files.read_optional(path)
    if text is None:
        return state
    state["exists"] = True
    try:
        backup = parse_lvm_metadata_backup(text)
    except ParseError as error:
        state["error"] = str(error)
        return state
    state["seqno"] = backup["seqno"]
    state["created"] = backup["creation_time"]
    if backup["creation_time"] is not None:
        state["age_hours"] = round((now - backup["creation_time"]) / 3600.0, 1)
    if vg.get("seqno") is not None:
        state["current"] = backup["seqno"] == vg["seqno"] and backup["vg_uuid"] == vg["uuid"]
    return state


def thin_pool_thresholds(options: dict | None) -> tuple[float, float]:
    """(warning, critical) percent from the module options; ValueError unless 0 < warning <= critical <= 100."""
    settings = dict(THIN_POOL_OPTION_DEFAULTS)
    settings.update({key: value for key, value in (options or {}).items() if key in settings and value is not None})
    warning = float(settings["lvm_thin_pool_warning_percent"])
    critical = float(settings["lvm_thin_pool_critical_percent"])
    if not 0 < warning <= critical <= 100:
        raise ValueError("lvm_thin_pool_warning_percent and lvm_thin_pool_critical_percent must satisfy "
                         "0 < warning <= critical <= 100, got %s and %s" % (warning, critical))
    return warning, critical


def _lv_subject(lv: dict) -> str:
    return lv.get("full_name") or lv.get("name") or lv.get("uuid") or "unknown LV"


def _thin_pool_message(column: str, subject: str, value: float, vg_free_bytes: int | None) -> str:
    vg_free = "its VG has %d bytes free" % vg_free_bytes if vg_free_bytes is not None else "its VG's free space is unknown"
    if column == "data_percent":
        return ("Thin pool %s is %.2f %% full. At 100 %% writes to its thin volumes stall, then fail, and their file systems "
                "can be damaged: extend it now (lvextend -L +SIZE %s; %s, vgextend it first if that is not enough), or "
                "remove thin volumes and snapshots that are no longer needed." % (subject, value, subject, vg_free))
    return ("The metadata of thin pool %s is %.2f %% full. When it runs out the pool turns read-only or fails and needs "
            "lvconvert --repair: extend it now (lvextend --poolmetadatasize +SIZE %s; %s)." % (subject, value, subject, vg_free))


def _thin_pool_findings(lv: dict, vg_free_bytes: int | None, warning: float, critical: float) -> list[dict]:
    subject = _lv_subject(lv)
    findings = []
    for column, code in (("data_percent", "LVM_THIN_POOL_DATA_HIGH"), ("metadata_percent", "LVM_THIN_POOL_METADATA_HIGH")):
        value = lv.get(column)
        if value is None or value < warning:
            continue
        findings.append(make_finding(
            code, "critical" if value >= critical else "warning", subject,
            _thin_pool_message(column, subject, value, vg_free_bytes),
            {"lv": subject, column: value, "warning_percent": warning, "critical_percent": critical,
             "vg_free_bytes": vg_free_bytes}))
    return findings


def _snapshot_findings(lv: dict) -> list[dict]:
    """An old-style (copy-on-write) snapshot that is invalid or filling up."""
    invalid = lv["attributes"].get("state") in _INVALID_SNAPSHOT_STATES
    value = lv.get("snap_percent")
    filling = lv["attributes"].get("volume_type") == "snapshot" and value is not None and value >= SNAPSHOT_WARNING_PERCENT
    if not (invalid or filling):
        return []
    subject = _lv_subject(lv)
    origin = lv.get("origin") or "its origin"
    evidence = {"lv": subject, "origin": lv.get("origin"), "attr": lv.get("attr"), "snap_percent": value}
    if invalid:
        return [make_finding(
            "LVM_SNAPSHOT_INVALID", "critical", subject,
            "Snapshot %s of %s is invalid: it filled up (or failed) and no longer holds a consistent copy. Do not mount, "
            "back up from or merge it; remove it (lvremove %s) and take a new, larger one if it is still needed."
            % (subject, origin, subject), evidence)]
    evidence["warning_percent"] = SNAPSHOT_WARNING_PERCENT
    return [make_finding(
        "LVM_SNAPSHOT_FILLING", "warning", subject,
        "Snapshot %s of %s is %.2f %% full; at 100 %% LVM invalidates it and what it held is lost. Extend it "
        "(lvextend -L +SIZE %s), or finish what it was taken for and remove it." % (subject, origin, value, subject),
        evidence)]


def _raid_findings(lv: dict) -> list[dict]:
    subject = _lv_subject(lv)
    findings = []
    if lv.get("partial"):
        findings.append(make_finding(
            "LVM_RAID_PARTIAL", "critical", subject,
            "RAID/mirror LV %s has lost a device (partial) and runs with less redundancy, or none. Find the missing disk "
            "first (LVM_PV_MISSING names its PV); if it comes back, run lvchange --refresh %s; if it is gone, add a PV "
            "(vgextend) and run lvconvert --repair %s. Do not run vgreduce --removemissing before the repair."
            % (subject, subject, subject),
            {"lv": subject, "attr": lv.get("attr"), "health_status": lv.get("health_status")}))
    elif lv.get("refresh_needed"):
        findings.append(make_finding(
            "LVM_RAID_REFRESH_NEEDED", "warning", subject,
            "RAID LV %s needs a refresh: one of its devices failed, at least for a while. Check the kernel log and the "
            "disk's SMART data; if the device is back and sound, lvchange --refresh %s resyncs it, else replace it with "
            "lvconvert --repair %s." % (subject, subject, subject),
            {"lv": subject, "attr": lv.get("attr"), "health_status": lv.get("health_status")}))
    value = lv.get("sync_percent")
    if value is not None and value < 100:
        action = lv.get("sync_action")
        evidence = {"lv": subject, "sync_percent": value, "sync_action": action}
        if action in _SCRUB_ACTIONS:
            findings.append(make_finding(
                "LVM_RAID_NOT_SYNCED", "info", subject,
                "RAID LV %s is being scrubbed (%s), %.2f %% done; do not remove or replace any of its devices until it "
                "finishes, then read raid_mismatch_count." % (subject, action, value), evidence))
        else:
            findings.append(make_finding(
                "LVM_RAID_NOT_SYNCED", "warning", subject,
                "RAID/mirror LV %s is %.2f %% in sync: until it reaches 100 %% not every copy is complete, and losing a "
                "device now can lose data. Do not remove or replace any of its devices until it finishes "
                "(lvs -o name,sync_percent,raid_sync_action %s)." % (subject, value, subject), evidence))
    return findings


def lv_findings(lvs: list[dict], vgs: list[dict], warning: float, critical: float) -> list[dict]:
    """Thin pools, snapshots and RAID/mirror LVs that need attention; None values make no finding."""
    free_by_vg = {vg.get("name"): vg.get("free_bytes") for vg in vgs}
    findings = []
    for lv in lvs:
        volume_type = lv["attributes"].get("volume_type")
        if volume_type == "thin_pool":
            findings.extend(_thin_pool_findings(lv, free_by_vg.get(lv.get("vg_name")), warning, critical))
        findings.extend(_snapshot_findings(lv))
        if volume_type in _RAID_VOLUME_TYPES:
            findings.extend(_raid_findings(lv))
    return findings


def lvm_findings(pvs: list[dict], vgs: list[dict], lvs: list[dict] | None = None,
                 thresholds: tuple[float, float] | None = None) -> list[dict]:
    """THRESHOLDS are the thin pools' (warning, critical) percent, by default the module's defaults."""
    warning, critical = thresholds or thin_pool_thresholds(None)
    findings = lv_findings(lvs or [], vgs, warning, critical)
    for vg in vgs:
        name = vg["name"]
        if vg.get("partial") or vg.get("missing_pv_count"):
            findings.append(make_finding(
                "LVM_VG_PARTIAL", "critical", name,
                "Volume group %s is missing %s PV(s). Do not run vgreduce --removemissing or write to its LVs until the missing "
                "disks are found or their data is known to be lost." % (name, vg.get("missing_pv_count") or "some"),
                {"vg": name, "missing_pv_count": vg.get("missing_pv_count")}))
        backup = vg["backup"]
        if not backup["exists"]:
            findings.append(make_finding(
                "LVM_BACKUP_MISSING", "warning", name,
                "Volume group %s has no metadata backup in %s; run vgcfgbackup %s and keep a copy off the host "
                "(the metadata_snapshot module does both)." % (name, BACKUP_DIR, name), {"vg": name, "path": backup["path"]}))
        elif backup["error"]:
            findings.append(make_finding(
                "LVM_BACKUP_UNREADABLE", "warning", name,
                "The metadata backup of volume group %s cannot be read: %s" % (name, backup["error"]), {"vg": name, "path": backup["path"]}))
        elif backup["current"] is False:
            findings.append(make_finding(
                "LVM_BACKUP_STALE", "warning", name,
                "The metadata backup of volume group %s has seqno %s, the live metadata %s; run vgcfgbackup %s."
                % (name, backup["seqno"], vg["seqno"], name),
                {"vg": name, "backup_seqno": backup["seqno"], "live_seqno": vg["seqno"]}))
    for pv in pvs:
        if pv.get("missing"):
            findings.append(make_finding(
                "LVM_PV_MISSING", "critical", pv.get("uuid") or "unknown PV",
                "PV %s of volume group %s is missing." % (pv.get("uuid"), pv.get("vg_name")),
                {"pv_uuid": pv.get("uuid"), "vg": pv.get("vg_name")}))
        if pv.get("hidden_by_devices_file"):
            findings.append(make_finding(
                "LVM_PV_HIDDEN", "warning", pv.get("name") or pv.get("uuid"),
                "PV %s (%s) is not in the LVM devices file %s, so pvs and installers do not see it; it still holds data."
                % (pv.get("name"), pv.get("vg_name") or "no VG", DEVICES_FILE),
                {"pv_uuid": pv.get("uuid"), "device": pv.get("name"), "vg": pv.get("vg_name")}))
    return sort_findings(findings)


def collect_lvm(runner, files, identity, options: dict | None = None) -> dict:
    """The `lifeline_lvm` fact; OPTIONS may hold the lvm_thin_pool_* thresholds."""
    thresholds = thin_pool_thresholds(options)
    result = runner.run("lvm", fullreport_args())
    report = parse_lvm_fullreport(result.stdout)
    listed = devices_file_pvids(files.read_optional(DEVICES_FILE))
    in_use = devices_file_in_use(runner) if listed is not None else False
    for pv in report["pvs"]:
        # LVM reads the devices file only when use_devicesfile is on and the file exists.
        if listed is None or in_use is False:
            pv["hidden_by_devices_file"] = False
        elif in_use is None:
            pv["hidden_by_devices_file"] = None
        else:
            pv["hidden_by_devices_file"] = _pvid(pv.get("uuid")) not in listed
        if pv.get("name"):
            named = identity.lookup(pv["name"])
            pv.update({key: named[key] for key in ("serial", "wwn", "stable_name")})
    now = time.time()
    for vg in report["vgs"]:
        vg["backup"] = backup_state(files, vg, now)
    return {
        "available": True,
        "error": None,
        "devices_file": {"path": DEVICES_FILE, "exists": listed is not None, "in_use": in_use},
        "pvs": report["pvs"],
        "vgs": report["vgs"],
        "lvs": report["lvs"],
        "findings": lvm_findings(report["pvs"], report["vgs"], report["lvs"], thresholds),
    }
