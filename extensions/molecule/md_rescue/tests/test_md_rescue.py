"""The read-only rescue drill on real devices: a RAID10 over four disks with files of known
checksums is stopped; rescue.yml (converge) assembles it read-only from one member of each
mirror pair, activates its volume group read-only and mounts the volume read-only. The files
must read back with their checksums, md must never start a resync, and the four members' bytes
must be the same after the whole drill as before it (hashed in prepare.yml).

Then, on the two IDE disks: a RAID1 member written to while its mirror was out. mirror_compare
must report the exact first differing byte and count, and md_assemble must refuse that pair,
refuse members of two arrays and an incomplete set, and change no byte doing so.

Between the two, the collection's playbook is run as an operator runs it: from a directory of
their own with a relative report directory (the report must be there, at the path printed), and
in check mode on the stopped array (changed=0, nothing assembled, written or installed)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from labcheck import by_id_path, by_serial, export_pairs, hash_devices, module_result, run_playbook, sh

RESCUED = "/dev/md/lifeline-rescue"
PAIRS = (("VIRT0001", "VIRT0002"), ("VIRT0003", "VIRT0004"))
MOUNT = "/mnt/lab-rescue/rescuevg-data"
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
REPORT = "rescue-lifeline-lab.md"
# The converge's settings, but for the report's directory.
OPERATOR_VARS = {"rescue_mount_root": "/mnt/lab-rescue"}
PYSMART_PATH = "/var/lib/lifeline-storage/python"


def rescued_members(host) -> dict[str, str]:
    """{serial: device} of the rescued array's members, from mdadm itself."""
    detail = export_pairs(sh(host, "mdadm --detail --export %s" % RESCUED))
    devices = {value for key, value in detail.items() if key.startswith("MD_DEVICE_") and key.endswith("_DEV")}
    serials = {}
    for pair in PAIRS:
        for serial in pair:
            if by_serial(serial, host) in devices:
                serials[serial] = by_serial(serial, host)
    return serials


def test_the_array_runs_read_only_from_one_member_of_each_mirror_pair(host):
    members = rescued_members(host)
    assert len(members) == 2 and all(len(set(pair) & set(members)) == 1 for pair in PAIRS), members
    name = os.path.basename(sh(host, "readlink -f %s" % RESCUED).strip())
    assert sh(host, "cat /sys/block/%s/md/array_state" % name).strip() == "readonly"
    assert export_pairs(sh(host, "mdadm --detail --export %s" % RESCUED))["MD_LEVEL"] == "raid10"


def test_md_never_starts_a_resync_or_recovery(host):
    name = os.path.basename(sh(host, "readlink -f %s" % RESCUED).strip())
    for look in range(3):
        assert sh(host, "cat /sys/block/%s/md/sync_action" % name).strip() == "idle", "look %d" % look
        time.sleep(2)
    assert "recovery" not in sh(host, "cat /proc/mdstat") and "resync =" not in sh(host, "cat /proc/mdstat")


def test_the_volume_is_read_only_and_the_files_match_their_checksums(host):
    assert sh(host, "blockdev --getro /dev/rescuevg/data").strip() == "1"
    options = sh(host, "findmnt -rn -o OPTIONS --mountpoint %s" % MOUNT).split(",")
    assert "ro" in options
    sh(host, "cd %s && sha256sum --check --strict /root/rescue-files.sha256" % MOUNT)


def test_the_report_names_the_choice_and_the_untouched_members(host):
    report = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", "rescue-lifeline-lab.md").read_text()
    members = rescued_members(host)
    untouched = [serial for pair in PAIRS for serial in pair if serial not in members]
    assert "Nothing was written to any member" in report
    assert "slots 0, 1 (raid10 near=2: slots 0 and 1 hold the same data)" in report
    for serial in members:
        assert "**%s `%s`" % (serial, by_id_path(serial)) in report
    for serial in untouched:
        assert "%s (%s)" % (serial, by_serial(serial, host)) in report.split("Left untouched:")[1].split("\n")[0]
    assert "`e2fsck -n -f /dev/rescuevg/data` exited 0: clean" in report
    assert "mounted read-only at `%s`" % MOUNT in report


def run_rescue_from(directory: Path, request, monkeypatch, extra_vars: dict, options: tuple[str, ...] = ()) -> str:
    """lifeline.storage.rescue, by its collection name, with ansible-playbook started in DIRECTORY.

    PWD is left pointing at the collection, as a shell that changed directory another way might
    leave it: the role must not go by it."""
    inventory = str(Path(request.config.option.ansible_inventory).resolve())
    monkeypatch.chdir(directory)
    monkeypatch.setenv("PWD", str(PROJECT))
    return run_playbook(inventory, "lifeline.storage.rescue", dict(OPERATOR_VARS, **extra_vars), options)


def recap_changed(output: str) -> int:
    recap = output[output.rindex("PLAY RECAP"):]
    return int(re.search(r"lifeline-lab\s*:.*?changed=(\d+)", recap).group(1))


def reports_in_the_collection() -> list[Path]:
    return sorted(path for folder in ("playbooks", "roles") for path in (PROJECT / folder).rglob(REPORT))


def test_a_relative_report_directory_is_taken_from_where_ansible_playbook_started(host, request, tmp_path, monkeypatch):
    """A run on the rescued array, as the operator's second run: it writes the report it prints.

    It takes `host` like the others, so pytest keeps it in file order (while the array is assembled)."""
    assert host.file(MOUNT).is_directory
    output = run_rescue_from(tmp_path, request, monkeypatch, {"rescue_report_dir": "lab-reports"})
    written = tmp_path / "lab-reports" / REPORT
    printed = re.findall(r'report: (/[^"\s]+)', output)
    assert printed == [str(written)], output[-3000:]
    assert written.is_file()
    assert "An earlier run assembled the array from" in written.read_text()
    assert reports_in_the_collection() == []


def test_after_the_drill_every_member_has_the_bytes_it_had_before(host):
    sh(host, "umount %s && lvm vgchange --devicesfile '' --config 'backup { backup = 0 archive = 0 }' -an rescuevg "
             "&& mdadm --stop %s && udevadm settle" % (MOUNT, RESCUED))
    sh(host, "sha256sum --check --strict /root/rescue-members.sha256")


def test_check_mode_on_the_stopped_array_changes_writes_and_installs_nothing(host, request, tmp_path, monkeypatch):
    """Check mode with pySMART not on the host: the plan is printed, SMART said to be unread,
    recap changed=0, no report, no pySMART copied, no array assembled, no superblock touched."""
    members = [by_serial(serial, host) for pair in PAIRS for serial in pair]
    superblocks = {member: examine(host, member) for member in members}
    assert not sh(host, "grep -E '^md' /proc/mdstat || true").strip(), "the array is still running"
    sh(host, "mv %s %s.lab-away" % (PYSMART_PATH, PYSMART_PATH))
    try:
        installed = sh(host, "find /var/lib/lifeline-storage | sort")
        output = run_rescue_from(tmp_path, request, monkeypatch, {"rescue_report_dir": "check-reports"}, ("--check",))
        assert sh(host, "find /var/lib/lifeline-storage | sort") == installed
    finally:
        sh(host, "mv %s.lab-away %s" % (PYSMART_PATH, PYSMART_PATH))
    assert recap_changed(output) == 0, output[-3000:]
    assert "Check mode: nothing was assembled" in output
    assert re.search(r"command: \S*mdadm --assemble --readonly --config=none %s " % re.escape(RESCUED), output), output[-3000:]
    assert "SMART was not read" in output
    assert "report: not written in check mode; the run writes %s" % (tmp_path / "check-reports" / REPORT) in output
    assert not (tmp_path / "check-reports").exists() and list(tmp_path.rglob(REPORT)) == []
    assert reports_in_the_collection() == []
    assert not sh(host, "grep -E '^md' /proc/mdstat || true").strip()
    assert not sh(host, "findmnt -rn -o TARGET | grep '^/mnt/lab-rescue' || true").strip()
    assert {member: examine(host, member) for member in members} == superblocks


PAIR = "/dev/md21"
# Where the surviving member is written to while the other is out: inside the array's data, not
# on a page or sector boundary, so an off-by-data-offset or rounding error shows.
WRITE_OFFSET = 3 * 1048576 + 123
WRITE_LENGTH = 1000


def examine(host, device: str) -> dict[str, str]:
    return export_pairs(sh(host, "mdadm --examine --export %s" % device))


def events(host, device: str) -> int:
    return int(sh(host, "mdadm --examine %s | awk '/Events :/ {print $3}'" % device))


def test_a_member_written_while_its_mirror_was_out_is_found_byte_for_byte(host, request, tmp_path):
    fresh, stale = by_serial("IDE0001", host), by_serial("IDE0002", host)
    # Both start all zero, so the only difference is the one written below.
    sh(host, "for d in %s %s; do dd if=/dev/zero of=$d bs=1M count=$(( $(blockdev --getsize64 $d) / 1048576 )) "
             "oflag=direct status=none; done" % (fresh, stale))
    sh(host, "mdadm --create %s --run --assume-clean --metadata=1.2 --level=1 --raid-devices=2 --bitmap=none --name=pair "
             "%s %s && mdadm --stop %s" % (PAIR, fresh, stale, PAIR))
    sh(host, "mdadm --assemble --run %s %s && head -c %d /dev/zero | tr '\\000' '\\377' | "
             "dd of=%s bs=1 seek=%d conv=notrunc status=none && sync && mdadm --stop %s && udevadm settle"
             % (PAIR, fresh, WRITE_LENGTH, PAIR, WRITE_OFFSET, PAIR))
    assert events(host, fresh) > events(host, stale) + 1, "the setup did not leave the members' event counts apart"
    before = hash_devices(host, [fresh, stale])
    result = module_result(request, tmp_path, "lifeline.storage.mirror_compare", {"devices": [fresh, stale]})
    assert result.get("failed") is not True, result
    assert result["identical"] is False
    assert result["first_difference"] == WRITE_OFFSET
    assert result["differing_bytes"] == WRITE_LENGTH
    assert result["regions"] == [{"offset": WRITE_OFFSET, "length": WRITE_LENGTH}]
    data_offset = int(sh(host, "mdadm --examine %s | awk '/Data Offset :/ {print $4}'" % fresh)) * 512
    assert result["bytes_compared"] == int(sh(host, "blockdev --getsize64 %s" % fresh)) - data_offset or \
        result["bytes_compared"] <= int(sh(host, "blockdev --getsize64 %s" % fresh)) - data_offset
    assert hash_devices(host, [fresh, stale]) == before


def assemble(request, tmp_path, **args) -> dict:
    return module_result(request, tmp_path, "lifeline.storage.md_assemble", dict(state="readonly", array="/dev/md/lab-pair", **args))


def refusal_rules(result: dict) -> list[str]:
    assert result.get("failed") is True and result.get("changed") is False, result
    return [refusal["rule"] for refusal in result["refusals"]]


def test_md_assemble_refuses_members_whose_events_diverge_even_with_the_override(host, request, tmp_path):
    fresh, stale = by_serial("IDE0001", host), by_serial("IDE0002", host)
    before = hash_devices(host, [fresh, stale])
    plain = assemble(request, tmp_path, members=["IDE0001", "IDE0002"], allow_degraded=True)
    assert "events_diverge" in refusal_rules(plain)
    overridden = assemble(request, tmp_path, members=["IDE0001", "IDE0002"], allow_degraded=True, allow_event_divergence=True)
    assert "events_diverge" in refusal_rules(overridden)
    assert "md" not in sh(host, "cat /proc/mdstat | grep -E '^md' || true")
    assert hash_devices(host, [fresh, stale]) == before


def test_choosing_the_stale_half_needs_the_override_and_then_runs_read_only(host, request, tmp_path):
    fresh, stale = by_serial("IDE0001", host), by_serial("IDE0002", host)
    before = hash_devices(host, [fresh, stale])
    refused = assemble(request, tmp_path, members=["IDE0002"], allow_degraded=True)
    assert "newer_members_elsewhere" in refusal_rules(refused)
    check = module_result(request, tmp_path, "lifeline.storage.md_assemble",
                          dict(state="readonly", array="/dev/md/lab-pair", members=["IDE0002"], allow_degraded=True,
                               allow_event_divergence=True), check=True)
    assert check["changed"] is True and "--readonly" in check["command"] and "--force" not in check["command"]
    assert not sh(host, "ls /dev/md/ 2>/dev/null || true").strip()
    try:
        done = assemble(request, tmp_path, members=["IDE0002"], allow_degraded=True, allow_event_divergence=True)
        assert done.get("failed") is not True and done["changed"] is True, done
        assert done["command"] == check["command"]
        assert done["array_state"] == "readonly" and done["verified"] is True
        again = assemble(request, tmp_path, members=["IDE0002"], allow_degraded=True, allow_event_divergence=True)
        assert again.get("failed") is not True and again["changed"] is False, again
    finally:
        stopped = module_result(request, tmp_path, "lifeline.storage.md_assemble", {"state": "stopped", "array": "/dev/md/lab-pair"})
    assert stopped.get("failed") is not True and stopped["changed"] is True, stopped
    assert hash_devices(host, [fresh, stale]) == before


def test_md_assemble_refuses_members_of_two_arrays_and_an_incomplete_set(host, request, tmp_path):
    fresh = by_serial("IDE0001", host)
    untouched = by_serial("VIRT0001", host)
    before = hash_devices(host, [fresh, untouched])
    mixed = assemble(request, tmp_path, members=["IDE0001", "VIRT0001"], allow_degraded=True)
    assert "uuid_mismatch" in refusal_rules(mixed)
    uuid = examine(host, fresh)["MD_UUID"]
    incomplete = assemble(request, tmp_path, uuid=uuid, members=["IDE0001"])
    assert "incomplete" in refusal_rules(incomplete)
    assert not sh(host, "grep -E '^md' /proc/mdstat || true").strip()
    assert hash_devices(host, [fresh, untouched]) == before
