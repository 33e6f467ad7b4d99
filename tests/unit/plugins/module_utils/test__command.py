"""CommandRunner: one way to run a tool, with a timeout, C locale and failures that say what ran."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils import _command
from ansible_collections.lifeline.storage.plugins.module_utils._command import BoundedRun, CommandRunner, ToolMissing
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError


class FakeModule:
    """Stands in for AnsibleModule and the process starter: known binaries, canned (rc, stdout, stderr) per call."""

    def __init__(self, binaries: dict[str, str], results: list[tuple[int, str | bytes, str | bytes]],
                 timed_out: bool = False) -> None:
        self.binaries = binaries
        self.results = list(results)
        self.timed_out = timed_out
        self.calls: list[tuple[list[str], dict, float]] = []
        self.lookups: list[str] = []

    def get_bin_path(self, name, required=False, opt_dirs=None):
        self.lookups.append(name)
        return self.binaries.get(name)

    def spawn(self, argv, environ_update, timeout_seconds) -> BoundedRun:
        self.calls.append((list(argv), dict(environ_update), timeout_seconds))
        rc, stdout, stderr = self.results.pop(0)
        return BoundedRun(rc, _as_bytes(stdout), _as_bytes(stderr), self.timed_out)

    def runner(self, timeout_seconds: int) -> CommandRunner:
        return CommandRunner(self, timeout_seconds, spawn=self.spawn)


def _as_bytes(output: str | bytes) -> bytes:
    return output if isinstance(output, bytes) else output.encode("utf-8")


BINARIES = {"mdadm": "/sbin/mdadm"}


def test_runs_the_binary_with_its_bound_and_c_locale():
    module = FakeModule(BINARIES, [(0, "out", "")])
    result = module.runner(7).run("mdadm", ["--detail", "/dev/md0"])
    args, env, timeout_seconds = module.calls[0]
    assert args == ["/sbin/mdadm", "--detail", "/dev/md0"] and timeout_seconds == 7
    assert env["LANG"] == "C" and env["LC_ALL"] == "C"
    assert result.cmd == ["/sbin/mdadm", "--detail", "/dev/md0"] and result.stdout == "out"


def test_binaries_are_resolved_once():
    module = FakeModule(BINARIES, [(0, "", ""), (0, "", "")])
    runner = module.runner(5)
    runner.run("mdadm", ["-D", "/dev/md0"])
    runner.run("mdadm", ["-D", "/dev/md1"])
    assert module.lookups.count("mdadm") == 1


def test_failure_carries_cmd_rc_stdout_stderr():
    module = FakeModule(BINARIES, [(1, "partial", "mdadm: cannot open /dev/md9: No such file or directory\n")])
    with pytest.raises(CommandError) as raised:
        module.runner(5).run("mdadm", ["--detail", "/dev/md9"])
    error = raised.value
    assert error.as_dict() == {
        "msg": "/sbin/mdadm --detail /dev/md9 exited with 1: mdadm: cannot open /dev/md9: No such file or directory",
        "cmd": ["/sbin/mdadm", "--detail", "/dev/md9"], "rc": 1, "stdout": "partial",
        "stderr": "mdadm: cannot open /dev/md9: No such file or directory\n"}


def test_timeout_is_reported_as_such():
    module = FakeModule(BINARIES, [(-15, "", "")], timed_out=True)
    with pytest.raises(CommandError, match="timed out after 5 s"):
        module.runner(5).run("mdadm", ["--examine", "/dev/sdz"])


def test_timeout_is_reported_even_when_every_exit_code_is_accepted():
    # smartctl's callers accept any status; a command that was stopped is still a timeout.
    module = FakeModule(dict(BINARIES, smartctl="/usr/sbin/smartctl"), [(0, "", "")], timed_out=True)
    with pytest.raises(CommandError, match="timed out after 5 s"):
        module.runner(5).run("smartctl", ["-i", "/dev/sda"], ok_rcs=tuple(range(256)))


def test_a_124_is_the_tool_s_own_status_when_accepted():
    # 124 was coreutils timeout's status; now that nothing wraps the tool, it is the tool's own.
    module = FakeModule(dict(BINARIES, smartctl="/usr/sbin/smartctl"), [(124, "out", "")])
    assert module.runner(5).run("smartctl", ["-a", "/dev/sda"], ok_rcs=tuple(range(256))).rc == 124


def test_accepted_exit_codes_do_not_raise():
    module = FakeModule(BINARIES, [(2, "out", "err")])
    assert module.runner(5).run("mdadm", ["-E", "/dev/sda"], ok_rcs=(0, 2)).rc == 2


def test_missing_tool_is_named():
    with pytest.raises(ToolMissing, match="smartctl is not installed"):
        FakeModule(BINARIES, []).runner(5).run("smartctl", ["-a", "/dev/sda"])


# Real processes: the runner as the modules use it, with run_bounded starting them.

class HostModule:
    """AnsibleModule's get_bin_path over this host's PATH."""

    def get_bin_path(self, name, required=False, opt_dirs=None):
        for directory in os.environ.get("PATH", "").split(os.pathsep) + list(opt_dirs or []):
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether PID has exited (a zombie its new parent has not reaped yet counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_real_command_output_and_c_locale():
    result = CommandRunner(HostModule(), 10).run("sh", ["-c", "echo $LC_ALL; echo err >&2; exit 3"], ok_rcs=(3,))
    assert (result.rc, result.stdout, result.stderr, result.raw_stdout) == (3, "C\n", "err\n", b"C\n")


def test_real_command_reads_nothing_from_the_module_s_stdin():
    # A tool that asks a question gets end of input at once instead of waiting out its bound.
    started = time.monotonic()
    result = CommandRunner(HostModule(), 10).run("sh", ["-c", "read answer; echo \"got [$answer] rc $?\""])
    assert result.stdout == "got [] rc 1\n" and time.monotonic() - started < 5


def test_slow_command_is_killed_and_reported_with_its_command_and_bound():
    started = time.monotonic()
    with pytest.raises(CommandError) as raised:
        CommandRunner(HostModule(), 1).run("sleep", ["30"])
    elapsed = time.monotonic() - started
    sleep = HostModule().get_bin_path("sleep")
    assert str(raised.value) == "%s 30 timed out after 1 s" % sleep
    assert raised.value.cmd == [sleep, "30"] and raised.value.rc == -15  # SIGTERM was enough
    assert 1 <= elapsed < 10  # sleep would have run 30 s


def test_timeout_keeps_what_the_command_printed_before_it_was_stopped():
    with pytest.raises(CommandError) as raised:
        CommandRunner(HostModule(), 1).run("sh", ["-c", "echo partial; echo warn >&2; exec sleep 30"])
    assert raised.value.stdout == "partial\n" and raised.value.stderr == "warn\n"


def test_a_group_that_ignores_sigterm_is_killed_and_nothing_is_left(tmp_path, monkeypatch):
    monkeypatch.setattr(_command, "KILL_AFTER_SECONDS", 1.0)
    pids = tmp_path / "pids"
    # The shell and the sleep it starts both ignore SIGTERM (an ignored signal stays ignored across exec);
    # the sleep in the background has let go of the pipes, so only the group kill can reach it.
    script = "trap '' TERM; sleep 60 >/dev/null 2>&1 & echo $! > %s; echo $$ >> %s; sleep 60" % (pids, pids)
    started = time.monotonic()
    with pytest.raises(CommandError, match=r"sh -c .* timed out after 1 s$") as raised:
        CommandRunner(HostModule(), 1).run("sh", ["-c", script])
    elapsed = time.monotonic() - started
    assert raised.value.rc == -9  # SIGTERM was ignored, SIGKILL ended it
    assert 2 <= elapsed < 15  # SIGKILL 1 s after SIGTERM; the sleeps would have run 60 s
    started_pids = [int(line) for line in pids.read_text().split()]
    assert len(started_pids) == 2 and all(_gone(pid) for pid in started_pids)


def test_a_group_member_ignoring_sigterm_after_its_leader_exits_is_killed(tmp_path):
    # The leader exits on SIGTERM at once; a member that ignores it and holds no pipe would live on.
    pids = tmp_path / "pids"
    script = "(trap '' TERM; exec sleep 60) >/dev/null 2>&1 & echo $! > %s; sleep 60" % pids
    with pytest.raises(CommandError, match="timed out after 1 s"):
        CommandRunner(HostModule(), 1).run("sh", ["-c", script])
    assert _gone(int(pids.read_text()))


def test_a_binary_that_cannot_be_started_is_a_command_error(tmp_path):
    not_executable = tmp_path / "tool"
    not_executable.write_text("not a program")
    not_executable.chmod(0o755)

    class Module:
        def get_bin_path(self, name, required=False, opt_dirs=None):
            return str(not_executable)

    with pytest.raises(CommandError, match=r"^%s --help could not be started: .*Exec format error" % not_executable) as raised:
        CommandRunner(Module(), 5).run("tool", ["--help"])
    assert raised.value.rc is None and raised.value.cmd == [str(not_executable), "--help"]
