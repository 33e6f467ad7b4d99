"""The per-device probe disk_guard shares with the disks subset, on outputs recorded with util-linux 2.38.1.

Recordings: tests/unit/fixtures/disks/probe_commands.json (see its SOURCES.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._disk_probe import (
    mdadm_uuid,
    merge_signatures,
    partition_table,
    probe_device,
)
from ansible_collections.lifeline.storage.plugins.module_utils._signature_parse import parse_blkid_probe, parse_wipefs_json

from .disks_host import recorded_command, replay

SIGNATURES = Path(__file__).resolve().parents[2] / "fixtures" / "signatures"
WIPEFS_LISTING = ["--no-act", "--json", "--output", "DEVICE,OFFSET,TYPE,UUID,LABEL,USAGE"]


def listed(device: str) -> list[dict]:
    return parse_wipefs_json(recorded_command("wipefs", device)["stdout"])


def test_one_device_alone_costs_one_wipefs_and_one_blkid():
    runner = replay()[0]
    probe = probe_device(runner, "/dev/sde")
    assert [cmd[1:] for cmd in runner.history] == [WIPEFS_LISTING + ["/dev/sde"], ["-p", "-o", "export", "/dev/sde"]]
    assert [(s["type"], s["offset"]) for s in probe["signatures"]] == [("ext4", 0x438), ("iso9660", 0x8001)]
    assert (probe["ambivalent"], probe["errors"], probe["probed_with"]) == (True, [], ["wipefs", "blkid"])


def test_one_device_wipefs_cannot_open_is_unknown_and_blkid_is_not_asked():
    runner = replay(with_unreadable_disk=True)[0]
    probe = probe_device(runner, "/dev/sdf")
    assert [cmd[1:] for cmd in runner.history] == [WIPEFS_LISTING + ["/dev/sdf"]]
    assert (probe["signatures"], probe["partition_table"], probe["md_member"], probe["lvm_pv"], probe["ambivalent"]) == (
        None, None, None, None, None)
    [error] = probe["errors"]
    assert error.endswith(recorded_command("wipefs", "/dev/sdf")["stderr"].strip())


def test_blkid_exit_2_with_an_error_is_a_failure_not_nothing_found():
    recorded = recorded_command("blkid", "/dev/sdf")
    assert (recorded["rc"], recorded["stdout"]) == (2, "")
    runner = replay(with_unreadable_disk=True)[0]
    # As if wipefs had read the device and blkid then could not open it.
    probe = probe_device(runner, "/dev/sdf", {"signatures": [], "error": None})
    assert [cmd[1:] for cmd in runner.history] == [["-p", "-o", "export", "/dev/sdf"]]
    assert (probe["signatures"], probe["probed_with"], probe["ambivalent"]) == ([], ["wipefs"], None)
    [error] = probe["errors"]
    assert error.endswith("blkid: error: /dev/sdf: Permission denied")


def test_a_signature_only_blkid_reports_is_kept_and_marked():
    tags = parse_blkid_probe(recorded_command("blkid", "/dev/sda1")["stdout"])
    [ext4] = merge_signatures([], tags)
    assert (ext4["type"], ext4["kind"], ext4["offset"], ext4["uuid"], ext4["version"], ext4["source"]) == (
        "ext4", "filesystem", None, "3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", "1.0", "blkid")


def test_gpt_without_its_headers_leaves_the_protective_mbr_named():
    only_pmbr = [sig for sig in listed("/dev/sda") if sig["type"] != "gpt"]
    assert partition_table(merge_signatures(only_pmbr, None), None) == {"type": "PMBR", "id": None, "offsets": [0x1FE]}


def test_dos_table_from_wipefs_alone():
    multi = (SIGNATURES / "wipefs" / "util-linux-2.38.1_wipefs-json-usage-multi.json").read_text()
    dos = [sig for sig in parse_wipefs_json(multi) if sig["device"] == "dos.img"]
    assert partition_table(merge_signatures(dos, None), None) == {"type": "dos", "id": None, "offsets": [0x1FE]}


@pytest.mark.parametrize("blkid_uuid, mdadm", [
    ("3f5ea966-6745-a7df-ab5b-0f5c236f14b9", "3f5ea966:6745a7df:ab5b0f5c:236f14b9"),
    ("37C76B91-011A-05C5-D30C-1FD4C5C3DBBC", "37c76b91:011a05c5:d30c1fd4:c5c3dbbc"),
    ("not-an-md-uuid", "not-an-md-uuid"),
    (None, None),
])
def test_md_uuid_in_mdadm_form(blkid_uuid, mdadm):
    assert mdadm_uuid(blkid_uuid) == mdadm


def test_signatures_of_one_type_with_different_uuids_stay_apart():
    # sdd's listing holds the superblock of array 7a6b5c4d-...; blkid tags of sda2 name array 3f5ea966-...
    tags = parse_blkid_probe(recorded_command("blkid", "/dev/sda2")["stdout"])
    merged = merge_signatures([sig for sig in listed("/dev/sdd") if sig["type"] == "linux_raid_member"], tags)
    assert [(s["uuid"], s["source"]) for s in merged] == [
        ("7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d", "wipefs"), ("3f5ea966-6745-a7df-ab5b-0f5c236f14b9", "blkid")]
