# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab guest as a Python API: build, up, down, SSH, QMP, unplug/replug disks, cut the link.

    import sys; sys.path.insert(0, "tests/lab")
    from lablib import Lab
    lab = Lab()
    lab.up()
    rc, out, err = lab.ssh_run("cat /proc/mdstat")
    lab.unplug("vd2"); lab.replug("vd2")

The ``lab`` command next to this file is a thin wrapper over this module.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labcache import Image, build_image, cached_image, prune_images, uml_root_image
from labhost import BuildError, is_our_qemu, port_in_use, tail, wait_until_gone
from labqemu import DATA_DISKS, GUEST_NETDEV, QEMU_BINARY, DataDisk, GuestLaunch, data_disk, guest_command_line
from labqmp import QmpClient, QmpError
from labuml import UML_DISKS, UmlError, UmlGuest

GUEST_NAME = "lifeline-lab"
BUILD_BINARIES = ("debootstrap", "ssh-keygen", "mke2fs", "chroot", "dpkg-query")
RUN_BINARIES = (QEMU_BINARY, "qemu-img", "ssh")
UML_RUN_BINARIES = ("apt-get", "dpkg-deb", "patchelf", "ip", "mount", "chroot", "ssh")
BACKENDS = ("qemu", "uml")
Reporter = Callable[[str], None]


class LabError(Exception):
    """Anything the lab could not do; the message names what failed."""


class BootStalled(LabError):
    """The guest's kernel reported a CPU that stopped making progress before SSH answered."""


# What the guest's kernel prints when a CPU stops making progress. Seen once in a TCG guest booted
# beside three others on two cores: CPU 0 halted 7 s into boot and its timer never fired again; the
# stall was reported every 21-63 s until the 420 s boot deadline.
STALL_MARKER = "rcu: INFO: rcu_preempt detected stalls"


def boot_stalled(console_text: str) -> bool:
    return STALL_MARKER in console_text


def report_to_stderr(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class LabConfig:
    """Where the lab keeps things and which host ports it uses; read from LIFELINE_LAB_* once."""

    cache_root: Path
    state_dir: Path
    ssh_port: int
    initrd_ssh_port: int
    disk_size: str
    boot_timeout: float = 180.0
    backend: str = "qemu"  # qemu (TCG, every device kind) or uml (User-mode Linux: md, LVM, dm only)
    private_network: str = ""  # uml: the name of a network shared with other guests of that name (vec1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LabConfig:
        env = os.environ if env is None else env
        home_cache = Path(env.get("HOME", "/root")) / ".cache/lifeline-lab"
        state_dir = _usable_path("LIFELINE_LAB_STATE", env.get("LIFELINE_LAB_STATE") or str(home_cache / "run"))
        if len(str(state_dir / "qmp.sock")) > 100:  # a unix socket path is limited to 107 bytes
            raise LabError(f"LIFELINE_LAB_STATE={state_dir} is too long for a unix socket path in it")
        return cls(
            cache_root=_usable_path("LIFELINE_LAB_CACHE", env.get("LIFELINE_LAB_CACHE") or str(home_cache)),
            state_dir=state_dir,
            ssh_port=_port(env, "LIFELINE_LAB_SSH_PORT", 2222),
            initrd_ssh_port=_port(env, "LIFELINE_LAB_INITRD_PORT", 2223),
            disk_size=env.get("LIFELINE_LAB_DISK_SIZE") or "512M",
            boot_timeout=_seconds(env, "LIFELINE_LAB_BOOT_TIMEOUT", 180),
            backend=_backend(env),
            private_network=env.get("LIFELINE_LAB_PRIVATE_NET") or "",
        )


def _backend(env: Mapping[str, str]) -> str:
    value = env.get("LIFELINE_LAB_BACKEND") or "qemu"
    if value not in BACKENDS:
        raise LabError(f"LIFELINE_LAB_BACKEND={value!r}: the lab's backends are {', '.join(BACKENDS)}")
    return value


def _usable_path(name: str, value: str) -> Path:
    # QEMU's -serial file:/-qmp unix: options and ssh_config cannot take these characters.
    if any(char.isspace() or char == "," for char in value):
        raise LabError(f"{name}={value!r}: the lab's paths must not contain spaces or commas")
    return Path(value).expanduser().absolute()  # QEMU daemonizes into /: relative paths would break


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name) or str(default)
    try:
        return float(value)
    except ValueError:
        raise LabError(f"{name}={value!r} is not a number of seconds") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise LabError(f"{name}={value!r} is not a TCP port number")
    return int(value)


@dataclass(frozen=True)
class UpResult:
    already_running: bool
    seconds_to_ssh: float
    pid: int


class Lab:
    """One lab guest, described by a LabConfig (by default from the environment)."""

    def __init__(self, config: LabConfig | None = None, report: Reporter = report_to_stderr) -> None:
        self.config = config or LabConfig.from_env()
        self.report = report

    # --- paths --------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "qemu.pid"

    @property
    def qmp_socket(self) -> Path:
        return self.state_dir / "qmp.sock"

    @property
    def console_log(self) -> Path:
        return self.state_dir / "console.log"

    @property
    def qemu_stderr(self) -> Path:
        return self.state_dir / "qemu.stderr"

    @property
    def private_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.ini"

    @property
    def disks_file(self) -> Path:
        return self.state_dir / "disks.json"

    @property
    def root_overlay(self) -> Path:
        return self.state_dir / "root.qcow2"

    @property
    def guest_kernel(self) -> Path:
        """The guest's own kernel, copied out by reboot_from_guest."""
        return self.state_dir / "guest-vmlinuz"

    @property
    def guest_initrd(self) -> Path:
        """The guest's own initramfs (the one it built itself), copied out by reboot_from_guest."""
        return self.state_dir / "guest-initrd.img"

    def image(self) -> Image:
        return cached_image(self.config.cache_root)

    @property
    def uml(self) -> UmlGuest | None:
        """The UML guest of this state directory, or None on the qemu backend."""
        if self.config.backend != "uml":
            return None
        return UmlGuest(self.state_dir, self.config.ssh_port, self.config.private_network)

    def disks(self) -> list[dict[str, Any]]:
        """The data disks as disks.json lists them."""
        if self.uml is not None:
            return [{"id": disk.device_id, "serial": disk.serial, "bus": "ubd",
                     "image": str(disk.image_path(self.state_dir)), "by_id": disk.by_id,
                     "by_id_path": f"/dev/disk/by-id/{disk.by_id}", "kernel_name_at_boot": disk.kernel_name_at_boot,
                     "hotpluggable": False} for disk in UML_DISKS]
        return [self._disk_record(disk) for disk in DATA_DISKS]

    def _disk_record(self, disk: DataDisk) -> dict[str, Any]:
        return {
            "id": disk.device_id, "serial": disk.serial, "bus": disk.bus, "driver": disk.driver,
            "qcow2": str(disk.qcow2_path(self.state_dir)), "node_name": disk.node_name,
            "by_id": disk.by_id, "by_id_path": f"/dev/disk/by-id/{disk.by_id}",
            "kernel_name_at_boot": disk.kernel_name_at_boot, "hotpluggable": disk.hotpluggable,
        }

    # --- build ----------------------------------------------------------------------

    def build(self, force: bool = False) -> Image:
        """The cached image, built first if this source has none (about 2 minutes)."""
        if self.image().is_complete() and not force:
            return self.image()
        require_binaries(BUILD_BINARIES)
        try:
            return build_image(self.config.cache_root, self.report, force=force)
        except BuildError as exc:
            raise LabError(f"image build failed: {exc}") from exc

    def prune_images(self) -> list[Path]:
        """Delete cached images built from other versions of the builder."""
        return prune_images(self.config.cache_root)

    # --- lifecycle ------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The pid of this state dir's QEMU or UML kernel, if it is alive (a stale pid file is ignored)."""
        if self.uml is not None:
            return self.uml.running_pid()
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_our_qemu(pid, self.pid_file) else None

    def is_running(self) -> bool:
        return self.running_pid() is not None

    def ssh_answers(self) -> bool:
        if not self.ssh_config.is_file():
            return False
        try:
            rc = self.ssh_run("true", timeout=20, connect_timeout=5)[0]
        except LabError:
            return False
        return rc == 0

    def up(self) -> UpResult:
        pid = self.running_pid()
        if pid is not None and self.ssh_answers():
            self.report(f"guest already running (pid {pid}); SSH answers on 127.0.0.1:{self._live_ssh_port()}")
            return UpResult(already_running=True, seconds_to_ssh=0.0, pid=pid)
        if pid is not None:
            self.report(f"guest (pid {pid}) runs but SSH does not answer: restarting it")
        self.down()
        require_binaries(UML_RUN_BINARIES if self.uml is not None else RUN_BINARIES)
        image = self.build()
        self._check_ports_free()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._write_access_files(image)
        if self.uml is not None:
            started = time.monotonic()
            pid = self._start_uml()
            self._report_started(pid)
            seconds = self._wait_for_ssh(pid, started)
        else:
            # A TCG guest whose kernel reports a stalled CPU is booted once more; the second boot
            # waits out the whole deadline whatever its console says.
            seconds = 0.0
            for attempt in (1, 2):
                self._create_disks(image)
                started = time.monotonic()
                pid = self._start_qemu(image)
                self._report_started(pid)
                try:
                    seconds = self._wait_for_ssh(pid, started, give_up_on_stall=attempt == 1)
                    break
                except BootStalled as stalled:
                    self.report(f"{stalled}; booting it once more (its console is kept as console-stalled.log)")
                    self._stop_qemu(pid)
                    for path in (self.pid_file, self.qmp_socket):
                        path.unlink(missing_ok=True)
                    self.console_log.replace(self.state_dir / "console-stalled.log")
        self.report(f"guest up: SSH answered {seconds:.1f}s after start")
        return UpResult(already_running=False, seconds_to_ssh=seconds, pid=pid)

    def _report_started(self, pid: int) -> None:
        self.report(f"{self.config.backend} guest started (pid {pid}); waiting for SSH on "
                    f"127.0.0.1:{self.config.ssh_port}")

    def down(self) -> bool:
        """Stop the guest and drop its overlay and data disks. Returns whether one was running."""
        if self.uml is not None:
            try:
                stopped = self.uml.stop()
            except UmlError as exc:
                raise LabError(str(exc)) from exc
            if stopped:
                self.report("UML guest stopped; its namespace, tap and relay are gone")
            for path in (self.disks_file, self.state_dir / "run.json"):
                path.unlink(missing_ok=True)
            return stopped
        pid = self.running_pid()
        if pid is not None:
            self._stop_qemu(pid)
            self.report(f"guest stopped (pid {pid})")
        for path in [self.pid_file, self.qmp_socket, self.root_overlay, self.disks_file,
                     self.state_dir / "run.json", self.guest_kernel, self.guest_initrd,
                     *(d.qcow2_path(self.state_dir) for d in DATA_DISKS)]:
            path.unlink(missing_ok=True)
        return pid is not None

    def reset(self) -> UpResult:
        self.down()
        return self.up()

    def reboot_from_guest(self, link_up: bool = True, extra_command_line: str = "",
                          shutdown_timeout: float = 120) -> int:
        """Boot the running guest again from its own /vmlinuz and /initrd.img, disks kept as they are.

        `up` boots the kernel and initramfs extracted when the image was built; an initramfs
        the guest rebuilt since is only used by booting this way. The guest is shut down
        cleanly (its root overlay and data disks stay), the two files are copied out first,
        and QEMU is started again with them. With ``link_up=False`` the guest starts with its
        network link down (QEMU starts paused, the link is cut over QMP, then it runs).
        Returns the new QEMU pid at once: the initramfs may wait for a passphrase, so nothing
        here waits for SSH.
        """
        self._require_qemu("reboot-from-guest")
        pid = self.running_pid()
        if pid is None or not self.ssh_answers():
            raise LabError("reboot-from-guest needs a running guest whose SSH answers (run `tests/lab/lab up`)")
        command_line = self._command_line(extra_command_line)
        for guest_path, local in (("/vmlinuz", self.guest_kernel), ("/initrd.img", self.guest_initrd)):
            self._copy_from_guest(guest_path, local)
        self.ssh_run("systemctl poweroff", timeout=60)  # the connection may drop before it answers
        if not wait_until_gone(pid, self.pid_file, shutdown_timeout):
            self.report(f"guest did not power off within {shutdown_timeout:.0f}s: stopping QEMU")
            self._stop_qemu(pid)
        self._check_ports_free()
        if self.console_log.is_file():  # QEMU truncates it: keep the last boot's console for a post-mortem
            self.console_log.replace(self.state_dir / "console.previous.log")
        pid = self._start_qemu_with(self.guest_kernel, self.guest_initrd, command_line, start_paused=not link_up)
        if not link_up:
            self.set_link(False)
            self.qmp("cont")
        self.report(f"QEMU started (pid {pid}) from the guest's own kernel and initramfs"
                    f"{' with the link down' if not link_up else ''}")
        return pid

    def _command_line(self, extra: str) -> str:
        try:
            return guest_command_line(extra)
        except ValueError as exc:
            raise LabError(str(exc)) from exc

    def _copy_from_guest(self, guest_path: str, local: Path) -> None:
        argv = self.ssh_argv(f"cat {shlex.quote(guest_path)}")
        with local.open("wb") as out:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                                  timeout=300, check=False)
        if done.returncode != 0 or local.stat().st_size == 0:
            raise LabError(f"could not copy {guest_path} out of the guest (exit {done.returncode}): "
                           f"{done.stderr.decode(errors='replace').strip()}")

    def status(self) -> dict[str, Any]:
        pid = self.running_pid()
        return {"backend": self.config.backend, "running": pid is not None, "pid": pid,
                "ssh_answers": pid is not None and self.ssh_answers(),
                "ssh_port": self._live_ssh_port(), "state_dir": str(self.state_dir),
                "image": str(self.image().directory), "image_built": self.image().is_complete(),
                "private_network_namespace": self.uml.private.namespace if self.uml and self.uml.private else None}

    # --- SSH ------------------------------------------------------------------------

    def ssh_argv(self, command: str | Sequence[str] | None = None, batch: bool = True) -> list[str]:
        argv = ["ssh", "-F", str(self.ssh_config)]
        if batch:
            argv += ["-o", "BatchMode=yes"]
        argv.append(GUEST_NAME)
        if command is not None:
            argv += ["--", command if isinstance(command, str) else shlex.join(command)]
        return argv

    def ssh_run(self, command: str | Sequence[str], timeout: float = 300,
                connect_timeout: int = 10, stdin: str | None = None) -> tuple[int, str, str]:
        """Run a command in the guest: (exit code, stdout, stderr). 255 is SSH's own failure."""
        if not self.ssh_config.is_file():
            raise LabError(f"no {self.ssh_config}: the lab is not up (run `tests/lab/lab up`)")
        argv = self.ssh_argv(command)
        argv[1:1] = ["-o", f"ConnectTimeout={connect_timeout}"]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"ssh command timed out after {timeout:.0f}s: {command}") from exc
        return done.returncode, done.stdout, done.stderr

    # --- QMP ------------------------------------------------------------------------

    def qmp(self, command: str, args: dict[str, Any] | None = None, timeout: float = 10) -> Any:
        """Execute one QMP command; return its ``return`` value (LabError on an error reply)."""
        with self._qmp_client(timeout) as client:
            try:
                return client.execute(command, args)
            except QmpError as exc:
                raise LabError(str(exc)) from exc

    def qmp_raw(self, message: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        """Send a whole QMP message ({"execute": ..., "arguments": ...}); return the whole reply."""
        if "execute" not in message:
            raise LabError(f"a QMP message needs an 'execute' key: {message}")
        with self._qmp_client(timeout) as client:
            try:
                return client.execute_raw(message["execute"], message.get("arguments"))
            except QmpError as exc:
                raise LabError(str(exc)) from exc

    def device_present(self, device_id: str) -> bool:
        peripherals = self.qmp("qom-list", {"path": "/machine/peripheral"})
        return any(entry["name"] == device_id for entry in peripherals)

    def unplug(self, device_id: str, wait: bool = True, timeout: float = 60) -> None:
        """Pull a data disk out of the running guest, as a failing disk or a yanked cable would.

        Returns once QEMU reports the device deleted (the guest acknowledged the eject) and,
        with ``wait``, once the disk's /dev/disk/by-id link is gone in the guest (needs SSH).
        """
        disk = self._hotpluggable_disk(device_id)
        if not self.device_present(disk.device_id):
            self.report(f"{device_id} is already unplugged")
            return
        with self._qmp_client(timeout) as client:
            try:
                client.execute("device_del", {"id": disk.device_id})
                # The guest has to acknowledge the eject; only then is the device gone.
                client.wait_event("DEVICE_DELETED", lambda e: e.get("data", {}).get("device") == disk.device_id,
                                  timeout)
            except QmpError as exc:
                raise LabError(f"unplug {device_id}: {exc}") from exc
        if wait:
            self._wait_for_guest(f"test ! -e /dev/disk/by-id/{disk.by_id}", timeout)
        self.report(f"{device_id} ({disk.serial}) unplugged")

    def replug(self, device_id: str, wait: bool = True, timeout: float = 60) -> None:
        """Plug a pulled disk back in: same node (same data), same serial, same slot."""
        if self.uml is not None and device_id in {disk.device_id for disk in UML_DISKS}:
            self.report(f"{device_id} is already plugged in (the UML backend cannot unplug disks)")
            return
        disk = self._hotpluggable_disk(device_id)
        if self.device_present(disk.device_id):
            self.report(f"{device_id} is already plugged in")
            return
        self.qmp("device_add", disk.device_properties())
        if wait:
            self._wait_for_guest(f"test -e /dev/disk/by-id/{disk.by_id}", timeout)
        self.report(f"{device_id} ({disk.serial}) plugged back in")

    def set_link(self, up: bool) -> None:
        """Cut (False) or restore (True) the guest's network, SSH included."""
        self.qmp("set_link", {"name": GUEST_NETDEV, "up": up})

    # --- internals -------------------------------------------------------------------

    def _require_qemu(self, what: str) -> None:
        if self.uml is not None:
            raise LabError(f"{what} needs the qemu backend; this lab runs under User-mode Linux "
                           "(LIFELINE_LAB_BACKEND=uml), which has no QMP, hot-unplug or initramfs boot")

    def _qmp_client(self, timeout: float) -> QmpClient:
        self._require_qemu("QMP (qmp, unplug, replug, link)")
        if self.running_pid() is None:
            raise LabError("the lab guest is not running (run `tests/lab/lab up`)")
        client = QmpClient(self.qmp_socket, timeout=timeout)
        try:
            client.connect()
        except QmpError as exc:
            raise LabError(str(exc)) from exc
        return client

    def _hotpluggable_disk(self, device_id: str) -> DataDisk:
        try:
            disk = data_disk(device_id)
        except KeyError as exc:
            raise LabError(str(exc.args[0])) from exc
        if not disk.hotpluggable:
            raise LabError(f"{device_id} is on QEMU's IDE bus, which cannot hot-unplug")
        return disk

    def _wait_for_guest(self, condition: str, timeout: float) -> None:
        """Poll a shell condition in the guest (udev adds and removes links asynchronously)."""
        deadline = time.monotonic() + timeout
        err = ""
        while time.monotonic() < deadline:
            rc, _out, err = self.ssh_run(condition, timeout=30)
            if rc == 0:
                return
            time.sleep(0.5)
        raise LabError(f"`{condition}` still false in the guest after {timeout:.0f}s {err.strip()}")

    def _live_ssh_port(self) -> int:
        try:
            return int(json.loads((self.state_dir / "run.json").read_text())["ssh_port"])
        except (OSError, ValueError, KeyError):
            return self.config.ssh_port

    def _check_ports_free(self) -> None:
        ports = [("LIFELINE_LAB_SSH_PORT", self.config.ssh_port)]
        if self.uml is None:  # UML boots no initramfs: nothing listens on the second port
            ports.append(("LIFELINE_LAB_INITRD_PORT", self.config.initrd_ssh_port))
        for name, port in ports:
            problem = port_in_use(port)
            if problem:
                raise LabError(f"port {port} on 127.0.0.1 is already in use ({problem}); "
                               f"stop whatever listens there or set {name} to a free port")

    def _write_access_files(self, image: Image) -> None:
        shutil.copyfile(image.private_key, self.private_key)
        self.private_key.chmod(0o600)
        port = self.config.ssh_port
        self.ssh_config.write_text(
            f"Host {GUEST_NAME}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
            f"  IdentityFile {self.private_key}\n  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
            "  ConnectTimeout 10\n  ServerAliveInterval 5\n  ServerAliveCountMax 6\n"
        )
        self.inventory.write_text(
            "[lab]\n"
            f"{GUEST_NAME} ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
            f"ansible_ssh_private_key_file={self.private_key} ansible_python_interpreter=/usr/bin/python3 "
            "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            "-o LogLevel=ERROR'\n"
        )
        self.disks_file.write_text(json.dumps(self.disks(), indent=2) + "\n")
        (self.state_dir / "run.json").write_text(json.dumps(
            {"backend": self.config.backend, "ssh_port": port, "initrd_ssh_port": self.config.initrd_ssh_port,
             "image": str(image.directory)}, indent=2) + "\n")

    def _create_disks(self, image: Image) -> None:
        qemu_img(["create", "-q", "-f", "qcow2", "-b", str(image.root_img), "-F", "raw", str(self.root_overlay)])
        for disk in DATA_DISKS:
            qemu_img(["create", "-q", "-f", "qcow2", str(disk.qcow2_path(self.state_dir)), self.config.disk_size])

    def _start_uml(self) -> int:
        assert self.uml is not None
        try:
            kernel, root = uml_root_image(self.config.cache_root, self.report)
        except BuildError as exc:
            raise LabError(f"UML image build failed: {exc}") from exc
        self.console_log.unlink(missing_ok=True)
        try:
            return self.uml.start(kernel.binary, root, self.config.disk_size, self.console_log)
        except UmlError as exc:
            self.uml.stop()
            raise LabError(f"UML guest did not start: {exc}") from exc

    def _start_qemu(self, image: Image) -> int:
        self.console_log.unlink(missing_ok=True)
        return self._start_qemu_with(image.kernel, image.initrd, guest_command_line())

    def _start_qemu_with(self, kernel: Path, initrd: Path, command_line: str, start_paused: bool = False) -> int:
        launch = GuestLaunch(
            kernel=kernel, initrd=initrd, root_overlay=self.root_overlay, state_dir=self.state_dir,
            pid_file=self.pid_file, qmp_socket=self.qmp_socket, console_log=self.console_log,
            ssh_port=self.config.ssh_port, initrd_ssh_port=self.config.initrd_ssh_port,
            command_line=command_line, start_paused=start_paused,
        )
        # stderr to a file, not a pipe: the daemonized QEMU must not keep our pipe open.
        with self.qemu_stderr.open("w") as stderr:
            done = subprocess.run(launch.argv(), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                                  check=False)
        if done.returncode != 0:
            raise LabError(f"{QEMU_BINARY} failed to start (exit {done.returncode}):\n"
                           f"{tail(self.qemu_stderr, 15)}\ncommand: {shlex.join(launch.argv())}")
        pid = self.running_pid()
        if pid is None:
            raise LabError(f"{QEMU_BINARY} reported success but no live process is in {self.pid_file}")
        return pid

    def _wait_for_ssh(self, pid: int, started: float, give_up_on_stall: bool = False) -> float:
        deadline = started + self.config.boot_timeout
        while time.monotonic() < deadline:
            if self.running_pid() != pid:
                raise LabError(f"the {self.config.backend} guest (pid {pid}) exited during boot; console tail:\n"
                               f"{tail(self.console_log, 25)}")
            if self.ssh_answers():
                return time.monotonic() - started
            console = self.console_log.read_text(errors="replace") if self.console_log.is_file() else ""
            if give_up_on_stall and boot_stalled(console):
                raise BootStalled(f"the guest's kernel reported a stalled CPU {time.monotonic() - started:.0f}s "
                                  "after start, before SSH answered")
            time.sleep(1)
        raise LabError(f"SSH did not answer within {self.config.boot_timeout:.0f}s on 127.0.0.1:"
                       f"{self.config.ssh_port}; console tail ({self.console_log}):\n{tail(self.console_log, 25)}")

    def _stop_qemu(self, pid: int) -> None:
        try:
            with QmpClient(self.qmp_socket, timeout=5) as client:
                client.execute_raw("quit")
        except (QmpError, OSError):
            pass  # a hung or half-dead QEMU: the signals below still stop it
        for sig, grace in ((None, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if sig is not None:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    return
            if wait_until_gone(pid, self.pid_file, grace):
                return
        raise LabError(f"QEMU (pid {pid}) survived quit, SIGTERM and SIGKILL")


# --- host helpers ---------------------------------------------------------------------


def require_binaries(names: Sequence[str]) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise LabError(f"missing on this machine: {', '.join(missing)} (run tests/lab/install-deps as root)")


def qemu_img(args: list[str]) -> None:
    done = subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"qemu-img {' '.join(args)} failed (exit {done.returncode}): {done.stderr.strip()}")
