# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""md_check's rules and its wait, on md sysfs values read in the lab guest (fixtures/overlay/SOURCES.md)."""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._md_check import (
    check_refusals,
    parse_speed_limit,
    plan_check,
    speed_restore_value,
)
from ansible_collections.lifeline.storage.plugins.module_utils._md_check_host import run_md_check

MD = "/sys/block/md5/md/"
CLEAN = {"kernel_name": "md5", "level": "raid1", "degraded": "0", "sync_action": "idle", "array_state": "clean",
         "resync_start": "none"}


def test_speed_limits_say_where_they_come_from():
    assert parse_speed_limit("200000 (system)\n") == {"kb_s": 200000, "source": "system"}
    assert parse_speed_limit("1000 (local)") == {"kb_s": 1000, "source": "local"}
    assert speed_restore_value({"kb_s": 200000, "source": "system"}) == "system"
    assert speed_restore_value({"kb_s": 1000, "source": "local"}) == "1000"
    with pytest.raises(ParseError):
        parse_speed_limit("fast")


def test_a_clean_idle_mirror_may_be_checked():
    assert check_refusals(CLEAN) == []
    assert plan_check(CLEAN, {"state": "started"}) == {"action": "start", "refusals": [],
                                                       "writes": [("sync_action", "check")]}
    capped = plan_check(CLEAN, {"state": "started", "speed_limit_kb": 5000})
    assert capped["writes"] == [("sync_speed_max", "5000"), ("sync_action", "check")]


@pytest.mark.parametrize("change, rule", [
    ({"degraded": "1"}, "degraded"),
    ({"sync_action": "resync"}, "sync_running"),
    ({"sync_action": "recover"}, "sync_running"),
    ({"sync_action": "reshape"}, "sync_running"),
    ({"sync_action": "repair"}, "sync_running"),
    ({"sync_action": "frozen"}, "sync_frozen"),
    ({"resync_start": "1024"}, "resync_pending"),
    ({"array_state": "readonly"}, "read_only"),
    ({"array_state": "read-auto"}, "read_only"),
    ({"array_state": "inactive"}, "inactive"),
    ({"level": "raid0"}, "not_redundant"),
    ({"level": "linear"}, "not_redundant"),
])
def test_refusals_write_nothing(change, rule):
    plan = plan_check(dict(CLEAN, **change), {"state": "started", "speed_limit_kb": 5000})
    assert rule in [refusal["rule"] for refusal in plan["refusals"]]
    assert plan["writes"] == []


def test_repair_is_never_written():
    for change in ({}, {"sync_action": "check"}, {"sync_action": "repair"}):
        for state in ("started", "stopped"):
            plan = plan_check(dict(CLEAN, **change), {"state": state, "speed_limit_kb": 100})
            assert all(value != "repair" for _attribute, value in plan["writes"])


def test_a_running_check_is_waited_for_and_stopping_touches_only_checks():
    running = dict(CLEAN, sync_action="check")
    assert plan_check(running, {"state": "started"})["action"] == "already_running"
    assert plan_check(running, {"state": "stopped"})["writes"] == [("sync_action", "idle")]
    assert plan_check(CLEAN, {"state": "stopped"}) == {"action": "none", "refusals": [], "writes": []}
    refused = plan_check(dict(CLEAN, sync_action="recover"), {"state": "stopped"})
    assert refused["refusals"][0]["rule"] == "not_a_check" and refused["writes"] == []


# ---------------------------------------------------------------------------------------------
# The host layer: a simulated md that runs the check while the module waits
# ---------------------------------------------------------------------------------------------

class SimulatedMd:
    """md5's sysfs: writes of `check` start a check that advances one step per look and ends with MISMATCHES."""

    def __init__(self, steps: int = 3, mismatches: int = 0, **state) -> None:
        self.attrs = {"level": "raid1", "degraded": "0", "sync_action": "idle", "last_sync_action": "idle",
                      "array_state": "clean", "resync_start": "none", "mismatch_cnt": "0",
                      "sync_speed_max": "200000 (system)", "sync_completed": "none", "sync_speed": "none"}
        self.attrs.update(state)
        self.steps, self.mismatches, self.done = steps, mismatches, 0
        self.writes: list[tuple[str, str]] = []
        self.now = 0.0

    # HostFiles
    def exists(self, path):
        return path in ("/sys/block/md5/md",)

    def read_optional(self, path):
        if path.startswith(MD):
            attribute = path[len(MD):]
            if attribute == "sync_action" and self.attrs["sync_action"] == "check":
                self.done += 1
                if self.done > self.steps:
                    self.attrs.update(sync_action="idle", last_sync_action="check", mismatch_cnt=str(self.mismatches),
                                      sync_completed="none", sync_speed="none")
                else:
                    self.attrs.update(sync_completed="%d / %d" % (self.done * 1000, self.steps * 1000), sync_speed="20000")
            return self.attrs.get(attribute)
        return None

    def read_text(self, path):
        raise OSError(path)

    def list_dir(self, path):
        return ["dev-ubdb", "dev-ubdc"] if path == "/sys/block/md5/md" else []

    def read_link(self, path):
        return None

    # SysfsWriter
    def write(self, path, value):
        self.writes.append((path, value))
        attribute = path[len(MD):]
        if attribute == "sync_speed_max":
            self.attrs[attribute] = "200000 (system)" if value == "system" else "%s (local)" % value
        elif attribute == "sync_action" and value == "check":
            self.attrs.update(sync_action="check", mismatch_cnt="0", sync_completed="0 / 3000")
        elif attribute == "sync_action" and value == "idle":
            self.attrs.update(sync_action="idle", last_sync_action="check")

    # clock and sleep
    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class NoLsblk:
    def find(self, name):
        return None

    def has(self, name):
        return False

    def run(self, name, args, ok_rcs=(0,)):
        from ansible_collections.lifeline.storage.plugins.module_utils._command import ToolMissing
        raise ToolMissing([name] + args, None, "", "", "not here")


PARAMS = {"array": "/dev/md5", "state": "started", "wait": True, "wait_timeout": 600, "poll_seconds": 2,
          "speed_limit_kb": None}


def run(md: SimulatedMd, check_mode: bool = False, **params):
    return run_md_check(dict(PARAMS, **params), NoLsblk(), md, md, check_mode, clock=md.clock, sleep=md.sleep)


def test_a_capped_check_reports_mismatches_progress_and_puts_the_limit_back():
    md = SimulatedMd(steps=3, mismatches=256)
    failed, result = run(md, speed_limit_kb=5000)
    assert not failed, result
    assert md.writes == [(MD + "sync_speed_max", "5000"), (MD + "sync_action", "check"), (MD + "sync_speed_max", "system")]
    assert result["completed"] is True and result["mismatch_cnt"] == 256
    assert [f["code"] for f in result["findings"]] == ["MD_MISMATCH_CNT"]
    assert [sample["percent"] for sample in result["samples"]] == [33.3, 66.7, 100.0]
    assert result["seconds"] == 6.0 and result["speed_limit"]["after"] == "200000 (system)"


def test_a_clean_check_has_no_finding():
    failed, result = run(SimulatedMd(steps=1))
    assert not failed and result["mismatch_cnt"] == 0 and result["findings"] == []


def test_check_mode_writes_nothing_and_shows_the_writes():
    md = SimulatedMd()
    failed, result = run(md, check_mode=True, speed_limit_kb=5000)
    assert not failed and result["changed"] is True and md.writes == []
    assert [(w["path"], w["value"]) for w in result["writes"]] == [
        (MD + "sync_speed_max", "5000"), (MD + "sync_action", "check"), (MD + "sync_speed_max", "system")]


def test_a_refusal_writes_nothing():
    md = SimulatedMd(sync_action="recover", degraded="1")
    failed, result = run(md, speed_limit_kb=5000)
    assert failed and md.writes == []
    assert {r["rule"] for r in result["refusals"]} == {"degraded", "sync_running"}


def test_a_check_that_outlasts_the_wait_is_stopped_and_the_limit_restored():
    md = SimulatedMd(steps=100)
    failed, result = run(md, wait_timeout=5, speed_limit_kb=1000)
    assert failed and "did not finish within 5 s" in result["msg"]
    assert md.writes[-2:] == [(MD + "sync_action", "idle"), (MD + "sync_speed_max", "system")]
    assert result["completed"] is False and result["mismatch_cnt"] is None


def test_an_unknown_array_fails_naming_it():
    failed, result = run(SimulatedMd(), array="/dev/md9")
    assert failed and "md9" in result["msg"]
