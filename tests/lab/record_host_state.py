# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records what storage_facts reads on a host, for replay in unit tests.

Runs on the host (the lab guest) with the collection importable. It gathers the requested
subsets through recording stand-ins for HostFiles and CommandRunner, and prints JSON with
every file, directory listing, symlink and command result the collectors used. The unit
tests replay that JSON, so a collector is tested on exactly what a real kernel and real tools
gave it.

    python3 record_host_state.py COLLECTION_PARENT SUBSET[,SUBSET] > state.json
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys


def main() -> int:
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.lifeline.storage.plugins.module_utils._command import SYSTEM_PATHS, CommandResult
    from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
    from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
    from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import gather_storage_facts

    record: dict = {"files": {}, "dirs": {}, "links": {}, "binaries": {}, "commands": []}

    class RecordingFiles(HostFiles):
        def exists(self, path: str) -> bool:
            found = super().exists(path)
            if not found:
                record["files"].setdefault(path, None)
            elif os.path.isdir(path):
                record["dirs"].setdefault(path, sorted(os.listdir(path)))
            else:
                self.read_optional(path)
            return found

        def read_text(self, path: str) -> str:
            try:
                text = super().read_text(path)
            except OSError:
                record["files"][path] = None
                raise
            record["files"][path] = text
            return text

        def list_dir(self, path: str) -> list[str]:
            entries = super().list_dir(path)
            record["dirs"][path] = entries
            return entries

        def read_link(self, path: str) -> str | None:
            target = super().read_link(path)
            record["links"][path] = target
            return target

    class RecordingRunner:
        def find(self, name: str) -> str | None:
            path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", "")] + SYSTEM_PATHS))
            record["binaries"][name] = path
            return path

        def has(self, name: str) -> bool:
            return self.find(name) is not None

        def run(self, name: str, args: list[str], ok_rcs: tuple = (0,)) -> CommandResult:
            binary = self.find(name)
            env = dict(os.environ, LANG="C", LC_ALL="C")
            done = subprocess.run([binary] + args, capture_output=True, text=True, env=env, check=False)
            record["commands"].append({"name": name, "args": args, "rc": done.returncode,
                                       "stdout": done.stdout, "stderr": done.stderr})
            if done.returncode not in ok_rcs:
                raise CommandError([binary] + args, done.returncode, done.stdout, done.stderr,
                                   "%s exited with %d" % (name, done.returncode))
            return CommandResult([binary] + args, done.returncode, done.stdout, done.stderr)

    facts = gather_storage_facts(RecordingRunner(), RecordingFiles(), sys.argv[2].split(","))
    record["facts"] = facts
    json.dump(record, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
