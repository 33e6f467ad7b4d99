# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recipe of the lab guest's image: Debian bookworm from debootstrap, imaged with mke2fs.

This file is what the image is made of, so the image cache is keyed by its hash
(labcache.image_source_hash): edit it and the next ``lab build`` builds a new image.
Keep plumbing that does not change the image in labhost.py or labcache.py.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from labhost import BuildError, find_mirror, mounts_under, remove_tree_safely, run_step

SUITE = "bookworm"
GUEST_HOSTNAME = "lifeline-lab"
ROOT_LABEL = "root"
ROOT_SIZE = "3G"
GUEST_PACKAGES = (
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "mdadm",
    "lvm2",
    "smartmontools",
    "cryptsetup",
    "openssh-server",
    "python3",
    "e2fsprogs",
    # Partition tables and the file systems the disks subset and the pre-install gate must recognise.
    "fdisk",
    "gdisk",
    "xfsprogs",
    "dosfstools",
    "btrfs-progs",
    # The shell the Debian installer runs its preseed commands in: the standalone gate is run under it.
    "busybox",
    "kmod",
    "initramfs-tools",
    "iproute2",
    "ifupdown",
    "isc-dhcp-client",
    "nvme-cli",
)
# Versions recorded in build-info.json, so a test failure can be read against them.
RECORDED_PACKAGES = ("mdadm", "lvm2", "smartmontools", "linux-image-amd64", "nvme-cli")
# Units that only cost boot time or start background work a test would trip over.
MASKED_UNITS = (
    "systemd-timesyncd.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "man-db.timer",
    "dpkg-db-backup.timer",
    "logrotate.timer",
    "nvmf-autoconnect.service",  # NVMe over fabrics: there are none
    "getty-static.service",  # gettys on tty2-6: the guest has no display
)
# What a build leaves in its directory (and all a complete image has).
ROOT_IMG = "root.img"
KERNEL = "vmlinuz"
INITRD = "initrd.img"
KEY_NAME = "id_ed25519"
BUILD_INFO = "build-info.json"
OUTPUT_FILES = (ROOT_IMG, KERNEL, INITRD, KEY_NAME, KEY_NAME + ".pub", BUILD_INFO)

Reporter = Callable[[str], None]


def configure_guest(rootdir: Path, public_key: str, log_file: Path) -> None:
    """LAB.md step 2, plus root SSH by key and a quieter, shorter boot."""
    (rootdir / "etc/hostname").write_text(GUEST_HOSTNAME + "\n")
    (rootdir / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{GUEST_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    (rootdir / "etc/fstab").write_text(f"LABEL={ROOT_LABEL} / ext4 defaults 0 1\n")
    interfaces = rootdir / "etc/network/interfaces"
    interfaces.parent.mkdir(parents=True, exist_ok=True)
    interfaces.write_text(
        "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
        "auto eth0\niface eth0 inet dhcp\n"
    )
    ssh_dir = rootdir / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(public_key)
    (ssh_dir / "authorized_keys").chmod(0o600)
    sshd_drop_in = rootdir / "etc/ssh/sshd_config.d/lifeline-lab.conf"
    sshd_drop_in.parent.mkdir(parents=True, exist_ok=True)
    # UseDNS off: the user-mode network's resolver makes every login wait otherwise.
    sshd_drop_in.write_text("PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    for unit in MASKED_UNITS:
        mask = rootdir / "etc/systemd/system" / unit
        mask.parent.mkdir(parents=True, exist_ok=True)
        if mask.is_symlink() or mask.exists():
            mask.unlink()
        mask.symlink_to("/dev/null")
    # A failed DHCP must not hold the boot for minutes: the serial console still shows it.
    dhclient_conf = rootdir / "etc/dhcp/dhclient.conf"
    if dhclient_conf.is_file():
        dhclient_conf.write_text(dhclient_conf.read_text() + "\ntimeout 30;\n")
    run_step("passwd -d root", ["chroot", str(rootdir), "passwd", "-d", "root"], log_file)


def package_versions(rootdir: Path) -> dict[str, str]:
    """Versions of the recorded packages and of the actual kernel package, read from dpkg's db."""
    admindir = str(rootdir / "var/lib/dpkg")
    listing = subprocess.run(
        ["dpkg-query", f"--admindir={admindir}", "-W", "-f=${Package}\\t${Version}\\t${db:Status-Status}\\n"],
        capture_output=True, text=True, check=False,
    ).stdout
    installed = {}
    for line in listing.splitlines():
        name, version, status = (line.split("\t") + ["", ""])[:3]
        if status == "installed":
            installed[name] = version
    versions = {name: installed.get(name, "not installed") for name in RECORDED_PACKAGES}
    for name, version in installed.items():
        if name.startswith("linux-image-") and name != "linux-image-amd64":
            versions[name] = version
    return versions


def single_file(pattern: str, directory: Path) -> Path:
    matches = sorted(directory.glob(pattern))
    if len(matches) != 1:
        raise BuildError(f"expected exactly one {directory}/{pattern}, found {len(matches)}: {matches}")
    return matches[0]


def build_into(workdir: Path, report: Reporter) -> dict[str, object]:
    """Build the image into an empty workdir; return the facts for build-info.json."""
    started = time.monotonic()
    log_file = workdir / "build.log"
    rootdir = workdir / "rootdir"
    mirror = find_mirror(SUITE)
    report(f"debootstrap {SUITE} from {mirror} into {rootdir} (about 2 minutes)")
    run_step(
        "debootstrap",
        ["debootstrap", "--variant=minbase", "--include=" + ",".join(GUEST_PACKAGES), SUITE, str(rootdir), mirror],
        log_file,
    )
    debootstrap_seconds = time.monotonic() - started
    report(f"debootstrap done in {debootstrap_seconds:.0f}s; configuring the guest")
    run_step("ssh-keygen", ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lifeline-lab",
                            "-f", str(workdir / KEY_NAME)], log_file)
    configure_guest(rootdir, (workdir / (KEY_NAME + ".pub")).read_text(), log_file)
    shutil.rmtree(rootdir / "var/cache/apt/archives", ignore_errors=True)
    (rootdir / "var/cache/apt/archives/partial").mkdir(parents=True)
    shutil.copyfile(single_file("vmlinuz-*", rootdir / "boot"), workdir / KERNEL)
    shutil.copyfile(single_file("initrd.img-*", rootdir / "boot"), workdir / INITRD)
    versions = package_versions(rootdir)
    leftover_mounts = mounts_under(rootdir)
    if leftover_mounts:
        raise BuildError(f"still mounted after debootstrap: {leftover_mounts}: refusing to image {rootdir}")
    report("imaging the root file system with mke2fs -d")
    imaged = time.monotonic()
    run_step("mke2fs", ["mke2fs", "-q", "-t", "ext4", "-d", str(rootdir), "-L", ROOT_LABEL,
                        str(workdir / ROOT_IMG), ROOT_SIZE], log_file)
    mke2fs_seconds = time.monotonic() - imaged
    remove_tree_safely(rootdir)
    build_seconds = time.monotonic() - started
    info: dict[str, object] = {
        "suite": SUITE,
        "mirror": mirror,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(build_seconds, 1),
        "debootstrap_seconds": round(debootstrap_seconds, 1),
        "mke2fs_seconds": round(mke2fs_seconds, 1),
        "packages": versions,
    }
    report(f"image built in {build_seconds:.0f}s")
    return info
