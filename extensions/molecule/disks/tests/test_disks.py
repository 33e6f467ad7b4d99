"""The disks subset against wipefs, blkid, mdadm and LVM on the lab guest's real devices.

prepare.yml wrote one kind of content per disk: VIRT0001 GPT + ext4 partition (mounted at
"/mnt/lab data"), VIRT0002/VIRT0003 members of a running RAID1, VIRT0004 an LVM PV, IDE0002
LUKS2, NVME0001 swap; IDE0001 stays blank.
"""

from __future__ import annotations

import json

import pytest

from labcheck import by_serial, export_pairs, gather, sh


@pytest.fixture(scope="module")
def disks(host) -> dict[str, dict]:
    facts = gather(host, subset="disks")
    assert facts["available"] is True and facts["error"] is None
    return {entry["device"]: entry for entry in facts["devices"]}


def wipefs_truth(host, device: str) -> list[tuple[int, str]]:
    """(offset, type) of every signature wipefs lists, read with json.loads and int(..., 16) only."""
    text = sh(host, "wipefs --no-act --json %s" % device).strip()
    if not text:
        return []
    return sorted((int(sig["offset"], 16), sig["type"]) for sig in json.loads(text)["signatures"])


def signature_types(entry: dict) -> set[str]:
    return {sig["type"] for sig in entry["signatures"]}


def test_the_blank_disk_is_blank(host, disks):
    entry = disks[by_serial("IDE0001", host)]
    assert entry["serial"] == "IDE0001"
    assert entry["signatures"] == [] and entry["blank"] is True
    assert entry["partition_table"]["type"] is None


def test_gpt_disk_and_its_mounted_ext4_partition(host, disks):
    disk = by_serial("VIRT0001", host)
    entry = disks[disk]
    assert entry["partition_table"]["type"] == "gpt"
    assert entry["blank"] is False
    part_name = sh(host, "lsblk -nr -o KNAME %s | sed -n 2p" % disk).strip()
    assert entry["partitions"] == [part_name]
    part = disks["/dev/" + part_name]
    assert part["parent"] == entry["kernel_name"]
    assert part["serial"] == "VIRT0001"  # a partition is named by its disk's serial
    ext4 = [sig for sig in part["signatures"] if sig["type"] == "ext4"]
    assert len(ext4) == 1 and ext4[0]["kind"] == "filesystem" and ext4[0]["label"] == "labdata"
    assert ext4[0]["uuid"] == export_pairs(sh(host, "blkid -p -o export /dev/%s" % part_name))["UUID"]
    assert part["mountpoints"] == ["/mnt/lab data"]


def test_md_members_carry_the_array_uuid_and_are_held_by_it(host, disks):
    array_uuid = export_pairs(sh(host, "mdadm --detail --export /dev/md0"))["MD_UUID"]
    for serial in ("VIRT0002", "VIRT0003"):
        entry = disks[by_serial(serial, host)]
        assert entry["md_member"] is True, serial
        assert entry["md_array_uuid"] == array_uuid
        assert entry["holders"] == ["md0"]
        assert entry["blank"] is False
    assert disks["/dev/md0"]["slaves"] == sorted(by_serial(s, host)[5:] for s in ("VIRT0002", "VIRT0003"))


def test_lvm_pv_luks_and_swap(host, disks):
    pv = disks[by_serial("VIRT0004", host)]
    pv_uuid = sh(host, "pvs --devicesfile '' --config 'backup { backup = 0 archive = 0 }' --noheadings -o pv_uuid %s"
                 % by_serial("VIRT0004", host)).strip()
    assert pv["lvm_pv"] is True and pv["lvm_pv_uuid"] == pv_uuid

    luks = disks[by_serial("IDE0002", host)]
    crypto = sorted((sig["offset"], sig["type"], sig["uuid"]) for sig in luks["signatures"] if sig["kind"] == "crypto")
    luks_uuid = sh(host, "cryptsetup luksUUID %s" % by_serial("IDE0002", host)).strip()
    # LUKS2 keeps a second header 16 KiB in: both are reported.
    assert crypto == [(0, "crypto_LUKS", luks_uuid), (16384, "crypto_LUKS", luks_uuid)]

    swap = disks[by_serial("NVME0001", host)]
    assert [(sig["kind"], sig["label"]) for sig in swap["signatures"]] == [("swap", "labswap")]


def test_every_signature_wipefs_lists_is_reported_at_its_offset(host, disks):
    for serial in ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004", "IDE0001", "IDE0002", "NVME0001"):
        device = by_serial(serial, host)
        reported = sorted((sig["offset"], sig["type"]) for sig in disks[device]["signatures"] if "wipefs" in sig["source"])
        assert reported == wipefs_truth(host, device), serial


def test_probing_never_wrote_to_the_disks(host):
    before = sh(host, "cat /var/tmp/lab-disks-hashes.before")
    after = sh(host, "for disk in $(cut -d' ' -f1 /var/tmp/lab-disks-hashes.before); do printf '%s ' \"$disk\"; "
                     "dd if=\"$disk\" bs=4M iflag=direct status=none | sha256sum | cut -d' ' -f1; done")
    assert len(before.splitlines()) == 6
    assert after == before
