# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recipe of the User-mode Linux variant of the lab image (see labuml.py for why it exists).

The kernel: Debian's ``user-mode-linux`` package from sid, run on trixie's C library. Bookworm's
6.1 and trixie's 6.12 die at the first user process on hosts whose CPUs have AMX ("ptrace set
fp regs failed, errno = 14": the host kernel wants the whole XSAVE area, larger than those UML
kernels' buffer); sid's 7.2 boots there. Its binary needs glibc 2.38, so its ELF interpreter
and library path are pointed at trixie's libc6, unpacked beside it. Both packages come from the
Debian mirror this machine's apt already uses, fetched by apt with the archive keyring, into
the image cache; nothing is installed on the host.

The image: the qemu guest's cached ``root.img``, copied, with five changes made on a loop mount:
the UML kernel's modules tree and its depmod, the modules the scenarios need loaded at boot, a
static address on vec0 (there is no DHCP server on the tap), a udev rule that gives ubd
disks the by-id link and the SERIAL that udev's stock rules give them nowhere, and an apt
source that works without a network. The variant is cached beside its base image, keyed by
this file's hash and the kernel package's version.

The apt source: the UML guest reaches nothing beyond the host's end of its tap, yet the
initramfs scenarios install packages the way an operator's host does (the role's own apt
tasks, dracut replacing initramfs-tools). So the packages of OFFLINE_PACKAGE_SETS, with every
dependency and recommendation the image lacks, are fetched at build time from the same mirror,
resolved by apt against the image's own package database, and kept in the image as a flat
repository that is its only apt source.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labhost import BuildError, find_mirror, run_step

UML_BINARY = "linux.uml"
KERNEL_SUITE = "sid"
LIBC_SUITE = "trixie"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# The tap's side of the point-to-point network inside the test run's own namespace.
HOST_ADDRESS = "192.168.251.1"
GUEST_ADDRESS = "192.168.251.2"
PREFIX_LENGTH = 30
# md-mod and dm-mod are modules in this kernel: /proc/mdstat only exists once md-mod is loaded.
BOOT_MODULES = ("md-mod", "linear", "raid0", "raid1", "raid10", "raid456", "dm-mod", "dm-crypt",
                "dm-snapshot", "dm-mirror", "dm-raid", "dm-thin-pool", "loop")
# Partitions get links as udev's stock rules give virtio partitions (ID_SERIAL comes from the disk).
SERIAL_RULE = (
    'KERNEL=="ubd[a-z]", ENV{DEVTYPE}=="disk", ATTR{serial}=="?*", '
    'ENV{ID_SERIAL}="$attr{serial}", ENV{ID_SERIAL_SHORT}="$attr{serial}", '
    'SYMLINK+="disk/by-id/uml-$attr{serial}"\n'
    'KERNEL=="ubd[a-z][0-9]*", ENV{DEVTYPE}=="partition", ATTRS{serial}=="?*", '
    'SYMLINK+="disk/by-id/uml-$attr{serial}-part%n"\n'
)
# Each set is one apt transaction (dracut conflicts with initramfs-tools, so they cannot be one).
# python3-apt: Ansible's apt module installs it on first use. thin-provisioning-tools: LVM
# checks a thin pool with it before activating one (the lvm_depth scenario). targetcli-fb and
# open-iscsi: the export scenario's iSCSI target on one guest and initiator on another; targetcli
# needs the system D-Bus, which Debian's targetcli-fb does not depend on; sg3-utils sends the
# helper's raw SCSI WRITE that the target must refuse.
OFFLINE_PACKAGE_SETS = (("python3-apt",), ("dropbear-initramfs", "cryptsetup-initramfs"), ("dracut", "dracut-network"),
                        ("thin-provisioning-tools",), ("targetcli-fb", "dbus", "open-iscsi", "sg3-utils"))
GUEST_SUITE = "bookworm"
OFFLINE_REPO = "var/cache/lifeline-lab/repo"
Reporter = Callable[[str], None]


@dataclass(frozen=True)
class UmlKernel:
    """An unpacked, runnable UML kernel in the image cache."""

    directory: Path

    @property
    def binary(self) -> Path:
        return self.directory / "usr/bin" / UML_BINARY

    @property
    def package_version(self) -> str:
        return (self.directory / "package-version").read_text().strip()

    @property
    def modules_root(self) -> Path:
        return self.directory / "usr/lib/uml/modules"

    @property
    def release(self) -> str:
        releases = sorted(path.name for path in self.modules_root.glob("*") if path.is_dir())
        if len(releases) != 1:
            raise BuildError(f"expected one kernel release under {self.modules_root}, found {releases or 'none'}")
        return releases[0]

    def is_complete(self) -> bool:
        return (self.directory / "package-version").is_file() and self.binary.is_file()


def cached_uml_kernel(cache_root: Path) -> UmlKernel | None:
    """The newest complete kernel already in the cache, if any: a run never needs the network twice."""
    found = [UmlKernel(path) for path in sorted(cache_root.glob("uml-kernel-*")) if UmlKernel(path).is_complete()]
    return found[-1] if found else None


def fetch_uml_kernel(cache_root: Path, report: Reporter) -> UmlKernel:
    """Download and unpack the UML kernel and the C library it runs on; point the one at the other."""
    workdir = cache_root / ".fetch-uml-kernel"
    if workdir.exists():
        shutil.rmtree(workdir)
    apt_dir = workdir / "apt"
    (apt_dir / "lists/partial").mkdir(parents=True)
    (apt_dir / "cache/archives/partial").mkdir(parents=True)
    mirror = find_mirror("bookworm")
    (apt_dir / "sources.list").write_text("".join(
        f"deb [signed-by={KEYRING}] {mirror} {suite} main\n" for suite in (KERNEL_SUITE, LIBC_SUITE)))
    (apt_dir / "state").mkdir()
    apt_options = _host_apt_options(apt_dir)
    log_file = workdir / "fetch.log"
    report(f"fetching user-mode-linux ({KERNEL_SUITE}) and libc6 ({LIBC_SUITE}) from {mirror}")
    run_step("apt-get update", ["apt-get", *apt_options, "-q", "update"], log_file, timeout=600)
    debs = workdir / "debs"
    debs.mkdir()
    done = subprocess.run(["apt-get", *apt_options, "-q", "download",
                           f"user-mode-linux/{KERNEL_SUITE}", f"libc6/{LIBC_SUITE}"],
                          cwd=debs, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise BuildError(f"apt-get download of the UML kernel failed (exit {done.returncode}): {done.stderr.strip()}")
    kernel_deb = _single(debs, "user-mode-linux_*.deb")
    version = run_step("read its version", ["dpkg-deb", "-f", str(kernel_deb), "Version"], log_file).strip()
    unpacked = workdir / "kernel"
    run_step("unpack the kernel", ["dpkg-deb", "-x", str(kernel_deb), str(unpacked)], log_file)
    run_step("unpack libc6", ["dpkg-deb", "-x", str(_single(debs, "libc6_*.deb")), str(unpacked / "libc")], log_file)
    kernel = UmlKernel(cache_root / f"uml-kernel-{version}")
    library_dir = kernel.directory / "libc/usr/lib/x86_64-linux-gnu"
    run_step("point the kernel at that libc", ["patchelf", "--set-interpreter", str(library_dir / "ld-linux-x86-64.so.2"),
                                               "--set-rpath", str(library_dir), str(unpacked / "usr/bin" / UML_BINARY)],
             log_file)
    (unpacked / "package-version").write_text(version + "\n")
    if kernel.directory.exists():
        shutil.rmtree(kernel.directory)
    unpacked.rename(kernel.directory)  # the interpreter path above is this directory's
    shutil.rmtree(workdir)
    report(f"UML kernel {version} ({kernel.release}) unpacked in {kernel.directory}")
    return kernel


def _single(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        raise BuildError(f"expected one {pattern} in {directory}, found {[path.name for path in found]}")
    return found[0]


def _host_apt_options(apt_dir: Path) -> list[str]:
    """apt on the host, confined to apt_dir: its own sources, lists, cache and state."""
    return [f"-o=Dir::Etc::SourceList={apt_dir / 'sources.list'}", "-o=Dir::Etc::SourceParts=/dev/null",
            "-o=Dir::Etc::Preferences=/dev/null", "-o=Dir::Etc::PreferencesParts=/dev/null",
            f"-o=Dir::State={apt_dir / 'state'}", f"-o=Dir::State::Lists={apt_dir / 'lists'}",
            f"-o=Dir::Cache={apt_dir / 'cache'}", "-o=APT::Sandbox::User=root"]


def fetch_offline_packages(image_status: Path, destination: Path, workdir: Path, log_file: Path) -> list[str]:
    """Download what installing each of OFFLINE_PACKAGE_SETS on the image would fetch; names of the .debs.

    apt resolves against the image's dpkg status (not the host's), with recommendations, as the
    guest's own apt would; --download-only leaves the host untouched.
    """
    apt_dir = workdir / "offline-apt"
    for directory in ("lists/partial", "cache/archives/partial", "state"):
        (apt_dir / directory).mkdir(parents=True, exist_ok=True)
    (apt_dir / "state/extended_states").touch()
    mirror = find_mirror(GUEST_SUITE)
    (apt_dir / "sources.list").write_text(f"deb [signed-by={KEYRING}] {mirror} {GUEST_SUITE} main\n")
    options = [*_host_apt_options(apt_dir), f"-o=Dir::State::status={image_status}"]
    run_step(f"apt-get update ({GUEST_SUITE}, for the offline repository)", ["apt-get", *options, "-q", "update"],
             log_file, timeout=600)
    destination.mkdir(parents=True, exist_ok=True)
    (destination / "partial").mkdir(exist_ok=True)
    for packages in OFFLINE_PACKAGE_SETS:
        run_step(f"download {' '.join(packages)} and what they need",
                 ["apt-get", *options, f"-o=Dir::Cache::archives={destination}", "-q", "-y",
                  "install", "--download-only", *packages], log_file, timeout=600)
    shutil.rmtree(destination / "partial")
    (destination / "lock").unlink(missing_ok=True)
    return sorted(path.name for path in destination.glob("*.deb"))


def write_packages_index(repository: Path, log_file: Path) -> None:
    """The Packages file of a flat repository: each .deb's control fields, its file name, size and sha256."""
    stanzas = []
    for deb in sorted(repository.glob("*.deb")):
        control = run_step(f"read {deb.name}'s control fields", ["dpkg-deb", "-f", str(deb)], log_file).rstrip("\n")
        content = deb.read_bytes()
        stanzas.append(f"{control}\nFilename: ./{deb.name}\nSize: {len(content)}\n"
                       f"SHA256: {hashlib.sha256(content).hexdigest()}\n")
    (repository / "Packages").write_text("\n".join(stanzas))


def install_offline_repository(mount_point: Path, workdir: Path, log_file: Path) -> None:
    """The flat repository in the image and its only apt source; the image's lists rebuilt from it."""
    repository = mount_point / OFFLINE_REPO
    if repository.exists():
        shutil.rmtree(repository)
    names = fetch_offline_packages(mount_point / "var/lib/dpkg/status", repository, workdir, log_file)
    if not names:
        raise BuildError("the offline repository would be empty: apt fetched no package for "
                         f"{OFFLINE_PACKAGE_SETS}")
    write_packages_index(repository, log_file)
    (mount_point / "etc/apt/sources.list").write_text(
        "# The lab's UML guest has no route beyond its host: packages come from this copy, made when\n"
        "# the image was built (tests/lab/labumlimage.py).\n"
        f"deb [trusted=yes] file:/{OFFLINE_REPO} ./\n")
    for extra in (mount_point / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()
    for stale in (mount_point / "var/lib/apt/lists").glob("*_dists_*"):
        stale.unlink()
    run_step("apt-get update in the image (offline repository)", ["chroot", str(mount_point), "apt-get", "-q", "update"],
             log_file, timeout=300)


def configure_uml_root(mount_point: Path, kernel: UmlKernel, log_file: Path) -> None:
    """The first four changes, applied to a mounted copy of the qemu guest's root file system."""
    release = kernel.release
    modules = mount_point / "lib/modules" / release
    if modules.exists():
        shutil.rmtree(modules)
    shutil.copytree(kernel.modules_root / release, modules, symlinks=True)
    run_step("depmod", ["chroot", str(mount_point), "depmod", release], log_file)
    (mount_point / "etc/modules-load.d/lifeline-uml.conf").write_text("\n".join(BOOT_MODULES) + "\n")
    (mount_point / "etc/network/interfaces").write_text(
        "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n"
        f"auto vec0\niface vec0 inet static\n  address {GUEST_ADDRESS}/{PREFIX_LENGTH}\n"
        f"  gateway {HOST_ADDRESS}\n"
    )
    (mount_point / "etc/udev/rules.d/60-lifeline-uml-serial.rules").write_text(SERIAL_RULE)


def build_uml_root(base_root_img: Path, kernel: UmlKernel, output: Path, report: Reporter) -> None:
    """Write the UML variant of base_root_img to output (atomically: a temp file renamed into place)."""
    started = time.monotonic()
    workdir = output.parent / f".build-{output.name}"
    if workdir.exists():
        _unmount_quietly(workdir / "mnt")
        shutil.rmtree(workdir)
    (workdir / "mnt").mkdir(parents=True)
    log_file = workdir / "build.log"
    image = workdir / output.name
    try:
        run_step("copy the root image", ["cp", "--sparse=always", str(base_root_img), str(image)], log_file)
        run_step("loop-mount it", ["mount", "-o", "loop", str(image), str(workdir / "mnt")], log_file)
        try:
            configure_uml_root(workdir / "mnt", kernel, log_file)
            install_offline_repository(workdir / "mnt", workdir, log_file)
        finally:
            run_step("unmount it", ["umount", str(workdir / "mnt")], log_file)
        image.rename(output)
    except BuildError as exc:
        raise BuildError(f"UML image: {exc} (log: {log_file})") from exc
    shutil.rmtree(workdir)
    report(f"UML image built in {time.monotonic() - started:.0f}s (kernel {kernel.release})")


def _unmount_quietly(mount_point: Path) -> None:
    subprocess.run(["umount", "--lazy", str(mount_point)], capture_output=True, check=False)
