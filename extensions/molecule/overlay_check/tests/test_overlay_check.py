"""Copy-on-write overlays and md's check, on real device-mapper and md.

prepare.yml filled VIRT0001 and VIRT0002 with random bytes and recorded their sha256; converge
put an overlay over each (128 MiB copy-on-write files in /var/tmp/lab-overlays, on the root disk).
The overlays must take every write (100 MiB through one of them) without a byte reaching an
origin, must report an overlay whose file filled up as invalid, must refuse a directory on an
origin and a directory without the space asked for, and must leave nothing behind when removed.

md_check must count no mismatch on a mirror that resynced, count mismatches on a mirror whose
member was overwritten while the array was stopped (event counts still equal), and refuse, writing
nothing, during a throttled resync and on a degraded array. The tests run in this file's order:
each uses what the one before left."""

from __future__ import annotations

from labcheck import by_id_path, hash_devices, module_result, module_results, sh

OVERLAY_DIR = "/var/tmp/lab-overlays"
ORIGINS = ("VIRT0001", "VIRT0002")
OVERLAY_ARGS = {"devices": ["VIRT0001", by_id_path("VIRT0002")], "directory": OVERLAY_DIR, "cow_size": "128M"}
MIB = 1024 * 1024
CHECKED = "/dev/md/lab-check"
RESYNCING = "/dev/md/lab-resync"
HALF = "/dev/md/lab-half"


def recorded_origins(host) -> dict[str, str]:
    """{by-id path: sha256} of the origins as prepare.yml wrote them, before any overlay existed."""
    lines = sh(host, "cat /root/overlay-origins.sha256").splitlines()
    return {line.split()[1]: line.split()[0] for line in lines}


def assert_origins_unchanged(host) -> None:
    recorded = recorded_origins(host)
    assert sorted(recorded) == sorted(by_id_path(serial) for serial in ORIGINS)
    assert hash_devices(host, list(recorded)) == recorded


def overlay(request, tmp_path, **args) -> dict:
    return module_result(request, tmp_path, "lifeline.storage.overlay", dict(OVERLAY_ARGS, **args))


def md_check(request, tmp_path, array: str, check: bool = False, **args) -> dict:
    return module_result(request, tmp_path, "lifeline.storage.md_check", dict({"array": array, "poll_seconds": 0.5}, **args),
                         check=check)


def rules(result: dict) -> list[str]:
    return [refusal["rule"] for refusal in result.get("refusals", [])]


def snapshot_names(host) -> list[str]:
    return [line.split()[0] for line in sh(host, "dmsetup ls --target snapshot").splitlines() if line.startswith("lifeline-")]


def md_attr(host, array: str, attribute: str) -> str:
    return sh(host, "cat /sys/block/$(basename $(readlink -f %s))/md/%s" % (array, attribute)).strip()


# ---------------------------------------------------------------------------------------------
# overlay
# ---------------------------------------------------------------------------------------------

def test_converge_made_one_overlay_per_origin_named_by_serial_with_the_origin_read_only(host, request, tmp_path):
    result = overlay(request, tmp_path)
    assert not result.get("failed") and result["changed"] is False, result
    found = {entry["origin_serial"]: entry for entry in result["overlays"]}
    assert sorted(found) == list(ORIGINS)
    for serial, entry in found.items():
        assert entry["device"] == "/dev/mapper/lifeline-overlay-" + serial
        assert entry["valid"] is True and entry["status"] == "active"
        assert entry["cow_size_bytes"] == 128 * MIB
        assert entry["cow_file"] == "%s/lifeline-overlay-%s.cow" % (OVERLAY_DIR, serial)
        origin = sh(host, "readlink -f %s" % by_id_path(serial)).strip()
        assert entry["origin"] == origin and entry["origin_read_only"] is True
        assert sh(host, "blockdev --getro %s" % origin).strip() == "1"
        device_number = sh(host, "cat /sys/class/block/%s/dev" % origin.rsplit("/", 1)[1]).strip()
        assert sh(host, "dmsetup table lifeline-overlay-%s" % serial).split()[3] == device_number
    assert_origins_unchanged(host)


def test_100_mib_written_through_an_overlay_read_back_and_never_reach_the_origin(host, request, tmp_path):
    sh(host, "head -c %d /dev/urandom > /root/overlay-100M" % (100 * MIB))
    sh(host, "dd if=/root/overlay-100M of=/dev/mapper/lifeline-overlay-VIRT0001 bs=1M oflag=direct status=none")
    sh(host, "cmp -n %d /root/overlay-100M /dev/mapper/lifeline-overlay-VIRT0001" % (100 * MIB))
    # The origin refuses writes of its own while the overlay exists.
    refused = host.run("dd if=/dev/zero of=%s bs=4k count=1 oflag=direct status=none" % by_id_path("VIRT0001"))
    assert refused.rc != 0, "a write to the read-only origin succeeded"
    result = overlay(request, tmp_path)
    used = {entry["origin_serial"]: entry["cow_used_bytes"] for entry in result["overlays"]}
    assert used["VIRT0001"] >= 100 * MIB and used["VIRT0002"] < MIB, used
    assert_origins_unchanged(host)


def test_an_overlay_whose_file_filled_up_is_reported_invalid_and_its_origin_is_intact(host, request, tmp_path):
    filled = host.run("dd if=/dev/urandom of=/dev/mapper/lifeline-overlay-VIRT0002 bs=1M count=140 oflag=direct status=none")
    assert filled.rc != 0, "140 MiB fitted into a 128 MiB overlay"
    result = overlay(request, tmp_path)
    assert not result.get("failed") and result["changed"] is False, result
    found = {entry["origin_serial"]: entry for entry in result["overlays"]}
    assert found["VIRT0002"]["valid"] is False and found["VIRT0002"]["status"] == "Invalid"
    assert found["VIRT0001"]["valid"] is True
    assert any("lifeline-overlay-VIRT0002 is invalid" in warning for warning in result.get("warnings", []))
    assert_origins_unchanged(host)


def test_a_directory_on_an_origin_and_too_little_space_are_refused_and_change_nothing(host, request, tmp_path):
    target = by_id_path("VIRT0003")
    before = hash_devices(host, [target])
    disk = by_id_path("IDE0001")
    sh(host, "mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 %s && mkdir -p /mnt/lab-ovdir && "
             "mount %s /mnt/lab-ovdir && mkdir -p /mnt/lab-ovdir/overlays" % (disk, disk))
    try:
        no_space, on_origin = module_results(request, tmp_path, [
            ("lifeline.storage.overlay", dict(OVERLAY_ARGS, devices=["VIRT0003"], cow_size="100G"), False),
            ("lifeline.storage.overlay", dict(OVERLAY_ARGS, devices=["IDE0001"], directory="/mnt/lab-ovdir/overlays"), False),
        ])
    finally:
        sh(host, "umount /mnt/lab-ovdir")
    assert no_space.get("failed") and rules(no_space) == ["not_enough_space"], no_space
    assert no_space["commands"] == []
    assert hash_devices(host, [target]) == before
    assert sh(host, "blockdev --getro %s" % target).strip() == "0"
    assert on_origin.get("failed") and "directory_on_origin" in rules(on_origin), on_origin
    assert "lifeline-overlay-IDE0001" not in snapshot_names(host)
    assert sh(host, "blockdev --getro %s" % disk).strip() == "0"
    assert sorted(snapshot_names(host)) == ["lifeline-overlay-" + serial for serial in ORIGINS]


# ---------------------------------------------------------------------------------------------
# md_check
# ---------------------------------------------------------------------------------------------

def test_md_check_counts_no_mismatch_on_a_mirror_that_resynced(host, request, tmp_path):
    sh(host, "mdadm --create %s --run --metadata=1.2 --level=1 --raid-devices=2 %s %s 2>&1; mdadm --wait %s || true"
       % (CHECKED, by_id_path("VIRT0003"), by_id_path("VIRT0004"), CHECKED))
    assert md_attr(host, CHECKED, "sync_action") == "idle"

    planned, result = module_results(request, tmp_path, [
        ("lifeline.storage.md_check", {"array": CHECKED, "speed_limit_kb": 50000}, True),
        ("lifeline.storage.md_check", {"array": CHECKED, "poll_seconds": 0.5}, False),
    ])
    assert planned["changed"] is True and [w["value"] for w in planned["writes"]] == ["50000", "check", "system"]
    assert not result.get("failed"), result
    # Had check mode started a check, this run would have found it running.
    assert result["action"] == "start" and result["before"]["sync_action"] == "idle"
    assert result["completed"] is True and result["mismatch_cnt"] == 0 and result["findings"] == []
    assert result["seconds"] is not None and md_attr(host, CHECKED, "last_sync_action") == "check"
    assert sorted(member["serial"] for member in result["members"]) == ["VIRT0003", "VIRT0004"]


def test_md_check_refuses_a_read_only_array(host, request, tmp_path):
    sh(host, "mdadm --readonly %s" % CHECKED)
    try:
        result = md_check(request, tmp_path, CHECKED)
    finally:
        sh(host, "mdadm --readwrite %s" % CHECKED)
    assert result.get("failed") and rules(result) == ["read_only"] and result["writes"] == [], result


def test_md_check_counts_mismatches_of_a_member_overwritten_while_stopped(host, request, tmp_path):
    stale = by_id_path("VIRT0004")
    sh(host, "mdadm --stop %s" % CHECKED)
    offset = int(sh(host, "mdadm --examine %s | awk '/Data Offset :/ {print $4}'" % stale)) * 512
    # 1 MiB of other bytes 32 MiB into the data area; the superblocks are not touched.
    sh(host, "dd if=/dev/urandom of=%s bs=64K seek=%d count=16 oflag=direct conv=notrunc status=none"
       % (stale, (offset + 32 * MIB) // (64 * 1024)))
    events = {sh(host, "mdadm --examine %s | awk '/Events :/ {print $3}'" % by_id_path(s)).strip() for s in ("VIRT0003", "VIRT0004")}
    assert len(events) == 1, events
    # Assembled arrays start auto-read-only here (md's start_ro); md_check refuses those, so as an operator would:
    sh(host, "mdadm --assemble %s %s %s && mdadm --readwrite %s" % (CHECKED, by_id_path("VIRT0003"), stale, CHECKED))

    result = md_check(request, tmp_path, CHECKED, speed_limit_kb=50000)
    assert not result.get("failed"), result
    assert result["completed"] is True and result["mismatch_cnt"] > 0, result
    assert [finding["code"] for finding in result["findings"]] == ["MD_MISMATCH_CNT"]
    assert result["speed_limit"]["restored"] == "system" and result["speed_limit"]["after"].endswith("(system)")
    assert md_attr(host, CHECKED, "sync_speed_max").endswith("(system)")
    assert md_attr(host, CHECKED, "last_sync_action") == "check"
    sh(host, "mdadm --stop %s" % CHECKED)


def test_md_check_refuses_during_a_throttled_resync_and_writes_nothing(host, request, tmp_path):
    sh(host, "echo 1000 > /proc/sys/dev/raid/speed_limit_max")
    try:
        sh(host, "mdadm --create %s --run --metadata=1.2 --level=1 --raid-devices=2 %s %s 2>&1"
           % (RESYNCING, by_id_path("IDE0002"), by_id_path("NVME0001")))
        assert md_attr(host, RESYNCING, "sync_action") == "resync"
        speed_before = md_attr(host, RESYNCING, "sync_speed_max")
        result, stopping = module_results(request, tmp_path, [
            ("lifeline.storage.md_check", {"array": RESYNCING, "speed_limit_kb": 50000}, False),
            ("lifeline.storage.md_check", {"array": RESYNCING, "state": "stopped"}, False),
        ])
        assert result.get("failed") and rules(result) == ["sync_running"] and result["writes"] == [], result
        assert stopping.get("failed") and rules(stopping) == ["not_a_check"] and stopping["writes"] == [], stopping
        assert md_attr(host, RESYNCING, "sync_action") == "resync"
        assert md_attr(host, RESYNCING, "sync_speed_max") == speed_before
    finally:
        sh(host, "mdadm --stop %s; echo 200000 > /proc/sys/dev/raid/speed_limit_max" % RESYNCING)


def test_md_check_refuses_a_degraded_array_and_changes_no_byte(host, request, tmp_path):
    member = by_id_path("IDE0002")
    sh(host, "mdadm --create %s --run --metadata=1.2 --level=1 --raid-devices=2 %s missing 2>&1; udevadm settle; sleep 2"
       % (HALF, member))
    before = hash_devices(host, [member])
    result = md_check(request, tmp_path, HALF)
    assert result.get("failed") and rules(result) == ["degraded"] and result["writes"] == [], result
    assert md_attr(host, HALF, "sync_action") == "idle"
    assert hash_devices(host, [member]) == before
    sh(host, "mdadm --stop %s" % HALF)


# ---------------------------------------------------------------------------------------------
# overlay, removed
# ---------------------------------------------------------------------------------------------

def test_absent_removes_every_overlay_and_the_read_only_marks_it_set_then_changes_nothing(host, request, tmp_path):
    absent = {"state": "absent", "directory": OVERLAY_DIR}
    first, again = module_results(request, tmp_path, [("lifeline.storage.overlay", absent, False),
                                                      ("lifeline.storage.overlay", absent, False)])
    assert not first.get("failed") and first["changed"] is True, first
    assert sorted(entry["name"] for entry in first["overlays"]) == ["lifeline-overlay-" + serial for serial in ORIGINS]
    assert not again.get("failed") and again["changed"] is False and again["commands"] == [], again
    assert snapshot_names(host) == []
    assert sh(host, "ls -A %s" % OVERLAY_DIR).strip() == ""
    assert OVERLAY_DIR not in sh(host, "losetup --list --noheadings --output BACK-FILE")
    for serial in ORIGINS:
        assert sh(host, "blockdev --getro %s" % by_id_path(serial)).strip() == "0"
    assert_origins_unchanged(host)
