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

# The columns the lvm subset reads, one --configreport per sub-report of fullreport.
REPORT_COLUMNS = {
    "pv": "pv_uuid,pv_name,vg_name,vg_uuid,pv_size,pv_free,dev_size,pe_start,pv_pe_count,pv_pe_alloc_count,pv_attr,pv_missing",
    "vg": "vg_uuid,vg_name,vg_attr,vg_seqno,vg_extent_size,vg_extent_count,vg_free_count,vg_size,vg_free,"
          "pv_count,lv_count,vg_missing_pv_count,vg_partial",
    "lv": "lv_uuid,lv_name,vg_name,lv_full_name,lv_path,lv_attr,lv_size,seg_count,pool_lv,origin,lv_active,lv_health_status",
    "seg": "lv_uuid,segtype",
}

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


def lvm_findings(pvs: list[dict], vgs: list[dict]) -> list[dict]:
    findings = []
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


def collect_lvm(runner, files, identity, options: dict | None = None) -> dict:  # pylint: disable=unused-argument
    """The `lifeline_lvm` fact."""
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
        "findings": lvm_findings(report["pvs"], report["vgs"]),
    }
