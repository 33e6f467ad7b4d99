# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overlay module's parsers, planner and host layer, on dmsetup output recorded in the lab guest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._dmsetup_parse import (
    parse_snapshot_status,
    parse_snapshot_tables,
)
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._overlay import (
    directory_devices,
    overlay_name,
    plan_absent,
    plan_present,
)
from ansible_collections.lifeline.storage.plugins.module_utils._overlay_host import run_overlay

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "overlay"
TABLE = (FIXTURES / "dmsetup-table.txt").read_text()
STATUS = (FIXTURES / "dmsetup-status.txt").read_text()
REQUEST = {"directory": "/srv/ov", "cow_size_bytes": 64 << 20, "name_prefix": "lifeline-overlay-"}
GIB = 1 << 30


def origin(serial: str, kernel_name: str, major_minor: str, **extra) -> dict:
    entry = {"kernel_name": kernel_name, "device": "/dev/" + kernel_name, "type": "disk", "serial": serial,
             "stable_name": "/dev/disk/by-id/uml-" + serial, "major_minor": major_minor, "size_sectors": 524288,
             "read_only": False, "holders": [], "mount_points": []}
    entry.update(extra)
    return entry


def directory(**extra) -> dict:
    entry = {"exists": True, "devices": ["ubda"], "free_bytes": 10 * GIB, "files": {}}
    entry.update(extra)
    return entry


def existing_overlay(origin_majmin: str, cow_file: str = "/srv/ov/lifeline-overlay-VIRT0001.cow", holders=()) -> dict:
    return {"table": {"origin": origin_majmin, "cow": "7:0", "persistent": "N", "chunk_sectors": 8, "length_sectors": 524288},
            "status": {"valid": True, "state": "active", "used_sectors": 6144, "total_sectors": 32768, "metadata_sectors": 0},
            "kernel_name": "dm-0", "holders": list(holders), "cow_device": "/dev/loop0", "cow_file": cow_file}


# ---------------------------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------------------------

def test_tables_keep_only_snapshots_with_their_origin_and_store():
    tables = parse_snapshot_tables(TABLE)
    assert sorted(tables) == ["lifeline-overlay-VIRT0001", "lifeline-overlay-VIRT0002", "lifeline-overlay-VIRT0003"]
    assert tables["lifeline-overlay-VIRT0002"] == {"origin": "98:32", "cow": "7:1", "persistent": "N",
                                                   "chunk_sectors": 8, "length_sectors": 524288}


def test_status_tells_use_and_an_invalid_store():
    status = parse_snapshot_status(STATUS)
    assert "plainlinear" not in status
    assert status["lifeline-overlay-VIRT0002"] == {"valid": True, "state": "active", "used_sectors": 6144,
                                                   "total_sectors": 32768, "metadata_sectors": 0}
    assert status["lifeline-overlay-VIRT0003"]["valid"] is False
    assert status["lifeline-overlay-VIRT0003"]["state"] == "Invalid"


def test_no_devices_is_an_empty_answer():
    assert parse_snapshot_tables("No devices found\n") == {}
    assert parse_snapshot_status("No devices found\n") == {}


@pytest.mark.parametrize("text", ["ov: 0 524288 snapshot 98:16\n", "ov: 0 524288 snapshot 98:16 7:0 N eight\n", "garbage\n"])
def test_a_table_of_another_shape_is_refused_with_its_line(text):
    with pytest.raises(ParseError) as raised:
        parse_snapshot_tables(text)
    assert raised.value.line_number == 1


def test_a_status_of_another_shape_is_refused():
    with pytest.raises(ParseError):
        parse_snapshot_status("ov: 0 524288 snapshot 12 of 40\n")


# ---------------------------------------------------------------------------------------------
# Planner: present
# ---------------------------------------------------------------------------------------------

def test_names_come_from_the_serial_then_the_by_id_name():
    assert overlay_name("lo-", origin("VIRT0001", "ubdb", "98:16")) == "lo-VIRT0001"
    partition = origin("S45 N", "sda2", "8:2", type="part", stable_name="/dev/disk/by-id/ata-X_S45-part2")
    assert overlay_name("lo-", partition) == "lo-ata-X_S45-part2"
    assert overlay_name("lo-", origin("bad serial/1", "ubdb", "98:16")) == "lo-bad_serial_1"


def test_a_new_overlay_is_file_loop_read_only_then_snapshot():
    plan = plan_present(REQUEST, [origin("VIRT0001", "ubdb", "98:16")], {}, directory())
    assert plan["refusals"] == []
    assert [step["argv"] for step in plan["steps"]] == [
        ["truncate", "--size=67108864", "/srv/ov/lifeline-overlay-VIRT0001.cow"],
        ["losetup", "--find", "--show", "/srv/ov/lifeline-overlay-VIRT0001.cow"],
        ["blockdev", "--setro", "/dev/ubdb"],
        ["dmsetup", "create", "lifeline-overlay-VIRT0001", "--table", "0 524288 snapshot /dev/ubdb {loop} N 8"],
    ]


def test_a_left_over_file_is_emptied_first_and_a_read_only_origin_is_not_set_again():
    plan = plan_present(REQUEST, [origin("VIRT0001", "ubdb", "98:16", read_only=True)], {},
                        directory(files={"lifeline-overlay-VIRT0001.cow": True}))
    kinds = [step["kind"] for step in plan["steps"]]
    assert kinds == ["truncate", "truncate", "losetup", "create"]
    assert plan["steps"][0]["argv"] == ["truncate", "--size=0", "/srv/ov/lifeline-overlay-VIRT0001.cow"]


def test_an_existing_overlay_over_the_same_origin_is_kept():
    disk = origin("VIRT0001", "ubdb", "98:16", read_only=True, holders=["dm-0"])
    plan = plan_present(REQUEST, [disk], {"lifeline-overlay-VIRT0001": existing_overlay("98:16")}, directory())
    assert plan["steps"] == [] and plan["refusals"] == []
    assert plan["overlays"][0]["cow_used_bytes"] == 6144 * 512
    assert plan["overlays"][0]["valid"] is True


def test_an_existing_overlay_whose_origin_was_made_writable_gets_it_read_only_again():
    disk = origin("VIRT0001", "ubdb", "98:16", read_only=False, holders=["dm-0"])
    plan = plan_present(REQUEST, [disk], {"lifeline-overlay-VIRT0001": existing_overlay("98:16")}, directory())
    assert [step["argv"] for step in plan["steps"]] == [["blockdev", "--setro", "/dev/ubdb"]]


@pytest.mark.parametrize("disk, folder, existing, rule", [
    (origin("VIRT0001", "ubdb", "98:16"), directory(devices=["md0", "ubdb", "ubdc"]), {}, "directory_on_origin"),
    (origin("VIRT0001", "ubdb", "98:16", mount_points=["/srv"]), directory(), {}, "origin_mounted"),
    (origin("VIRT0001", "ubdb", "98:16", holders=["md127"]), directory(), {}, "origin_in_use"),
    (origin("VIRT0001", "ubdb", "98:16"), directory(free_bytes=32 << 20), {}, "not_enough_space"),
    (origin("VIRT0001", "ubdb", "98:16"), directory(free_bytes=None), {}, "not_enough_space"),
    (origin("VIRT0001", "ubdb", "98:16"), {"exists": False}, {}, "directory_missing"),
    (origin("VIRT0001", "ubdb", "98:16"), directory(), {"lifeline-overlay-VIRT0001": existing_overlay("98:32")}, "name_taken"),
])
def test_refusals_plan_no_step(disk, folder, existing, rule):
    plan = plan_present(REQUEST, [disk], existing, folder)
    assert rule in [refusal["rule"] for refusal in plan["refusals"]]
    assert plan["steps"] == []


def test_space_is_counted_for_every_new_overlay():
    disks = [origin("VIRT0001", "ubdb", "98:16"), origin("VIRT0002", "ubdc", "98:32")]
    assert plan_present(REQUEST, disks, {}, directory(free_bytes=100 << 20))["refusals"][0]["rule"] == "not_enough_space"
    assert plan_present(REQUEST, disks, {}, directory(free_bytes=128 << 20))["refusals"] == []


def test_a_partition_file_system_lies_on_its_disk_and_on_an_arrays_members():
    graph = {"md0": {"slaves": ["sda2", "sdb2"], "parent": None}, "sda2": {"slaves": [], "parent": "sda"},
             "sdb2": {"slaves": [], "parent": "sdb"}, "dm-1": {"slaves": ["md0"], "parent": None}}
    assert directory_devices("dm-1", graph) == {"dm-1", "md0", "sda2", "sdb2", "sda", "sdb"}
    assert "sda1" not in directory_devices("dm-1", graph)


# ---------------------------------------------------------------------------------------------
# Planner: absent
# ---------------------------------------------------------------------------------------------

RECORD = {"lifeline-overlay-VIRT0001": {"origin": "/dev/ubdb", "origin_major_minor": "98:16", "set_read_only": True,
                                        "cow_file": "/srv/ov/lifeline-overlay-VIRT0001.cow"},
          "lifeline-overlay-VIRT0002": {"origin": "/dev/ubdc", "origin_major_minor": "98:32", "set_read_only": False,
                                        "cow_file": "/srv/ov/lifeline-overlay-VIRT0002.cow"}}
MAJMIN = {"98:16": "/dev/ubdb", "98:32": "/dev/ubdc"}


def test_absent_removes_this_directorys_overlays_and_clears_only_the_read_only_it_set():
    existing = {"lifeline-overlay-VIRT0001": existing_overlay("98:16"),
                "lifeline-overlay-VIRT0002": existing_overlay("98:32", "/srv/ov/lifeline-overlay-VIRT0002.cow"),
                "lifeline-overlay-ELSE": existing_overlay("98:48", "/elsewhere/lifeline-overlay-ELSE.cow"),
                "foreign": existing_overlay("98:64", "/srv/ov/foreign.cow")}
    plan = plan_absent(REQUEST, None, existing, RECORD, MAJMIN)
    assert plan["removed"] == ["lifeline-overlay-VIRT0001", "lifeline-overlay-VIRT0002"]
    argvs = [step["argv"] for step in plan["steps"]]
    assert ["dmsetup", "remove", "lifeline-overlay-VIRT0001"] in argvs
    assert ["losetup", "--detach", "/dev/loop0"] in argvs
    assert ["rm", "--force", "--", "/srv/ov/lifeline-overlay-VIRT0002.cow"] in argvs
    assert ["blockdev", "--setrw", "/dev/ubdb"] in argvs
    assert ["blockdev", "--setrw", "/dev/ubdc"] not in argvs
    assert not any("ELSE" in " ".join(argv) or "foreign" in " ".join(argv) for argv in argvs)


def test_absent_refuses_an_overlay_something_uses():
    existing = {"lifeline-overlay-VIRT0001": existing_overlay("98:16", holders=["md5"])}
    plan = plan_absent(REQUEST, None, existing, RECORD, MAJMIN)
    assert plan["refusals"][0]["rule"] == "overlay_in_use" and plan["steps"] == []


def test_absent_with_nothing_left_changes_nothing():
    assert plan_absent(REQUEST, None, {}, {}, {})["steps"] == []


# ---------------------------------------------------------------------------------------------
# Host layer: what runs, in check mode and for real
# ---------------------------------------------------------------------------------------------

LSBLK = ('{"blockdevices": [{"name": "ubda", "kname": "ubda", "type": "disk", "serial": "LABROOT", "size": 3221225472},'
         '{"name": "ubdb", "kname": "ubdb", "type": "disk", "serial": "VIRT0001", "size": 268435456}]}')
MOUNTINFO = "22 1 98:0 / / rw,relatime shared:1 - ext4 /dev/root rw\n"


class FakeFiles:
    def __init__(self, files: dict, dirs: dict, links: dict) -> None:
        self.files, self.dirs, self.links = files, dirs, links

    def exists(self, path):
        return path in self.files or path in self.dirs

    def read_text(self, path):
        if path not in self.files:
            raise OSError(path)
        return self.files[path]

    def read_optional(self, path):
        return self.files[path].strip() if path in self.files else None

    def list_dir(self, path):
        return list(self.dirs.get(path, []))

    def read_link(self, path):
        return self.links.get(path)


class FakeRunner:
    def __init__(self, answers: dict) -> None:
        self.answers = answers
        self.history: list[list[str]] = []

    def find(self, name):
        return "/usr/sbin/" + name

    def has(self, name):
        return True

    def run(self, name, args, ok_rcs=(0,)):
        self.history.append([name] + list(args))
        key = " ".join([name] + list(args))
        for prefix, out in self.answers.items():
            if key.startswith(prefix):
                if isinstance(out, Exception):
                    raise out
                return CommandResult(["/usr/sbin/" + name] + list(args), 0, out, "")
        raise AssertionError("unexpected command: %s" % key)


class FakeDirectory:
    def __init__(self, free: int, record: dict | None = None) -> None:
        self.free = free
        self.record = record or {}
        self.written: list[dict] = []

    def exists(self):
        return True

    def real_path(self):
        return "/srv/ov"

    def free_bytes(self):
        return self.free

    def files(self):
        return {}

    def read_record(self):
        return dict(self.record)

    def write_record(self, overlays):
        self.written.append(overlays)
        self.record = overlays


def host_files() -> FakeFiles:
    return FakeFiles(
        files={"/proc/self/mountinfo": MOUNTINFO, "/sys/class/block/ubdb/dev": "98:16\n",
               "/sys/class/block/ubdb/size": "524288\n", "/sys/class/block/ubdb/ro": "0\n"},
        dirs={"/dev/disk/by-id": ["uml-VIRT0001"]},
        links={"/dev/disk/by-id/uml-VIRT0001": "../../ubdb", "/sys/dev/block/98:0": "../../devices/ubd/block/ubda"})


PARAMS = {"state": "present", "devices": ["VIRT0001"], "directory": "/srv/ov", "cow_size_bytes": 64 << 20,
          "name_prefix": "lifeline-overlay-"}


def test_check_mode_runs_only_reads_and_shows_every_command():
    runner = FakeRunner({"lsblk": LSBLK, "dmsetup table": "No devices found\n", "dmsetup status": "No devices found\n"})
    folder = FakeDirectory(GIB)
    failed, result = run_overlay(PARAMS, runner, host_files(), True, folder)
    assert not failed and result["changed"] is True
    assert [argv[0] for argv in result["commands"]] == ["truncate", "losetup", "blockdev", "dmsetup"]
    assert {argv[0] for argv in runner.history} == {"lsblk", "dmsetup"}
    assert all(argv[:2] != ["dmsetup", "create"] for argv in runner.history)
    assert folder.written == []


def test_a_real_run_puts_the_loop_device_in_the_table_and_records_the_read_only_it_set():
    after = "lifeline-overlay-VIRT0001: 0 524288 snapshot 98:16 7:3 N 8\n"
    runner = FakeRunner({"lsblk": LSBLK, "losetup": "/dev/loop3\n", "truncate": "", "blockdev": "", "dmsetup create": "",
                         "dmsetup status": "No devices found\n", "dmsetup table": "No devices found\n"})
    files = host_files()
    folder = FakeDirectory(GIB)
    original_run = runner.run

    def run(name, args, ok_rcs=(0,)):
        if name == "dmsetup" and args[:1] == ["create"]:
            runner.answers["dmsetup table"] = after
            runner.answers["dmsetup status"] = "lifeline-overlay-VIRT0001: 0 524288 snapshot 8/131072 0\n"
            files.links["/sys/dev/block/7:3"] = "../../devices/virtual/block/loop3"
            files.files["/sys/class/block/loop3/loop/backing_file"] = "/srv/ov/lifeline-overlay-VIRT0001.cow\n"
        return original_run(name, args, ok_rcs)

    runner.run = run
    failed, result = run_overlay(PARAMS, runner, files, False, folder)
    assert not failed, result
    assert ["dmsetup", "create", "lifeline-overlay-VIRT0001", "--table", "0 524288 snapshot /dev/ubdb /dev/loop3 N 8"] \
        in runner.history
    assert folder.record["lifeline-overlay-VIRT0001"]["set_read_only"] is True
    assert result["overlays"][0]["valid"] is True and result["overlays"][0]["origin_serial"] == "VIRT0001"


def test_an_unknown_device_fails_before_anything_runs():
    runner = FakeRunner({"lsblk": LSBLK, "dmsetup": "No devices found\n"})
    failed, result = run_overlay(dict(PARAMS, devices=["NOSUCH"]), runner, host_files(), False, FakeDirectory(GIB))
    assert failed and "NOSUCH" in result["msg"]
    assert all(argv[0] == "lsblk" for argv in runner.history)


def test_a_failing_dmsetup_is_reported_with_its_command():
    error = CommandError(["/usr/sbin/dmsetup", "table"], 1, "", "/dev/mapper/control: open failed", "dmsetup exited with 1")
    runner = FakeRunner({"lsblk": LSBLK, "dmsetup table": error})
    failed, result = run_overlay(PARAMS, runner, host_files(), False, FakeDirectory(GIB))
    assert failed and result["rc"] == 1 and result["cmd"] == ["/usr/sbin/dmsetup", "table"]


def test_a_failed_create_takes_back_that_overlays_steps():
    error = CommandError(["/usr/sbin/dmsetup", "create"], 1, "", "device-mapper: reload ioctl failed", "dmsetup exited with 1")
    runner = FakeRunner({"lsblk": LSBLK, "losetup --find": "/dev/loop3\n", "truncate": "", "blockdev": "", "rm": "",
                         "losetup --detach": "", "dmsetup create": error, "dmsetup table": "No devices found\n",
                         "dmsetup status": "No devices found\n"})
    folder = FakeDirectory(GIB)
    failed, result = run_overlay(PARAMS, runner, host_files(), False, folder)
    assert failed and result["rc"] == 1
    assert result["undone"] == [["/usr/sbin/blockdev", "--setrw", "/dev/ubdb"], ["/usr/sbin/losetup", "--detach", "/dev/loop3"],
                                ["/usr/sbin/rm", "--force", "--", "/srv/ov/lifeline-overlay-VIRT0001.cow"]]
    assert folder.written == []


def test_absent_for_some_devices_forgets_only_their_record():
    existing = {"lifeline-overlay-VIRT0001": existing_overlay("98:16")}
    plan = plan_absent(REQUEST, [origin("VIRT0001", "ubdb", "98:16")], existing, RECORD, MAJMIN)
    assert plan["forget"] == ["lifeline-overlay-VIRT0001"]
    after_restart = plan_absent(dict(REQUEST, files={"lifeline-overlay-VIRT0002.cow": True}), None, {}, RECORD, MAJMIN)
    assert after_restart["forget"] == ["lifeline-overlay-VIRT0001", "lifeline-overlay-VIRT0002"]
    assert ["rm", "--force", "--", "/srv/ov/lifeline-overlay-VIRT0002.cow"] in [step["argv"] for step in after_restart["steps"]]
