"""The identity map: kernel names to serial, WWN and by-id path, built from lsblk and udev links."""

from __future__ import annotations

import json

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import build_identity_map
from ansible_collections.lifeline.storage.plugins.module_utils._lsblk_parse import parse_lsblk_json

from .recorded_host import load_host


def lab_lsblk() -> str:
    """lsblk --json output recorded in the lab guest (tests/unit/fixtures/hosts/md_raid1.json)."""
    return next(c["stdout"] for c in load_host("md_raid1")["commands"] if c["name"] == "lsblk")


def test_lsblk_tree_is_flattened_once_per_device():
    records = parse_lsblk_json(lab_lsblk())
    names = [r["kernel_name"] for r in records]
    assert len(names) == len(set(names))
    by_name = {r["kernel_name"]: r for r in records}
    assert by_name["sda"]["serial"] == "IDE0001" and by_name["sda"]["type"] == "disk"
    assert by_name["nvme0n1"]["serial"] == "NVME0001"
    assert by_name["md0"]["type"] == "raid1"


def test_partition_takes_its_disk_serial_and_serial_names_come_first():
    records = [
        {"kernel_name": "nvme0n1", "parent": None, "type": "disk", "serial": "S1", "wwn": "eui.00", "model": "M"},
        {"kernel_name": "nvme0n1p1", "parent": "nvme0n1", "type": "part", "serial": None, "wwn": None, "model": None},
    ]
    links = {"nvme-eui.00": "nvme0n1", "nvme-M_S1_1": "nvme0n1", "nvme-M_S1": "nvme0n1",
             "nvme-M_S1-part1": "nvme0n1p1", "wwn-0x1-part1": "nvme0n1p1"}
    identities = build_identity_map(records, links)
    assert identities["nvme0n1"]["stable_name"] == "/dev/disk/by-id/nvme-M_S1"
    assert identities["nvme0n1"]["by_id"][-1] == "/dev/disk/by-id/nvme-eui.00"
    part = identities["nvme0n1p1"]
    assert (part["disk"], part["serial"], part["wwn"], part["stable_name"]) == (
        "nvme0n1", "S1", "eui.00", "/dev/disk/by-id/nvme-M_S1-part1")


@pytest.mark.parametrize("text, message", [
    ("not json", "not valid JSON"),
    (json.dumps({"devices": []}), "no 'blockdevices' list"),
    (json.dumps({"blockdevices": [{"size": 1}]}), "neither kname nor name"),
])
def test_malformed_lsblk_output_is_a_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        parse_lsblk_json(text)
