"""The disks subset, replayed on wipefs, blkid and mountinfo outputs recorded with util-linux 2.38.1.

The host is described in disks_host.py; every expected signature value below is the one in
tests/unit/fixtures/disks/probe_commands.json (the image contents are listed in its SOURCES.md).
"""

from __future__ import annotations

import json

from ansible_collections.lifeline.storage.plugins.module_utils._disks_collect import collect_disks

from .disks_host import LOOP_BACKING_FILE, host_state, recorded_command, recording, replay

WIPEFS_LISTING = ["--no-act", "--json", "--output", "DEVICE,OFFSET,TYPE,UUID,LABEL,USAGE"]
PROBED = ["dm-0", "loop1", "md0", "sda", "sda1", "sda2", "sdb", "sdc", "sdd", "sde", "vda"]


def gather(with_unreadable_disk: bool = False, missing: tuple[str, ...] = (), state: dict | None = None):
    runner, files, identity = replay(with_unreadable_disk, missing, state)
    return collect_disks(runner, files, identity, {}), runner


def devices(facts: dict) -> dict[str, dict]:
    return {entry["kernel_name"]: entry for entry in facts["devices"]}


def sigs(entry: dict) -> list[tuple]:
    return [(s["type"], s["kind"], s["offset"], s["source"]) for s in entry["signatures"]]


def codes(facts: dict) -> list[tuple[str, str, str]]:
    return [(f["code"], f["severity"], f["subject"]) for f in facts["findings"]]


def test_one_wipefs_call_for_all_devices_then_one_blkid_per_device():
    facts, runner = gather()
    assert sorted(devices(facts)) == PROBED
    assert [cmd[1:] for cmd in runner.history] == (
        [WIPEFS_LISTING + ["/dev/" + name for name in PROBED]] + [["-p", "-o", "export", "/dev/" + name] for name in PROBED])
    assert (facts["available"], facts["error"], facts["missing_tools"], facts["unreadable"], facts["findings"][1:]) == (
        True, None, [], [], [])


def test_no_command_could_write():
    facts, runner = gather(with_unreadable_disk=True)
    assert facts["unreadable"]
    for cmd in runner.history:
        assert "--all" not in cmd and "-a" not in cmd
        assert cmd[1] == "--no-act" if cmd[0].endswith("wipefs") else cmd[1] == "-p"


def test_every_signature_wipefs_listed_is_reported_at_its_offset():
    listed = json.loads(recording()["commands"][0]["stdout"])["signatures"]
    by_name = devices(gather()[0])
    assert len(listed) == 15
    for sig in listed:
        [reported] = [s for s in by_name[sig["device"]]["signatures"] if (s["type"], s["offset"]) == (sig["type"], int(sig["offset"], 16))]
        assert (reported["label"], reported["usage"]) == (sig["label"], sig["usage"])
        assert sig["uuid"] is None or reported["uuid"] == sig["uuid"]


def test_blank_disk_read_and_nothing_found():
    assert recorded_command("blkid", "/dev/sdc")["rc"] == 2 and recorded_command("blkid", "/dev/sdc")["stdout"] == ""
    sdc = devices(gather()[0])["sdc"]
    assert (sdc["signatures"], sdc["holders"], sdc["mountpoints"], sdc["partitions"], sdc["errors"]) == ([], [], [], [], [])
    assert sdc["partition_table"] == {"type": None, "id": None, "offsets": []}
    assert (sdc["blank"], sdc["ambivalent"], sdc["md_member"], sdc["lvm_pv"], sdc["probed_with"]) == (
        True, False, False, False, ["wipefs", "blkid"])
    assert [name for name, entry in devices(gather()[0]).items() if entry["blank"]] == ["sdc"]


def test_gpt_disk_and_its_ext4_partition():
    by_name = devices(gather()[0])
    sda, sda1 = by_name["sda"], by_name["sda1"]
    assert sda["partition_table"] == {"type": "gpt", "id": "5f2a0c3e-7b1d-4e8a-9c41-2b6d8e0f1a37", "offsets": [0x1FE, 0x200, 0x3FFFE00]}
    assert sigs(sda) == [("gpt", "partition_table", 0x200, "wipefs+blkid"), ("gpt", "partition_table", 0x3FFFE00, "wipefs+blkid"),
                         ("PMBR", "partition_table", 0x1FE, "wipefs")]
    assert (sda["partitions"], sda["blank"], sda["serial"], sda["stable_name"]) == (
        ["sda1", "sda2"], False, "IDE0001", "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001")
    [ext4] = sda1["signatures"]
    assert ext4 == {"type": "ext4", "kind": "filesystem", "usage": "filesystem", "offset": 0x438,
                    "uuid": "3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", "uuid_sub": None, "label": "data", "version": "1.0",
                    "source": "wipefs+blkid"}
    assert (sda1["type"], sda1["parent"], sda1["disk"], sda1["serial"], sda1["size_bytes"], sda1["major_minor"]) == (
        "part", "sda", "sda", "IDE0001", 33554432, "8:1")
    assert (sda1["stable_name"], sda1["partition_table"]["type"], sda1["blank"]) == (
        "/dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001-part1", None, False)


def test_md_members_name_their_array_as_lifeline_md_does():
    by_name = devices(gather()[0])
    for name, device_uuid in (("sda2", "8d1c2b3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d"), ("sdb", "c4d5e6f7-0819-4a2b-8c3d-4e5f60718293")):
        member = by_name[name]
        assert (member["md_member"], member["md_array_uuid"], member["holders"], member["blank"]) == (
            True, "3f5ea966:6745a7df:ab5b0f5c:236f14b9", ["md0"], False)
        [superblock] = member["signatures"]
        assert (superblock["kind"], superblock["offset"], superblock["label"], superblock["version"], superblock["uuid_sub"]) == (
            "raid", 0x1000, "lifeline-lab:data", "1.2", device_uuid)
    md0 = by_name["md0"]
    assert (md0["type"], md0["slaves"], md0["parent"], md0["stable_name"]) == (
        "raid1", ["sda2", "sdb"], None, "/dev/disk/by-id/md-uuid-3f5ea966:6745a7df:ab5b0f5c:236f14b9")


def test_lvm_pv_and_the_encrypted_volume_on_it():
    by_name = devices(gather()[0])
    md0, dm0 = by_name["md0"], by_name["dm-0"]
    assert (md0["lvm_pv"], md0["lvm_pv_uuid"], md0["md_member"], md0["holders"]) == (
        True, "h2Xq5R-k9Lm-T4wZ-7cV1-bN8d-F3gJ-6sA0eY", False, ["dm-0"])
    assert [(s["type"], s["kind"], s["offset"], s["version"]) for s in md0["signatures"]] == [("LVM2_member", "lvm", 0x218, "LVM2 001")]
    # LUKS2 keeps two headers; wipefs lists both and blkid's version applies to each.
    assert [(s["type"], s["kind"], s["offset"], s["version"], s["label"]) for s in dm0["signatures"]] == [
        ("crypto_LUKS", "crypto", 0, "2", "vault"), ("crypto_LUKS", "crypto", 0x4000, "2", "vault")]
    assert (dm0["type"], dm0["parent"], dm0["slaves"], dm0["lvm_pv"], dm0["stable_name"]) == (
        "lvm", "md0", ["md0"], False, "/dev/disk/by-id/dm-name-vg0-vault")


def test_stale_superblock_blkid_does_not_report_is_still_listed():
    sdd = devices(gather()[0])["sdd"]
    # blkid stops at the RAID superblock; wipefs also finds the ext4 underneath.
    assert "TYPE=ext4" not in recorded_command("blkid", "/dev/sdd")["stdout"]
    assert sigs(sdd) == [("linux_raid_member", "raid", 0x1000, "wipefs+blkid"), ("ext4", "filesystem", 0x438, "wipefs")]
    assert (sdd["md_member"], sdd["md_array_uuid"], sdd["ambivalent"], sdd["blank"]) == (
        True, "7a6b5c4d:3e2f4a1b:8c9d0e1f:2a3b4c5d", False, False)


def test_ambivalent_probe_keeps_wipefs_list_and_says_so():
    assert recorded_command("blkid", "/dev/sde")["rc"] == 8
    facts = gather()[0]
    sde = devices(facts)["sde"]
    assert sigs(sde) == [("ext4", "filesystem", 0x438, "wipefs"), ("iso9660", "filesystem", 0x8001, "wipefs")]
    assert (sde["ambivalent"], sde["errors"], sde["probed_with"], sde["blank"]) == (True, [], ["wipefs", "blkid"], False)
    assert codes(facts) == [("DISKS_SIGNATURE_AMBIVALENT", "warning", "/dev/disk/by-id/virtio-VIRT0003")]
    finding = facts["findings"][0]
    assert "ext4, iso9660" in finding["message"] and finding["evidence"]["serial"] == "VIRT0003"
    assert [s["offset"] for s in finding["evidence"]["signatures"]] == [0x438, 0x8001]


def test_device_wipefs_cannot_open_is_unreadable_and_unknown_not_blank():
    facts, runner = gather(with_unreadable_disk=True)
    names = sorted(PROBED + ["sdf"])
    # The call for all devices fails as a whole, so each device is listed alone; no blkid for sdf.
    assert [cmd[1:] for cmd in runner.history] == (
        [WIPEFS_LISTING + ["/dev/" + name for name in names]] + [WIPEFS_LISTING + ["/dev/" + name] for name in names]
        + [["-p", "-o", "export", "/dev/" + name] for name in PROBED])
    sdf = devices(facts)["sdf"]
    assert (sdf["signatures"], sdf["blank"], sdf["partition_table"], sdf["md_member"], sdf["lvm_pv"], sdf["probed_with"]) == (
        None, None, None, None, None, [])
    [unreadable] = facts["unreadable"]
    assert unreadable["device"] == "/dev/sdf"
    assert unreadable["reason"].endswith("wipefs: error: /dev/sdf: probing initialization failed: Permission denied")
    assert ("DISKS_DEVICE_UNREADABLE", "warning", "/dev/disk/by-id/virtio-VIRT0004") in codes(facts)
    # The others keep their listings.
    assert sigs(devices(facts)["sda1"]) == [("ext4", "filesystem", 0x438, "wipefs+blkid")]
    assert devices(facts)["sdc"]["blank"] is True


def test_without_wipefs_what_lsblk_and_sysfs_know_remains_and_the_gap_is_said():
    facts, runner = gather(missing=("wipefs",))
    assert runner.history == []
    assert facts["missing_tools"] == ["wipefs"] and "wipefs is not installed" in facts["error"]
    assert facts["unreadable"] == []
    by_name = devices(facts)
    assert sorted(by_name) == PROBED
    assert all(entry["signatures"] is None and entry["blank"] is None for entry in by_name.values())
    assert (by_name["sda"]["serial"], by_name["sda2"]["holders"], by_name["vda"]["mountpoints"]) == (
        "IDE0001", ["md0"], ["/", "/srv/data vol"])
    assert codes(facts) == [("DISKS_SUBSET_INCOMPLETE", "warning", "disks")]


def test_without_blkid_wipefs_still_lists_and_reads_blank():
    facts, runner = gather(missing=("blkid",))
    assert [cmd[0] for cmd in runner.history] == ["/usr/sbin/wipefs"]
    by_name = devices(facts)
    assert facts["missing_tools"] == ["blkid"] and "blkid is not installed" in facts["error"]
    assert by_name["sda"]["partition_table"] == {"type": "gpt", "id": None, "offsets": [0x1FE, 0x200, 0x3FFFE00]}
    assert {s["source"] for s in by_name["sda1"]["signatures"]} == {"wipefs"} and by_name["sda1"]["signatures"][0]["version"] is None
    assert (by_name["sde"]["ambivalent"], by_name["sdc"]["blank"], by_name["sdc"]["probed_with"]) == (None, True, ["wipefs"])


def test_mounted_device_with_a_space_in_its_mount_point():
    by_name = devices(gather()[0])
    vda = by_name["vda"]
    assert (vda["mountpoints"], vda["major_minor"], vda["blank"]) == (["/", "/srv/data vol"], "254:0", False)
    assert all(entry["mountpoints"] == [] for name, entry in by_name.items() if name != "vda")


def test_mount_source_names_the_device_when_its_number_is_unknown():
    state = host_state()
    del state["files"]["/sys/class/block/vda/dev"]
    vda = devices(gather(state=state)[0])["vda"]
    assert (vda["major_minor"], vda["mountpoints"]) == (None, ["/", "/srv/data vol"])


def test_unreadable_mountinfo_makes_mounts_and_blankness_unknown():
    state = host_state()
    del state["files"]["/proc/self/mountinfo"]
    facts = gather(state=state)[0]
    assert all(entry["mountpoints"] is None and entry["blank"] is None for entry in facts["devices"])
    assert "/proc/self/mountinfo could not be read" in facts["error"]
    assert ("DISKS_SUBSET_INCOMPLETE", "warning", "disks") in codes(facts)


def test_loop_zram_and_rom_devices_left_out_with_the_reason():
    facts = gather()[0]
    assert facts["skipped"] == [
        {"device": "/dev/loop0", "reason": "loop device without a backing file"},
        {"device": "/dev/sr0", "reason": "optical drive"},
        {"device": "/dev/zram0", "reason": "compressed RAM device (zram)"}]
    loop1 = devices(facts)["loop1"]
    assert (loop1["backing_file"], sigs(loop1), loop1["signatures"][0]["label"]) == (
        LOOP_BACKING_FILE, [("swap", "swap", 0xFF6, "wipefs+blkid")], "scratchswap")


def test_facts_are_plain_json_and_findings_have_the_shared_shape():
    facts = gather(with_unreadable_disk=True)[0]
    assert json.loads(json.dumps(facts)) == facts
    for finding in facts["findings"]:
        assert set(finding) == {"code", "severity", "subject", "message", "evidence"}


def test_blkid_failure_on_a_read_device_leaves_blankness_unknown():
    state = host_state()
    # sdc's probe answered by the recorded failure of a device blkid could not open (exit 2 and a message).
    failure = next(c for c in state["commands"] if c["name"] == "blkid" and c["args"][-1] == "/dev/sdf")
    state["commands"] = [dict(failure, args=c["args"]) if c["name"] == "blkid" and c["args"][-1] == "/dev/sdc" else c
                         for c in state["commands"]]
    sdc = devices(gather(state=state)[0])["sdc"]
    assert (sdc["signatures"], sdc["probed_with"], sdc["blank"]) == ([], ["wipefs"], None)
    assert sdc["errors"][0].endswith("Permission denied")


def test_disk_without_signatures_but_held_is_not_blank():
    state = host_state()
    # A plain dm-crypt mapping writes no header: only the holder shows the disk is in use.
    state["dirs"]["/sys/class/block/sdc/holders"] = ["dm-1"]
    sdc = devices(gather(state=state)[0])["sdc"]
    assert (sdc["signatures"], sdc["holders"], sdc["blank"]) == ([], ["dm-1"], False)


def test_missing_sysfs_entry_makes_holders_unknown_not_none():
    state = host_state()
    del state["dirs"]["/sys/class/block/sdc/holders"]
    sdc = devices(gather(state=state)[0])["sdc"]
    assert (sdc["holders"], sdc["blank"]) == (None, None)
