"""A broken host's RAID1 members exported read-only over iSCSI to a helper, on a private network.

prepare.yml made a RAID1 of VIRT0001 and VIRT0002 on the broken guest (the group's guest), an ext4
with 25 files on it, recorded every file's sha256 and each member's, and stopped the array.
wrote random data of recorded sha256 to a partition of VIRT0004, and left a RAID1 of IDE0001 and
IDE0002 with random data of recorded sha256 running read-only. converge.yml ran the collection's
export_to_helper playbook: the broken guest exports both members, the partition and the running
array on 10.251.0.1, the helper guest (10.251.0.2) attaches them.

On the helper: each export must be read-only with the broken host's serial; mirror_compare must
find the imported members identical; md must refuse the write-protected members and assemble the
array read-only from overlays over them, and every file's sha256 must match; the rescue role,
given no member, must choose an overlay and mount the array read-only with every file intact; a write must
fail, on the helper's device and in the target itself. The broken guest's members must hash as
before. A peer on the private network that no export names (the host's bridge, 10.251.0.254)
must not get in, nor may anyone through the broken guest's other address. Read throughput through
the export and locally is printed. The last test tears both sides down, shows nothing is left,
and stops the helper. The tests run in this file's order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import testinfra

from labcheck import by_id_path, module_result, run_playbook, sh

# The group's guest only; the helper is the fixture below.
testinfra_hosts = ["ansible://lifeline-lab"]

EXPORT_ADDRESS = "10.251.0.1"
PORTAL = EXPORT_ADDRESS + ":3260"
HELPER_INITIATOR = "iqn.2026-12.storage.lifeline.lab:helper"
STRANGER_INITIATOR = "iqn.2026-12.storage.lifeline.lab:stranger"
CHAP_PASSWORD = "lab-secret-0042"
MEMBERS = ("VIRT0001", "VIRT0002")
# A partition is exported as a disk of its own, named by its disk's serial and its number.
PARTITION = "VIRT0004-part1"
PARTITION_DEVICE = by_id_path("VIRT0004") + "-part1"
IQNS = {name: "iqn.2026-12.storage.lifeline:export." + name.lower() for name in MEMBERS + (PARTITION,)}
ARRAY = "/dev/md/export-helper"
MOUNT = "/mnt/lab-export"
PLAYBOOK = "lifeline.storage.export_to_helper"
OVERLAYS = "/var/tmp/lab-export-overlays"
RESCUE_MOUNT = "/mnt/lab-export-rescue"
PLAYBOOK_VARS = {"export_broken_host": "lifeline-lab", "export_helper_host": "lifeline-helper",
                 "export_address": EXPORT_ADDRESS, "export_helper_initiator": HELPER_INITIATOR,
                 "export_chap_password": CHAP_PASSWORD, "export_helper_overlay_directory": OVERLAYS}


@pytest.fixture(scope="module")
def helper(request):
    """The helper guest, from the inventory the verifier was given."""
    return testinfra.get_host("ansible://lifeline-helper", ansible_inventory=request.config.option.ansible_inventory)


def by_path(serial: str) -> str:
    return "/dev/disk/by-path/ip-%s-iscsi-%s-lun-0" % (PORTAL, IQNS[serial])


def lab_status(environment: dict | None = None) -> dict:
    cli = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests/lab/lab")
    done = subprocess.run([cli, "status"], capture_output=True, text=True, check=False,
                          env=dict(os.environ, **(environment or {})))
    return json.loads(done.stdout)


def in_private_network(command: list[str]) -> subprocess.CompletedProcess:
    """COMMAND run on the host inside the private network's namespace, as the peer 10.251.0.254."""
    namespace = lab_status()["private_network_namespace"]
    assert namespace, "the group's guest was booted without LIFELINE_LAB_PRIVATE_NET"
    return subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True, text=True,
                          timeout=120, check=False)


# Every test takes `host`: pytest runs the tests of a parametrized module fixture first.
def test_each_export_is_attached_read_only_with_the_broken_hosts_serial(host, helper) -> None:
    for serial in MEMBERS:
        device = sh(helper, "readlink -f %s" % by_path(serial)).strip()
        columns = sh(helper, "lsblk -dn -o RO,SERIAL,TRAN %s" % device).split()
        assert columns == ["1", serial, "iscsi"], (serial, device, columns)
        assert sh(helper, "cat /sys/block/%s/size" % device[5:]) == sh(host, "cat /sys/block/%s/size" % sh(
            host, "readlink -f %s" % by_id_path(serial)).strip()[5:])


def test_a_partition_is_attached_read_only_as_a_disk_named_by_serial_and_number_and_reads_the_same(host, helper):
    device = sh(helper, "readlink -f %s" % by_path(PARTITION)).strip()
    assert sh(helper, "lsblk -dn -o RO,SERIAL,TRAN %s" % device).split() == ["1", PARTITION, "iscsi"]
    remote = sh(helper, "dd if=%s bs=1M iflag=direct status=none | sha256sum" % device).split()[0]
    assert remote == sh(host, "cat /root/export-partition.sha256").strip()


def md_export_iqn(host) -> tuple[str, str]:
    """The array's export name (its md-uuid- by-id name) and its target's name."""
    name = sh(host, "cat /root/export-md.name").strip()
    return name, "iqn.2026-12.storage.lifeline:export." + re.sub(r"[^a-z0-9.-]+", "-", name.lower())


def test_an_array_is_attached_read_only_as_a_disk_named_by_its_md_uuid_and_reads_the_same(host, helper):
    name, iqn = md_export_iqn(host)
    device = sh(helper, "readlink -f /dev/disk/by-path/ip-%s-iscsi-%s-lun-0" % (PORTAL, iqn)).strip()
    assert sh(helper, "lsblk -dn -o RO,SERIAL,TRAN %s" % device).split() == ["1", name, "iscsi"]
    remote = sh(helper, "dd if=%s bs=4M iflag=direct status=none | sha256sum" % device).split()[0]
    assert remote == sh(host, "cat /root/export-md.sha256").strip()


def test_the_targets_are_read_only_listen_on_one_address_and_let_in_the_helper_only(host) -> None:
    config = json.loads(sh(host, "targetctl save /root/lio.json >/dev/null && cat /root/lio.json && rm /root/lio.json"))
    stores = {store["name"]: store for store in config["storage_objects"]}
    md_name, md_iqn = md_export_iqn(host)
    assert sorted(stores) == sorted(["lifeline-VIRT0001", "lifeline-VIRT0002", "lifeline-VIRT0004-part1",
                                     "lifeline-" + re.sub(r"[^A-Za-z0-9_-]+", "-", md_name)]), sorted(stores)
    assert all(store["readonly"] is True for store in stores.values()), stores
    assert sorted(target["wwn"] for target in config["targets"]) == sorted(list(IQNS.values()) + [md_iqn])
    for target in config["targets"]:
        (tpg,) = target["tpgs"]
        assert [(p["ip_address"], p["port"]) for p in tpg["portals"]] == [(EXPORT_ADDRESS, 3260)], tpg["portals"]
        assert tpg["attributes"]["authentication"] == 1 and tpg["attributes"]["generate_node_acls"] == 0, tpg["attributes"]
        (acl,) = tpg["node_acls"]
        assert acl["node_wwn"] == HELPER_INITIATOR and acl["chap_userid"] == "lifeline", acl["node_wwn"]
        assert [m["write_protect"] for m in acl["mapped_luns"]] == [True], acl["mapped_luns"]
    listening = sh(host, "ss -Hltn 'sport = :3260'")
    assert re.findall(r"\S+:3260", listening) == [PORTAL], listening


def test_the_helper_compares_the_members_and_assembles_the_array_read_only_and_every_file_matches(
        host, helper, request, tmp_path) -> None:
    uuid = sh(host, "cat /root/export-array.uuid").strip()
    expected = sh(host, "cat /root/export-files.sha256")
    # udev on a helper as installed may have assembled the array from the overlays when they appeared.
    sh(helper, "for md in $(ls /sys/block | grep ^md || true); do mdadm --stop /dev/$md; done")
    # mirror_compare reads the imported members as they are: a RAID1 that finished its resync agrees.
    compared = module_result(request, tmp_path, "lifeline.storage.mirror_compare",
                             {"devices": [by_path(serial) for serial in MEMBERS]}, hosts="lifeline-helper")
    assert not compared.get("failed") and compared["identical"] is True, (compared.get("msg"), compared.get("regions"))
    # md opens members for writing even for a read-only array. When the imports appeared, udev offered
    # them to md (mdadm --incremental) and the kernel refused each (EROFS, -30); md_assemble refuses them
    # before mdadm runs, naming each (and the overlays that now hold them).
    kernel = sh(helper, "dmesg | grep -E 'md_import_device|md: ' || true")
    assert "md_import_device returned -30" in kernel, kernel
    refused = module_result(request, tmp_path, "lifeline.storage.md_assemble",
                            {"state": "readonly", "array": ARRAY, "uuid": uuid,
                             "members": [by_path(serial) for serial in MEMBERS]}, hosts="lifeline-helper")
    protected = [r["detail"] for r in refused.get("refusals", []) if r["rule"] == "member_write_protected"]
    assert refused.get("failed") and refused["command"] == [] and len(protected) == 2, refused.get("msg")
    assert all("is write-protected" in detail for detail in protected), protected
    result = module_result(request, tmp_path, "lifeline.storage.md_assemble",
                           {"state": "readonly", "array": ARRAY, "uuid": uuid,
                            "members": ["/dev/mapper/lifeline-overlay-" + serial for serial in MEMBERS]},
                           hosts="lifeline-helper")
    assert not result.get("failed"), result.get("msg")
    assert sh(helper, "cat /sys/block/$(basename $(readlink -f %s))/md/array_state" % ARRAY).strip() == "readonly"
    sh(helper, "mkdir -p %s && mount -o ro,noload %s %s" % (MOUNT, ARRAY, MOUNT))
    try:
        checked = helper.run("cd %s && printf '%%s' %s | sha256sum --check --strict -" % (MOUNT, _quoted(expected)))
        assert checked.rc == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
        assert checked.stdout.count(": OK") == 25, checked.stdout
        # The collection's facts on the helper see the array, read-only.
        facts = helper.ansible("lifeline.storage.storage_facts", "gather_subset=md")["ansible_facts"]["lifeline_md"]
        seen = [array for array in facts["arrays"]
                if (array.get("uuid") or "").replace(":", "") == uuid.replace(":", "")]
        assert seen, [array.get("uuid") for array in facts["arrays"]]
    finally:
        helper.run("umount %s; mdadm --stop %s" % (MOUNT, ARRAY))


def test_the_rescue_role_on_the_helper_assembles_from_an_overlay_and_every_file_matches(host, helper, request, tmp_path):
    """The operator's rescue on the helper, with no member named: the write-protected imports are skipped."""
    expected = sh(host, "cat /root/export-files.sha256")
    sh(helper, "for md in $(ls /sys/block | grep ^md || true); do mdadm --stop /dev/$md; done")
    run_playbook(request.config.option.ansible_inventory, "lifeline.storage.rescue",
                 {"lifeline_hosts": "lifeline-helper", "rescue_mount_root": RESCUE_MOUNT,
                  "rescue_report_dir": str(tmp_path)})
    try:
        report = (tmp_path / "rescue-lifeline-helper.md").read_text()
        chosen = [line for line in report.splitlines() if line.endswith("(assembled from)")]
        assert len(chosen) == 1 and "/dev/disk/by-id/dm-name-lifeline-overlay-VIRT000" in chosen[0], report
        for serial in MEMBERS:
            assert re.search(r"- %s `[^`]+`, slot \d, events \d+, write-protected$" % serial, report, re.M), report
        array = sh(helper, "readlink -f /dev/md/lifeline-rescue").strip()
        directory = "%s/%s" % (RESCUE_MOUNT, os.path.basename(array))
        assert "`e2fsck -n -f %s` exited 0: clean" % array in report and "mounted read-only at `%s`" % directory in report
        assert sh(helper, "cat /sys/block/%s/md/array_state" % os.path.basename(array)).strip() == "readonly"
        checked = helper.run("cd %s && printf '%%s' %s | sha256sum --check --strict -" % (directory, _quoted(expected)))
        assert checked.rc == 0 and checked.stdout.count(": OK") == 25, checked.stdout[-2000:] + checked.stderr[-2000:]
    finally:
        helper.run("umount %s/*; mdadm --stop /dev/md/lifeline-rescue" % RESCUE_MOUNT)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_a_write_from_the_helper_fails_on_its_device_and_in_the_target(host, helper) -> None:
    device = sh(helper, "readlink -f %s" % by_path("VIRT0001")).strip()
    local = helper.run("dd if=/dev/zero of=%s bs=4096 count=1 oflag=direct" % device)
    assert local.rc != 0, "the helper wrote to %s" % device
    # Past the helper's own read-only flag: a raw SCSI WRITE(10) of one block through the sg node.
    sg = sh(helper, "modprobe sg && ls /sys/block/%s/device/scsi_generic/" % os.path.basename(device)).strip()
    raw = helper.run("sg_raw --send=512 --infile=/dev/zero /dev/%s 2a 00 00 00 00 00 00 00 01 00" % sg)
    assert raw.rc != 0, raw.stdout + raw.stderr
    assert "data protect" in (raw.stdout + raw.stderr).lower(), raw.stdout + raw.stderr
    # The same command reaches the broken guest's disk as a READ(10): sg_raw and the sg node work.
    read = helper.run("sg_raw --request=512 /dev/%s 28 00 00 00 00 00 00 00 01 00" % sg)
    assert read.rc == 0, read.stdout + read.stderr


def test_the_broken_hosts_members_are_unchanged(host) -> None:
    for line in sh(host, "cat /root/export-members.sha256").splitlines():
        expected, member = line.split()
        now = sh(host, "dd if=%s bs=4M iflag=direct status=none | sha256sum" % member).split()[0]
        assert now == expected, "%s changed while exported" % member
    for device, record in ((PARTITION_DEVICE, "/root/export-partition.sha256"),
                           ("/dev/md/lab-export-array", "/root/export-md.sha256")):
        now = sh(host, "dd if=%s bs=4M iflag=direct status=none | sha256sum" % device).split()[0]
        assert now == sh(host, "cat %s" % record).strip(), "%s changed while exported" % device


def test_an_unnamed_peer_and_another_address_cannot_get_in(host) -> None:
    # The peer reaches the portal: what stops it is the target, not the network.
    reach = in_private_network(["bash", "-c", "exec 3<>/dev/tcp/%s/3260" % EXPORT_ADDRESS])
    assert reach.returncode == 0, reach.stderr
    lun = "iscsi://%s/%s/0" % (PORTAL, IQNS["VIRT0001"])
    stranger = in_private_network(["iscsi-inq", "-i", STRANGER_INITIATOR, lun])
    assert stranger.returncode != 0, "an initiator no export names got in: " + stranger.stdout
    no_secret = in_private_network(["iscsi-inq", "-i", HELPER_INITIATOR, lun])
    assert no_secret.returncode != 0, "the helper's name without its CHAP secret got in: " + no_secret.stdout
    wrong_secret = in_private_network(["iscsi-inq", "-i", HELPER_INITIATOR,
                                       "iscsi://lifeline%%wrong-secret-00@%s/%s/0" % (PORTAL, IQNS["VIRT0001"])])
    assert wrong_secret.returncode != 0, "a wrong CHAP secret got in: " + wrong_secret.stdout
    # Every other address of the broken guest: the portal is not there.
    other = host.run("bash -c 'exec 3<>/dev/tcp/192.168.251.2/3260'")
    assert other.rc != 0, "the target answers on the broken guest's other address too"


def test_read_throughput_through_the_export_against_a_local_read(host, helper) -> None:
    def rate(target, device: str) -> tuple[float, str]:
        out = target.run("dd if=%s of=/dev/null bs=1M iflag=direct 2>&1" % device)
        assert out.rc == 0, out.stdout
        match = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", out.stdout)
        assert match, out.stdout
        return int(match.group(1)) / float(match.group(2)) / 1e6, out.stdout.strip().splitlines()[-1]

    remote, remote_line = rate(helper, by_path("VIRT0001"))
    local, local_line = rate(host, by_id_path("VIRT0001"))
    print("export read: %s\nlocal read: %s\nthrough the export / local: %.2f" % (remote_line, local_line, remote / local))
    figures = os.path.join(os.environ.get("LIFELINE_JUNIT_DIR") or "/tmp", "lab-export-throughput.txt")
    with open(figures, "w", encoding="utf-8") as out:  # beside the junit files: the figures of the run
        out.write("export_read_mb_per_s %.1f\nlocal_read_mb_per_s %.1f\nratio %.3f\n" % (remote, local, remote / local))
    # The same bytes both ways: a whole-device hash through the export equals the local one.
    through = sh(helper, "dd if=%s bs=4M iflag=direct status=none | sha256sum" % by_path("VIRT0001")).split()[0]
    assert through == sh(host, "dd if=%s bs=4M iflag=direct status=none | sha256sum" % by_id_path("VIRT0001")).split()[0]


def test_check_mode_shows_the_exact_commands_and_runs_none(host, request, tmp_path) -> None:
    before = sh(host, "targetctl save /root/lio.json >/dev/null && cat /root/lio.json && rm /root/lio.json")
    result = module_result(request, tmp_path, "lifeline.storage.iscsi_export",
                           {"devices": [by_id_path("VIRT0003")], "address": EXPORT_ADDRESS,
                            "initiator": HELPER_INITIATOR, "chap_user": "lifeline", "chap_password": CHAP_PASSWORD},
                           check=True, hosts="lifeline-lab")
    assert result["changed"] is True and not result.get("failed"), result.get("msg")
    tpg = "/iscsi/%s/tpg1" % "iqn.2026-12.storage.lifeline:export.virt0003"
    assert [" ".join(command) for command in result["commands"]] == [
        "targetcli /backstores/block create name=lifeline-VIRT0003 dev=%s readonly=true wwn=VIRT0003"
        % by_id_path("VIRT0003"),
        # No "portals delete 0.0.0.0 3260": the exports made by converge.yml listen on port
        # 3260 of one address, so the kernel refuses targetcli's portal on every address.
        "targetcli /iscsi create iqn.2026-12.storage.lifeline:export.virt0003",
        "targetcli %s set attribute authentication=1 generate_node_acls=0 demo_mode_write_protect=1" % tpg,
        "targetcli %s/portals create %s 3260" % (tpg, EXPORT_ADDRESS),
        "targetcli %s/luns create /backstores/block/lifeline-VIRT0003 add_mapped_luns=false" % tpg,
        "targetcli %s/acls create %s add_mapped_luns=false" % (tpg, HELPER_INITIATOR),
        "targetcli %s/acls/%s set auth userid=lifeline password=********" % (tpg, HELPER_INITIATOR),
        "targetcli %s/acls/%s create mapped_lun=0 tpg_lun_or_backstore=lun0 write_protect=1" % (tpg, HELPER_INITIATOR),
    ]
    after = sh(host, "targetctl save /root/lio.json >/dev/null && cat /root/lio.json && rm /root/lio.json")
    assert after == before


def test_a_kernel_name_is_refused_naming_it(host, request, tmp_path) -> None:
    kernel_name = sh(host, "readlink -f %s" % by_id_path("VIRT0003")).strip()
    result = module_result(request, tmp_path, "lifeline.storage.iscsi_export",
                           {"devices": [kernel_name], "address": EXPORT_ADDRESS, "initiator": HELPER_INITIATOR,
                            "chap_user": "lifeline", "chap_password": CHAP_PASSWORD}, hosts="lifeline-lab")
    assert result.get("failed") and kernel_name in result["msg"] and "kernel name" in result["msg"], result.get("msg")


def test_teardown_leaves_no_target_no_session_and_no_device(host, helper, request) -> None:
    try:
        # As docs/export.md says: stop what was built on the overlays first (udev may have assembled arrays).
        sh(helper, "for md in $(ls /sys/block | grep ^md || true); do mdadm --stop /dev/$md; done")
        run_playbook(request.config.option.ansible_inventory, PLAYBOOK, dict(PLAYBOOK_VARS, export_state="absent"))
        assert helper.run("iscsiadm -m session").rc == 21, "a session is left on the helper"
        assert helper.run("iscsiadm -m node").rc == 21, "a node record is left on the helper"
        assert sh(helper, "ls /dev/disk/by-path/ | grep -c iscsi || true").strip() == "0"
        assert sh(helper, "lsblk -dn -o TRAN | grep -c iscsi || true").strip() == "0"
        assert sh(helper, "dmsetup ls | grep -c lifeline-overlay || true").strip() == "0", "an overlay is left"
        assert sh(helper, "ls %s" % OVERLAYS).strip() == "", "an overlay's file is left"
        config = json.loads(sh(host, "targetctl save /root/lio.json >/dev/null && cat /root/lio.json && rm /root/lio.json"))
        assert config["targets"] == [] and config["storage_objects"] == [], config
        assert sh(host, "ss -Hltn 'sport = :3260'").strip() == ""
        assert sh(host, "ls /sys/kernel/config/target/iscsi | grep -c '^iqn' || true").strip() == "0"
    finally:
        # Whatever the teardown left, so the group's next scenarios can reset the disks LIO would hold.
        host.run("targetcli clearconfig confirm=True")
        helper_lab = {"LIFELINE_LAB_STATE": os.environ.get("LIFELINE_LAB_HELPER_STATE", "/tmp/lifeline-lab-helper"),
                      "LIFELINE_LAB_SSH_PORT": os.environ.get("LIFELINE_LAB_HELPER_PORT", "2532")}
        subprocess.run([os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests/lab/lab"), "down"],
                       env=dict(os.environ, **helper_lab), check=False, capture_output=True, timeout=120)
