# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the smart subset costs on 1, 2, 4 and 8 disks, queried in parallel and one at a time.

Boots a lab guest of its own (separate state directory and ports, so a running lab is left
alone) with 7 NVMe disks beyond the standard set, installs pySMART with the facts role, then
times storage_facts gather_subset=smart on the first N NVMe disks with the default pool and
with smart_max_workers=1. Each figure is the median wall time of ansible-playbook (controller
start-up, SSH and the module's run); "baseline" is the same call on a name that matches no
disk, so "smart cost" = time minus baseline is what the disks themselves cost. A benchmark,
not a test: it prints figures and asserts nothing about time.

    python3 tests/bench/bench_smart.py [--rounds N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tests" / "lab" / "lab"
PYSMART_PATH = "/var/lib/lifeline-storage/python"
COUNTS = (1, 2, 4, 8)


def lab_env(state: Path) -> dict[str, str]:
    return dict(os.environ, LIFELINE_LAB_STATE=str(state), LIFELINE_LAB_SSH_PORT="2232",
                LIFELINE_LAB_INITRD_PORT="2233", LIFELINE_LAB_EXTRA_NVME="7",
                LIFELINE_LAB_DISK_SIZE=os.environ.get("LIFELINE_LAB_DISK_SIZE", "256M"))


def playbook(path: Path, tasks: list[dict], roles: list[dict] | None = None) -> Path:
    play = {"hosts": "all", "gather_facts": False, "become": True, "tasks": tasks}
    if roles:
        play["roles"] = roles
    path.write_text(json.dumps([play]))  # JSON is YAML
    return path


def run(inventory: str, book: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(["ansible-playbook", "-i", inventory, str(book)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit("playbook failed (%d): %s" % (done.returncode, done.stdout[-3000:] + done.stderr[-1000:]))
    return elapsed


def smart_task(devices: list[str], workers: int, result_file: Path) -> list[dict]:
    return [
        {"lifeline.storage.storage_facts": {"gather_subset": ["smart"], "smart_devices": devices, "smart_max_workers": workers},
         "environment": {"PYTHONPATH": PYSMART_PATH}, "register": "result"},
        {"ansible.builtin.copy": {"content": "{{ result.ansible_facts.lifeline_smart | to_json }}", "dest": str(result_file)},
         "delegate_to": "localhost", "become": False},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the benchmark guest running")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lifeline-bench-smart-"))
    env = lab_env(work / "lab")
    subprocess.run([str(LAB), "up"], env=env, check=True)
    try:
        inventory = subprocess.run([str(LAB), "inventory"], env=env, capture_output=True, text=True, check=True).stdout.strip()
        run(inventory, playbook(work / "install.yml", [], roles=[
            {"role": "lifeline.storage.facts", "vars": {"facts_gather_subset": ["smart"], "facts_write_reports": False}}]))
        serials = ["NVME%04d" % n for n in range(1, 9)]
        result_file = work / "result.json"

        def median_of(devices: list[str], workers: int) -> float:
            book = playbook(work / "smart.yml", smart_task(devices, workers, result_file))
            run(inventory, book)  # warm-up
            samples = [run(inventory, book) for _round in range(options.rounds)]
            read = [disk for disk in json.loads(result_file.read_text())["disks"] if disk["query"] == "read"]
            if devices != ["NO-SUCH-DISK"] and len(read) != len(devices):
                raise SystemExit("expected %d disks read, got %d" % (len(devices), len(read)))
            return statistics.median(samples)

        baseline = median_of(["NO-SUCH-DISK"], 8)
        print("lab guest under TCG, 2 vCPUs; %d rounds per figure after one warm-up; median wall time of ansible-playbook"
              % options.rounds)
        print("baseline (no disk queried): %.2f s" % baseline)
        print("%5s %12s %12s %14s %14s %8s" % ("disks", "parallel s", "serial s", "parallel cost", "serial cost", "ratio"))
        for count in COUNTS:
            parallel = median_of(serials[:count], 8)
            serial = median_of(serials[:count], 1)
            cost_parallel, cost_serial = parallel - baseline, serial - baseline
            ratio = cost_parallel / cost_serial if cost_serial > 0 else float("nan")
            print("%5d %12.2f %12.2f %14.2f %14.2f %8.2f" % (count, parallel, serial, cost_parallel, cost_serial, ratio))
    finally:
        if not options.keep:
            subprocess.run([str(LAB), "down"], env=env, check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
