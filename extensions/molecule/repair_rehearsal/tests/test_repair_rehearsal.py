"""The repair role on real ext4, md and device-mapper: refusals and a rehearsal that change no hash.

prepare.yml made an ext4 on VIRT0001 with 40 files, recorded which inode table block holds each
file's inode, and overwrote the block holding doc20's inode with random bytes. The rehearsal must
name exactly the files whose inodes were in that block, and leave the disk's sha256 as it was;
the apply step must refuse without a rehearsal of its own run, and repair the disk when confirmed.
A RAID1 recovering a member (throttled) under another ext4 must be refused, naming the array.
A 3-way RAID1 with one member overwritten while stopped (event counts equal) must be refused for its
mismatches; after the runbook's fix (that member failed, removed, added back, rebuilt, checked
again) the rehearsal must find nothing to fix, and after the repair every file's sha256 matches.
An XFS on a RAID1 of IDE0001 and IDE0002 has the 4 KiB block holding doc20's inode zeroed (prepare.yml
found it with xfs_db -r and listed the files whose inodes share it): the role in check mode must print
the commands a confirmed run then runs, the rehearsal must name exactly those files, and neither may
change the hash of the array or its members.
The tests run in this file's order."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from labcheck import by_id_path, hash_devices, module_result, run_playbook, sh

BACKUP_DIR = "/var/tmp/lab-repair-backup"
OVERLAY_DIR = "/var/tmp/lab-overlays"
RECOVERING = "/dev/md/lab-repair"
STALE = "/dev/md/lab-stale"
XFS = "/dev/md/lab-xfs"
XFS_MEMBERS = ("IDE0001", "IDE0002")
PLAYBOOK = str(Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "extensions/molecule/repair_rehearsal/run_repair.yml")


def run_role(request, tmp_path, check: bool = False, **variables) -> dict:
    """The role's result (or its failed task's), with the playbook's output under "output"."""
    result_file = tmp_path / "repair-result.json"
    output = run_playbook(request.config.option.ansible_inventory, PLAYBOOK,
                          dict({"repair_backup_directory": BACKUP_DIR, "repair_overlay_directory": OVERLAY_DIR,
                                "repair_overlay_cow_size": "64M", "repair_result_file": str(result_file)}, **variables),
                          ("--check",) if check else ())
    return dict(json.loads(result_file.read_text()), output=output)


def lost_by_block(host) -> list[str]:
    block = sh(host, "cat /root/repair-corrupted-block").strip()
    return sorted(line.split()[0] for line in sh(host, "cat /root/repair-imap").splitlines() if line.split()[1] == block)


def assert_nothing_left(host) -> None:
    assert "lifeline-overlay" not in sh(host, "dmsetup ls")
    assert sh(host, "blockdev --getro %s" % by_id_path("VIRT0001")).strip() == "0"
    assert sh(host, "losetup --list --noheadings --output BACK-FILE").strip() == ""


def test_rehearsal_names_exactly_the_files_of_the_overwritten_block_and_changes_no_hash(host, request, tmp_path):
    disk = by_id_path("VIRT0001")
    before = hash_devices(host, [disk])
    expected = lost_by_block(host)
    assert "home/alice/doc20" in expected and 1 <= len(expected) <= 4, expected
    found = run_role(request, tmp_path, repair_filesystem=disk)
    assert found["failed"] is False, found
    result = found["repair_result"]
    assert result["plan"]["refusals"] == [] and result["plan"]["fstype"] == "ext4"
    assert result["check"]["rc"] & 4 and not result["check"]["report"]["clean"], result["check"]
    rehearsal = result["rehearsal"]
    assert rehearsal["origin"] == result["plan"]["device"] and rehearsal["rc"] in (1, 2), rehearsal
    assert rehearsal["report"]["modified"] and rehearsal["report"]["fixes"]
    assert sorted(path.lstrip("/") for path in rehearsal["report"]["cleared_entries"]) == expected
    changes = rehearsal["changes"]
    assert sorted(changes["disappeared"]) == expected, changes
    assert changes["files_before"] == 41 and changes["files_after"] == 41 - len(expected)
    # Before the repair the lost files' names are there but their inodes cannot be read.
    assert changes["unreadable_before"] == expected and changes["unreadable_after"] == [], changes
    assert result["repair"] is None
    backup = result["backup"]
    assert backup["source"] == result["plan"]["device"] and backup["path"].startswith(BACKUP_DIR + "/")
    assert sh(host, "sha256sum %s" % backup["path"]).split()[0] == backup["sha256"]
    assert hash_devices(host, [disk]) == before
    assert_nothing_left(host)


def test_apply_without_this_runs_rehearsal_is_refused_and_changes_no_hash(host, request, tmp_path):
    disk = by_id_path("VIRT0001")
    before = hash_devices(host, [disk])
    device = sh(host, "readlink -f %s" % disk).strip()
    forged = {"step": "rehearse", "origin": device, "run_id": "an-earlier-run", "rc": 1}
    result = module_result(request, tmp_path, "lifeline.storage.fs_repair",
                           {"filesystem": disk, "step": "apply", "confirm_device": device, "run_id": "this-run",
                            "rehearsal": forged})
    assert result.get("failed") and [r["rule"] for r in result["refusals"]] == ["not_rehearsed", "no_backup"], result
    assert "repair" not in result
    assert hash_devices(host, [disk]) == before


def test_confirmed_repair_rehearses_again_then_repairs_the_disk_as_rehearsed(host, request, tmp_path):
    disk = by_id_path("VIRT0001")
    device = sh(host, "readlink -f %s" % disk).strip()
    expected = lost_by_block(host)
    found = run_role(request, tmp_path, repair_filesystem=disk, repair_confirm_device=device)
    assert found["failed"] is False, found
    result = found["repair_result"]
    assert sorted(result["rehearsal"]["changes"]["disappeared"]) == expected
    assert result["repair"]["rc"] in (1, 2) and result["repair"]["report"]["modified"], result["repair"]
    assert host.run("e2fsck -f -n %s" % disk).rc == 0
    sh(host, "mount -o ro %s /mnt/lab-repair" % disk)
    try:
        after = sh(host, "cd /mnt/lab-repair && find . -type f -printf '%P\\n' | sort").split()
    finally:
        sh(host, "umount /mnt/lab-repair")
    kept = sh(host, "cat /root/repair-files.before").split()
    assert after == sorted(set(kept) - set(expected))
    assert_nothing_left(host)


def xfs_stack(host) -> list[str]:
    return [XFS] + [by_id_path(serial) for serial in XFS_MEMBERS]


def without_time(argv: list[str]) -> list[str]:
    """ARGV with the time in the backup file's name (NAME-YYYYmmddTHHMMSS.xfs.metadump) left out."""
    return [re.sub(r"-\d{8}T\d{6}\.", "-TIME.", word) for word in argv]


@pytest.fixture(scope="module")
def xfs_plan(host, request, tmp_path_factory) -> dict:
    """The role in check mode over the damaged XFS, confirmed: the commands it prints, and the stack's hashes."""
    device = sh(host, "readlink -f %s" % XFS).strip()
    before = hash_devices(host, xfs_stack(host))
    backups = sh(host, "ls %s" % BACKUP_DIR)
    found = run_role(request, tmp_path_factory.mktemp("xfs-check"), check=True, repair_filesystem=XFS,
                     repair_confirm_device=device)
    return {"device": device, "found": found, "before": before, "after": hash_devices(host, xfs_stack(host)),
            "backups_before": backups, "backups_after": sh(host, "ls %s" % BACKUP_DIR)}


def test_xfs_check_mode_prints_the_commands_of_a_run_and_changes_no_hash(host, xfs_plan):
    device, found = xfs_plan["device"], xfs_plan["found"]
    assert found["failed"] is False, found
    result = found["repair_result"]
    assert result["plan"]["fstype"] == "xfs" and result["plan"]["refusals"] == [], result["plan"]
    planned = result["commands"]
    name = os.path.basename(device)
    assert planned["check"] == ["xfs_repair", "-n", device]
    assert without_time(planned["backup"]) == ["xfs_metadump", "-g", device, "%s/%s-TIME.xfs.metadump" % (BACKUP_DIR, name)]
    overlay = [argv for argv in planned["overlay"] if argv[:2] == ["dmsetup", "create"]]
    assert len(overlay) == 1 and ["blockdev", "--setro", device] in planned["overlay"], planned["overlay"]
    assert planned["rehearse"] == ["xfs_repair", "/dev/mapper/" + overlay[0][2]]
    assert planned["apply"] == ["xfs_repair", device]
    for step in ("check", "backup", "rehearse", "apply"):
        assert "%s: %s" % (step, " ".join(planned[step])) in found["output"], step
    assert result["check"] is None and result["backup"] is None and result["rehearsal"] is None
    assert result["repair"] is None
    assert xfs_plan["after"] == xfs_plan["before"]
    assert xfs_plan["backups_after"] == xfs_plan["backups_before"]
    assert "lifeline-overlay" not in sh(host, "dmsetup ls")
    assert sh(host, "blockdev --getro %s" % device).strip() == "0"


def test_xfs_rehearsal_names_exactly_the_files_of_the_zeroed_inode_block_and_changes_no_hash(
        host, request, tmp_path, xfs_plan):
    device = xfs_plan["device"]
    # As check mode left them (the test before this one proves they are the hashes from before it).
    before = xfs_plan["after"]
    expected = sorted(sh(host, "cat /root/xfs-lost").split())
    assert "home/alice/doc20" in expected and 1 <= len(expected) <= 8, expected
    found = run_role(request, tmp_path, repair_filesystem=XFS)
    assert found["failed"] is False, found
    result = found["repair_result"]
    check = result["check"]
    assert check["cmd"] == ["xfs_repair", "-n", device] and check["rc"] == 1, check
    assert not check["report"]["clean"] and check["report"]["would_fix"], check["report"]
    assert sorted("home/alice/" + entry["name"] for entry in check["report"]["junked_entries"]) == expected
    backup = result["backup"]
    assert backup["source"] == device and backup["tool"] == "xfs_metadump" and backup["path"].startswith(BACKUP_DIR + "/")
    assert sh(host, "sha256sum %s" % backup["path"]).split()[0] == backup["sha256"]
    rehearsal = result["rehearsal"]
    assert rehearsal["origin"] == device and rehearsal["rc"] == 0 and rehearsal["report"]["modified"], rehearsal
    assert sorted(path.lstrip("/") for path in rehearsal["report"]["cleared_entries"]) == expected
    assert rehearsal["report"]["lost_found"] == []
    changes = rehearsal["changes"]
    assert sorted(changes["disappeared"]) == expected, changes
    assert changes["files_after"] == 41 - len(expected) and changes["lost_found_after"] == [], changes
    # The kernel refuses the whole inode cluster: when it holds home/alice's own inode, nothing in it can be listed.
    if changes["unlisted_before"]:
        assert changes["unlisted_before"] == ["home/alice"] and changes["files_before"] == 1, changes
    else:
        assert changes["files_before"] == 41 and changes["unreadable_before"] == expected, changes
    assert result["repair"] is None
    assert hash_devices(host, xfs_stack(host)) == before
    assert "lifeline-overlay" not in sh(host, "dmsetup ls")
    assert sh(host, "blockdev --getro %s" % device).strip() == "0"
    assert sh(host, "losetup --list --noheadings --output BACK-FILE").strip() == ""


def test_xfs_confirmed_run_runs_the_commands_check_mode_printed_and_keeps_every_other_file(
        host, request, tmp_path, xfs_plan):
    device = xfs_plan["device"]
    planned = xfs_plan["found"]["repair_result"]["commands"]
    expected = sorted(sh(host, "cat /root/xfs-lost").split())
    try:
        found = run_role(request, tmp_path, repair_filesystem=XFS, repair_confirm_device=device)
        assert found["failed"] is False, found
        result = found["repair_result"]
        ran = result["commands"]
        assert result["check"]["cmd"] == planned["check"] and without_time(ran["backup"]) == without_time(planned["backup"])
        assert result["backup"]["path"] == ran["backup"][-1]
        # The overlay's commands as planned: the runner names each tool by its path, and the loop device losetup
        # printed stands in place of {loop}.
        assert [[word.replace("{loop}", "LOOP") for word in argv] for argv in planned["overlay"]] == \
            [[os.path.basename(argv[0])] + [re.sub(r"/dev/loop\d+", "LOOP", word) for word in argv[1:]]
             for argv in ran["overlay"]], ran["overlay"]
        assert result["rehearsal"]["cmd"] == planned["rehearse"] and result["repair"]["cmd"] == planned["apply"]
        assert result["repair"]["rc"] == 0 and result["repair"]["report"]["modified"], result["repair"]
        assert sorted("home/alice/" + entry["name"] for entry in result["repair"]["report"]["junked_entries"]) == expected
        assert sorted(result["rehearsal"]["changes"]["disappeared"]) == expected
        assert host.run("xfs_repair -n %s" % XFS).rc == 0
        # Every file the rehearsal did not name is there with its sha256.
        sh(host, "awk 'NR == FNR {lost[$1]; next} !($2 in lost)' /root/xfs-lost /root/xfs.sha256 > /root/xfs-kept.sha256")
        kept = sh(host, "cat /root/xfs-kept.sha256").splitlines()
        assert len(kept) == 41 - len(expected)
        sh(host, "mount -o ro %s /mnt/lab-xfs && cd /mnt/lab-xfs && sha256sum --quiet -c /root/xfs-kept.sha256; "
                 "status=$?; cd / && umount /mnt/lab-xfs && exit $status" % XFS)
        after = sh(host, "mount -o ro %s /mnt/lab-xfs && (cd /mnt/lab-xfs && find . -type f -printf '%%P\\n' | sort); "
                         "umount /mnt/lab-xfs" % XFS).split()
        assert after == sorted(line.split(None, 1)[1] for line in kept)
    finally:
        sh(host, "umount /mnt/lab-xfs 2>/dev/null; mdadm --stop %s 2>&1 || true" % XFS)
        sh(host, "rm -f %s/*.xfs.metadump" % BACKUP_DIR)
        sh(host, "mdadm --zero-superblock %s 2>&1 || true" % " ".join(by_id_path(serial) for serial in XFS_MEMBERS))


def test_a_recovering_raid1_beneath_is_refused_by_name_and_no_hash_changes(host, request, tmp_path):
    first, second = by_id_path("VIRT0002"), by_id_path("VIRT0003")
    speed = sh(host, "cat /proc/sys/dev/raid/speed_limit_max").strip()
    sh(host, "mdadm --create %s --run --assume-clean --metadata=1.2 --level=1 --raid-devices=2 %s %s 2>&1"
             % (RECOVERING, first, second))
    try:
        sh(host, "mkfs.ext4 -q -F %s" % RECOVERING)
        sh(host, "echo 1000 > /proc/sys/dev/raid/speed_limit_max")
        sh(host, "mdadm %s --fail %s --remove %s 2>&1 && mdadm --zero-superblock %s && mdadm %s --add %s 2>&1"
                 % (RECOVERING, second, second, second, RECOVERING, second))
        md = sh(host, "basename $(readlink -f %s)" % RECOVERING).strip()
        assert sh(host, "cat /sys/block/%s/md/sync_action" % md).strip() == "recover"
        backups = sh(host, "ls %s" % BACKUP_DIR)
        # Only the array: md itself rewrites its members' superblocks while it recovers.
        before = hash_devices(host, [RECOVERING])
        found = run_role(request, tmp_path, repair_filesystem=RECOVERING)
        assert found["failed"] is True and found["task"] == "Stop on what stands against a repair", found
        message = found["result"]["msg"]
        assert "md_rebuilding (%s)" % md in message and "recover" in message and "wait until" in message, message
        assert hash_devices(host, [RECOVERING]) == before
        assert sh(host, "cat /sys/block/%s/md/sync_action" % md).strip() == "recover"
        assert "lifeline-overlay" not in sh(host, "dmsetup ls")
        assert sh(host, "ls %s" % BACKUP_DIR) == backups
    finally:
        sh(host, "echo %s > /proc/sys/dev/raid/speed_limit_max" % speed)
        sh(host, "mdadm --stop %s 2>&1 || true" % RECOVERING)


def test_a_stale_mirror_member_is_refused_then_after_the_runbook_the_repair_loses_nothing(host, request, tmp_path):
    members = [by_id_path(serial) for serial in ("VIRT0002", "VIRT0003", "VIRT0004")]
    stale = members[2]
    sh(host, "mdadm --zero-superblock %s 2>&1 || true" % " ".join(members))
    sh(host, "mdadm --create %s --run --metadata=1.2 --level=1 --raid-devices=3 %s 2>&1 && mdadm --wait %s || true"
             % (STALE, " ".join(members), STALE))
    try:
        md = sh(host, "basename $(readlink -f %s)" % STALE).strip()
        sh(host, "mkfs.ext4 -q -F -b 4096 %s && mount %s /mnt/lab-repair && for i in $(seq -w 1 20); do "
                 "head -c 65536 /dev/urandom > /mnt/lab-repair/f$i; done && "
                 "(cd /mnt/lab-repair && sha256sum f*) > /root/stale.sha256" % (STALE, STALE))
        # After the unmount: ext4 allocates the blocks of a new file only when it writes it back.
        sh(host, "umount /mnt/lab-repair")
        first_block = int(sh(host, "debugfs -R 'blocks /f01' %s 2>/dev/null" % STALE).split()[0])
        sh(host, "mdadm --stop %s" % STALE)
        # Overwrite 1 MiB of the stale member's copy of f01 and what follows, while the array is stopped:
        # its event count stays equal to the others'.
        offset = int(sh(host, "mdadm --examine %s | awk '/Data Offset :/ {print $4}'" % stale)) * 512 + first_block * 4096
        sh(host, "dd if=/dev/urandom of=%s bs=64K seek=%d count=16 oflag=direct,seek_bytes conv=notrunc status=none"
                 % (stale, offset))
        sh(host, "mdadm --assemble %s %s 2>&1 && mdadm --readwrite %s" % (STALE, " ".join(members), STALE))
        checked = module_result(request, tmp_path, "lifeline.storage.md_check", {"array": STALE, "poll_seconds": 0.5})
        assert checked["mismatch_cnt"] > 0, checked
        before = hash_devices(host, members)
        refused = run_role(request, tmp_path, repair_filesystem=STALE)
        assert refused["failed"] is True and "md_mismatch (%s)" % md in refused["result"]["msg"], refused
        assert hash_devices(host, members) == before
        # The runbook: fail and remove the member that disagrees, add it back, let md rebuild it, check again.
        sh(host, "mdadm %s --fail %s --remove %s 2>&1 && mdadm --zero-superblock %s && mdadm %s --add %s 2>&1 && "
                 "sleep 1 && mdadm --wait %s || true" % (STALE, stale, stale, stale, STALE, stale, STALE))
        rechecked = module_result(request, tmp_path, "lifeline.storage.md_check", {"array": STALE, "poll_seconds": 0.5})
        assert rechecked["mismatch_cnt"] == 0, rechecked
        before = hash_devices(host, members)
        rehearsed = run_role(request, tmp_path, repair_filesystem=STALE)
        assert rehearsed["failed"] is False, rehearsed
        rehearsal = rehearsed["repair_result"]["rehearsal"]
        assert rehearsal["rc"] == 0 and rehearsal["report"]["fixes"] == [], rehearsal
        assert rehearsal["changes"]["disappeared"] == [] and rehearsal["changes"]["resized"] == []
        assert rehearsal["changes"]["files_before"] == rehearsal["changes"]["files_after"] == 20
        assert hash_devices(host, members) == before
        device = "/dev/" + md
        applied = run_role(request, tmp_path, repair_filesystem=STALE, repair_confirm_device=device)
        assert applied["failed"] is False and applied["repair_result"]["repair"]["rc"] == 0, applied
        sh(host, "mount -o ro %s /mnt/lab-repair && cd /mnt/lab-repair && sha256sum --quiet -c /root/stale.sha256; "
                 "status=$?; cd / && umount /mnt/lab-repair && exit $status" % STALE)
    finally:
        sh(host, "umount /mnt/lab-repair 2>/dev/null; mdadm --stop %s 2>&1 || true" % STALE)
