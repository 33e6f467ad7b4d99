# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replays a host state recorded by tests/lab/record_host_state.py.

ReplayFiles answers file reads from the recording; ReplayRunner answers commands from it and
fails on any command the recording does not hold, so a test also pins which commands a
collector runs.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def load_host(name: str) -> dict:
    return json.loads((HOSTS / (name + ".json")).read_text())


class ReplayFiles:
    def __init__(self, state: dict) -> None:
        self._state = state

    def exists(self, path: str) -> bool:
        return self._state["files"].get(path) is not None or path in self._state["dirs"]

    def read_text(self, path: str) -> str:
        text = self._state["files"].get(path)
        if text is None:
            raise OSError("no such file in the recording: %s" % path)
        return text

    def read_optional(self, path: str) -> str | None:
        text = self._state["files"].get(path)
        return text.strip() if text is not None else None

    def list_dir(self, path: str) -> list[str]:
        return list(self._state["dirs"].get(path, []))

    def read_link(self, path: str) -> str | None:
        return self._state["links"].get(path)


class ReplayRunner:
    def __init__(self, state: dict, missing: tuple[str, ...] = ()) -> None:
        self._binaries = {name: path for name, path in state["binaries"].items() if name not in missing}
        self._commands = list(state["commands"])
        self.history: list[list[str]] = []
        # Collectors run some commands from worker threads (smart's disks, disks' blkid probes).
        self._lock = threading.Lock()

    def find(self, name: str) -> str | None:
        return self._binaries.get(name)

    def has(self, name: str) -> bool:
        return self.find(name) is not None

    def run(self, name: str, args: list[str], ok_rcs: tuple = (0,)) -> CommandResult:
        if not self.has(name):
            raise CommandError([name] + args, None, "", "", "%s is not installed on this host" % name)
        with self._lock:
            for index, command in enumerate(self._commands):
                if command["name"] == name and command["args"] == args:
                    del self._commands[index]
                    break
            else:
                raise AssertionError("command not in the recording: %s %s" % (name, args))
            cmd = [self._binaries[name]] + args
            self.history.append(cmd)
        if command["rc"] not in ok_rcs:
            raise CommandError(cmd, command["rc"], command["stdout"], command["stderr"], "%s exited with %d" % (name, command["rc"]))
        return CommandResult(cmd, command["rc"], command["stdout"], command["stderr"])
