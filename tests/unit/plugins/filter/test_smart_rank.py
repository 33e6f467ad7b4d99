"""The smart_rank filter: healthiest first, with the reason for each step of the order."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.filter.smart_rank import smart_rank


def disk(serial: str, status: str, score, hours, reasons=()) -> dict:
    return {"serial": serial, "device": "/dev/" + serial.lower(), "stable_name": "/dev/disk/by-id/ata-" + serial,
            "by_id": ["/dev/disk/by-id/ata-" + serial], "kernel_name": serial.lower(), "wwn": None, "power_on_hours": hours,
            "health": {"status": status, "score": score, "reasons": [{"message": m} for m in reasons]}}


PAIR_A = disk("SDA1", "watch", 79, 30000, ["8 reallocated sectors"])
PAIR_B = disk("SDB1", "healthy", 100, 41000)
OTHER = disk("SDC1", "failing", 0, 100, ["the disk's own SMART health self-assessment failed"])
UNREAD = disk("SDD1", "unknown", None, None, ["the disk is in standby mode; not woken"])


def test_healthy_before_watch_before_unknown_before_failing():
    ranked = smart_rank([OTHER, UNREAD, PAIR_A, PAIR_B])
    assert [entry["serial"] for entry in ranked] == ["SDB1", "SDA1", "SDD1", "SDC1"]
    assert [entry["rank"] for entry in ranked] == [1, 2, 3, 4]
    assert ranked[0]["ahead_of_next"] == "SDB1 is healthy, SDA1 is watch"
    assert ranked[1]["reasons"] == ["8 reallocated sectors"]
    assert ranked[-1]["ahead_of_next"] is None


def test_restricted_to_one_mirror_pair_by_serial_and_by_id():
    ranked = smart_rank({"disks": [OTHER, PAIR_A, PAIR_B]}, ["SDA1", "/dev/disk/by-id/ata-SDB1"])
    assert [entry["serial"] for entry in ranked] == ["SDB1", "SDA1"]


def test_same_status_orders_by_score_then_hours():
    younger = disk("Y1", "watch", 70, 1000)
    older = disk("O1", "watch", 70, 9000)
    better = disk("B1", "watch", 90, 50000)
    ranked = smart_rank([older, younger, better])
    assert [entry["serial"] for entry in ranked] == ["B1", "Y1", "O1"]
    assert ranked[0]["ahead_of_next"] == "both watch; B1 scores 90, Y1 scores 70"
    assert "fewer power-on hours (1000 against 9000)" in ranked[1]["ahead_of_next"]


def test_unknown_name_is_an_error():
    with pytest.raises(AnsibleFilterError, match="no disk in the smart facts is named NOPE"):
        smart_rank([PAIR_A], ["NOPE"])


def test_wrong_input_is_an_error():
    with pytest.raises(AnsibleFilterError, match="expects the disks of the smart subset"):
        smart_rank("sda")
