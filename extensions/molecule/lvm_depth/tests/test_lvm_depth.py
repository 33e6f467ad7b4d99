"""The lvm subset's thin pool, snapshot and RAID LV numbers against LVM's own report on the lab guest.

prepare.yml filled thin pool thin/pool to about 88 % and the copy-on-write snapshot
thin/base_snap to about 88 %, and made guarded/mirror (RAID1 over VIRT0002 and VIRT0003) lose
VIRT0003: its PV label was zeroed and the VG activated in degraded mode.
"""

from __future__ import annotations

import json

from labcheck import codes, gather, sh

NO_BACKUP = "--config 'backup { backup = 0 archive = 0 }'"


def lvs_truth(host, columns: str) -> dict[str, dict]:
    """LVM's own lvs report, read with json.loads only, by full name."""
    text = sh(host, "lvs %s --devicesfile '' -a --reportformat json -o lv_full_name,%s" % (NO_BACKUP, columns))
    return {row["lv_full_name"]: row for row in json.loads(text)["report"][0]["lv"]}


def by_code(findings: list[dict], code: str) -> list[dict]:
    return [finding for finding in findings if finding["code"] == code]


def test_thin_pool_use_is_lvms_and_past_80_percent_is_a_warning(host):
    facts = gather(host, subset="lvm")
    lvs = {lv["full_name"]: lv for lv in facts["lvs"]}
    truth = lvs_truth(host, "data_percent,metadata_percent")["thin/pool"]
    pool = lvs["thin/pool"]
    assert pool["attributes"]["volume_type"] == "thin_pool"
    assert pool["data_percent"] == float(truth["data_percent"])
    assert pool["metadata_percent"] == float(truth["metadata_percent"])
    assert 80 <= pool["data_percent"] < 95, pool
    high = by_code(facts["findings"], "LVM_THIN_POOL_DATA_HIGH")
    assert [(f["subject"], f["severity"]) for f in high] == [("thin/pool", "warning")]
    assert "lvextend" in high[0]["message"]


def test_the_thresholds_reach_the_module(host):
    result = host.ansible("lifeline.storage.storage_facts",
                          "gather_subset=lvm lvm_thin_pool_warning_percent=50 lvm_thin_pool_critical_percent=85",
                          check=False)
    assert result.get("changed") is False, result
    high = by_code(result["ansible_facts"]["lifeline_lvm"]["findings"], "LVM_THIN_POOL_DATA_HIGH")
    assert [(f["subject"], f["severity"]) for f in high] == [("thin/pool", "critical")]
    refused = host.ansible("lifeline.storage.storage_facts",
                           "gather_subset=lvm lvm_thin_pool_warning_percent=90 lvm_thin_pool_critical_percent=85",
                           check=False)
    # testinfra hands back a failed module's result without its `failed` key: no facts and the reason.
    assert "ansible_facts" not in refused and "0 < warning <= critical <= 100" in refused.get("msg", ""), refused


def test_a_snapshot_past_80_percent_is_a_warning(host):
    facts = gather(host, subset="lvm")
    lvs = {lv["full_name"]: lv for lv in facts["lvs"]}
    truth = lvs_truth(host, "snap_percent,origin")["thin/base_snap"]
    snapshot = lvs["thin/base_snap"]
    assert snapshot["snap_percent"] == float(truth["snap_percent"]) and snapshot["snap_percent"] >= 80
    assert snapshot["origin"] == truth["origin"] == "base"
    assert {vg["name"]: vg["snap_count"] for vg in facts["vgs"]}["thin"] == 1
    filling = by_code(facts["findings"], "LVM_SNAPSHOT_FILLING")
    assert [(f["subject"], f["severity"]) for f in filling] == [("thin/base_snap", "warning")]


def test_a_raid1_lv_that_lost_a_leg_is_partial_and_critical(host):
    facts = gather(host, subset="lvm")
    lvs = {lv["full_name"]: lv for lv in facts["lvs"]}
    truth = lvs_truth(host, "lv_health_status,lv_attr")["guarded/mirror"]
    mirror = lvs["guarded/mirror"]
    assert truth["lv_health_status"] == "partial" and mirror["health_status"] == "partial"
    assert mirror["partial"] is True and mirror["attr"] == truth["lv_attr"]
    assert {vg["name"]: vg["partial"] for vg in facts["vgs"]}["guarded"] is True
    partial = by_code(facts["findings"], "LVM_RAID_PARTIAL")
    assert [(f["subject"], f["severity"]) for f in partial] == [("guarded/mirror", "critical")]
    assert "LVM_PV_MISSING" in codes(facts["findings"])
    # The healthy LVs make none of the RAID findings.
    assert {f["subject"] for f in facts["findings"] if f["code"].startswith("LVM_RAID_")} == {"guarded/mirror"}
