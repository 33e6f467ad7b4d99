# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/tools/apt-lock.sh: apt-get waits a bounded time for the locks and names who holds them."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

APT_LOCK = Path(__file__).resolve().parents[1] / "tools" / "apt-lock.sh"


def test_a_held_lock_is_waited_for_with_a_bound_and_its_holder_is_named(tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "apt-get").write_text("#!/bin/sh\necho \"$@\" > \"$ARGS_FILE\"\n"
                                      "echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1' >&2\n"
                                      "exit 100\n")
    (fake_bin / "apt-get").chmod(0o755)
    lock = tmp_path / "lock-frontend"
    lock.write_text("")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); time.sleep(60)", str(lock)])
    try:
        env = dict(os.environ, PATH="%s:%s" % (fake_bin, os.environ["PATH"]), ARGS_FILE=str(tmp_path / "args"),
                   LIFELINE_APT_LOCK_TIMEOUT="7")
        script = "source %s; apt_lock_files=(%s); apt_get install -y qemu-utils" % (APT_LOCK, lock)
        for _try in range(50):  # until the holder has opened the file
            if any(os.path.realpath(fd) == str(lock) for fd in Path("/proc/%d/fd" % holder.pid).glob("*")
                   if os.path.exists(fd)):
                break
            time.sleep(0.1)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=False)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 100
    assert (tmp_path / "args").read_text().split()[:2] == ["-o", "DPkg::Lock::Timeout=7"]
    assert "could not get an apt or dpkg lock within 7s; held by:" in done.stderr
    assert "pid %d (" % holder.pid in done.stderr and "holds %s" % lock in done.stderr, done.stderr
