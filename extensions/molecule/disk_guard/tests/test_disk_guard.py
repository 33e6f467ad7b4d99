"""The pre-install gate on real devices: one kind of data per case on VIRT0001, each refused
with the right evidence and its bytes unchanged; blank disks pass; an allow-listed serial
passes; a disk that does not exist fails naming it."""

from __future__ import annotations

import pytest

from labcheck import by_serial, hash_devices, module_result, sh

CASE_DISK = "VIRT0001"
# pbkdf2 with few iterations: argon2 would need seconds and memory under emulation.
LUKS = "printf pw | cryptsetup luksFormat --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000"
MD = "mdadm --create /dev/md9 --run --level=1 --raid-devices=2 --bitmap=none"
NO_BACKUP = "--devicesfile '' --config 'backup { backup = 0 archive = 0 }'"

# (case, shell that writes it to $D, text every refusal line must hold). $END is the device size.
CASES = [
    ("ext4", "mkfs.ext4 -q -F $D", "ext4 at offset 1080"),
    # xfsprogs refuses file systems under 300 MB unless it runs under its own test suite, which
    # these variables announce; the lab's disks are 256 MB.
    ("xfs", "TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f $D", "xfs at offset 0"),
    ("btrfs", "mkfs.btrfs -q -f $D", "btrfs at offset 65600"),
    ("swap", "mkswap $D >/dev/null", "swap at offset 4086"),
    ("vfat", "mkfs.vfat $D >/dev/null", "vfat at offset"),
    ("luks1", LUKS + " --type luks1 $D -", "crypto_LUKS at offset 0"),
    ("luks2", LUKS + " --type luks2 $D -", "crypto_LUKS at offset 16384"),
    ("md 0.90", MD + " --metadata=0.90 $D missing && mdadm --stop /dev/md9", "linux_raid_member at offset"),
    ("md 1.0", MD + " --metadata=1.0 $D missing && mdadm --stop /dev/md9", "linux_raid_member at offset"),
    ("md 1.2", MD + " --metadata=1.2 $D missing && mdadm --stop /dev/md9", "linux_raid_member at offset 4096"),
    ("md 1.2 on a partition", "printf 'label: gpt\\n,,R\\n' | sfdisk -q $D && udevadm settle && "
     + MD + " --metadata=1.2 ${D}1 missing && mdadm --stop /dev/md9", "linux_raid_member at offset 4096"),
    ("LVM PV", "pvcreate %s -ff -y $D >/dev/null" % NO_BACKUP, "LVM2_member at offset 536"),
    ("GPT only", "printf 'label: gpt\\n' | sfdisk -q $D", "gpt at offset 512"),
    ("MBR only", "printf 'label: dos\\n' | sfdisk -q $D", "dos at offset 510"),
    ("GPT with its primary header zeroed", "printf 'label: gpt\\n' | sfdisk -q $D && dd if=/dev/zero of=$D bs=512 seek=1 count=1 "
     "oflag=direct status=none", "gpt at offset $END"),
    ("random data without a signature", "head -c 65536 /dev/urandom | dd of=$D bs=65536 seek=4 oflag=direct status=none",
     "non-zero bytes in the first 1048576 bytes, no known signature"),
]


def wipe(host, device: str) -> None:
    sh(host, "mdadm --stop /dev/md9 2>/dev/null; umount /mnt/lab-guard 2>/dev/null; wipefs -a -q %s; "
             "for part in %s?*; do [ -b \"$part\" ] && wipefs -a -q \"$part\"; done; "
             "dd if=/dev/zero of=%s bs=1M count=1 oflag=direct status=none; "
             "dd if=/dev/zero of=%s bs=1M seek=$(( $(blockdev --getsize64 %s) / 1048576 - 1 )) count=1 oflag=direct status=none; "
             "udevadm settle; true" % (device, device, device, device, device))


def guard(request, tmp_path, **args) -> dict:
    return module_result(request, tmp_path, "lifeline.storage.disk_guard", args)


@pytest.mark.parametrize("case, write, expected", CASES, ids=[case[0] for case in CASES])
def test_each_kind_of_data_is_refused_with_its_evidence_and_left_unchanged(host, request, tmp_path, case, write, expected):
    device = by_serial(CASE_DISK, host)
    wipe(host, device)
    size = int(sh(host, "blockdev --getsize64 %s" % device))
    sh(host, "set -e; D=%s; %s; udevadm settle" % (device, write))
    before = hash_devices(host, [device])
    result = guard(request, tmp_path, disks=[CASE_DISK])
    assert result["failed"] is True and result["passed"] is False, case
    assert len(result["refused"]) == 1
    line = result["refused"][0]
    assert line.startswith("%s (%s): " % (CASE_DISK, device))
    assert expected.replace("$END", str(size - 512)) in line, line
    assert hash_devices(host, [device]) == before, "%s: disk_guard changed the disk" % case
    wipe(host, device)


def test_a_pv_hidden_by_an_lvm_devices_file_is_refused(host, request, tmp_path):
    device = by_serial(CASE_DISK, host)
    other = by_serial("VIRT0002", host)
    wipe(host, device)
    sh(host, "pvcreate %s -ff -y %s >/dev/null && pvcreate %s -ff -y %s >/dev/null" % (NO_BACKUP, device, NO_BACKUP, other))
    sh(host, "sed -i 's/^\\(\\s*\\)#\\?\\s*use_devicesfile = .*/\\1use_devicesfile = 1/' /etc/lvm/lvm.conf && "
             "rm -f /etc/lvm/devices/system.devices && lvm lvmdevices --yes --adddev %s" % other)
    try:
        assert device not in sh(host, "pvs --noheadings -o pv_name %s" % NO_BACKUP.replace("--devicesfile ''", ""))
        result = guard(request, tmp_path, disks=[CASE_DISK])
        assert result["passed"] is False and "LVM2_member at offset 536" in result["refused"][0]
    finally:
        sh(host, "sed -i 's/^\\(\\s*\\)use_devicesfile = 1/\\1use_devicesfile = 0/' /etc/lvm/lvm.conf; rm -f /etc/lvm/devices/system.devices")
        wipe(host, device)
        wipe(host, other)


def test_a_mounted_disk_and_a_disk_held_by_a_running_array_are_refused(host, request, tmp_path):
    device = by_serial(CASE_DISK, host)
    members = [by_serial(serial, host) for serial in ("VIRT0003", "VIRT0004")]
    wipe(host, device)
    sh(host, "mkfs.ext4 -q -F %s && mkdir -p /mnt/lab-guard && mount %s /mnt/lab-guard" % (device, device))
    sh(host, "mdadm --create /dev/md8 --run --assume-clean --level=1 --raid-devices=2 --bitmap=none %s %s" % tuple(members))
    try:
        result = guard(request, tmp_path, disks=[CASE_DISK, "VIRT0003"])
        lines = {line.split(" ", 1)[0]: line for line in result["refused"]}
        assert "mounted at /mnt/lab-guard" in lines[CASE_DISK] and "in use" in lines[CASE_DISK]
        assert "held by md8" in lines["VIRT0003"] and "in use" in lines["VIRT0003"]
    finally:
        sh(host, "umount /mnt/lab-guard; mdadm --stop /dev/md8")
        for disk in [device] + members:
            wipe(host, disk)


def test_blank_disks_pass_and_an_allow_listed_serial_passes(host, request, tmp_path):
    device = by_serial(CASE_DISK, host)
    wipe(host, device)
    blank = guard(request, tmp_path, disks=[CASE_DISK, "IDE0001"])
    assert blank.get("failed") is not True and blank["passed"] is True
    assert {disk["name"]: disk["verdict"] for disk in blank["disks"]} == {CASE_DISK: "blank", "IDE0001": "blank"}
    sh(host, "mkfs.ext4 -q -F %s" % device)
    try:
        allowed = guard(request, tmp_path, disks=[CASE_DISK], allow=[CASE_DISK])
        assert allowed["passed"] is True and allowed["disks"][0]["verdict"] == "allowed"
        assert "ext4" in [item.get("type") for item in allowed["disks"][0]["evidence"]]
        by_kernel_name = guard(request, tmp_path, disks=[CASE_DISK], allow=[device])
        assert by_kernel_name["failed"] is True and "kernel names such as /dev/sdX" in by_kernel_name["msg"]
    finally:
        wipe(host, device)


def test_a_listed_disk_that_does_not_exist_fails_naming_it(host, request, tmp_path):
    result = guard(request, tmp_path, disks=["IDE0001", "NOSUCHSERIAL"])
    assert result["failed"] is True
    assert result["msg"] == "no whole disk on this host is named NOSUCHSERIAL; nothing was checked for it"
