# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one storage_facts run costs, next to ansible's own setup with gather_subset=hardware and a ping.

Runs the three, interleaved, against the same host (the lab guest by default) and prints the
minimum, median and maximum wall time of each ad-hoc `ansible` call (controller start-up, SSH
and the module's run on the host), the ratio storage_facts / setup of the minima and of the
medians, and the same ratio of what each costs above a ping. storage_facts gathers every subset;
the host must have pySMART where the facts role installs it (the call fails the benchmark when
its smart subset is unavailable). A benchmark, not a test: it prints figures and asserts nothing
about time.

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

STORAGE_FACTS = "lifeline.storage.storage_facts gather_subset=all"
SETUP = "ansible.builtin.setup gather_subset=hardware"
PING = "ansible.builtin.ping"
CASES = {
    STORAGE_FACTS: ["-m", "lifeline.storage.storage_facts", "-a", "gather_subset=all"],
    SETUP: ["-m", "ansible.builtin.setup", "-a", "gather_subset=!all,hardware"],
    PING: ["-m", "ansible.builtin.ping"],
}
# What storage_facts reports when pySMART (or smartctl) is missing on the host: the run would
# then measure a module that skipped the smart subset.
SMART_MISSING = "SMART_SUBSET_UNAVAILABLE"


def lab_inventory() -> str:
    return subprocess.run([str(REPO / "tests" / "lab" / "lab"), "inventory"], capture_output=True, text=True, check=True).stdout.strip()


def timed_call(inventory: str, name: str, args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(["ansible", "-i", inventory, "all", "--become"] + args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "SUCCESS" not in done.stdout:
        raise SystemExit("call failed (%d): %s" % (done.returncode, done.stdout[-2000:] + done.stderr[-2000:]))
    if name == STORAGE_FACTS and SMART_MISSING in done.stdout:
        raise SystemExit("the smart subset was not gathered (is pySMART installed on the host? run the facts role once)")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", help="Ansible inventory (default: the lab guest's)")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    inventory = options.inventory or lab_inventory()

    times: dict[str, list[float]] = {name: [] for name in CASES}
    for name, args in CASES.items():
        timed_call(inventory, name, args)  # warm-up: SSH control master, module caches
    for _round in range(options.rounds):
        for name, args in CASES.items():
            times[name].append(timed_call(inventory, name, args))

    print("host: %s, rounds: %d (interleaved, after one warm-up each)" % (inventory, options.rounds))
    for name, samples in times.items():
        print("%-50s min %6.2f s   median %6.2f s   max %6.2f s" % (name, min(samples), statistics.median(samples), max(samples)))
    for label, measure in (("min", min), ("median", statistics.median)):
        facts, setup, ping = (measure(times[name]) for name in (STORAGE_FACTS, SETUP, PING))
        above = "%.2f" % ((facts - ping) / (setup - ping)) if setup > ping else "n/a"
        print("ratio storage_facts / setup(hardware), %-6s: %.2f   (above ping: %s)" % (label, facts / setup, above))
    return 0


if __name__ == "__main__":
    sys.exit(main())
