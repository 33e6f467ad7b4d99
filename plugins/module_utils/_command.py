# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the one way this collection runs a command on a host.

Every call goes through CommandRunner so that binaries are resolved once per module run,
arguments are always a list (never a shell string), output is in the C locale (parsers
read English), every call has a timeout, a failure carries cmd, rc, stdout and stderr, and
output bytes that are not UTF-8 reach the parsers as visible \\xNN escapes (see _text.py),
never as surrogates that would make the module result unserialisable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._text import decode_tool_output

# Binaries live in sbin on most distributions, which is not always on a non-root PATH.
SYSTEM_PATHS = ["/sbin", "/usr/sbin", "/usr/local/sbin", "/bin", "/usr/bin"]

# GNU timeout exits with 124 when the command timed out, 137 when it had to be killed.
TIMEOUT_RCS = (124, 137)


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


class CommandRunner:
    """Runs tools through AnsibleModule.run_command with a timeout and a pinned locale."""

    def __init__(self, module, timeout_seconds: int) -> None:
        self._module = module
        self._timeout_seconds = timeout_seconds
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
        timeout = self.find("timeout")
        # Without coreutils' timeout a hung device would hang the module: refuse rather than risk it.
        if timeout is None:
            raise ToolMissing(cmd, None, "", "", "timeout (GNU coreutils) is not installed on this host; "
                              "it bounds every command this collection runs")
        wrapped = [timeout, "--kill-after=5", str(self._timeout_seconds)] + cmd
        # encoding=None: run_command returns bytes, decoded here by the collection's one decoder.
        started = time.monotonic()
        rc, raw_stdout, raw_stderr = self._module.run_command(
            wrapped, check_rc=False, environ_update={"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}, encoding=None)
        elapsed = time.monotonic() - started
        stdout = decode_tool_output(raw_stdout)
        stderr = decode_tool_output(raw_stderr)
        # A tool whose own exit status may be 124 or 137 (smartctl's is a bit mask) accepts those
        # codes; the time taken tells its answer from timeout's, which would otherwise pass as one.
        if rc in TIMEOUT_RCS and (rc not in ok_rcs or elapsed >= self._timeout_seconds):
            raise CommandError(cmd, rc, stdout, stderr, "%s timed out after %d s" % (" ".join(cmd), self._timeout_seconds))
        if rc not in ok_rcs:
            detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
            raise CommandError(cmd, rc, stdout, stderr, "%s exited with %d: %s" % (" ".join(cmd), rc, detail))
        return CommandResult(cmd, rc, stdout, stderr, raw_stdout)
