# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab guest's QEMU is made of: its disks, their serials and PCI slots, its command line.

Every disk is a ``-blockdev`` node plus a ``-device`` with a fixed id, serial and slot, so
QMP ``device_del`` can pull the device while its node stays, and ``device_add`` with the very
same properties plugs it back where it was (legacy ``-drive`` would delete the node too).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

GUEST_NETDEV = "n0"
ROOT_DEVICE_ID = "root"
KERNEL_COMMAND_LINE = "root=LABEL=root rw console=ttyS0 net.ifnames=0 panic=-1"
QEMU_BINARY = "qemu-system-x86_64"


@dataclass(frozen=True)
class DataDisk:
    """One data disk as the host plugs it and as the guest names it."""

    device_id: str
    serial: str
    bus: str  # virtio | ide | nvme
    driver: str
    placement: tuple[tuple[str, str], ...]  # bus/addr or bus/unit properties
    by_id: str  # name under /dev/disk/by-id in the guest
    kernel_name_at_boot: str  # what the guest kernel calls it after a fresh boot (verified, see README)

    @property
    def node_name(self) -> str:
        return f"disk-{self.device_id}"

    @property
    def hotpluggable(self) -> bool:
        return self.bus != "ide"  # QEMU's IDE bus has no hot-plug

    def device_properties(self) -> dict[str, str]:
        """Properties for ``-device`` and for QMP ``device_add`` alike."""
        return {"driver": self.driver, "id": self.device_id, "drive": self.node_name,
                "serial": self.serial, **dict(self.placement)}

    def qcow2_path(self, state_dir: Path) -> Path:
        return state_dir / f"{self.device_id}.qcow2"


def _virtio(index: int, slot: int) -> DataDisk:
    serial = f"VIRT000{index}"
    return DataDisk(f"vd{index}", serial, "virtio", "virtio-blk-pci",
                    (("bus", "pci.0"), ("addr", hex(slot))), f"virtio-{serial}", "vd" + "bcde"[index - 1])


def _extra_nvme_disks(count_text: str) -> tuple[DataDisk, ...]:
    """NVMe disks nvme2.. beyond the standard set, for benchmarks that need many SMART disks.

    Their kernel names depend on probe order and are not verified; nothing may rely on them.
    """
    count = int(count_text or "0")
    if not 0 <= count <= 8:
        raise ValueError(f"LIFELINE_LAB_EXTRA_NVME must be 0..8, got {count}")
    return tuple(DataDisk(f"nvme{n}", f"NVME{n:04d}", "nvme", "nvme", (("bus", "pci.0"), ("addr", hex(0x9 + n - 1))),
                          f"nvme-QEMU_NVMe_Ctrl_NVME{n:04d}", f"nvme{n - 1}n1") for n in range(2, count + 2))


# The root disk sits in slot 0x4, before every data disk, so it is probed first and is vda.
ROOT_PLACEMENT = (("bus", "pci.0"), ("addr", "0x4"))
NET_PLACEMENT = (("bus", "pci.0"), ("addr", "0x3"))
DATA_DISKS: tuple[DataDisk, ...] = (
    _virtio(1, 0x5),
    _virtio(2, 0x6),
    _virtio(3, 0x7),
    _virtio(4, 0x8),
    DataDisk("ide1", "IDE0001", "ide", "ide-hd", (("bus", "ide.0"), ("unit", "0")),
             "ata-QEMU_HARDDISK_IDE0001", "sda"),
    DataDisk("ide2", "IDE0002", "ide", "ide-hd", (("bus", "ide.1"), ("unit", "0")),
             "ata-QEMU_HARDDISK_IDE0002", "sdb"),
    DataDisk("nvme1", "NVME0001", "nvme", "nvme", (("bus", "pci.0"), ("addr", "0x9")),
             "nvme-QEMU_NVMe_Ctrl_NVME0001", "nvme0n1"),
) + _extra_nvme_disks(os.environ.get("LIFELINE_LAB_EXTRA_NVME", "0"))


def guest_command_line(extra: str = "") -> str:
    """The lab's kernel command line with the caller's words after it (later words win in the kernel)."""
    words = extra.split()
    for word in words:
        if word.split("=", 1)[0] in ("root", "console"):
            raise ValueError(f"{word!r}: the lab sets root= and console= itself")
    return " ".join([KERNEL_COMMAND_LINE, *words])


def data_disk(device_id: str) -> DataDisk:
    for disk in DATA_DISKS:
        if disk.device_id == device_id:
            return disk
    known = ", ".join(disk.device_id for disk in DATA_DISKS)
    raise KeyError(f"no data disk with id {device_id!r} (known: {known})")


def device_option(properties: dict[str, str]) -> str:
    """``driver,key=value,...`` as ``-device`` wants it."""
    rest = ",".join(f"{key}={value}" for key, value in properties.items() if key != "driver")
    return f"{properties['driver']},{rest}"


def qcow2_blockdev(node_name: str, path: Path) -> str:
    # JSON, not key=value: a path with a comma would break the key=value form.
    return json.dumps({"driver": "qcow2", "node-name": node_name,
                       "file": {"driver": "file", "filename": str(path)}})


@dataclass(frozen=True)
class GuestLaunch:
    """Everything the QEMU command line depends on."""

    kernel: Path
    initrd: Path
    root_overlay: Path
    state_dir: Path
    pid_file: Path
    qmp_socket: Path
    console_log: Path
    ssh_port: int
    initrd_ssh_port: int
    command_line: str = KERNEL_COMMAND_LINE
    # Stopped before the first instruction, so QMP can cut the link before the guest sees it up.
    start_paused: bool = False

    def argv(self) -> list[str]:
        return [
            QEMU_BINARY, "-name", "lifeline-lab",
            "-machine", "pc", "-accel", "tcg,thread=multi", "-cpu", "max", "-m", "1024", "-smp", "2",
            "-nodefaults", "-display", "none", "-no-reboot",
            "-daemonize", "-pidfile", str(self.pid_file),
            "-serial", f"file:{self.console_log}",
            "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
            "-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.command_line,
            *(["-S"] if self.start_paused else []),
            *self._root_disk(), *self._data_disks(), *self._network(),
        ]

    def _root_disk(self) -> list[str]:
        node = "disk-root"
        properties = {"driver": "virtio-blk-pci", "id": ROOT_DEVICE_ID, "drive": node,
                      "serial": "LABROOT", **dict(ROOT_PLACEMENT)}
        return ["-blockdev", qcow2_blockdev(node, self.root_overlay), "-device", device_option(properties)]

    def _data_disks(self) -> list[str]:
        args: list[str] = []
        for disk in DATA_DISKS:
            args += ["-blockdev", qcow2_blockdev(disk.node_name, disk.qcow2_path(self.state_dir)),
                     "-device", device_option(disk.device_properties())]
        return args

    def _network(self) -> list[str]:
        forwards = (f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
                    f"hostfwd=tcp:127.0.0.1:{self.initrd_ssh_port}-:2222")
        net = {"driver": "virtio-net-pci", "id": "net0", "netdev": GUEST_NETDEV, **dict(NET_PLACEMENT)}
        return ["-netdev", f"user,id={GUEST_NETDEV},{forwards}", "-device", device_option(net)]
