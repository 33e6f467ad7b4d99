# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the pre-install gate's sampled scan adds: disk_guard on blank disks with sample_count 0 and the default.

Both cases run alternating against the same blank disks of a running lab guest (the qemu
guest by default; LIFELINE_LAB_BACKEND=uml for the UML one), through ad-hoc `ansible` calls,
and the script prints the median and spread of each and their difference per disk. It zeroes
the disks it names first (lab disks only). A benchmark, not a test: it asserts nothing about time.

    python3 tests/bench/bench_disk_guard_sampling.py [--disks VIRT0002,IDE0001] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "tests" / "lab" / "lab")


def timed_guard(inventory: str, disks: str, sample_count: int) -> float:
    args = "disks=%s sample_count=%d sample_seed=1" % (disks, sample_count)
    started = time.perf_counter()
    done = subprocess.run(["ansible", "-i", inventory, "all", "--become", "-m", "lifeline.storage.disk_guard", "-a", args],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "SUCCESS" not in done.stdout:
        raise SystemExit("disk_guard failed (%d): %s" % (done.returncode, done.stdout[-2000:] + done.stderr[-2000:]))
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disks", default="VIRT0002,IDE0001", help="serials of lab disks to zero and check")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    inventory = subprocess.run([LAB, "inventory"], capture_output=True, text=True, check=True).stdout.strip()
    serials = options.disks.split(",")
    for serial in serials:
        zero = "d=$(ls /dev/disk/by-id/*[-_]%s | head -n1) && blkdiscard --zeroout $d" % serial
        subprocess.run([LAB, "ssh", zero], check=True)
    cases = {"sample_count=0": 0, "sample_count=256 (default)": 256}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for count in cases.values():
        timed_guard(inventory, options.disks, count)  # warm-up
    for _round in range(options.rounds):
        for name, count in cases.items():
            times[name].append(timed_guard(inventory, options.disks, count))
    print("disks: %s, rounds: %d (alternating, after one warm-up each)" % (options.disks, options.rounds))
    for name, samples in times.items():
        print("%-28s median %6.2f s   min %6.2f s   max %6.2f s" % (name, statistics.median(samples), min(samples), max(samples)))
    added = statistics.median(times["sample_count=256 (default)"]) - statistics.median(times["sample_count=0"])
    print("added by sampling: %.2f s for %d disks, %.2f s per disk (321 reads of 64 KiB each)" % (added, len(serials), added / len(serials)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
