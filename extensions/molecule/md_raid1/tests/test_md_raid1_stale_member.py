"""A stale member of a 3-way RAID1, found by mirror_compare and left out by md_assemble.

prepare.yml built a RAID1 over VIRT0003, VIRT0004 and NVME0001 (64 MiB data areas, an ext4 with
three 4 MiB files of known sha256) and stopped it. Here VIRT0003, the member in slot 0, is made
stale the way a member that missed writes is: 64 KiB of its data area, inside the file beta,
hold the bytes they held before beta was written, and its superblock carries the same event
count as the others, so nothing in md's metadata tells it apart.

mirror_compare over the three must name VIRT0003, by serial, for exactly that region and find
the other two in agreement; a check must count the mismatch, and the MD_MISMATCH_CNT finding
must point to mirror_compare over all members rather than a repair (which would copy slot 0,
the stale member, over the others). Assembled read-only from the two members that agree, every
file must read back with its sha256; the stale member alone serves other bytes in beta.
Nothing here may change a byte of the members' data areas except the one write that makes the
member stale."""

from __future__ import annotations

import base64
import shlex

import pytest

from labcheck import by_id_path, by_serial, codes, gather, mdadm_examine, module_result, sh

MEMBERS = ("VIRT0003", "VIRT0004", "NVME0001")
STALE = "VIRT0003"
AGREEING = ("VIRT0004", "NVME0001")
STALE_LENGTH = 64 * 1024
DATA_AREA = 64 * 1024 * 1024
ARRAY = "/dev/md/lab-triple"
MOUNT = "/mnt/lab-triple"
FILES = "/root/triple-files.sha256"


def data_offset(host, device: str) -> int:
    return int(sh(host, "mdadm --examine %s | awk '/Data Offset :/ {print $4}'" % device)) * 512


def events(host, device: str) -> int:
    return int(mdadm_examine(host, device)["MD_EVENTS"])


# Reads LENGTH bytes at POSITION of a device with O_DIRECT (into a page-aligned buffer), so what md
# wrote to the member is read, not what the page cache may hold; prints them in base64.
READ_SCRIPT = """
import base64, mmap, os, sys
device, position, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start, end = position // 4096 * 4096, -(-(position + length) // 4096) * 4096
buffer = mmap.mmap(-1, end - start)
descriptor = os.open(device, os.O_RDONLY | os.O_DIRECT)
assert os.preadv(descriptor, [buffer], start) == end - start
print(base64.b64encode(buffer[position - start:position - start + length]).decode())
"""


def read_bytes(host, device: str, position: int, length: int) -> bytes:
    one_line = "; ".join(line for line in READ_SCRIPT.splitlines() if line)
    return base64.b64decode(sh(host, "python3 -c %s %s %d %d" % (shlex.quote(one_line), device, position, length)).strip())


def holders(host, device: str) -> list[str]:
    return sh(host, "ls /sys/class/block/$(basename $(readlink -f %s))/holders" % device).split()


def data_area_hashes(host, devices: list[str]) -> dict[str, str]:
    """sha256 of the first 80 MiB of each member (superblock and data area), read past the page cache."""
    return {device: sh(host, "dd if=%s bs=1M count=80 iflag=direct status=none | sha256sum" % device).split()[0]
            for device in devices}


@pytest.fixture(scope="module", name="stale")
def fixture_stale(host) -> dict:
    """Make VIRT0003 stale (once per run; writing the same bytes again changes nothing) and describe it."""
    members = {serial: by_serial(serial, host) for serial in MEMBERS}
    offset = int(sh(host, "cat /root/triple-stale-offset").strip())
    for device in members.values():
        assert not holders(host, device), "%s is in use by %s; the triple must be stopped" % (device, holders(host, device))
    events_before = {serial: events(host, device) for serial, device in members.items()}
    assert len(set(events_before.values())) == 1, events_before
    stale_at = data_offset(host, members[STALE]) + offset
    sh(host, "python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); os.pwrite(fd, bytes(%d), int(sys.argv[2])); "
             "os.fsync(fd); os.close(fd)' %s %d" % (STALE_LENGTH, members[STALE], stale_at))
    sh(host, "udevadm settle")
    copies = {serial: read_bytes(host, members[serial], data_offset(host, members[serial]) + offset, STALE_LENGTH)
              for serial in MEMBERS}
    assert copies[STALE] == bytes(STALE_LENGTH)
    assert copies["VIRT0004"] == copies["NVME0001"] != copies[STALE]
    good = copies["VIRT0004"]
    written = [index for index, byte in enumerate(good) if byte]
    return {"members": members, "offset": offset, "events": events_before,
            "differing_bytes": len(written), "first": offset + written[0], "last": offset + written[-1]}


def test_the_stale_member_carries_the_same_event_count(host, stale):
    assert {serial: events(host, device) for serial, device in stale["members"].items()} == stale["events"]


def test_mirror_compare_names_the_stale_member_by_serial_and_the_others_agree(host, request, tmp_path, stale):
    devices = [by_id_path(serial) for serial in MEMBERS]
    before = data_area_hashes(host, list(stale["members"].values()))
    result = module_result(request, tmp_path, "lifeline.storage.mirror_compare", {"devices": devices})
    assert result.get("failed") is not True and result["changed"] is False, result
    assert result["bytes_compared"] == DATA_AREA and "Used Dev Size" in result["length_source"], result
    assert result["identical"] is False
    assert result["first_difference"] == stale["first"]
    assert result["differing_bytes"] == stale["differing_bytes"]
    assert result["regions"] == [{
        "offset": stale["first"], "length": stale["last"] - stale["first"] + 1,
        "groups": [["VIRT0004", "NVME0001"], ["VIRT0003"]], "disagreeing": ["VIRT0003"],
        "verdict": "VIRT0003 disagrees with VIRT0004 and NVME0001, which agree"}]
    assert result["disagreeing_members"] == [STALE]
    assert (result["no_majority_bytes"], result["no_majority_regions"], result["regions_truncated"]) == (0, 0, False)
    assert [(entry["path"], entry["serial"], entry["member"], entry["disagreeing_bytes"], entry["disagreeing_regions"])
            for entry in result["devices"]] == [
        (by_id_path("VIRT0003"), "VIRT0003", "VIRT0003", stale["differing_bytes"], 1),
        (by_id_path("VIRT0004"), "VIRT0004", "VIRT0004", 0, 0),
        (by_id_path("NVME0001"), "NVME0001", "NVME0001", 0, 0)]
    assert data_area_hashes(host, list(stale["members"].values())) == before


def test_a_check_counts_the_mismatch_and_the_finding_points_to_mirror_compare_not_repair(host, stale):
    members = stale["members"]
    try:
        sh(host, "mdadm --assemble --run /dev/md3 %s" % " ".join(members[serial] for serial in MEMBERS))
        sh(host, "echo check > /sys/block/md3/md/sync_action")
        sh(host, "for i in $(seq 300); do [ \"$(cat /sys/block/md3/md/sync_action)\" = idle ] && exit 0; sleep 0.2; done; exit 1")
        assert int(sh(host, "cat /sys/block/md3/md/mismatch_cnt").strip()) > 0
        facts = gather(host)
    finally:
        sh(host, "mdadm --stop /dev/md3 && udevadm settle")
    assert "MD_MISMATCH_CNT" in codes(facts["findings"], "/dev/md3"), facts["findings"]
    finding = next(f for f in facts["findings"] if f["code"] == "MD_MISMATCH_CNT" and f["subject"] == "/dev/md3")
    assert ("run lifeline.storage.mirror_compare over all members of the mirror "
            "(VIRT0003 (slot 0), VIRT0004 (slot 1), NVME0001 (slot 2))") in finding["message"]
    assert "Do not run a repair" in finding["message"] and "spread the stale copy" in finding["message"]
    assert [member["serial"] for member in finding["evidence"]["members"]] == list(MEMBERS)
    # Running the array moved every member's event count together: they still agree.
    assert len({events(host, device) for device in members.values()}) == 1


def assemble(request, tmp_path, members: list[str]) -> dict:
    return module_result(request, tmp_path, "lifeline.storage.md_assemble",
                         {"state": "readonly", "array": ARRAY, "members": members, "allow_degraded": True})


def check_files(host, members: list[str], request, tmp_path):
    """Assemble read-only from MEMBERS with md_assemble, mount read-only, sha256sum --check; stop again."""
    try:
        done = assemble(request, tmp_path, members)
        assert done.get("failed") is not True and done["changed"] is True, done
        assert done["array_state"] == "readonly" and done["verified"] is True, done
        sh(host, "udevadm settle && mkdir -p %s && mount -o ro,noload %s %s" % (MOUNT, ARRAY, MOUNT))
        return host.run("cd %s && sha256sum --check --strict %s" % (MOUNT, FILES))
    finally:
        host.run("umount %s" % MOUNT)
        stopped = module_result(request, tmp_path, "lifeline.storage.md_assemble", {"state": "stopped", "array": ARRAY})
        assert stopped.get("failed") is not True, stopped


def test_every_file_is_intact_from_the_two_members_that_agree(host, request, tmp_path, stale):
    before = data_area_hashes(host, list(stale["members"].values()))
    checked = check_files(host, list(AGREEING), request, tmp_path)
    assert checked.rc == 0, checked.stdout + checked.stderr
    assert sorted(checked.stdout.split()) == sorted(["alpha:", "OK", "beta:", "OK", "gamma:", "OK"])
    assert data_area_hashes(host, list(stale["members"].values())) == before


def test_the_stale_member_alone_serves_other_bytes_in_beta(host, request, tmp_path, stale):
    """What choosing the wrong member would have given: the scenario's difference is in a file's data."""
    before = data_area_hashes(host, list(stale["members"].values()))
    checked = check_files(host, [STALE], request, tmp_path)
    assert checked.rc != 0
    assert "beta: FAILED" in checked.stdout and "alpha: OK" in checked.stdout and "gamma: OK" in checked.stdout
    assert data_area_hashes(host, list(stale["members"].values())) == before
