# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the one way this collection runs a command on a host.

Every call goes through CommandRunner so that binaries are resolved once per module run,
arguments are always a list (never a shell string), output is in the C locale (parsers
read English), every call has a timeout, a failure carries cmd, rc, stdout and stderr, and
output bytes that are not UTF-8 reach the parsers as visible \\xNN escapes (see _text.py),
never as surrogates that would make the module result unserialisable.

The timeout is kept here, in the module's own process, rather than by wrapping each command in
coreutils `timeout`: that was one more exec per command, about 0.09 s each on an emulated host.
Each command runs in a process group of its own; when its time is up the whole group gets
SIGTERM, then SIGKILL after KILL_AFTER_SECONDS, so nothing it started is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._text import decode_tool_output

# Binaries live in sbin on most distributions, which is not always on a non-root PATH.
SYSTEM_PATHS = ["/sbin", "/usr/sbin", "/usr/local/sbin", "/bin", "/usr/bin"]

# Parsers read English.
C_LOCALE = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}

# How long a timed-out command's process group has between SIGTERM and SIGKILL.
KILL_AFTER_SECONDS = 5.0


class ToolMissing(CommandError):
    """A binary that the host does not have."""


@dataclass(frozen=True)
class CommandResult:
    cmd: list[str]
    rc: int
    stdout: str
    stderr: str
    # The bytes the tool printed, for callers that store output byte for byte (snapshots);
    # None when the result was built from text (test doubles).
    raw_stdout: bytes | None = None

    def stdout_bytes(self) -> bytes:
        """What the tool printed: the recorded bytes, or the text encoded as UTF-8."""
        return self.raw_stdout if self.raw_stdout is not None else self.stdout.encode("utf-8")


@dataclass(frozen=True)
class BoundedRun:
    """What a process did within its bound: its exit status (-N: killed by signal N) and output."""

    rc: int
    stdout: bytes
    stderr: bytes
    timed_out: bool


# How CommandRunner starts a process: (argv, environment additions, seconds) -> BoundedRun.
Spawn = Callable[[Sequence[str], Mapping[str, str], float], BoundedRun]


def _signal_group(process_group: int, signum: int) -> None:
    try:
        os.killpg(process_group, signum)
    except ProcessLookupError:
        pass  # every process of the group has already exited


def _child_environment(environ_update: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(environ_update)
    # As AnsibleModule.run_command does: the paths AnsiballZ put there are no business of a tool.
    if "PYTHONPATH" in env:
        kept = [entry for entry in env["PYTHONPATH"].split(":")
                if entry and not entry.endswith("/ansible_modlib.zip") and not entry.endswith("/debug_dir")]
        if kept:
            env["PYTHONPATH"] = ":".join(kept)
    return env


def run_bounded(argv: Sequence[str], environ_update: Mapping[str, str], timeout_seconds: float) -> BoundedRun:
    """Run ARGV in a new session, stdin from /dev/null; stop its whole process group after TIMEOUT_SECONDS.

    Raises OSError when the binary cannot be started.
    """
    process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=_child_environment(environ_update), close_fds=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_seconds)
        return BoundedRun(process.returncode, stdout, stderr, False)
    except subprocess.TimeoutExpired:
        pass
    # The session made the child the leader of its own group: the group id is its pid, and it
    # stays allocated while any member lives, also after the leader has gone.
    _signal_group(process.pid, signal.SIGTERM)
    try:
        stdout, stderr = process.communicate(timeout=KILL_AFTER_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        stdout, stderr = _last_output(process)
    # A member that ignored SIGTERM and let go of the pipes would otherwise outlive the run. When
    # none is left the id is free, and the kernel hands out pids in turn: it is not reused yet.
    _signal_group(process.pid, signal.SIGKILL)
    return BoundedRun(process.returncode, stdout, stderr, True)


def _last_output(process: subprocess.Popen) -> tuple[bytes, bytes]:
    """The output of a killed group; a process that left the group may still hold the pipes, so bounded."""
    try:
        return process.communicate(timeout=KILL_AFTER_SECONDS)
    except subprocess.TimeoutExpired as held:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        return held.output or b"", held.stderr or b""


class CommandRunner:
    """Runs tools with a timeout and a pinned locale; SPAWN starts them (run_bounded; tests replace it)."""

    def __init__(self, module, timeout_seconds: int, spawn: Spawn = run_bounded) -> None:
        self._module = module
        self._timeout_seconds = timeout_seconds
        self._spawn = spawn
        self._resolved: dict[str, str | None] = {}

    def find(self, name: str) -> str | None:
        """Absolute path of a binary, or None; looked up once per run."""
        if name not in self._resolved:
            self._resolved[name] = self._module.get_bin_path(name, required=False, opt_dirs=SYSTEM_PATHS)
        return self._resolved[name]

    def has(self, name: str) -> bool:
        return self.find(name) is not None

    def run(self, name: str, args: list[str], ok_rcs: tuple[int, ...] = (0,)) -> CommandResult:
        """Run NAME with ARGS; raise CommandError unless the exit code is in OK_RCS."""
        binary = self.find(name)
        if binary is None:
            raise ToolMissing([name] + args, None, "", "", "%s is not installed on this host (searched PATH and %s)"
                              % (name, ", ".join(SYSTEM_PATHS)))
        cmd = [binary] + list(args)
        try:
            done = self._spawn(cmd, C_LOCALE, self._timeout_seconds)
        except OSError as error:
            raise CommandError(cmd, None, "", "", "%s could not be started: %s" % (" ".join(cmd), error)) from error
        stdout = decode_tool_output(done.stdout)
        stderr = decode_tool_output(done.stderr)
        # Whatever the exit status (smartctl's is a bit mask its callers all accept), a command
        # that was stopped did not finish what it was asked.
        if done.timed_out:
            raise CommandError(cmd, done.rc, stdout, stderr, "%s timed out after %d s" % (" ".join(cmd), self._timeout_seconds))
        if done.rc not in ok_rcs:
            detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
            raise CommandError(cmd, done.rc, stdout, stderr, "%s exited with %d: %s" % (" ".join(cmd), done.rc, detail))
        return CommandResult(cmd, done.rc, stdout, stderr, done.stdout)
