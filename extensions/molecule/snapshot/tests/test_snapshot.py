"""Snapshot and restore drill: the incident replayed on real md and LVM.

prepare.yml built VG vault (LVs home and srv with ext4 and files of known checksums) on a
RAID10 of the four virtio disks; converge.yml ran playbooks/snapshot.yml once. The tests run
in file order (every test takes the `host` fixture, so pytest does not regroup them): the last
one destroys the PV label and VG metadata and restores them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from labcheck import by_serial, run_playbook, sh

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
CONTROLLER = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "snapshots" / "lifeline-lab"
HOST_DIR = "/var/lib/lifeline-storage/snapshots"


def host_snapshots(host) -> list[str]:
    return sorted(sh(host, "find %s -mindepth 2 -maxdepth 2 -name manifest.json -printf '%%h\\n' | xargs -rn1 basename"
                     % HOST_DIR).split())


def controller_snapshots() -> list[Path]:
    return sorted(path for path in CONTROLLER.iterdir() if (path / "manifest.json").exists())


def recap_changed(output: str) -> int:
    recap = output[output.rindex("PLAY RECAP"):]
    return int(re.search(r"lifeline-lab\s*:.*?changed=(\d+)", recap).group(1))


def snapshot_playbook(request, controller_dir: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["ansible-playbook", "-i", request.config.option.ansible_inventory, str(PROJECT / "playbooks" / "snapshot.yml"),
         "-e", json.dumps({"snapshot_controller_dir": str(controller_dir)})],
        capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-4000:]
    return result


def test_the_controller_copy_matches_the_host_and_reading_wrote_nothing(host):
    ids = host_snapshots(host)
    copies = controller_snapshots()
    assert len(ids) == 1 and [copy.name for copy in copies] == ids
    manifest = json.loads((copies[0] / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert hashlib.sha256((copies[0] / entry["path"]).read_bytes()).hexdigest() == entry["sha256"], entry["path"]
    paths = {entry["path"] for entry in manifest["files"]}
    assert {"md/detail-scan.txt", "lvm/vgcfgbackup/vault.vg", "lvm/vgs.json", "lsblk.json", "blkid.txt", "disk-map.json",
            "raw/md0.head"} <= paths
    # The snapshot names members by their kernel names of the day: vdb..vde under qemu, ubdb..ubde under UML.
    members = [by_serial("VIRT000%d" % n, host).rsplit("/", 1)[1] for n in (1, 2, 3, 4)]
    assert {"md/examine/%s.txt" % name for name in members} <= paths
    assert {"raw/%s.tail" % name for name in members} <= paths
    disk_map = {entry["serial"]: entry for entry in json.loads((copies[0] / "disk-map.json").read_text()) if entry["serial"]}
    assert sorted(disk_map["VIRT000%d" % n]["md_slots"][0]["slot"] for n in (1, 2, 3, 4)) == [0, 1, 2, 3]
    assert sh(host, "stat -c %a " + HOST_DIR + "/" + ids[0]).strip() == "700"
    after = sh(host, "for disk in $(cut -d' ' -f1 /var/tmp/lab-snapshot-hashes.before); do printf '%s ' \"$disk\"; "
                     "dd if=\"$disk\" bs=4M iflag=direct status=none | sha256sum | cut -d' ' -f1; done")
    assert after == sh(host, "cat /var/tmp/lab-snapshot-hashes.before")


def changed_files(host, older: str, newer: str) -> list[str]:
    """The non-volatile files whose checksums differ between two host snapshots: why a new one was taken."""
    def entries(snapshot: str) -> dict[str, str]:
        manifest = json.loads(sh(host, "cat %s/%s/manifest.json" % (HOST_DIR, snapshot)))
        return {entry["path"]: entry["sha256"] for entry in manifest["files"] if not entry.get("volatile")}
    old, new = entries(older), entries(newer)
    return sorted(path for path in set(old) | set(new) if old.get(path) != new.get(path))


def differences(host, older: str, newer: str) -> str:
    """The changed files and, for each, the first lines of `diff` between the two snapshots' copies."""
    shown = []
    for path in changed_files(host, older, newer):
        diff = host.run("diff %s/%s/%s %s/%s/%s | head -n 20" % (HOST_DIR, older, path, HOST_DIR, newer, path)).stdout
        shown.append("%s:\n%s" % (path, diff))
    return "\n".join(shown)


def test_a_second_run_changes_nothing_and_adds_no_snapshot(host, request):
    before = host_snapshots(host)
    result = snapshot_playbook(request, CONTROLLER.parent)
    after = host_snapshots(host)
    assert recap_changed(result.stdout) == 0, ("a new snapshot was taken; files that differ: %s"
                                               % (differences(host, before[-1], after[-1]) if after != before else "none"))
    assert host_snapshots(host) == before
    assert [copy.name for copy in controller_snapshots()] == before


def test_a_corrupted_controller_copy_is_detected(host, request, tmp_path):  # pylint: disable=unused-argument
    copy_root = tmp_path / "snapshots"
    shutil.copytree(CONTROLLER.parent, copy_root)
    victim = next((copy_root / "lifeline-lab").glob("*/lvm/vgcfgbackup/vault.vg"))
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    result = snapshot_playbook(request, copy_root, check=False)
    assert result.returncode != 0
    assert "lvm/vgcfgbackup/vault.vg: FAILED" in result.stdout + result.stderr


def test_a_killed_run_leaves_no_complete_snapshot_and_the_next_run_cleans_up(host, request):
    before = host_snapshots(host)
    inventory = request.config.option.ansible_inventory
    # A larger head_bytes makes new content (so a new snapshot would be written) and a longer run to interrupt.
    subprocess.run(["ansible", "-i", inventory, "all", "--become", "-B", "300", "-P", "0", "-m",
                    "lifeline.storage.metadata_snapshot", "-a", "head_bytes=67108864"], check=True, capture_output=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sh(host, "find %s -path '*/.partial-*/raw/*' -type f | head -n1" % HOST_DIR).strip():
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the snapshot run never started copying raw sectors")
    # "[A]nsiballZ" matches the module's process but not this shell's own command line.
    sh(host, "pkill -KILL -f '[a]sync_wrapper.*metadata_snapshot'; pkill -KILL -f '[A]nsiballZ_metadata_snapshot'; true")
    time.sleep(2)
    assert sh(host, "pgrep -f '[A]nsiballZ_metadata_snapshot' || true").strip() == ""
    assert host_snapshots(host) == before  # nothing that looks complete
    assert sh(host, "find %s -maxdepth 1 -name '.partial-*' | wc -l" % HOST_DIR).strip() == "1"

    result = host.ansible("lifeline.storage.metadata_snapshot", "", check=False, become=True)
    assert result["reused"] is True and len(result["removed_partials"]) == 1
    assert result["changed"] is True  # removing the leftover is a change
    assert sh(host, "find %s -maxdepth 1 -name '.partial-*' | wc -l" % HOST_DIR).strip() == "0"
    assert host_snapshots(host) == before


def test_destroyed_pv_label_and_vg_metadata_are_restored_and_every_file_matches(host, request):
    snapshot = controller_snapshots()[-1]
    # The incident: an installer overwrote the start of the array, PV label and VG metadata included.
    sh(host, "vgchange --devicesfile '' -an vault && dd if=/dev/zero of=/dev/md0 bs=1M count=1 oflag=direct status=none")
    assert sh(host, "blkid -p -o value -s TYPE /dev/md0 || true").strip() == ""
    assert sh(host, "vgs --devicesfile '' vault 2>&1 || true").find("not found") >= 0

    playbook = str(PROJECT / "playbooks" / "restore_lvm_metadata.yml")
    inventory = request.config.option.ansible_inventory
    common = {"lifeline_hosts": "lifeline-lab", "restore_snapshot": str(snapshot), "restore_vg": "vault"}
    dry = run_playbook(inventory, playbook, common)
    assert "Dry run, nothing changed" in dry and "pvcreate --restorefile" in dry and "vgcfgrestore" in dry
    assert recap_changed(dry) == 0
    assert sh(host, "blkid -p -o value -s TYPE /dev/md0 || true").strip() == ""  # the dry run wrote nothing

    real = run_playbook(inventory, playbook, dict(common, restore_confirm="vault"))
    assert recap_changed(real) > 0
    assert sh(host, "blkid -p -o value -s TYPE /dev/md0").strip() == "LVM2_member"
    assert_restored_read_only_with_every_file_intact(host)


def assert_restored_read_only_with_every_file_intact(host) -> None:
    lvs = sh(host, "lvs --devicesfile '' --noheadings -o lv_name,lv_active vault").split()
    assert lvs == ["home", "active", "srv", "active"]
    # restore_activate defaults to readonly: the kernel refuses writes to both LVs.
    assert sh(host, "blockdev --getro /dev/vault/home /dev/vault/srv").split() == ["1", "1"]
    sh(host, "mkdir -p /mnt/lab-home /mnt/lab-srv && mount -o ro,noload /dev/vault/home /mnt/lab-home && "
             "mount -o ro,noload /dev/vault/srv /mnt/lab-srv")
    try:
        checked = sh(host, "cd /mnt && sha256sum --check /var/tmp/lab-files.sha256")
        assert checked.count(": OK") == 6 and "FAILED" not in checked, checked
    finally:
        sh(host, "umount /mnt/lab-home /mnt/lab-srv")


RESTORE = str(PROJECT / "playbooks" / "restore_lvm_metadata.yml")
MEMBERS = ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004")


def installer_recreates(host, options: str, order: tuple[str, ...] = MEMBERS, then: str = "") -> None:
    """What an installer runs over a live array: mdadm --create over the members (a new UUID), pvcreate -ff."""
    members = " ".join(by_serial(serial, host) for serial in order)
    sh(host, "set -e; vgchange --devicesfile '' -an vault; for md in /dev/md0 /dev/md127; do "
             "[ ! -e $md ] || mdadm --stop $md; done; "
             "mdadm --create /dev/md127 --run --assume-clean --metadata=1.2 --level=10 --raid-devices=4 --bitmap=none "
             "%s %s; udevadm settle; "
             # The new array shows the old PV, which LVM's autoactivation may have opened: an installer
             # takes the volume groups down before it partitions, as this does.
             "if vgs --devicesfile '' vault >/dev/null 2>&1; then vgchange --devicesfile '' -an vault; fi; "
             "pvcreate --devicesfile '' -ff -y /dev/md127; %s" % (options, members, then))


def restore(request, extra: dict | None = None, confirm: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    variables = {"lifeline_hosts": "lifeline-lab", "restore_snapshot": str(controller_snapshots()[-1]), "restore_vg": "vault"}
    variables.update(extra or {})
    if confirm:
        variables["restore_confirm"] = "vault"
    result = subprocess.run(["ansible-playbook", "-i", request.config.option.ansible_inventory, RESTORE, "-e", json.dumps(variables)],
                            capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def test_a_after_an_installer_recreated_the_array_in_the_same_order_and_relabelled_the_pv(host, request):
    """(a) The same order and name, a new UUID, pvcreate -ff: an empty foreign PV label on the array."""
    recorded_uuid = sh(host, "blkid -p -o value -s UUID /dev/md0").strip()
    installer_recreates(host, "--name=vault")
    foreign = sh(host, "blkid -p -o value -s UUID /dev/md127").strip()
    assert foreign != recorded_uuid
    dry = restore(request).stdout
    assert "Dry run, nothing changed" in dry and recap_changed(dry) == 0
    assert "holds a PV label with UUID %s and no VG; write the snapshot's PV label over a PV label" % foreign in dry, dry[-3000:]
    assert "/dev/md127: matches." in dry  # the samples read back where the recorded geometry puts them
    assert sh(host, "blkid -p -o value -s UUID /dev/md127").strip() == foreign
    real = restore(request, confirm=True).stdout
    assert recap_changed(real) > 0
    assert sh(host, "blkid -p -o value -s UUID /dev/md127").strip() == recorded_uuid
    assert_restored_read_only_with_every_file_intact(host)


def test_b_after_an_installer_recreated_the_array_under_another_name_and_relabelled_the_pv(host, request):
    """(b) Another homehost and name (debian:0), then a VG of the installer's own on the array,
    which the restore must refuse until the operator names the device for overwrite."""
    snapshot = controller_snapshots()[-1]
    recorded_uuid = sh(host, "blkid -p -o value -s UUID /dev/md127").strip()
    installer_recreates(host, "--homehost=debian --name=0", then="vgcreate --devicesfile '' installer /dev/md127")
    assert sh(host, "mdadm --detail /dev/md127 | sed -n 's/^ *Name : //p'").split()[0] == "debian:0"
    assert not host.file("/dev/disk/by-id/md-name-lifeline-lab:vault").exists
    foreign_uuid = sh(host, "blkid -p -o value -s UUID /dev/md127").strip()
    assert foreign_uuid != recorded_uuid

    refused = restore(request, check=False)
    assert refused.returncode != 0
    assert ("device /dev/md127, found by md array /dev/md127 (name debian:0" in refused.stdout
            and "assembled now from 4 of the 4 members the snapshot recorded (VIRT0001, VIRT0002, VIRT0003, VIRT0004)" in refused.stdout)
    assert "in VG installer with 0 LVs; set restore_overwrite_devices to include /dev/md127" in refused.stdout
    assert sh(host, "blkid -p -o value -s UUID /dev/md127").strip() == foreign_uuid  # nothing written

    overwrite = {"restore_overwrite_devices": ["/dev/md127"]}
    dry = restore(request, overwrite).stdout
    assert "Dry run, nothing changed" in dry and recap_changed(dry) == 0
    assert sh(host, "blkid -p -o value -s UUID /dev/md127").strip() == foreign_uuid
    # The printed command is the one that runs, shell-quoted (Ansible's output escapes its double quotes).
    expected = ("lvm pvcreate --restorefile /run/lifeline-storage-restore-vault.vg --uuid %s -ff -y /dev/md127 --devicesfile '' "
                "--config 'backup { backup = 0 archive = 0 } activation { read_only_volume_list = [ \"vault\" ] }'" % recorded_uuid)
    assert expected.replace('"', '\\"') in dry, dry[-3000:]
    head_before = sh(host, "dd if=/dev/md127 bs=1M count=1 iflag=direct status=none | sha256sum").split()[0]

    real = restore(request, overwrite, confirm=True).stdout
    assert recap_changed(real) > 0
    assert sh(host, "blkid -p -o value -s UUID /dev/md127").strip() == recorded_uuid
    saved = sorted((snapshot.parent / "pre-restore").glob("*-%s-dev_md127.head" % recorded_uuid))
    assert saved and hashlib.sha256(saved[-1].read_bytes()).hexdigest() == head_before
    assert_restored_read_only_with_every_file_intact(host)


def test_c_an_array_recreated_in_another_order_and_chunk_is_refused_with_the_recorded_create_command(host, request):
    """(c) Another member order and chunk: the restore refuses (the samples are elsewhere) and prints
    the mdadm --create that rebuilds the recorded geometry; run as printed, the restore then succeeds."""
    recorded_uuid = sh(host, "blkid -p -o value -s UUID /dev/md127").strip()
    installer_recreates(host, "--chunk=64", order=("VIRT0002", "VIRT0001", "VIRT0004", "VIRT0003"))
    refused = restore(request, check=False)
    # ansible-core prints a failed task's message to stderr, the plan and the verdicts to stdout.
    said = refused.stdout + refused.stderr
    shown = refused.stdout[-6000:] + refused.stderr[-3000:]
    assert refused.returncode != 0, shown
    assert "/dev/md127: does not match." in refused.stdout, shown
    assert "Nothing was written." in said, shown
    assert sh(host, "blkid -p -o value -s TYPE /dev/md127").strip() == "LVM2_member"
    assert sh(host, "blkid -p -o value -s UUID /dev/md127").strip() != recorded_uuid  # the installer's label, untouched
    command = re.search(r"(mdadm --create /dev/md0 --assume-clean [^\"\n]*?)(?:\\n|\"|$)", said, re.M).group(1).strip()
    members = [by_id for by_id in command.split() if by_id.startswith("/dev/disk/by-id/")]
    assert members == ["/dev/disk/by-id/uml-%s" % serial for serial in MEMBERS], command
    assert "--chunk=512" in command and "--layout=n2" in command and "--uuid=" in command, command

    # The operator stops the installer's array and runs the printed command (--run answers mdadm's question).
    sh(host, "set -e; mdadm --stop /dev/md127; %s --run; udevadm settle" % command)
    # The installer's array had another data offset, so its pvcreate wrote below the recorded data
    # area: with the recorded geometry back, the PV and its VG are whole and there is nothing to restore.
    assert sh(host, "blkid -p -o value -s UUID /dev/md0").strip() == recorded_uuid
    again = restore(request, confirm=True, check=False)
    assert again.returncode != 0 and "is present and complete" in again.stdout + again.stderr
    # udev may have activated it read-write when the array came back: down first, then read-only.
    sh(host, "set -e; udevadm settle; lvm vgchange --devicesfile '' -an vault; "
             "lvm vgchange --devicesfile '' --config 'activation { read_only_volume_list = [ \"vault\" ] }' -ay vault")
    assert_restored_read_only_with_every_file_intact(host)
