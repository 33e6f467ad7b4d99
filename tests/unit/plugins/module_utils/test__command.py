"""CommandRunner: one way to run a tool, with a timeout, C locale and failures that say what ran."""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner, ToolMissing
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError


class FakeModule:
    """Stands in for AnsibleModule: known binaries, and canned (rc, stdout, stderr) per call."""

    def __init__(self, binaries: dict[str, str], results: list[tuple[int, str | bytes, str | bytes]]) -> None:
        self.binaries = binaries
        self.results = list(results)
        self.calls: list[tuple[list[str], dict]] = []
        self.lookups: list[str] = []

    def get_bin_path(self, name, required=False, opt_dirs=None):
        self.lookups.append(name)
        return self.binaries.get(name)

    def run_command(self, args, check_rc=False, environ_update=None, encoding="utf-8"):
        # The runner asks for bytes (encoding=None) and decodes them itself, as run_command then returns them.
        assert encoding is None
        self.calls.append((args, environ_update))
        rc, stdout, stderr = self.results.pop(0)
        return rc, _as_bytes(stdout), _as_bytes(stderr)


def _as_bytes(output: str | bytes) -> bytes:
    return output if isinstance(output, bytes) else output.encode("utf-8")


BINARIES = {"mdadm": "/sbin/mdadm", "timeout": "/usr/bin/timeout"}


def test_wraps_every_call_in_timeout_with_c_locale():
    module = FakeModule(BINARIES, [(0, "out", "")])
    result = CommandRunner(module, 7).run("mdadm", ["--detail", "/dev/md0"])
    args, env = module.calls[0]
    assert args == ["/usr/bin/timeout", "--kill-after=5", "7", "/sbin/mdadm", "--detail", "/dev/md0"]
    assert env["LANG"] == "C" and env["LC_ALL"] == "C"
    assert result.cmd == ["/sbin/mdadm", "--detail", "/dev/md0"] and result.stdout == "out"


def test_binaries_are_resolved_once():
    module = FakeModule(BINARIES, [(0, "", ""), (0, "", "")])
    runner = CommandRunner(module, 5)
    runner.run("mdadm", ["-D", "/dev/md0"])
    runner.run("mdadm", ["-D", "/dev/md1"])
    assert module.lookups.count("mdadm") == 1


def test_failure_carries_cmd_rc_stdout_stderr():
    module = FakeModule(BINARIES, [(1, "partial", "mdadm: cannot open /dev/md9: No such file or directory\n")])
    with pytest.raises(CommandError) as raised:
        CommandRunner(module, 5).run("mdadm", ["--detail", "/dev/md9"])
    error = raised.value
    assert error.as_dict() == {
        "msg": "/sbin/mdadm --detail /dev/md9 exited with 1: mdadm: cannot open /dev/md9: No such file or directory",
        "cmd": ["/sbin/mdadm", "--detail", "/dev/md9"], "rc": 1, "stdout": "partial",
        "stderr": "mdadm: cannot open /dev/md9: No such file or directory\n"}


def test_timeout_is_reported_as_such():
    module = FakeModule(BINARIES, [(124, "", "")])
    with pytest.raises(CommandError, match="timed out after 5 s"):
        CommandRunner(module, 5).run("mdadm", ["--examine", "/dev/sdz"])


class SlowModule(FakeModule):
    """A call that takes SECONDS (on the runner's clock) before its canned result."""

    def __init__(self, binaries, results, seconds: float, monkeypatch) -> None:
        super().__init__(binaries, results)
        self.clock = 1000.0
        self.seconds = seconds
        monkeypatch.setattr("ansible_collections.lifeline.storage.plugins.module_utils._command.time.monotonic",
                            lambda: self.clock)

    def run_command(self, args, check_rc=False, environ_update=None, encoding="utf-8"):
        self.clock += self.seconds
        return super().run_command(args, check_rc, environ_update, encoding)


def test_timeout_is_reported_even_when_every_exit_code_is_accepted(monkeypatch):
    # smartctl's callers accept any status; timeout's 124 after the full bound is still a timeout.
    module = SlowModule(dict(BINARIES, smartctl="/usr/sbin/smartctl"), [(124, "", "")], 5.0, monkeypatch)
    with pytest.raises(CommandError, match="timed out after 5 s"):
        CommandRunner(module, 5).run("smartctl", ["-i", "/dev/sda"], ok_rcs=tuple(range(256)))


def test_a_quick_124_is_the_tool_s_own_status_when_accepted(monkeypatch):
    module = SlowModule(dict(BINARIES, smartctl="/usr/sbin/smartctl"), [(124, "out", "")], 0.2, monkeypatch)
    assert CommandRunner(module, 5).run("smartctl", ["-a", "/dev/sda"], ok_rcs=tuple(range(256))).rc == 124


def test_accepted_exit_codes_do_not_raise():
    module = FakeModule(BINARIES, [(2, "out", "err")])
    assert CommandRunner(module, 5).run("mdadm", ["-E", "/dev/sda"], ok_rcs=(0, 2)).rc == 2


def test_missing_tool_is_named():
    with pytest.raises(ToolMissing, match="smartctl is not installed"):
        CommandRunner(FakeModule(BINARIES, []), 5).run("smartctl", ["-a", "/dev/sda"])


def test_missing_timeout_refuses_to_run_unbounded():
    module = FakeModule({"mdadm": "/sbin/mdadm"}, [])
    with pytest.raises(ToolMissing, match="timeout"):
        CommandRunner(module, 5).run("mdadm", ["-D", "/dev/md0"])
    assert module.calls == []
