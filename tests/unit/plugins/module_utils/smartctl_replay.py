# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A runner that answers smartctl calls from recorded outputs, for the smart subset's tests.

Recordings are named as pySMART's own test data names them: the smartctl arguments joined by
"_" with "/" written as "_" (`-d_nvme_--all__dev_nvme0.txt`), optionally after a case prefix
and "___". The exit status is read from a `.rc` file beside the output ("exit status N"); an
output recorded without one (pySMART's data sets) is replayed with status 0.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandResult
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap, build_identity_map
from ansible_collections.lifeline.storage.plugins.module_utils._smartctl_parse import NO_WAKE_ARGS
from ansible_collections.lifeline.storage.plugins.module_utils._text import decode_tool_output

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "smart"


def recording_name(args: list[str]) -> str:
    return "_".join(args).replace("/", "_")


class SmartctlReplay:
    """CommandRunner stand-in: serves smartctl from DIRECTORY; any other call fails the test."""

    def __init__(self, directory: Path, case: str = "", missing: tuple[str, ...] = ()) -> None:
        self._directory = directory
        self._prefix = case + "___" if case else ""
        self._missing = missing
        self._lock = threading.Lock()
        self.calls: list[list[str]] = []

    def has(self, name: str) -> bool:
        return name not in self._missing

    def find(self, name: str) -> str | None:
        return None if name in self._missing else "/usr/sbin/" + name

    def run(self, name: str, args: list[str], ok_rcs: tuple[int, ...] = (0,)) -> CommandResult:
        with self._lock:
            self.calls.append([name] + list(args))
        if name != "smartctl":
            raise AssertionError("unexpected command %s %s" % (name, args))
        recorded_args = list(args)
        if recorded_args[:2] == list(NO_WAKE_ARGS):
            recorded_args = recorded_args[2:]
        path = self._directory / (self._prefix + recording_name(recorded_args) + ".txt")
        if not path.exists():
            raise CommandError(["smartctl"] + list(args), 2, "", "", "no recording %s" % path.name)
        rc_path = path.with_suffix(".rc")
        rc = int(rc_path.read_text().split()[-1]) if rc_path.exists() else 0
        # As CommandRunner decodes: bytes that are not UTF-8 become visible \xNN escapes.
        raw_stdout = path.read_bytes()
        stdout = decode_tool_output(raw_stdout)
        if rc not in ok_rcs:
            raise CommandError(["smartctl"] + list(args), rc, stdout, "", "smartctl exited with %d" % rc)
        return CommandResult(["/usr/sbin/smartctl"] + list(args), rc, stdout, "", raw_stdout)


def lab_identity(extra: tuple[dict, ...] = ()) -> IdentityMap:
    """The lab guest's disks as lsblk and /dev/disk/by-id describe them."""
    records = [
        {"kernel_name": "sda", "type": "disk", "parent": None, "serial": "IDE0001", "wwn": None,
         "model": "QEMU HARDDISK", "size_bytes": 536870912, "rotational": True, "transport": "ata"},
        {"kernel_name": "nvme0n1", "type": "disk", "parent": None, "serial": "NVME0001", "wwn": None,
         "model": "QEMU NVMe Ctrl", "size_bytes": 536870912, "rotational": False, "transport": "nvme"},
        {"kernel_name": "vdb", "type": "disk", "parent": None, "serial": "VIRT0001", "wwn": None,
         "model": None, "size_bytes": 536870912, "rotational": True, "transport": None},
        {"kernel_name": "vdb1", "type": "part", "parent": "vdb", "serial": None, "wwn": None,
         "model": None, "size_bytes": 1048576, "rotational": True, "transport": None},
        {"kernel_name": "md0", "type": "raid1", "parent": "vdb1", "serial": None, "wwn": None,
         "model": None, "size_bytes": 1048576, "rotational": True, "transport": None},
    ] + list(extra)
    by_id = {"ata-QEMU_HARDDISK_IDE0001": "sda", "nvme-QEMU_NVMe_Ctrl_NVME0001": "nvme0n1", "virtio-VIRT0001": "vdb"}
    return IdentityMap(build_identity_map(records, by_id), None)
