# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: md_check on a host - read the array's sysfs, write the plan, wait, report.

Reads go through HostFiles; the only writes are the plan's, to md/sync_action (`check`, or
`idle` to stop a check) and md/sync_speed_max (the cap, then the value it had before), through
SysfsWriter. The clock and the pause between two looks are passed in, so the wait is testable.
"""

from __future__ import annotations

import posixpath
import time

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap
from ansible_collections.lifeline.storage.plugins.module_utils._md_check import (
    mismatch_findings,
    parse_speed_limit,
    plan_check,
    progress,
    refusal_message,
    speed_restore_value,
)
from ansible_collections.lifeline.storage.plugins.module_utils._mdstat_parse import parse_sysfs_sync_completed

SYS_BLOCK = "/sys/block"
ATTRIBUTES = ("level", "degraded", "sync_action", "last_sync_action", "array_state", "resync_start", "mismatch_cnt",
              "sync_speed_max", "sync_completed", "sync_speed")
# Samples kept in the result: the first ones and the last ones of a long wait.
MAX_SAMPLES = 40


class SysfsWriter:
    """Writes one value to one sysfs attribute; the only writer md_check has."""

    def write(self, path: str, value: str) -> None:
        with open(path, "w", encoding="ascii") as handle:
            handle.write(value)


class CheckError(RuntimeError):
    """The array cannot be found or read; nothing was written."""


def resolve_array(files, name: str) -> str:
    """Kernel name (md127) of /dev/mdN, /dev/md/NAME or mdN."""
    if name.startswith("/dev/md/"):
        target = files.read_link(name)
        if not target:
            raise CheckError("%s does not exist: no running array has that name" % name)
        kernel_name = posixpath.basename(target)
    else:
        kernel_name = posixpath.basename(name)
    if not files.exists(posixpath.join(SYS_BLOCK, kernel_name, "md")):
        raise CheckError("%s is not a running md array (no %s/%s/md)" % (name, SYS_BLOCK, kernel_name))
    return kernel_name


def read_array(files, kernel_name: str) -> dict:
    md_dir = posixpath.join(SYS_BLOCK, kernel_name, "md")
    array = {"kernel_name": kernel_name}
    for attribute in ATTRIBUTES:
        array[attribute] = files.read_optional(posixpath.join(md_dir, attribute))
    array["member_kernel_names"] = [entry[4:] for entry in files.list_dir(md_dir) if entry.startswith("dev-")]
    return array


def _sample(files, kernel_name: str, seconds: float) -> dict:
    md_dir = posixpath.join(SYS_BLOCK, kernel_name, "md")
    try:
        completed = parse_sysfs_sync_completed(files.read_optional(posixpath.join(md_dir, "sync_completed")) or "none")
    except ParseError:
        completed = None
    return dict(progress(completed, files.read_optional(posixpath.join(md_dir, "sync_speed"))), seconds=round(seconds, 1))


def _keep_samples(samples: list[dict]) -> list[dict]:
    if len(samples) <= MAX_SAMPLES:
        return samples
    half = MAX_SAMPLES // 2
    return samples[:half] + samples[-half:]


def _members(runner, files, array: dict) -> list[dict]:
    identity = IdentityMap.gather(runner, files)
    members = []
    for kernel_name in array["member_kernel_names"]:
        found = identity.lookup(kernel_name)
        slot = files.read_optional(posixpath.join(SYS_BLOCK, array["kernel_name"], "md", "dev-" + kernel_name, "slot"))
        members.append({"device": found["device"], "serial": found["serial"], "stable_name": found["stable_name"],
                        "slot": int(slot) if slot and slot.isdecimal() else None})
    return members


def run_md_check(params: dict, runner, files, writer, check_mode: bool, clock=time.monotonic, sleep=time.sleep
                 ) -> tuple[bool, dict]:
    """(failed, result) for one module run."""
    base = {"changed": False, "array": params["array"], "kernel_name": None, "action": "none", "writes": [],
            "refusals": [], "findings": [], "mismatch_cnt": None, "completed": None, "seconds": None, "progress": None,
            "samples": [], "speed_limit": None}
    try:
        kernel_name = resolve_array(files, params["array"])
    except CheckError as error:
        return True, dict(base, msg=str(error))
    array = read_array(files, kernel_name)
    array["members"] = _members(runner, files, array)
    md_dir = posixpath.join(SYS_BLOCK, kernel_name, "md")
    base.update(kernel_name=kernel_name, level=array["level"], members=array["members"],
                before={key: array[key] for key in ("sync_action", "array_state", "degraded", "mismatch_cnt")})
    plan = plan_check(array, {"state": params["state"], "speed_limit_kb": params.get("speed_limit_kb")})
    writes = [{"path": posixpath.join(md_dir, attribute), "value": value} for attribute, value in plan["writes"]]
    speed_before = None
    if any(attribute == "sync_speed_max" for attribute, _value in plan["writes"]):
        try:
            speed_before = parse_speed_limit(array["sync_speed_max"] or "")
        except ParseError as error:
            return True, dict(base, msg="cannot cap the speed: %s" % error)
        writes.append({"path": posixpath.join(md_dir, "sync_speed_max"), "value": speed_restore_value(speed_before),
                       "when": "after the check"})
    base.update(action=plan["action"], writes=writes)
    if plan["refusals"]:
        return True, dict(base, refusals=plan["refusals"], msg=refusal_message(plan["refusals"]))
    if check_mode:
        return False, dict(base, changed=bool(writes), msg="would write %d value(s)" % len(writes) if writes else "nothing to do")
    if plan["action"] == "none":
        return False, dict(base, msg="no check is running")
    started = clock()
    try:
        for entry in writes:
            if entry.get("when") is None:
                writer.write(entry["path"], entry["value"])
    except OSError as error:
        return True, dict(base, changed=True, msg="cannot write %s: %s" % (entry["path"], error))
    if plan["action"] == "stop":
        return False, dict(base, changed=True, msg="stopped the check of %s" % kernel_name,
                           mismatch_cnt=_int(files.read_optional(posixpath.join(md_dir, "mismatch_cnt"))))
    if not params.get("wait"):
        return False, dict(base, changed=plan["action"] == "start", msg="check of %s %s; not waited for" % (
            kernel_name, "started" if plan["action"] == "start" else "already running"),
            progress=_sample(files, kernel_name, 0))
    return _wait(params, files, writer, base, kernel_name, plan, speed_before, started, clock, sleep)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdecimal() else None


def _wait(params, files, writer, base, kernel_name, plan, speed_before, started, clock, sleep) -> tuple[bool, dict]:
    md_dir = posixpath.join(SYS_BLOCK, kernel_name, "md")
    samples = []
    timed_out = False
    while True:
        action = files.read_optional(posixpath.join(md_dir, "sync_action"))
        if action != "check":
            break
        elapsed = clock() - started
        samples.append(_sample(files, kernel_name, elapsed))
        if elapsed > params["wait_timeout"]:
            timed_out = True
            writer.write(posixpath.join(md_dir, "sync_action"), "idle")
            break
        sleep(params["poll_seconds"])
    seconds = round(clock() - started, 1)
    speed = None
    if speed_before is not None:
        restore = speed_restore_value(speed_before)
        writer.write(posixpath.join(md_dir, "sync_speed_max"), restore)
        speed = {"before": speed_before, "set_kb_s": params.get("speed_limit_kb"), "restored": restore,
                 "after": files.read_optional(posixpath.join(md_dir, "sync_speed_max"))}
    last = files.read_optional(posixpath.join(md_dir, "last_sync_action"))
    final_action = files.read_optional(posixpath.join(md_dir, "sync_action"))
    mismatch_cnt = _int(files.read_optional(posixpath.join(md_dir, "mismatch_cnt")))
    completed = not timed_out and final_action == "idle" and last == "check"
    result = dict(base, changed=plan["action"] == "start" or speed is not None, seconds=seconds,
                  samples=_keep_samples(samples), progress=samples[-1] if samples else None, speed_limit=speed,
                  completed=completed, mismatch_cnt=mismatch_cnt if completed else None, last_sync_action=last)
    if timed_out:
        return True, dict(result, msg="the check of %s did not finish within %d s (at %s %%); it was stopped"
                          % (kernel_name, params["wait_timeout"], (samples[-1]["percent"] if samples else "?")))
    if not completed:
        return True, dict(result, msg="the check of %s ended without finishing: md/sync_action is %s, last_sync_action %s"
                          % (kernel_name, final_action, last))
    result["findings"] = mismatch_findings(dict(base, kernel_name=kernel_name, level=base.get("level")), mismatch_cnt)
    return False, dict(result, msg="checked %s in %s s: %d mismatched sectors" % (kernel_name, seconds, mismatch_cnt or 0))
