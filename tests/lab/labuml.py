# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab guest under User-mode Linux: the same Debian root, md, LVM and device-mapper at host speed.

Under qemu's TCG every guest instruction is emulated: an Ansible ``ping`` takes 5.5-6.8 s and a
module run 10 s or more. A UML kernel runs the same root file system as ordinary host
processes (``ping`` 1.2-1.7 s, shared/LAB.md). It has no SMART, no NVMe or IDE disk, no
hot-unplug and no initramfs boot, so scenarios that need those stay on qemu
(``extensions/molecule/backends.txt``).

Network: UML reaches the host through a tap device, which lives in a network namespace that
this guest creates for itself (named from its state directory, so two test runs never meet)
and deletes when it stops. SSH reaches it through a relay: a socket bound to 127.0.0.1 in the
host's namespace, handed to a process inside the guest's namespace that connects onward, so
ssh, Ansible and molecule see the same 127.0.0.1:PORT as with qemu.

Private network (LIFELINE_LAB_PRIVATE_NET=NAME): guests started with the same NAME share one
Ethernet segment, a bridge in a namespace of its own. Each guest's second NIC (vec1) is a tap
in the guest's namespace, bridged there to a veth whose peer is a port of that bridge. (A raw
socket on the veth read each frame the guest sent back into it, and an iSCSI read of 4 MiB
blocks through it stalled; the tap is vec0's proven path.) The bridge itself has the address
PRIVATE_HOST_ADDRESS, a peer on the segment that no guest names. The last guest to stop
deletes the namespace.
"""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from labumlimage import GUEST_ADDRESS, HOST_ADDRESS, PREFIX_LENGTH, UML_BINARY

RELAY_SCRIPT = Path(__file__).resolve().parent / "labrelay.py"
MEMORY = "1G"
# The host's own address on a private network's bridge; guests choose theirs in the same /24.
PRIVATE_HOST_ADDRESS = "10.251.0.254"
PRIVATE_PREFIX_LENGTH = 24
PRIVATE_BRIDGE = "llbr"


@dataclass(frozen=True)
class UmlDisk:
    """A data disk of the UML guest: a sparse raw file, with the serial of its qemu counterpart."""

    device_id: str
    serial: str
    ubd_index: int

    @property
    def by_id(self) -> str:
        return f"uml-{self.serial}"

    @property
    def kernel_name_at_boot(self) -> str:
        return "ubd" + "abcdefgh"[self.ubd_index]

    def image_path(self, state_dir: Path) -> Path:
        return state_dir / f"{self.device_id}.img"


# The qemu lab's serials, so a scenario names the same disks on either backend; ubd0 is the root.
UML_DISKS = tuple(UmlDisk(device_id, serial, index) for index, (device_id, serial) in enumerate((
    ("vd1", "VIRT0001"), ("vd2", "VIRT0002"), ("vd3", "VIRT0003"), ("vd4", "VIRT0004"),
    ("ide1", "IDE0001"), ("ide2", "IDE0002"), ("nvme1", "NVME0001")), start=1))


def names_for(state_dir: Path) -> tuple[str, str, str]:
    """(namespace, tap, umid) for a state directory: stable for it, distinct between two of them."""
    tag = hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]
    return f"lifeline-{tag}", f"lltap{tag}", f"lifeline-{tag}"  # a tap name has at most 15 characters


@dataclass(frozen=True)
class PrivateNetwork:
    """A private network's names: its namespace, and the veth pair of one guest on it."""

    namespace: str
    guest_tap: str     # in the guest's namespace: the guest's vec1
    guest_bridge: str  # in the guest's namespace: joins the tap and the veth
    guest_veth: str    # in the guest's namespace
    bridge_port: str   # its peer, a port of the private network's bridge
    guest_mac: str     # vec1's: UML gave two guests booted from one image the same one


def private_network_names(network: str, state_dir: Path) -> PrivateNetwork:
    """Names for NETWORK (shared by every guest that names it) and for this state directory's guest on it."""
    network_tag = hashlib.sha256(network.encode()).hexdigest()[:8]
    guest_tag = hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]
    mac = "02:" + ":".join(guest_tag[index:index + 2] for index in range(0, 8, 2)) + ":01"  # locally administered
    return PrivateNetwork(f"llnet-{network_tag}", f"llt{guest_tag}", f"llb{guest_tag}", f"llv{guest_tag}",
                          f"llp{guest_tag}", mac)


def kernel_argv(binary: Path, root_image: Path, root_cow: Path, state_dir: Path, umid: str, tap: str,
                private: PrivateNetwork | None = None) -> list[str]:
    """linux.uml's command line: root by COW file over the cached image, data disks with serials."""
    argv = [str(binary), f"umid={umid}", f"uml_dir={state_dir / 'uml'}", f"mem={MEMORY}",
            f"ubd0={root_cow},{root_image},LABROOT"]
    argv += [f"ubd{disk.ubd_index}={disk.image_path(state_dir)},,{disk.serial}" for disk in UML_DISKS]
    argv += ["root=/dev/ubda", "rw", f"vec0:transport=tap,ifname={tap},gro=1"]
    if private is not None:
        argv += [f"vec1:transport=tap,ifname={private.guest_tap},mac={private.guest_mac},gro=1"]
    argv += ["con=null", "con0=null,fd:1", "ssl=null", "panic=-1"]
    return argv


def namespace_commands(namespace: str, tap: str) -> list[list[str]]:
    """The commands that make the guest's namespace and tap (undone by ``ip netns del``)."""
    return [
        ["ip", "netns", "add", namespace],
        ["ip", "-n", namespace, "link", "set", "lo", "up"],
        ["ip", "-n", namespace, "tuntap", "add", "dev", tap, "mode", "tap"],
        ["ip", "-n", namespace, "address", "add", f"{HOST_ADDRESS}/{PREFIX_LENGTH}", "dev", tap],
        ["ip", "-n", namespace, "link", "set", tap, "up"],
    ]


def private_network_commands(names: PrivateNetwork, guest_namespace: str, network_exists: bool) -> list[list[str]]:
    """The commands that put a guest on its private network, making the network first if it does not exist."""
    commands = [] if network_exists else [
        ["ip", "netns", "add", names.namespace],
        ["ip", "-n", names.namespace, "link", "set", "lo", "up"],
        ["ip", "-n", names.namespace, "link", "add", PRIVATE_BRIDGE, "type", "bridge"],
        ["ip", "-n", names.namespace, "address", "add", f"{PRIVATE_HOST_ADDRESS}/{PRIVATE_PREFIX_LENGTH}",
         "dev", PRIVATE_BRIDGE],
        ["ip", "-n", names.namespace, "link", "set", PRIVATE_BRIDGE, "up"],
    ]
    return commands + [
        ["ip", "-n", guest_namespace, "link", "add", names.guest_veth, "type", "veth",
         "peer", "name", names.bridge_port, "netns", names.namespace],
        ["ip", "-n", guest_namespace, "tuntap", "add", "dev", names.guest_tap, "mode", "tap"],
        ["ip", "-n", guest_namespace, "link", "add", names.guest_bridge, "type", "bridge"],
        ["ip", "-n", guest_namespace, "link", "set", names.guest_tap, "master", names.guest_bridge, "up"],
        ["ip", "-n", guest_namespace, "link", "set", names.guest_veth, "master", names.guest_bridge, "up"],
        ["ip", "-n", guest_namespace, "link", "set", names.guest_bridge, "up"],
        ["ip", "-n", names.namespace, "link", "set", names.bridge_port, "master", PRIVATE_BRIDGE, "up"],
    ]


class UmlError(Exception):
    """Anything the UML guest could not do; the message names what failed."""


class UmlGuest:
    """One UML guest and its namespace, relay and files, all under one state directory."""

    def __init__(self, state_dir: Path, ssh_port: int, private_network: str = "") -> None:
        self.state_dir = state_dir
        self.ssh_port = ssh_port
        self.namespace, self.tap, self.umid = names_for(state_dir)
        self.private = private_network_names(private_network, state_dir) if private_network else None

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "uml.pid"

    @property
    def relay_pid_file(self) -> Path:
        return self.state_dir / "relay.pid"

    @property
    def root_cow(self) -> Path:
        return self.state_dir / "root.cow"

    def running_pid(self) -> int | None:
        """The UML kernel's host pid, if it is alive and is this state directory's guest."""
        pid = _read_pid(self.pid_file)
        if pid is None or not _is_alive_with(pid, UML_BINARY.encode(), f"umid={self.umid}".encode()):
            return None
        return pid

    def start(self, binary: Path, root_image: Path, disk_size: str, console_log: Path) -> int:
        """Make the namespace, the disks and the relay, then boot; returns the kernel's pid."""
        self.stop()
        for disk in UML_DISKS:
            with disk.image_path(self.state_dir).open("wb") as image:
                image.truncate(_bytes(disk_size))
        for command in namespace_commands(self.namespace, self.tap):
            _run(command)
        if self.private is not None:
            network_exists = Path(f"/run/netns/{self.private.namespace}").exists()
            if network_exists:  # a port left by this guest's namespace, if it outlived its deletion
                subprocess.run(["ip", "-n", self.private.namespace, "link", "del", self.private.bridge_port],
                               capture_output=True, timeout=30, check=False)
            for command in private_network_commands(self.private, self.namespace, network_exists):
                _run(command)
        self._start_relay()
        with console_log.open("wb") as console:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace,
                 *kernel_argv(binary, root_image, self.root_cow, self.state_dir, self.umid, self.tap,
                              self.private)],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid_file.write_text(f"{process.pid}\n")  # `ip netns exec` execs: the pid is the kernel's
        deadline = time.monotonic() + 10
        while self.running_pid() is None:  # until `ip netns exec` has exec'd the kernel
            if process.poll() is not None or time.monotonic() > deadline:
                raise UmlError(f"{UML_BINARY} did not start (exit {process.poll()}); see {console_log}")
            time.sleep(0.05)
        return process.pid

    def stop(self) -> bool:
        """Halt the guest, end the relay, delete the namespace (and its tap) and the disks."""
        pid = self.running_pid()
        if pid is not None:
            # SIGTERM makes UML end its process tree itself; its disks are thrown away, so no clean shutdown.
            _end_group(pid, grace=0.0)
        relay = _read_pid(self.relay_pid_file)
        # By the script's name: a staged copy of the collection started it from another path.
        if relay is not None and _is_alive_with_script(relay, RELAY_SCRIPT.name.encode()):
            _end_group(relay, grace=5.0)
        if Path(f"/run/netns/{self.namespace}").exists():
            _run(["ip", "netns", "del", self.namespace])  # its veth goes with it, and the veth's bridge port
        if self.private is not None:
            self._leave_private_network()
        for path in (self.pid_file, self.relay_pid_file, self.root_cow,
                     *(disk.image_path(self.state_dir) for disk in UML_DISKS)):
            path.unlink(missing_ok=True)
        return pid is not None

    def _leave_private_network(self) -> None:
        """Take this guest's port off the private network; delete the network once no port is left on its bridge."""
        assert self.private is not None
        if not Path(f"/run/netns/{self.private.namespace}").exists():
            return
        # Here, not with the guest's namespace: a deleted namespace's devices go some time later.
        subprocess.run(["ip", "-n", self.private.namespace, "link", "del", self.private.bridge_port],
                       capture_output=True, timeout=30, check=False)
        ports = subprocess.run(["ip", "-n", self.private.namespace, "-o", "link", "show", "master", PRIVATE_BRIDGE],
                               capture_output=True, text=True, timeout=30, check=False)
        if ports.returncode == 0 and not ports.stdout.strip():
            _run(["ip", "netns", "del", self.private.namespace])

    def _start_relay(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self.ssh_port))
            listener.listen(16)
            # Bound here, in the host's namespace; the relay accepts on it from inside the guest's.
            relay = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, sys.executable, str(RELAY_SCRIPT),
                 str(listener.fileno()), GUEST_ADDRESS, "22"],
                pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=(self.state_dir / "relay.log").open("wb"),
                start_new_session=True)
        finally:
            listener.close()
        self.relay_pid_file.write_text(f"{relay.pid}\n")


def _bytes(size: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = size.strip().upper()
    if text[-1:] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    if text.isdigit():
        return int(text)
    raise UmlError(f"disk size {size!r} is not a number of bytes with an optional K, M or G")


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise UmlError(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()}")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_alive_with(pid: int, program: bytes, marker: bytes) -> bool:
    """pid is alive (not a zombie), runs ``program`` and has ``marker`` among its arguments."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X") and arguments[0].endswith(program) and marker in arguments


def _is_alive_with_script(pid: int, script: bytes) -> bool:
    # A process still inside execve shows an empty command line for a moment (seen right after
    # Popen returned): wait for it rather than take the pid for someone else's.
    deadline = time.monotonic() + 2.0
    while True:
        try:
            command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        if command_line or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return any(argument.endswith(b"/" + script) for argument in command_line.split(b"\0"))


def _end_group(leader: int, grace: float) -> None:
    """Wait for a process group's leader to go; then TERM, then KILL, whatever of the group is left."""
    for sig, wait in ((None, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if sig is not None:
            try:
                os.killpg(leader, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _group_alive(leader):
                return
            time.sleep(0.2)
    if _group_alive(leader):
        raise UmlError(f"process group {leader} survived SIGTERM and SIGKILL")


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    # Zombies still count for killpg: the group is gone when nothing in it is alive.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if fields[0] not in ("Z", "X") and int(fields[2]) == group:
                return True
    return False
