# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: running a planned LVM restore on the host, one step at a time.

A step that fails stops the run; the result says which steps completed, so the operator knows
the state the host is in. Every device head is saved, synced and hashed before the step that
writes over it runs.
"""

from __future__ import annotations

import hashlib
import os

from ansible_collections.lifeline.storage.plugins.module_utils._block_read import read_range
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_restore import HEAD_BYTES


def _write_private(path: str, data: bytes) -> None:
    """Write DATA to PATH (mode 0600) and sync it, through a temporary name so no half file is left."""
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)


def save_head(device: str, path: str) -> dict:
    """The first MiB of DEVICE kept at PATH; raises OSError naming what failed."""
    data = read_range(device, 0, HEAD_BYTES)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    _write_private(path, data)
    return {"device": device, "path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def state_after(completed_steps: list[dict], not_run: list[dict]) -> str:
    """One sentence on what the host holds after COMPLETED_STEPS ran and NOT_RUN did not."""
    left = [step["why"] for step in not_run]
    if not completed_steps:
        return "Nothing was written."
    done = "; ".join(step["why"] for step in completed_steps)
    return "Done before it: %s.%s" % (done, " Not run: %s." % "; ".join(left) if left else "")


def run_plan(runner, plan: dict, metadata_text: str, restore_file: str, save_dir: str) -> dict:
    """Run PLAN's steps in order; the completed commands, the saved heads and the error that stopped it, if any."""
    completed: list[dict] = []
    saved: list[dict] = []
    error = None
    try:
        os.makedirs(save_dir, mode=0o700, exist_ok=True)
        _write_private(restore_file, metadata_text.encode("utf-8"))
    except OSError as failure:
        return {"completed": [], "saved_heads": [], "error": "could not write %s or %s: %s. Nothing was written to any device."
                % (restore_file, save_dir, failure)}
    try:
        for number, step in enumerate(plan["steps"], 1):
            try:
                if step["action"] == "save_head":
                    saved.append(save_head(step["device"], step["path"]))
                elif step.get("optional") and not runner.has(step["argv"][0]):
                    continue
                else:
                    runner.run(step["argv"][0], step["argv"][1:])
            except (OSError, CommandError) as failure:
                error = "step %d (%s) failed: %s. %s" % (number, step["command"], failure,
                                                         state_after(completed, plan["steps"][number:]))
                break
            completed.append(step)
    finally:
        try:
            os.unlink(restore_file)
        except OSError:
            pass
    return {"completed": [step["command"] for step in completed], "saved_heads": saved, "error": error}
