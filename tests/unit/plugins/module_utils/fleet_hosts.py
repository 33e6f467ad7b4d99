# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hosts' storage facts for the fleet report tests, made of recordings from the lab guest.

- md facts: the `facts` of the host states recorded by tests/lab/record_host_state.py
  (tests/unit/fixtures/hosts/*.json), each the lifeline_md fact the lab guest returned.
- SMART facts: the smart subset collected from smartctl outputs recorded on the lab guest
  (tests/unit/fixtures/smart/lab: IDE0001, NVME0001 read; VIRT0001 without SMART), and the
  failing disk of fixtures/smart/derived (see fixtures/smart/SOURCES.md) given the serial of an
  md member of the recorded host, so that a member of a degraded array has a failing verdict.
"""

from __future__ import annotations

import copy
from functools import lru_cache

from ansible_collections.lifeline.storage.plugins.module_utils._smart_collect import collect_smart
from ansible_collections.lifeline.storage.plugins.module_utils._smart_device import read_device
from ansible_collections.lifeline.storage.plugins.module_utils._smart_health import assess

from .recorded_host import load_host
from .smartctl_replay import FIXTURES, SmartctlReplay, lab_identity


@lru_cache(maxsize=None)
def _lab_smart() -> dict:
    return collect_smart(SmartctlReplay(FIXTURES / "lab"), None, lab_identity(), {})


@lru_cache(maxsize=None)
def _failing_disk() -> dict:
    disk = read_device(SmartctlReplay(FIXTURES / "derived", "failing_now"), "/dev/sdau", True, None, interface="ata")
    disk["query"] = "read"
    disk["health"] = assess(disk)
    return disk


def md_facts(recording: str) -> dict:
    """The lifeline_md fact recorded on the lab guest in fixtures/hosts/RECORDING.json."""
    return copy.deepcopy(load_host(recording)["facts"]["lifeline_md"])


def lab_smart() -> dict:
    """The lifeline_smart fact of the lab guest's disks, collected from the recorded smartctl outputs."""
    return copy.deepcopy(_lab_smart())


def failing_disk(serial: str, device: str) -> dict:
    """The derived failing ATA disk (attribute 5 FAILING_NOW, 592 power-on hours) as SERIAL at DEVICE."""
    disk = copy.deepcopy(_failing_disk())
    disk.update({"serial": serial, "device": device, "stable_name": "/dev/disk/by-id/ata-" + serial, "by_id": []})
    return disk


REPO_DOCS = FIXTURES.parents[3] / "docs"
