# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: md_check's rules - an array's sysfs state in, the writes or refusals out.

A check (`check` written to md/sync_action) reads every copy or parity block of a redundant
array and counts the sectors that disagree in md/mismatch_cnt; it changes no data. `repair`
would rewrite the disagreeing blocks from whichever copy md reads first, so this module never
writes it. Nothing here reads or writes a file: _md_check_host does, through the plan made here.
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._findings import make_finding

SPEED_MAX_SOURCE = "md/sync_speed_max"
CHECKABLE_LEVELS = ("raid1", "raid4", "raid5", "raid6", "raid10")
# sync_action values under which md is rebuilding or reshaping on its own.
BUSY_ACTIONS = ("resync", "recover", "reshape", "repair")
READ_ONLY_STATES = ("readonly", "read-auto")
INACTIVE_STATES = ("clear", "inactive", "suspended")
_SPEED_RE = re.compile(r"^(?P<kb>\d+) \((?P<source>system|local)\)$")


def parse_speed_limit(text: str) -> dict:
    """md/sync_speed_max or _min: {kb_s, source}; source `system` follows /proc/sys/dev/raid, `local` is this array's."""
    line = text.strip()
    match = _SPEED_RE.match(line)
    if not match:
        raise ParseError(SPEED_MAX_SOURCE, "expected 'NUMBER (system)' or 'NUMBER (local)'", 1, line)
    return {"kb_s": int(match.group("kb")), "source": match.group("source")}


def _refusal(rule: str, detail: str) -> dict:
    return {"rule": rule, "detail": detail}


def check_refusals(array: dict) -> list[dict]:
    """Why a check must not start on ARRAY (its sysfs values: level, degraded, sync_action, array_state, resync_start)."""
    name = array["kernel_name"]
    refusals = []
    if array.get("level") not in CHECKABLE_LEVELS:
        refusals.append(_refusal("not_redundant", "%s is %s: md checks only RAID1, 4, 5, 6 and 10" % (name, array.get("level"))))
    if array.get("array_state") in INACTIVE_STATES:
        refusals.append(_refusal("inactive", "%s is %s: it serves no data" % (name, array["array_state"])))
    if array.get("array_state") in READ_ONLY_STATES:
        refusals.append(_refusal("read_only", "%s is %s: a check needs it read-write, and on an auto-read-only array the "
                                 "write to sync_action makes it read-write and starts any pending resync; switch it "
                                 "read-write yourself when that is what you want" % (name, array["array_state"])))
    degraded = array.get("degraded")
    if degraded not in (None, "0"):
        refusals.append(_refusal("degraded", "%s has %s missing member(s): there is no full set of copies to compare; "
                                 "replace the missing member first (finding MD_ARRAY_DEGRADED)" % (name, degraded)))
    action = array.get("sync_action")
    if action in BUSY_ACTIONS:
        refusals.append(_refusal("sync_running", "%s is running a %s: wait until md/sync_action is idle; until a resync or "
                                 "recovery ends, the copies may differ and reads may come from either" % (name, action)))
    elif action == "frozen":
        refusals.append(_refusal("sync_frozen", "%s has its sync frozen (md/sync_action is frozen): something holds md's "
                                 "rebuilds on purpose; find out what before starting a check" % name))
    elif action == "idle" and array.get("resync_start") not in (None, "none", ""):
        refusals.append(_refusal("resync_pending", "%s has a resync pending from sector %s: md starts it at the next write; "
                                 "let it finish first" % (name, array["resync_start"])))
    return refusals


def plan_check(array: dict, request: dict) -> dict:
    """{action, refusals, writes: [(attribute, value)]} for state=started or stopped on ARRAY.

    action: `start`, `already_running` (a check is under way: it is waited for, not restarted),
    `stop`, `none` (nothing to stop).
    """
    action = array.get("sync_action")
    if request["state"] == "stopped":
        if action == "check":
            return {"action": "stop", "refusals": [], "writes": [("sync_action", "idle")]}
        if action in BUSY_ACTIONS:
            return {"action": "none", "refusals": [_refusal("not_a_check", "%s is running a %s, not a check: md's own "
                                                            "rebuilds are never stopped by this module"
                                                            % (array["kernel_name"], action))], "writes": []}
        return {"action": "none", "refusals": [], "writes": []}
    if action == "check" and not check_refusals(dict(array, sync_action="idle")):
        writes = [("sync_speed_max", str(request["speed_limit_kb"]))] if request.get("speed_limit_kb") else []
        return {"action": "already_running", "refusals": [], "writes": writes}
    refusals = check_refusals(array)
    if refusals:
        return {"action": "none", "refusals": refusals, "writes": []}
    writes = []
    if request.get("speed_limit_kb"):
        writes.append(("sync_speed_max", str(request["speed_limit_kb"])))
    writes.append(("sync_action", "check"))
    return {"action": "start", "refusals": [], "writes": writes}


def speed_restore_value(before: dict) -> str:
    """What to write to md/sync_speed_max to put BEFORE back: `system` to follow the host-wide limit again."""
    return "system" if before["source"] == "system" else str(before["kb_s"])


def progress(completed: tuple[int, int] | None, speed: str | None) -> dict:
    """{percent, done_sectors, total_sectors, speed_kb_s} from md/sync_completed and md/sync_speed."""
    done, total = completed if completed else (None, None)
    return {
        "percent": round(100.0 * done / total, 1) if completed and total else None,
        "done_sectors": done,
        "total_sectors": total,
        "speed_kb_s": int(speed) if speed and speed.isdecimal() else None,
    }


def mismatch_findings(array: dict, mismatch_cnt: int | None) -> list[dict]:
    if not mismatch_cnt:
        return []
    return [make_finding(
        "MD_MISMATCH_CNT", "warning", "/dev/" + array["kernel_name"],
        "%s: the check found %d mismatched sectors; do not run repair, find the member that disagrees with "
        "mirror_compare (docs/findings.md, MD_MISMATCH_CNT)" % (array["kernel_name"], mismatch_cnt),
        {"mismatch_cnt": mismatch_cnt, "level": array.get("level"), "members": array.get("members") or []})]


def refusal_message(refusals: list[dict]) -> str:
    return "refused, nothing was written:\n" + "\n".join("%s: %s" % (r["rule"], r["detail"]) for r in refusals)
