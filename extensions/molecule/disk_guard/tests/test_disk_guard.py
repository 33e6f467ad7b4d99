"""The pre-install gate on real devices: one kind of data per case on a disk of its own, each
refused with the right evidence and its bytes unchanged; blank disks pass; an allow-listed serial
passes; a disk that does not exist fails naming it.

The standalone gate the role renders for installers is run on the same disks in every case,
once with util-linux and once with busybox's shell and applets only (the Debian installer's
environment), and must give the module's verdict: the two cannot drift apart."""

from __future__ import annotations

import base64
import shlex

import pytest
import yaml

from labcheck import by_id_path, by_serial, gather, hash_devices, module_result, sh

CASE_DISK = "VIRT0001"
# pbkdf2 with few iterations: argon2 would need seconds and memory under emulation.
LUKS = "printf pw | cryptsetup luksFormat --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000"
MD = "mdadm --create /dev/md9 --run --level=1 --raid-devices=2 --bitmap=none"
NO_BACKUP = "--devicesfile '' --config 'backup { backup = 0 archive = 0 }'"

# (case, shell that writes it to $D, text every refusal line must hold). $END is the device size.
CASES = [
    ("ext4", "mkfs.ext4 -q -F $D", "ext4 at offset 1080"),
    # xfsprogs refuses file systems under 300 MB unless it runs under its own test suite, which
    # these variables announce; the lab's disks are 256 MB.
    ("xfs", "TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f $D", "xfs at offset 0"),
    ("btrfs", "mkfs.btrfs -q -f $D", "btrfs at offset 65600"),
    ("swap", "mkswap $D >/dev/null", "swap at offset 4086"),
    ("vfat", "mkfs.vfat $D >/dev/null", "vfat at offset"),
    ("luks1", LUKS + " --type luks1 $D -", "crypto_LUKS at offset 0"),
    ("luks2", LUKS + " --type luks2 $D -", "crypto_LUKS at offset 16384"),
    ("md 0.90", MD + " --metadata=0.90 $D missing && mdadm --stop /dev/md9", "linux_raid_member at offset"),
    ("md 1.0", MD + " --metadata=1.0 $D missing && mdadm --stop /dev/md9", "linux_raid_member at offset"),
    ("md 1.2", MD + " --metadata=1.2 $D missing && mdadm --stop /dev/md9", "linux_raid_member at offset 4096"),
    ("md 1.2 on a partition", "printf 'label: gpt\\n,,R\\n' | sfdisk -q $D && udevadm settle && "
     + MD + " --metadata=1.2 ${D}1 missing && mdadm --stop /dev/md9", "linux_raid_member at offset 4096"),
    ("LVM PV", "pvcreate %s -ff -y $D >/dev/null" % NO_BACKUP, "LVM2_member at offset 536"),
    ("GPT only", "printf 'label: gpt\\n' | sfdisk -q $D", "gpt at offset 512"),
    ("MBR only", "printf 'label: dos\\n' | sfdisk -q $D", "dos at offset 510"),
    ("GPT with its primary header zeroed", "printf 'label: gpt\\n' | sfdisk -q $D && dd if=/dev/zero of=$D bs=512 seek=1 count=1 "
     "oflag=direct status=none", "gpt at offset $END"),
    ("random data without a signature", "head -c 65536 /dev/urandom | dd of=$D bs=65536 seek=4 oflag=direct status=none",
     "non-zero bytes in the first 1048576 bytes, no known signature"),
]


def wipe(host, device: str) -> None:
    """Every byte of the disk zero again: the gate samples the whole disk, so a case's leftovers anywhere are data."""
    sh(host, "mdadm --stop /dev/md9 2>/dev/null; umount /mnt/lab-guard 2>/dev/null; wipefs -a -q %s; "
             "for part in %s?*; do [ -b \"$part\" ] && wipefs -a -q \"$part\"; done; "
             "dd if=/dev/zero of=%s bs=4M oflag=direct status=none 2>/dev/null; "
             "blockdev --rereadpt %s 2>/dev/null; udevadm settle; true" % (device, device, device, device))


def guard(request, tmp_path, **args) -> dict:
    return module_result(request, tmp_path, "lifeline.storage.disk_guard", args)


RENDERED = "/root/lifeline-gate"
GATE = RENDERED + "/lifeline-preinstall-gate.sh"
# converge.yml links every busybox applet, and nothing else, into this directory.
BUSYBOX = "PATH=/root/busybox-only /usr/bin/busybox sh"
PREFIX = "lifeline-preinstall-gate: "


def script_lines(output: str) -> list[str]:
    return [line[len(PREFIX):] for line in output.splitlines() if line.startswith(PREFIX)]


def standalone(host, *args: str, busybox: bool = False) -> tuple[int, list[str]]:
    """Exit status and lines of the standalone gate, under sh with util-linux or under busybox only."""
    result = host.run("%s %s %s" % (BUSYBOX if busybox else "sh", GATE, " ".join(shlex.quote(arg) for arg in args)))
    return result.rc, script_lines(result.stdout)


def standalone_refusals(host, disk: str) -> dict[str, str]:
    """{environment: the refusal line} from both environments, each of which must refuse."""
    lines = {}
    for environment in ("util-linux", "busybox"):
        rc, output = standalone(host, "--disk", disk, busybox=environment == "busybox")
        assert rc == 1, (environment, output)
        lines[environment] = next(line for line in output if line.startswith(disk + " "))
    return lines


# The cases run in batches, one disk per case, so that one disk_guard run and one standalone run
# per environment check a whole batch: each of those costs seconds under emulation. The NVMe disk
# is left out: "md 1.2 on a partition" names its partition ${D}1.
BATCH_DISKS = ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004", "IDE0001", "IDE0002")


@pytest.fixture(scope="module")
def refusals(host, request, tmp_path_factory) -> dict[str, dict]:
    """Per case: its disk, device, size, the module's and both standalone refusal lines, and
    whether the disk's sha256 was the same after both gates had read it."""
    results = {}
    for first in range(0, len(CASES), len(BATCH_DISKS)):
        batch = list(zip(CASES[first:first + len(BATCH_DISKS)], BATCH_DISKS))
        serials = [serial for case, serial in batch]
        devices = {serial: by_serial(serial, host) for serial in serials}
        for (case, write, expected), serial in batch:
            wipe(host, devices[serial])
            sh(host, "set -e; D=%s; %s; udevadm settle" % (devices[serial], write))
        before = hash_devices(host, list(devices.values()))
        module = guard(request, tmp_path_factory.mktemp("guard"), disks=serials)
        disk_args = [arg for serial in serials for arg in ("--disk", serial)]
        script = {environment: standalone(host, *disk_args, busybox=environment == "busybox")
                  for environment in ("util-linux", "busybox")}
        after = hash_devices(host, list(devices.values()))
        for (case, write, expected), serial in batch:
            device = devices[serial]
            results[case] = {
                "serial": serial, "device": device, "size": int(sh(host, "blockdev --getsize64 %s" % device)),
                "module_failed": module.get("failed"), "module_passed": module.get("passed"),
                "module": [line for line in module.get("refused", []) if line.startswith(serial + " ")],
                "script_rc": {environment: rc for environment, (rc, lines) in script.items()},
                "script": {environment: [line for line in lines if line.startswith(serial + " ")]
                           for environment, (rc, lines) in script.items()},
                "unchanged": before[device] == after[device],
            }
        for device in devices.values():
            wipe(host, device)
    return results


@pytest.mark.parametrize("case, expected", [(case, expected) for case, write, expected in CASES], ids=[case[0] for case in CASES])
def test_each_kind_of_data_is_refused_with_its_evidence_and_left_unchanged(refusals, case, expected):
    result = refusals[case]
    evidence = expected.replace("$END", str(result["size"] - 512))
    named = "%s (%s): " % (result["serial"], result["device"])
    assert result["module_failed"] is True and result["module_passed"] is False, result
    assert len(result["module"]) == 1 and result["module"][0].startswith(named), result
    assert evidence in result["module"][0], result
    assert result["script_rc"] == {"util-linux": 1, "busybox": 1}, result
    assert len(result["script"]["util-linux"]) == 1 and evidence in result["script"]["util-linux"][0], result
    assert len(result["script"]["busybox"]) == 1 and result["script"]["busybox"][0].startswith(named), result
    assert result["unchanged"], "%s: disk_guard or the standalone gate changed the disk" % case


def test_a_pv_hidden_by_an_lvm_devices_file_is_refused(host, request, tmp_path):
    device = by_serial(CASE_DISK, host)
    other = by_serial("VIRT0002", host)
    wipe(host, device)
    sh(host, "pvcreate %s -ff -y %s >/dev/null && pvcreate %s -ff -y %s >/dev/null" % (NO_BACKUP, device, NO_BACKUP, other))
    sh(host, "sed -i 's/^\\(\\s*\\)#\\?\\s*use_devicesfile = .*/\\1use_devicesfile = 1/' /etc/lvm/lvm.conf && "
             "rm -f /etc/lvm/devices/system.devices && lvm lvmdevices --yes --adddev %s" % other)
    try:
        assert device not in sh(host, "pvs --noheadings -o pv_name %s" % NO_BACKUP.replace("--devicesfile ''", ""))
        result = guard(request, tmp_path, disks=[CASE_DISK])
        assert result["passed"] is False and "LVM2_member at offset 536" in result["refused"][0]
        assert "LVM2_member at offset 536" in standalone_refusals(host, CASE_DISK)["util-linux"]
    finally:
        sh(host, "sed -i 's/^\\(\\s*\\)use_devicesfile = 1/\\1use_devicesfile = 0/' /etc/lvm/lvm.conf; rm -f /etc/lvm/devices/system.devices")
        wipe(host, device)
        wipe(host, other)


def test_a_mounted_disk_and_a_disk_held_by_a_running_array_are_refused(host, request, tmp_path):
    device = by_serial(CASE_DISK, host)
    members = [by_serial(serial, host) for serial in ("VIRT0003", "VIRT0004")]
    wipe(host, device)
    sh(host, "mkfs.ext4 -q -F %s && mkdir -p /mnt/lab-guard && mount %s /mnt/lab-guard" % (device, device))
    sh(host, "mdadm --create /dev/md8 --run --assume-clean --level=1 --raid-devices=2 --bitmap=none %s %s" % tuple(members))
    try:
        result = guard(request, tmp_path, disks=[CASE_DISK, "VIRT0003"])
        lines = {line.split(" ", 1)[0]: line for line in result["refused"]}
        assert "mounted at /mnt/lab-guard" in lines[CASE_DISK] and "in use" in lines[CASE_DISK]
        assert "held by md8" in lines["VIRT0003"] and "in use" in lines["VIRT0003"]
        for environment, line in standalone_refusals(host, CASE_DISK).items():
            assert "mounted at /mnt/lab-guard" in line, environment
        for environment, line in standalone_refusals(host, "VIRT0003").items():
            assert "held by md8" in line, environment
    finally:
        sh(host, "umount /mnt/lab-guard; mdadm --stop /dev/md8")
        for disk in [device] + members:
            wipe(host, disk)


def test_blank_disks_pass_and_an_allow_listed_serial_passes(host, request, tmp_path):
    device = by_serial(CASE_DISK, host)
    wipe(host, device)
    blank = guard(request, tmp_path, disks=[CASE_DISK, "IDE0001"])
    assert blank.get("failed") is not True and blank["passed"] is True
    assert {disk["name"]: disk["verdict"] for disk in blank["disks"]} == {CASE_DISK: "blank", "IDE0001": "blank"}
    for busybox in (False, True):
        rc, lines = standalone(host, "--disk", CASE_DISK, "--disk", "IDE0001", busybox=busybox)
        assert rc == 0 and lines[:2] == ["%s (%s): blank" % (CASE_DISK, device), "IDE0001 (%s): blank" % by_serial("IDE0001", host)]
    sh(host, "mkfs.ext4 -q -F %s" % device)
    try:
        allowed = guard(request, tmp_path, disks=[CASE_DISK], allow=[CASE_DISK])
        assert allowed["passed"] is True and allowed["disks"][0]["verdict"] == "allowed"
        assert "ext4" in [item.get("type") for item in allowed["disks"][0]["evidence"]]
        by_kernel_name = guard(request, tmp_path, disks=[CASE_DISK], allow=[device])
        assert by_kernel_name["failed"] is True and "kernel names such as /dev/sdX" in by_kernel_name["msg"]
        for busybox in (False, True):
            rc, lines = standalone(host, "--disk", CASE_DISK, "--allow", by_id_path(CASE_DISK), busybox=busybox)
            assert rc == 0 and lines[0].startswith("%s (%s): allowed by %s" % (CASE_DISK, device, by_id_path(CASE_DISK)))
            rc, lines = standalone(host, "--disk", CASE_DISK, "--allow", device, busybox=busybox)
            assert rc == 2 and "kernel names such as /dev/sdX" in lines[0]
    finally:
        wipe(host, device)


def test_a_listed_disk_that_does_not_exist_fails_naming_it(host, request, tmp_path):
    result = guard(request, tmp_path, disks=["IDE0001", "NOSUCHSERIAL"])
    assert result["failed"] is True
    assert result["msg"] == "no whole disk on this host is named NOSUCHSERIAL; nothing was checked for it"
    for busybox in (False, True):
        rc, lines = standalone(host, "--disk", "IDE0001", "--disk", "NOSUCHSERIAL", busybox=busybox)
        assert rc == 2 and lines[0] == result["msg"]


def test_the_standalone_gate_names_disks_as_the_module_does(host):
    """Both resolve --disk and the allow list against the same serials, WWNs and by-id links."""
    expected = {entry["kernel_name"]: (entry["serial"] or "", entry["wwn"] or "", sorted(entry["by_id"]))
                for entry in gather(host, subset="disks")["devices"] if entry["type"] == "disk"}
    for busybox in (False, True):
        result = host.run("%s %s --list" % (BUSYBOX if busybox else "sh", GATE))
        listed = {}
        for line in result.stdout.splitlines():
            name, serial, wwn, *links = line.split("\t")
            listed[name] = (serial, wwn, sorted(links))
        assert result.rc == 0 and listed == expected, busybox


def rendered_commands(host) -> dict[str, str]:
    """Each installer's command as the installer would run it, taken from the rendered snippets."""
    kickstart = sh(host, "cat %s/kickstart-pre.ks" % RENDERED).split("\n")
    start = next(i for i, line in enumerate(kickstart) if line.startswith("%pre"))
    pre_body = "\n".join(kickstart[start + 1:kickstart.index("%end")])
    preseed = next(line for line in sh(host, "cat %s/preseed-early-command.cfg" % RENDERED).splitlines()
                   if line.startswith("d-i partman/early_command string "))
    autoinstall = yaml.safe_load(sh(host, "cat %s/autoinstall-early-commands.yaml" % RENDERED))
    return {"kickstart": pre_body, "preseed": preseed.split(" string ", 1)[1],
            "autoinstall": autoinstall["autoinstall"]["early-commands"][0]}


def run_installer_command(host, installer: str, command: str):
    encoded = base64.b64encode(command.encode()).decode()
    sh(host, "echo %s | base64 -d > /tmp/installer-command" % encoded)
    if installer == "preseed":
        # The Debian installer: busybox, and converge.yml's preseed_fetch that serves the rendered directory.
        return host.run("%s /tmp/installer-command" % BUSYBOX)
    if installer == "kickstart":
        return host.run("sh /tmp/installer-command")  # Anaconda runs the %pre body with --interpreter
    return host.run("sh -c \"$(cat /tmp/installer-command)\"")  # subiquity runs each entry with sh -c


def test_each_rendered_installer_snippet_passes_blank_disks_and_stops_on_data(host):
    device = by_serial(CASE_DISK, host)
    other = by_serial("VIRT0002", host)
    wipe(host, device)
    wipe(host, other)
    commands = rendered_commands(host)
    assert sorted(commands) == ["autoinstall", "kickstart", "preseed"]
    for installer, command in commands.items():
        result = run_installer_command(host, installer, command)
        assert result.rc == 0, (installer, result.stdout, result.stderr)
        assert script_lines(result.stdout)[:2] == ["%s (%s): blank" % (CASE_DISK, device), "VIRT0002 (%s): blank" % other]
    sh(host, "mkfs.ext4 -q -F %s" % device)
    try:
        before = hash_devices(host, [device, other])
        for installer, command in commands.items():
            result = run_installer_command(host, installer, command)
            lines = script_lines(result.stdout)
            assert result.rc == 1, (installer, result.stdout, result.stderr)
            assert lines[0].startswith("%s (%s): " % (CASE_DISK, device)) and lines[1] == "VIRT0002 (%s): blank" % other, lines
            if installer != "preseed":
                assert lines[0] == "%s (%s): ext4 at offset 1080" % (CASE_DISK, device)
        assert hash_devices(host, [device, other]) == before
    finally:
        wipe(host, device)


# Signatures wiped, data left: what `wipefs -a` by mistake leaves behind. Each case writes to $D
# (whose size in bytes is $SIZE); the gate sees no signature and the edges are zero, so only its
# samples can find the data. SEED makes the module and the script read the same offsets.
SEED = 424242
MIB = 1 << 20
WIPED_CASES = [
    ("4 KiB just past the first MiB", "head -c 4096 /dev/urandom | dd of=$D bs=4096 seek=256 oflag=direct status=none"),
    ("4 KiB in the middle", "head -c 4096 /dev/urandom | dd of=$D bs=4096 seek=$((SIZE / 8192 - 1)) oflag=direct status=none"),
    ("4 KiB just before the last MiB",
     "head -c 4096 /dev/urandom | dd of=$D bs=4096 seek=$(((SIZE - 1048576) / 4096 - 1)) oflag=direct status=none"),
    ("an ext4 with files, signatures wiped", "mkfs.ext4 -q -F $D && mkdir -p /mnt/lab-guard && mount $D /mnt/lab-guard && "
     "for n in 1 2 3 4; do head -c 3000000 /dev/urandom > /mnt/lab-guard/file$n; done && umount /mnt/lab-guard && wipefs -a -q $D && "
     "dd if=/dev/zero of=$D bs=1M count=1 oflag=direct status=none"),
]
WIPED_DISKS = ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004")


@pytest.fixture(scope="module")
def wiped(host, request, tmp_path_factory) -> dict:
    """The module (sampling off, then on) and both standalone gates on the wiped disks and one blank disk."""
    devices = {serial: by_serial(serial, host) for serial in WIPED_DISKS + ("IDE0001",)}
    for device in devices.values():
        wipe(host, device)
    for (case, write), serial in zip(WIPED_CASES, WIPED_DISKS):
        sh(host, "set -e; D=%s; SIZE=$(blockdev --getsize64 $D); %s; udevadm settle" % (devices[serial], write))
    before = hash_devices(host, list(devices.values()))
    serials = list(devices)
    unsampled = guard(request, tmp_path_factory.mktemp("guard"), disks=serials, sample_count=0)
    sampled = guard(request, tmp_path_factory.mktemp("guard"), disks=serials, sample_seed=SEED)
    disk_args = [arg for serial in serials for arg in ("--disk", serial)] + ["--sample-seed", str(SEED)]
    script = {environment: standalone(host, *disk_args, busybox=environment == "busybox") for environment in ("util-linux", "busybox")}
    after = hash_devices(host, list(devices.values()))
    for device in devices.values():
        wipe(host, device)
    return {"devices": devices, "unsampled": unsampled, "sampled": sampled, "script": script,
            "unchanged": before == after}


def test_data_left_after_its_signatures_were_wiped_is_found_by_the_samples(wiped):
    unsampled = {disk["name"]: disk["verdict"] for disk in wiped["unsampled"]["disks"]}
    assert unsampled == {serial: "blank" for serial in wiped["devices"]}  # what the gate said without samples
    sampled = {disk["name"]: disk for disk in wiped["sampled"]["disks"]}
    assert wiped["sampled"]["sample_seed"] == SEED and wiped["sampled"]["passed"] is False
    assert sampled["IDE0001"]["verdict"] == "blank" and sampled["IDE0001"]["samples_read"] > 256
    for (case, _write), serial in zip(WIPED_CASES, WIPED_DISKS):
        evidence = sampled[serial]["evidence"]
        assert sampled[serial]["verdict"] == "refused" and evidence[0]["where"] == "sample", (case, evidence)
        where = "sampled at offset %d, no known signature" % evidence[0]["offset"]
        for environment, (rc, lines) in wiped["script"].items():
            line = next(line for line in lines if line.startswith(serial + " "))
            assert rc == 1 and where in line, (case, environment, line)
    assert wiped["unchanged"], "the gates changed a disk they only had to read"


def test_a_label_that_is_not_utf8_leaves_every_disk_with_a_verdict(host, request, tmp_path):
    """A FAT label of the bytes E5 E5 E5: one disk's odd bytes must not cost the others their verdicts."""
    device = by_serial(CASE_DISK, host)
    wipe(host, device)
    # The label in both boot sectors, and in the root directory's label entry, where FAT writes a
    # leading byte E5 as 05 (E5 there marks a deleted entry): blkid then reports LABEL as E5 E5 E5.
    sh(host, "mkfs.vfat -n LBLXYZ %s >/dev/null && python3 -c \"import re, sys; d = open(sys.argv[1], 'r+b'); data = d.read(32 << 20); "
             "hits = [match.start() for match in re.finditer(b'LBLXYZ', data)]; "
             "[(d.seek(i), d.write(b'\\\\x05\\\\xe5\\\\xe5   ' if i == hits[-1] else b'\\\\xe5\\\\xe5\\\\xe5   ')) for i in hits]\" %s "
             "&& udevadm settle" % (device, device))
    try:
        label = sh(host, "blkid -p -s LABEL -o value %s | od -An -tx1 | tr -d ' \\n'" % device)
        assert label.startswith("e5e5e5"), label  # the bytes really are on the disk, as the incident had them
        result = guard(request, tmp_path, disks=[CASE_DISK, "VIRT0002", "IDE0001"])
        verdicts = {disk["name"]: disk["verdict"] for disk in result["disks"]}
        assert verdicts == {CASE_DISK: "refused", "VIRT0002": "blank", "IDE0001": "blank"}, result
        vfat = next(item for item in result["disks"][0]["evidence"] if item.get("type") == "vfat")
        assert "\\xe5\\xe5\\xe5" in vfat["detail"].lower(), vfat
    finally:
        wipe(host, device)
