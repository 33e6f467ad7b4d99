# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one storage_facts run costs, next to ansible's own setup with gather_subset=hardware.

Runs both, alternating, against the same host (the lab guest by default) and prints the
median and spread of the wall time of each ad-hoc `ansible` call (controller start-up, SSH
and the module's run on the host; the first two are the same for both). A benchmark, not a
test: it prints figures and asserts nothing about time.

    python3 tests/bench/bench_storage_facts.py [--inventory PATH] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CASES = {
    "lifeline.storage.storage_facts gather_subset=md": ["-m", "lifeline.storage.storage_facts", "-a", "gather_subset=md"],
    "ansible.builtin.setup gather_subset=hardware": ["-m", "ansible.builtin.setup", "-a", "gather_subset=!all,hardware"],
}


def lab_inventory() -> str:
    return subprocess.run([str(REPO / "tests" / "lab" / "lab"), "inventory"], capture_output=True, text=True, check=True).stdout.strip()


def timed_call(inventory: str, args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(["ansible", "-i", inventory, "all", "--become"] + args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "SUCCESS" not in done.stdout:
        raise SystemExit("call failed (%d): %s" % (done.returncode, done.stdout[-2000:] + done.stderr[-2000:]))
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", help="Ansible inventory (default: the lab guest's)")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    inventory = options.inventory or lab_inventory()

    times: dict[str, list[float]] = {name: [] for name in CASES}
    for name, args in CASES.items():
        timed_call(inventory, args)  # warm-up: SSH control master, module caches
    for _round in range(options.rounds):
        for name, args in CASES.items():
            times[name].append(timed_call(inventory, args))

    print("host: %s, rounds: %d (alternating, after one warm-up each)" % (inventory, options.rounds))
    for name, samples in times.items():
        print("%-52s median %6.2f s   min %6.2f s   max %6.2f s" % (name, statistics.median(samples), min(samples), max(samples)))
    first, second = (statistics.median(times[name]) for name in CASES)
    print("ratio storage_facts / setup(hardware): %.2f" % (first / second))
    return 0


if __name__ == "__main__":
    sys.exit(main())
