# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proves the lab works end to end on this machine, and prints what it measured.

    python3 tests/lab/selfcheck.py [--ansible PATH/TO/ansible] [--keep-up]

Builds (or reuses) the image, boots a fresh guest and checks in it: the disks under their
serials, md, SMART on IDE and NVMe, an md RAID1 create/stop, hot-unplug and replug of a
virtio and the NVMe disk, cutting and restoring the link, optionally `ansible -m ping`,
then down and a second (cached) up. Not a pytest file: it takes minutes and a VM.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable

from lablib import Lab, LabError
from labqemu import DATA_DISKS


class CheckFailed(Exception):
    pass


def guest(lab: Lab, command: str, expect_rc: int = 0) -> str:
    rc, out, err = lab.ssh_run(command)
    if rc != expect_rc:
        raise CheckFailed(f"`{command}` exited {rc} (expected {expect_rc}): {err.strip() or out.strip()}")
    return out


def kernel_names(lab: Lab) -> dict[str, str]:
    """by-id name -> kernel name, as the guest resolves them now."""
    out = guest(lab, "for l in /dev/disk/by-id/*; do echo \"${l##*/} $(basename $(readlink -f $l))\"; done")
    return dict(line.split() for line in out.splitlines())


def check_disks_by_serial(lab: Lab) -> str:
    names = kernel_names(lab)
    wrong = []
    for disk in DATA_DISKS:
        actual = names.get(disk.by_id)
        if actual != disk.kernel_name_at_boot:
            wrong.append(f"{disk.by_id}: expected {disk.kernel_name_at_boot}, found {actual}")
    if wrong:
        raise CheckFailed("; ".join(wrong))
    return ", ".join(f"{d.by_id}={names[d.by_id]}" for d in DATA_DISKS)


def check_md_and_smart(lab: Lab) -> str:
    guest(lab, "test -e /proc/mdstat")
    version = guest(lab, "mdadm --version 2>&1").strip()
    report = json.loads(guest(lab, "smartctl -j -a /dev/disk/by-id/ata-QEMU_HARDDISK_IDE0001"))
    if not report.get("smart_status", {}).get("passed"):
        raise CheckFailed(f"smartctl -j -a on IDE0001: no passed smart_status: {report.get('smart_status')}")
    guest(lab, "smartctl -a /dev/nvme0n1 | grep -q 'SMART overall-health self-assessment test result: PASSED'")
    return version


def check_raid1_create(lab: Lab) -> str:
    members = "/dev/disk/by-id/virtio-VIRT0001 /dev/disk/by-id/virtio-VIRT0002"
    guest(lab, f"mdadm --create /dev/md0 --run --level=1 --raid-devices=2 {members}")
    mdstat = guest(lab, "cat /proc/mdstat")
    if "md0 : active raid1" not in mdstat:
        raise CheckFailed(f"md0 not active after create:\n{mdstat}")
    guest(lab, f"mdadm --stop /dev/md0 && mdadm --zero-superblock {members}")
    return "md0 raid1 created, stopped, superblocks zeroed"


def check_unplug_replug(lab: Lab, device_id: str) -> str:
    disk = next(d for d in DATA_DISKS if d.device_id == device_id)
    started = time.monotonic()
    lab.unplug(device_id)
    unplug_s = time.monotonic() - started
    if disk.by_id in kernel_names(lab):
        raise CheckFailed(f"{disk.by_id} still in the guest after unplug")
    started = time.monotonic()
    lab.replug(device_id)
    replug_s = time.monotonic() - started
    back = kernel_names(lab).get(disk.by_id)
    serial = guest(lab, f"lsblk -dno SERIAL /dev/{back}").strip()
    if serial != disk.serial:
        raise CheckFailed(f"{device_id} came back as {back} with serial {serial!r}, not {disk.serial}")
    return f"unplug {unplug_s:.1f}s, replug {replug_s:.1f}s, back as {back} serial {serial}"


def check_link(lab: Lab) -> str:
    lab.set_link(False)
    rc = lab.ssh_run("true", connect_timeout=5, timeout=30)[0]
    lab.set_link(True)
    if rc == 0:
        raise CheckFailed("SSH still worked with the link off")
    guest(lab, "true")
    return f"link off: ssh rc {rc}; link on: ssh ok"


def check_ansible_ping(lab: Lab, ansible: str) -> str:
    done = subprocess.run([ansible, "-i", str(lab.inventory), "all", "-m", "ping"],
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or '"pong"' not in done.stdout:
        raise CheckFailed(f"ansible ping failed (exit {done.returncode}): {done.stdout}{done.stderr}")
    return "pong"


def check_down_cleans(lab: Lab) -> str:
    lab.down()
    left = [p for p in [lab.pid_file, lab.qmp_socket, lab.root_overlay,
                        *(d.qcow2_path(lab.state_dir) for d in DATA_DISKS)] if p.exists()]
    if left or lab.is_running():
        raise CheckFailed(f"after down: running={lab.is_running()}, left behind: {left}")
    lab.down()  # idempotent
    return "stopped, overlay and data disks removed"


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--ansible", help="an ansible binary to run `-m ping` against the guest with")
    options.add_argument("--keep-up", action="store_true", help="leave the guest running at the end")
    args = options.parse_args()
    lab = Lab()
    results: list[tuple[str, str]] = []

    def step(name: str, check: Callable[[], str]) -> None:
        started = time.monotonic()
        outcome = check()
        results.append((name, f"{outcome} [{time.monotonic() - started:.1f}s]"))
        print(f"ok   {name}: {outcome}", flush=True)

    try:
        step("build", lambda: f"image {lab.build().directory.name}, built in "
                              f"{lab.image().build_info()['build_seconds']}s")
        lab.down()
        step("up (fresh)", lambda: f"SSH after {lab.up().seconds_to_ssh:.1f}s")
        step("up (already running)", lambda: f"no-op: {lab.up().already_running}")
        step("disks by serial", lambda: check_disks_by_serial(lab))
        step("md and SMART", lambda: check_md_and_smart(lab))
        step("mdadm --create raid1", lambda: check_raid1_create(lab))
        step("unplug/replug vd2", lambda: check_unplug_replug(lab, "vd2"))
        step("unplug/replug nvme1", lambda: check_unplug_replug(lab, "nvme1"))
        step("link off/on", lambda: check_link(lab))
        if args.ansible:
            step("ansible ping", lambda: check_ansible_ping(lab, args.ansible))
        step("down", lambda: check_down_cleans(lab))
        step("second up (cached image)", lambda: f"SSH after {lab.up().seconds_to_ssh:.1f}s")
        step("disks by serial after reboot", lambda: check_disks_by_serial(lab))
    except (CheckFailed, LabError) as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        print(f"console log: {lab.console_log}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_up:
            lab.down()
    print(json.dumps(dict(results), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
