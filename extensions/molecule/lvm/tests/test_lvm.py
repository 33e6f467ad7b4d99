"""The lvm subset against LVM's own reports on the lab guest.

prepare.yml built VG vault (LVs home, srv, scratch) on a RAID10 of the four virtio disks, with
its last change made without updating /etc/lvm/backup/vault; VG loose on IDE0001 with its
backup removed; and an LVM devices file, in use, that lists only the array.
"""

from __future__ import annotations

import json

from labcheck import by_serial, gather, sh


# LVM's reporting commands rewrite a stale /etc/lvm/backup file unless backups are off.
NO_BACKUP = "--config 'backup { backup = 0 archive = 0 }'"


def lvm_truth(host, report: str, columns: str) -> list[dict]:
    """LVM's own JSON report with the devices file switched off, read with json.loads only."""
    text = sh(host, "%s %s --devicesfile '' --reportformat json --units b --nosuffix -o %s" % (report, NO_BACKUP, columns))
    return json.loads(text)["report"][0][report[:-1]]


def test_volume_groups_and_lvs_match_lvm(host):
    facts = gather(host, subset="lvm")
    assert facts["available"] is True
    vgs = {vg["name"]: vg for vg in facts["vgs"]}
    truth = {row["vg_name"]: row for row in lvm_truth(host, "vgs", "vg_name,vg_uuid,vg_seqno,vg_size,lv_count,pv_count")}
    assert sorted(vgs) == sorted(truth) == ["loose", "vault"]
    for name, row in truth.items():
        assert vgs[name]["uuid"] == row["vg_uuid"]
        assert vgs[name]["seqno"] == int(row["vg_seqno"])
        assert vgs[name]["size_bytes"] == int(row["vg_size"])
        assert vgs[name]["lv_count"] == int(row["lv_count"])
    lvs = {lv["full_name"]: lv for lv in facts["lvs"]}
    for row in lvm_truth(host, "lvs", "lv_full_name,lv_uuid,lv_size,lv_attr"):
        lv = lvs[row["lv_full_name"]]
        assert (lv["uuid"], lv["size_bytes"], lv["attr"]) == (row["lv_uuid"], int(row["lv_size"]), row["lv_attr"])
        assert lv["active"] is True and lv["attributes"]["state"] == "active"
    assert sorted(lvs) == ["loose/data", "vault/home", "vault/scratch", "vault/srv"]
    assert lvs["vault/home"]["size_bytes"] == 64 * 1024 * 1024


def test_a_pv_hidden_by_the_devices_file_is_still_reported(host):
    ide = by_serial("IDE0001", host)
    # What an installer or an operator running pvs sees: only the array.
    visible = sh(host, "pvs %s --noheadings -o pv_name" % NO_BACKUP).split()
    assert visible == ["/dev/md0"]
    facts = gather(host, subset="lvm")
    assert facts["devices_file"] == {"path": "/etc/lvm/devices/system.devices", "exists": True, "in_use": True}
    pvs = {pv["name"]: pv for pv in facts["pvs"]}
    assert pvs[ide]["vg_name"] == "loose"
    assert pvs[ide]["serial"] == "IDE0001"
    assert pvs[ide]["hidden_by_devices_file"] is True
    assert pvs["/dev/md0"]["hidden_by_devices_file"] is False
    hidden = [f for f in facts["findings"] if f["code"] == "LVM_PV_HIDDEN"]
    assert [f["evidence"]["device"] for f in hidden] == [ide]


def test_backup_state_per_vg(host):
    facts = gather(host, subset="lvm")
    vgs = {vg["name"]: vg for vg in facts["vgs"]}
    backup_seqno = int(sh(host, "sed -n 's/^\\s*seqno = \\([0-9]*\\)$/\\1/p' /etc/lvm/backup/vault").strip())
    vault = vgs["vault"]["backup"]
    # The facts read the backup as it is: gathering did not refresh it.
    assert vault["exists"] is True and vault["seqno"] == backup_seqno
    assert vgs["vault"]["seqno"] == backup_seqno + 1  # the lvcreate --autobackup n
    assert vault["current"] is False
    assert vault["archive_count"] >= 1
    assert vgs["loose"]["backup"]["exists"] is False
    codes = {(f["code"], f["subject"]) for f in facts["findings"]}
    assert ("LVM_BACKUP_STALE", "vault") in codes
    assert ("LVM_BACKUP_MISSING", "loose") in codes

    sh(host, "vgcfgbackup --devicesfile '' vault")
    after = gather(host, subset="lvm")
    assert {vg["name"]: vg["backup"]["current"] for vg in after["vgs"]}["vault"] is True
    assert ("LVM_BACKUP_STALE", "vault") not in {(f["code"], f["subject"]) for f in after["findings"]}


def test_reading_lvm_never_wrote_to_the_disks(host):
    before = sh(host, "cat /var/tmp/lab-lvm-hashes.before")
    after = sh(host, "for disk in $(cut -d' ' -f1 /var/tmp/lab-lvm-hashes.before); do printf '%s ' \"$disk\"; "
                     "dd if=\"$disk\" bs=4M iflag=direct status=none | sha256sum | cut -d' ' -f1; done")
    assert len(before.splitlines()) == 5
    assert after == before
