# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host-side plumbing: the apt mirror, build steps, build trees, the QEMU process, ports.

Nothing here decides what is in the image (that is labimage.py, whose hash keys the cache),
so this file can change without forcing a rebuild.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class BuildError(Exception):
    """A build step failed; the message names the step and carries its stderr tail."""


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandTimeout(Exception):
    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        super().__init__(f"timed out after {timeout:.0f}s: {' '.join(argv)}")


def run_in_own_group(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> Completed:
    """Run a command in its own process group; on timeout or interruption kill the whole group.

    debootstrap forks dpkg and maintainer scripts inside the target: killing only the
    top process (what subprocess.run does) would leave them writing into a directory
    that is about to be deleted.
    """
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=None if env is None else dict(env), start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        kill_group(process)
        raise CommandTimeout(argv, timeout) from exc
    except BaseException:
        kill_group(process)
        raise
    return Completed(tuple(argv), process.returncode, stdout, stderr)


def kill_group(process: subprocess.Popen[str]) -> None:
    signal_group(process.pid, signal.SIGTERM)  # lets debootstrap's exit trap unmount /proc
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    signal_group(process.pid, signal.SIGKILL)  # stragglers, or a leader that ignored SIGTERM
    process.communicate()  # reap it and drain the pipes


def signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


# --- the Debian mirror this machine already uses ----------------------------------------


def find_mirror(suite: str, apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt already uses for ``suite``."""
    for sources in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        uri = _mirror_from_deb822(sources.read_text(), suite)
        if uri:
            return uri
    for legacy in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]:
        if legacy.is_file():
            uri = _mirror_from_one_line_style(legacy.read_text(), suite)
            if uri:
                return uri
    raise BuildError(
        f"no apt source for suite {suite!r} found in {apt_dir}/sources.list.d/*.sources "
        f"or {apt_dir}/sources.list: cannot tell which Debian mirror to use"
    )


def _mirror_from_deb822(text: str, suite: str) -> str | None:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    return None


def _mirror_from_one_line_style(text: str, suite: str) -> str | None:
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            return words[1]
    return None


# --- build steps and build trees -----------------------------------------------------


def run_step(step: str, argv: Sequence[str], log_file: Path, timeout: float = 1800) -> str:
    """Run one build step, appending its output to the build log; fail with its tail."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C",
           "DEBIAN_FRONTEND": "noninteractive"}
    if shutil.which(argv[0], path=env["PATH"]) is None:
        raise BuildError(f"{step}: binary {argv[0]!r} not found (run tests/lab/install-deps)")
    with log_file.open("a") as log:
        log.write(f"\n### {step}: {' '.join(argv)}\n")
    try:
        done = run_in_own_group(argv, timeout=timeout, env=env)
    except CommandTimeout as exc:
        raise BuildError(f"{step}: {exc}") from exc
    with log_file.open("a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise BuildError(f"{step} failed (exit {done.returncode}): {' '.join(argv)}\n{tail}")
    return done.stdout


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below ``directory`` (debootstrap mounts /proc and /sys in its target)."""
    prefix = str(directory.resolve())
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


def remove_tree_safely(directory: Path) -> None:
    """rm -rf, but never through a mount point: a leftover bind mount of /dev would be fatal."""
    for point in sorted(mounts_under(directory), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
    still_mounted = mounts_under(directory)
    if still_mounted:
        raise BuildError(f"refusing to delete {directory}: still mounted: {', '.join(still_mounted)}")
    shutil.rmtree(directory, ignore_errors=False)


# --- the running guest, seen from the host ------------------------------------------


def is_our_qemu(pid: int, pid_file: Path) -> bool:
    """True if pid is a live (not zombie) QEMU started with this -pidfile, not a recycled pid."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return (state not in ("Z", "X") and bool(cmdline) and cmdline[0].endswith(b"qemu-system-x86_64")
            and str(pid_file).encode() in cmdline)


def wait_until_gone(pid: int, pid_file: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_our_qemu(pid, pid_file):
            return True
        time.sleep(0.2)
    return not is_our_qemu(pid, pid_file)


def port_in_use(port: int) -> str | None:
    """Why 127.0.0.1:port cannot be listened on, or None if it can (bound as QEMU binds it)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
        probe.listen(1)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        probe.close()
    return None


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not readable)"
