"""md geometry in the snapshot: recorded as mdadm shows it, rebuilt by recreate_md, checked by md_geometry_check.

Runs before test_snapshot.py (pytest collects the files in name order), against the snapshot
converge.yml took of prepare.yml's RAID10 md0, which it only reads. The last test builds a
scratch RAID5 on the three disks prepare.yml leaves blank (IDE0001, IDE0002, NVME0001), re-creates
it right and wrong, and leaves those disks as shared/reset.yml left them (no superblock, the first
80 MiB zero), so test_snapshot.py's "a second run changes nothing" still holds.

The truth is read from mdadm's own output with the simplest parsing, never through the
collection's parsers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import yaml
from labcheck import by_id_path, by_serial, hash_devices, kernel_name_to_serial, module_result, run_playbook, sh

CONTROLLER = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "snapshots" / "lifeline-lab"
HOST_DIR = "/var/lib/lifeline-storage/snapshots"
MD0_SERIALS = ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004")
SCRATCH_SERIALS = ("IDE0001", "IDE0002", "NVME0001")
SCRATCH_DEST = "/var/tmp/lab-geometry-snapshots"
MIB = 1024 * 1024


def converge_snapshot() -> Path:
    [snapshot] = sorted(path for path in CONTROLLER.iterdir() if (path / "manifest.json").exists())
    return snapshot


def recorded_array(document: dict, running_as: str) -> dict:
    [array] = [array for array in document["arrays"] if array["running_as"] == running_as]
    return array


def mdadm_detail(host, array: str) -> tuple[dict[str, str], dict[int, str]]:
    """`mdadm --detail ARRAY` as its "Key : value" lines, and RaidDevice -> member device from its table."""
    fields: dict[str, str] = {}
    order: dict[int, str] = {}
    for line in sh(host, "mdadm --detail %s" % array).splitlines():
        field = re.match(r"^\s*([A-Za-z][A-Za-z ]*?)\s+:\s(.*)$", line)
        if field:
            fields.setdefault(field.group(1), field.group(2).strip())
        row = re.match(r"^\s+\d+\s+\d+\s+\d+\s+(\d+)\s+.*\s(/dev/\S+)$", line)
        if row:
            order[int(row.group(1))] = row.group(2)
    return fields, order


def data_offset_sectors(host, device: str) -> int:
    return int(sh(host, "mdadm --examine %s | sed -n 's/^ *Data Offset : \\([0-9]*\\) sectors.*/\\1/p'" % device).strip())


def assert_geometry_is_what_mdadm_shows(host, recorded: dict, array: str, uuid_and_name: bool = True) -> None:
    fields, order = mdadm_detail(host, array)
    serials = kernel_name_to_serial(host)
    assert recorded["level"] == fields["Raid Level"]
    assert recorded["raid_devices"] == int(fields["Raid Devices"])
    assert "%dK" % recorded["chunk_kib"] == fields["Chunk Size"]
    assert recorded["layout"] == fields["Layout"]
    assert recorded["metadata"] == fields["Version"]
    assert recorded["component_size_kib"] == int(fields["Used Dev Size"].split()[0])
    assert recorded["bitmap"] == ("internal" if fields.get("Intent Bitmap") == "Internal" else "none")
    if uuid_and_name:
        assert recorded["uuid"] == fields["UUID"]
        assert recorded["name"] == fields["Name"].split()[0]  # without "(local to host ...)"
    now = [serials[os.path.basename(order[slot])] for slot in sorted(order)]  # mdadm prints /dev/KERNEL_NAME
    assert [member["serial"] for member in recorded["members"]] == now
    for member in recorded["members"]:
        assert member["data_offset_sectors"] == data_offset_sectors(host, by_serial(member["serial"], host)), member["serial"]


def recreate_plan(request, tmp_path, document: dict, uuid: str) -> dict:
    """The recreate_md filter's answer on the controller, as a playbook gets it."""
    out = tmp_path / "recreate-plan.json"
    playbook = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
                 "vars": {"recorded": document, "plan_uuid": uuid},
                 "tasks": [{"name": "Plan the re-create", "ansible.builtin.copy": {
                     "content": "{{ recorded | lifeline.storage.recreate_md(uuid=plan_uuid) | to_json }}", "dest": str(out)}}]}]
    playbook_file = tmp_path / "recreate-plan.yml"
    playbook_file.write_text(yaml.safe_dump(playbook))
    run_playbook(request.config.option.ansible_inventory, str(playbook_file), {})
    return json.loads(out.read_text())


def geometry_check(request, tmp_path, snapshot: str, array: str, uuid: str | None = None, check: bool = False) -> dict:
    args = {"snapshot": snapshot, "array": array}
    if uuid:
        args["uuid"] = uuid
    result = module_result(request, tmp_path, "lifeline.storage.md_geometry_check", args, check=check)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return result


def test_the_recorded_geometry_of_md0_is_what_mdadm_shows(host):
    snapshot = converge_snapshot()
    manifest = json.loads((snapshot / "manifest.json").read_text())
    files = {entry["path"]: entry for entry in manifest["files"]}
    assert "md/geometry.json" in files and "md/detail/md0.txt" in files
    md0 = recorded_array(json.loads((snapshot / "md" / "geometry.json").read_text()), "md0")
    assert [member["serial"] for member in md0["members"]] == list(MD0_SERIALS)  # prepare.yml's order
    assert md0["short_name"] == "vault" and md0["problems"] == []
    assert_geometry_is_what_mdadm_shows(host, md0, "/dev/md0")

    # Two samples per member, each the member's own bytes past its data offset, with its sha256 in the manifest.
    assert len(md0["samples"]) == 8
    for sample in md0["samples"]:
        entry = files[sample["path"]]
        assert entry["size"] == sample["length"] == MIB and not entry["volatile"]
        member = next(m for m in md0["members"] if m["slot"] == sample["slot"])
        assert sample["device_offset"] == member["data_offset_sectors"] * 512 + sample["member_offset"]
        read = sh(host, "dd if=%s bs=64K skip=%d count=16 iflag=direct,skip_bytes status=none | sha256sum"
                  % (by_serial(sample["key"], host), sample["device_offset"])).split()[0]
        assert read == entry["sha256"], sample["path"]
    # near=2: slots 0 and 1 hold the same data, and so do slots 2 and 3.
    start = {sample["slot"]: files[sample["path"]]["sha256"] for sample in md0["samples"] if sample["label"] == "start"}
    assert start[0] == start[1] and start[2] == start[3] and start[0] != start[2]


def test_recreate_md_for_md0_is_prepares_create_command_with_every_default_pinned(host, request, tmp_path):
    snapshot = converge_snapshot()
    document = json.loads((snapshot / "md" / "geometry.json").read_text())
    md0 = recorded_array(document, "md0")
    fields, _order = mdadm_detail(host, "/dev/md0")
    homehost, name = fields["Name"].split()[0].split(":")
    members = [by_id_path(serial) for serial in MD0_SERIALS]
    plan = recreate_plan(request, tmp_path, document, md0["uuid"])
    # prepare.yml: mdadm --create /dev/md0 --run --assume-clean --metadata=1.2 --level=10 --raid-devices=4
    #              --bitmap=none --name=vault VIRT0001 VIRT0002 VIRT0003 VIRT0004 (by-id names)
    # plus what it left to mdadm 4.2's defaults (chunk 512K, layout n2, data offset, size), which mdadm --detail shows,
    # and the identity it gave the array (home host, UUID).
    assert fields["Chunk Size"] == "512K" and fields["Layout"] == "near=2" and name == "vault"
    assert plan["argv"] == [
        "mdadm", "--create", "/dev/md0", "--assume-clean", "--metadata=1.2", "--level=raid10", "--raid-devices=4",
        "--chunk=512", "--layout=n2", "--data-offset=%d" % (data_offset_sectors(host, members[0]) // 2),
        "--size=%d" % int(fields["Used Dev Size"].split()[0]), "--bitmap=none", "--name=vault", "--homehost=" + homehost,
        "--uuid=" + fields["UUID"]] + members
    assert shlex.split(plan["command"]) == plan["argv"]


def test_the_sample_check_reads_md0_back_and_says_matches_without_writing(host, request, tmp_path):
    members = [by_id_path(serial) for serial in MD0_SERIALS]
    before = hash_devices(host, members)
    snapshot = "%s/%s" % (HOST_DIR, converge_snapshot().name)
    result = geometry_check(request, tmp_path, snapshot, "/dev/md0")
    assert result["verdict"] == "matches", result["msg"]
    assert result["counts"]["compared"] > 0 and result["counts"]["differs"] == 0
    assert result["live_differences"] == []
    assert geometry_check(request, tmp_path, snapshot, "/dev/md0", check=True)["verdict"] == "matches"
    assert hash_devices(host, members) == before


def stop_and_forget(host, disks: list[str]) -> None:
    """Stop whatever array holds DISKS and remove their superblocks: the incident, on scratch disks."""
    sh(host, "for disk in %s; do for holder in /sys/class/block/$(basename $(readlink -f $disk))/holders/md*; do "
             "[ -e \"$holder\" ] && mdadm --stop /dev/$(basename $holder); done; done; udevadm settle; "
             "for disk in %s; do mdadm --zero-superblock $disk; done; true" % (" ".join(disks), " ".join(disks)))


def remove_empty_md_devices(host) -> None:
    """Remove md devices other than md0 that hold no member: what a stopped scratch array can leave behind.

    The kernel deletes a stopped array's device a moment later, but an open of its node in that
    moment (udev probing the stop's change event) makes a new, empty md device that stays until an
    ioctl reaches it. One such empty md127 (size 0) was in lsblk for the rest of a CI run and made
    test_snapshot.py's second run take a new snapshot. `mdadm --stop` sends that ioctl.
    """
    sh(host, "leftovers() { ls /sys/block | grep '^md' | grep -vx md0; }; "
             "for attempt in $(seq 50); do [ -z \"$(leftovers)\" ] && break; sleep 0.1; done; "
             "for md in $(leftovers); do [ -z \"$(ls /sys/block/$md/slaves)\" ] || continue; "
             "[ -b /dev/$md ] || mknod /dev/$md b $(tr ':' ' ' < /sys/block/$md/dev); mdadm --stop /dev/$md || true; done; "
             "udevadm settle; for attempt in $(seq 100); do [ -z \"$(leftovers)\" ] && break; sleep 0.1; done; true")


def create(host, argv: list[str]) -> None:
    # --run answers mdadm's "Continue creating array?", which nobody is there to type.
    sh(host, "%s && udevadm settle" % " ".join(shlex.quote(arg) for arg in argv[:3] + ["--run"] + argv[3:]))


def test_a_recreated_scratch_array_is_told_right_from_wrong(host, request, tmp_path):
    disks = [by_id_path(serial) for serial in SCRATCH_SERIALS]
    try:
        sh(host, "mdadm --create /dev/md/scratch --run --assume-clean --metadata=1.2 --level=5 --raid-devices=3 --chunk=64 "
                 "--size=65536 --bitmap=none --name=scratch %s && udevadm settle" % " ".join(disks))
        sh(host, "dd if=/dev/urandom of=/dev/md/scratch bs=1M count=128 oflag=direct status=none && sync")
        taken = module_result(request, tmp_path, "lifeline.storage.metadata_snapshot", {"dest": SCRATCH_DEST, "keep": 0})
        assert not taken.get("failed"), taken.get("msg")
        path = taken["snapshot"]["path"]
        document = json.loads(sh(host, "cat %s/md/geometry.json" % path))
        [scratch] = [array for array in document["arrays"] if array["short_name"] == "scratch"]
        assert (scratch["level"], scratch["chunk_kib"], scratch["layout"], scratch["component_size_kib"]) == (
            "raid5", 64, "left-symmetric", 65536)
        assert_geometry_is_what_mdadm_shows(host, scratch, "/dev/md/scratch")
        uuid = scratch["uuid"]

        as_built = geometry_check(request, tmp_path, path, "/dev/md/scratch", uuid)
        assert as_built["verdict"] == "matches" and as_built["unverified"] == [], as_built["msg"]

        plan = recreate_plan(request, tmp_path, document, uuid)
        assert plan["argv"][-3:] == disks and "--chunk=64" in plan["argv"] and "--size=65536" in plan["argv"]

        # Superblocks gone; re-created exactly as recorded: the data reads back where it was.
        stop_and_forget(host, disks)
        create(host, plan["argv"])
        rebuilt = geometry_check(request, tmp_path, path, plan["array"], uuid)
        assert rebuilt["verdict"] == "matches" and rebuilt["live_differences"] == [], rebuilt["msg"]
        assert_geometry_is_what_mdadm_shows(host, scratch, plan["array"])

        # Re-created with the first two members swapped.
        stop_and_forget(host, disks)
        create(host, plan["argv"][:-3] + [disks[1], disks[0], disks[2]])
        swapped = geometry_check(request, tmp_path, path, plan["array"], uuid)
        assert swapped["verdict"] == "does not match", swapped["msg"]
        assert {"IDE0001", "IDE0002"} <= {piece["key"] for piece in swapped["differing_pieces"]}
        assert "member order" in [difference["field"] for difference in swapped["live_differences"]]

        # Re-created in the recorded order with another chunk size.
        stop_and_forget(host, disks)
        create(host, [arg if arg != "--chunk=64" else "--chunk=128" for arg in plan["argv"]])
        rechunked = geometry_check(request, tmp_path, path, plan["array"], uuid)
        assert rechunked["verdict"] == "does not match", rechunked["msg"]
        assert {"field": "chunk_kib", "recorded": 64, "now": 128} in rechunked["live_differences"]
    finally:
        stop_and_forget(host, disks)
        # The next test compares a new snapshot with the one converge took: udev's database (lsblk's
        # file system types) must describe the wiped disks. `udevadm settle` alone can return before
        # the change events of the wipe are queued, so they are triggered here and waited for.
        sh(host, "for disk in %s; do wipefs --all --quiet $disk; dd if=/dev/zero of=$disk bs=1M count=80 oflag=direct "
                 "status=none; done; udevadm trigger --action=change --settle %s; rm -rf %s"
                 % (" ".join(disks), " ".join(disks), SCRATCH_DEST))
        remove_empty_md_devices(host)
    assert sh(host, "ls /sys/block | grep '^md' || true").split() == ["md0"]
    for disk in disks:
        assert host.run("mdadm --examine %s" % disk).rc != 0
        sh(host, "cmp -n %d %s /dev/zero" % (16 * MIB, disk))
