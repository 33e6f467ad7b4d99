"""The md collector and its findings, replayed on host states recorded in the lab guest.

Each recording (tests/unit/fixtures/hosts/<scenario>.json) is what storage_facts read on the
guest right after the lab scenario of the same name built its arrays with mdadm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._md_collect import read_mdstat
from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import gather_storage_facts

from .recorded_host import ReplayFiles, ReplayRunner, load_host


def gather_with_runner(name: str, missing: tuple[str, ...] = ()) -> tuple[dict, ReplayRunner]:
    """The md facts from a recording, and the runner that shows which commands ran."""
    state = load_host(name)
    runner = ReplayRunner(state, missing=missing)
    return gather_storage_facts(runner, ReplayFiles(state), ["md"])["lifeline_md"], runner


def gather(name: str, missing: tuple[str, ...] = ()) -> dict:
    return gather_with_runner(name, missing)[0]


def arrays(facts: dict) -> dict[str, dict]:
    return {array["name"]: array for array in facts["arrays"]}


def codes(facts: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["subject"]) for f in facts["findings"]]


def without_messages(facts: dict) -> dict:
    """Facts with findings' wording left out: the wording may improve, the data may not change."""
    return dict(facts, findings=[{k: v for k, v in f.items() if k != "message"} for f in facts["findings"]])


# Fields added after the recordings were made: a recording holds no read of them, so they replay as
# unknown (None), and the rest must still match what the guest produced.
NEWER_THAN_RECORDINGS = ("read_only",)


def without_newer_fields(facts: dict) -> dict:
    strays = [dict(group, devices=[{k: v for k, v in device.items() if k not in NEWER_THAN_RECORDINGS}
                                   for device in group["devices"]]) for group in facts["stray_superblocks"]]
    return dict(facts, stray_superblocks=strays)


@pytest.mark.parametrize("name", ["md_raid1", "md_degraded", "md_events_diverge", "md_raid10", "md_raid5_resync", "md_unplug"])
def test_recording_replays_to_the_facts_the_guest_produced(name):
    recorded = load_host(name)["facts"]["lifeline_md"]
    replayed = gather(name)
    assert {device["read_only"] for group in replayed["stray_superblocks"] for device in group["devices"]} <= {None}
    assert without_messages(without_newer_fields(replayed)) == without_messages(without_newer_fields(recorded))


def test_a_stray_device_the_kernel_marks_read_only_says_so():
    state = load_host("md_raid1")
    state["files"]["/sys/class/block/sda/ro"] = "1\n"
    state["files"]["/sys/class/block/sdb/ro"] = "0\n"
    facts = gather_storage_facts(ReplayRunner(state), ReplayFiles(state), ["md"])["lifeline_md"]
    [stray] = facts["stray_superblocks"]
    assert {device["device"]: device["read_only"] for device in stray["devices"]} == {"/dev/sda": True, "/dev/sdb": False}


def test_healthy_raid1_members_by_serial_and_a_stopped_array_found():
    facts, runner = gather_with_runner("md_raid1")
    md0 = arrays(facts)["md0"]
    assert (md0["level"], md0["raid_disks"], md0["missing_slots"], md0["bitmap"]["present"]) == ("raid1", 2, [], True)
    assert [(m["slot"], m["serial"], m["role"], m["stable_name"]) for m in md0["members"]] == [
        (0, "VIRT0001", "active", "/dev/disk/by-id/virtio-VIRT0001"),
        (1, "VIRT0002", "active", "/dev/disk/by-id/virtio-VIRT0002")]
    assert len({m["events"] for m in md0["members"]}) == 1 and md0["members"][0]["events"] > 0
    [stray] = facts["stray_superblocks"]
    assert stray["assembled_as"] is None and stray["array_name"].endswith(":parked")
    assert sorted(d["serial"] for d in stray["devices"]) == ["IDE0001", "IDE0002"]
    assert codes(facts) == [("MD_ARRAY_NOT_ASSEMBLED", stray["array_uuid"])]
    # One lsblk, one --detail per array, one scan, one --examine for every superblock.
    assert [cmd[1:3] for cmd in runner.history] == [
        ["--json", "--bytes"], ["--detail", "--export"], ["--examine", "--scan"], ["--examine", "/dev/sda"]]


def test_degraded_array_names_survivor_and_the_removed_member():
    facts = gather("md_degraded")
    md1 = arrays(facts)["md1"]
    assert md1["missing_slots"] == [1] and md1["degraded"] == 1
    assert [m["serial"] for m in md1["members"]] == ["VIRT0001"]
    found = {f["code"]: f for f in facts["findings"]}
    assert found["MD_ARRAY_DEGRADED"]["severity"] == "critical"
    assert [m["serial"] for m in found["MD_ARRAY_DEGRADED"]["evidence"]["surviving_members"]] == ["VIRT0001"]
    assert [d["serial"] for d in found["MD_SUPERBLOCK_OUTSIDE_ARRAY"]["evidence"]["devices"]] == ["VIRT0002"]
    assert [d["serial"] for d in found["MD_EVENTS_DIVERGE"]["evidence"]["stale"]] == ["VIRT0002"]


def test_member_written_alone_leaves_the_other_behind():
    facts = gather("md_events_diverge")
    [finding] = [f for f in facts["findings"] if f["code"] == "MD_EVENTS_DIVERGE"]
    evidence = finding["evidence"]
    assert [d["serial"] for d in evidence["stale"]] == ["VIRT0004"]
    stale_device = evidence["stale"][0]["device"]
    assert evidence["events"][stale_device] < evidence["newest"]
    assert "VIRT0004" in finding["message"]


def test_raid10_without_bitmap():
    facts = gather("md_raid10")
    md10 = arrays(facts)["md10"]
    assert sorted(m["slot"] for m in md10["members"]) == [0, 1, 2, 3]
    assert sorted(m["serial"] for m in md10["members"]) == ["VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004"]
    assert codes(facts) == [("MD_NO_BITMAP", "/dev/md10")]


def test_resync_in_progress_is_a_warning_with_percent():
    facts = gather("md_raid5_resync")
    sync = arrays(facts)["md5"]["sync"]
    assert sync["action"] == "resync" and 0 <= sync["percent"] < 100
    assert sync["completed_sectors"] < sync["total_sectors"]
    [finding] = [f for f in facts["findings"] if f["code"] == "MD_SYNC_IN_PROGRESS"]
    assert finding["severity"] == "warning" and "fsck" in finding["message"]


def test_unplugged_disk_leaves_an_empty_slot_and_the_survivor_named():
    facts = gather("md_unplug")
    md4 = arrays(facts)["md4"]
    assert md4["missing_slots"] == [1]
    assert [m["serial"] for m in md4["members"] if m["role"] == "active"] == ["VIRT0003"]
    assert ("MD_ARRAY_DEGRADED", "/dev/md4") in codes(facts)


def test_without_mdadm_the_kernel_view_remains_and_the_gap_is_said():
    facts, runner = gather_with_runner("md_raid1", missing=("mdadm",))
    md0 = arrays(facts)["md0"]
    assert facts["available"] is True and "mdadm is not installed" in facts["error"]
    assert md0["uuid"] is None and all(m["events"] is None for m in md0["members"])
    assert [m["serial"] for m in md0["members"]] == ["VIRT0001", "VIRT0002"]
    assert ("MD_SUBSET_INCOMPLETE", "md") in codes(facts)
    assert all("mdadm" not in cmd[0] for cmd in runner.history)


def test_without_lsblk_serials_are_unknown_not_guessed():
    facts = gather("md_raid1", missing=("lsblk",))
    md0 = arrays(facts)["md0"]
    assert "lsblk is not installed" in facts["identity_error"]
    assert [m["serial"] for m in md0["members"]] == [None, None]
    # by-id links still name the disks.
    assert [m["stable_name"] for m in md0["members"]] == [
        "/dev/disk/by-id/virtio-VIRT0001", "/dev/disk/by-id/virtio-VIRT0002"]


@pytest.mark.parametrize("broken", ["Personalities : [raid1]\nmd0 : active raid1 vdb[0]\n"])
def test_unparseable_mdstat_makes_the_subset_unavailable_with_the_line(broken):
    state = load_host("md_raid1")
    state["files"]["/proc/mdstat"] = broken
    facts = gather_storage_facts(ReplayRunner(state), ReplayFiles(state), ["md"])["lifeline_md"]
    assert facts["available"] is False
    assert "line 2" in facts["error"]
    assert facts["findings"][0]["code"] == "MD_SUBSET_UNAVAILABLE"


class ChangingMdstat:
    """/proc/mdstat read during an array's teardown: the first READS_CUT reads end early."""

    def __init__(self, whole: str, reads_cut: int) -> None:
        self.whole = whole
        self.reads_cut = reads_cut
        self.reads = 0

    def read_text(self, path: str) -> str:
        assert path == "/proc/mdstat"
        self.reads += 1
        return self.whole.split("unused devices")[0] if self.reads <= self.reads_cut else self.whole


MDSTAT_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "md" / "mdstat" / "libstorage-ng_parse1.txt"


def test_an_mdstat_read_that_ends_early_is_read_again():
    files = ChangingMdstat(MDSTAT_FIXTURE.read_text(), reads_cut=2)
    parsed = read_mdstat(files, pause=0)
    assert files.reads == 3 and [array["name"] for array in parsed["arrays"]] == ["md0"]


def test_an_mdstat_that_stays_cut_short_is_an_error_after_three_reads():
    files = ChangingMdstat(MDSTAT_FIXTURE.read_text(), reads_cut=5)
    with pytest.raises(ParseError, match="unused devices' line"):
        read_mdstat(files, pause=0)
    assert files.reads == 3


def test_a_malformed_mdstat_is_not_read_again():
    files = ChangingMdstat("Personalities : [raid1]\nmd0 : bogus\n", reads_cut=0)
    with pytest.raises(ParseError):
        read_mdstat(files, pause=0)
    assert files.reads == 1
