# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the fleet reports cost on the controller at fleet size, and what a fleet_facts run costs per host.

(a) controller: for 100, 1,000 and 5,000 synthetic hosts, the work the facts role's summary
    does on the controller: fleet_summary (with the replacement list), the JSON and text
    summaries, the HTML report, and one Prometheus textfile per host. Hosts are built from the
    md facts recorded on the lab guest (tests/unit/fixtures/hosts) and the SMART facts of the
    lab's smartctl recordings (see tests/unit/plugins/module_utils/fleet_hosts.py), with each
    host's serials made its own and a failing or watched disk on some hosts. Each size runs in
    a process of its own, so its peak RSS is its own: "peak MiB" includes the input facts.
(b) playbook: playbooks/fleet_facts.yml against N inventory hosts that are all this machine
    (ansible_connection=local), with --forks F: wall time, and the controller's CPU time per
    host (user + system of ansible-playbook and every process it started).

A benchmark, not a test: it prints figures and asserts nothing about time.

    python3 tests/bench/bench_fleet_report.py controller [--sizes 100,1000,5000]
    python3 tests/bench/bench_fleet_report.py playbook [--hosts 500] [--forks 25]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = ("md_degraded", "md_events_diverge", "md_raid1", "md_raid10", "md_raid5_resync", "md_unplug", "lvm")
SERIALS = ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004", "IDE0001", "IDE0002", "NVME0001")


def _import_collection():
    """The collection and the unit tests' recorded-host helpers, importable as in the unit tests."""
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    import conftest  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from plugins.module_utils import fleet_hosts  # pylint: disable=import-outside-toplevel
    return fleet_hosts


def synthetic_fleet(size: int) -> dict[str, dict]:
    fleet_hosts = _import_collection()
    templates = []
    for recording in RECORDINGS:
        state = json.loads((REPO / "tests" / "unit" / "fixtures" / "hosts" / (recording + ".json")).read_text())
        templates.append(state["facts"])  # lifeline_md, or lifeline_lvm for the lvm recording
    smart = fleet_hosts.lab_smart()
    failing = fleet_hosts.failing_disk("WDFAIL01", "/dev/sdc")
    hosts = {}
    for index in range(size):
        facts = dict(templates[index % len(templates)], lifeline_smart=dict(smart, disks=list(smart["disks"])))
        if index % 10 == 3:  # one host in ten has a failing disk beside its arrays
            facts["lifeline_smart"]["disks"].append(failing)
        text = json.dumps(facts)
        for serial in SERIALS + ("WDFAIL01",):
            text = text.replace(serial, "%s-%05d" % (serial, index))
        hosts["host%05d.example.net" % index] = json.loads(text)
    return hosts


def measure_controller(size: int) -> dict:
    """Runs in a child process: builds the fleet, then times the summary's work on it."""
    import jinja2  # pylint: disable=import-outside-toplevel

    started = time.perf_counter()
    fleet = synthetic_fleet(size)
    built = time.perf_counter()
    from ansible_collections.lifeline.storage.plugins.filter.findings import fleet_summary  # pylint: disable=import-outside-toplevel
    from ansible_collections.lifeline.storage.plugins.filter.fleet_report_html import fleet_report_html  # pylint: disable=import-outside-toplevel
    from ansible_collections.lifeline.storage.plugins.filter.prometheus_textfile import prometheus_textfile  # pylint: disable=import-outside-toplevel

    figures = {}
    mark = time.perf_counter()
    summary = fleet_summary(fleet)
    figures["summary_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    summary_json = json.dumps(summary, indent=4, sort_keys=True)
    figures["json_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    template = (REPO / "roles" / "facts" / "templates" / "fleet-summary.txt.j2").read_text()
    text = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True).from_string(template).render(__facts_summary=summary)
    figures["text_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    page = fleet_report_html(summary, (REPO / "docs" / "findings.md").read_text(), "bench")
    figures["html_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    metrics_bytes = sum(len(prometheus_textfile(facts, 0)) for facts in fleet.values())
    figures["metrics_s"] = time.perf_counter() - mark
    figures.update(hosts=size, build_s=built - started, total_s=time.perf_counter() - built,
                   disks=len(summary["replacement"]), json_mib=len(summary_json) / 2**20, text_mib=len(text) / 2**20,
                   html_mib=len(page) / 2**20, metrics_kib_per_host=metrics_bytes / size / 1024,
                   peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures


def run_controller(sizes: list[int]) -> None:
    print("hosts  disks  build s  summary s  json s  text s  html s  metrics s  total s  peak MiB  html MiB  json MiB  text MiB  .prom KiB/host")
    for size in sizes:
        done = subprocess.run([sys.executable, __file__, "_controller_child", str(size)], capture_output=True, text=True, check=True)
        f = json.loads(done.stdout.splitlines()[-1])
        print("%5d  %5d  %7.2f  %9.2f  %6.2f  %6.2f  %6.2f  %9.2f  %7.2f  %8.0f  %8.1f  %8.1f  %8.1f  %14.1f" % (
            f["hosts"], f["disks"], f["build_s"], f["summary_s"], f["json_s"], f["text_s"], f["html_s"], f["metrics_s"],
            f["total_s"], f["peak_mib"], f["html_mib"], f["json_mib"], f["text_mib"], f["metrics_kib_per_host"]))


def run_playbook(hosts: int, forks: int, subsets: str) -> None:
    with tempfile.TemporaryDirectory(prefix="lifeline-bench-fleet-") as work_dir:
        work = Path(work_dir)
        inventory = work / "inventory.ini"
        inventory.write_text("[fleet]\n" + "".join("bench%04d\n" % index for index in range(hosts)) +
                             "[fleet:vars]\nansible_connection=local\nansible_python_interpreter=%s\n" % sys.executable)
        stage = work / "stage"
        subprocess.run([str(REPO / "tests" / "tools" / "stage-collection"), str(stage)], check=True, capture_output=True)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(stage), ANSIBLE_HOST_KEY_CHECKING="False")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            ["ansible-playbook", "-i", str(inventory), "--forks", str(forks), str(REPO / "playbooks" / "fleet_facts.yml"),
             "-e", json.dumps({"facts_report_dir": str(work / "reports"), "facts_pysmart_install": False,
                               "facts_gather_subset": subsets.split(",")})],
            capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        recap = done.stdout[done.stdout.rfind("PLAY RECAP"):].splitlines()
        failed = [line for line in recap if "failed=0" not in line and "unreachable=0" not in line and ":" in line]
        report = work / "reports" / "fleet-report.html"
        print("fleet_facts.yml: %d hosts (ansible_connection=local), --forks %d, subsets %s: exit %d" % (hosts, forks, subsets, done.returncode))
        print("  wall %.1f s (%.3f s per host); controller CPU %.1f s (%.3f s per host, user+system of ansible-playbook, "
              "its workers and the modules they ran)" % (wall, wall / hosts, cpu, cpu / hosts))
        print("  hosts failed or unreachable: %d; fleet-report.html %s" % (
            len(failed), "%.1f MiB" % (report.stat().st_size / 2**20) if report.exists() else "missing"))
        if done.returncode:
            print(done.stdout[-3000:], done.stderr[-2000:])


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_controller_child":
        print(json.dumps(measure_controller(int(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="what", required=True)
    controller = sub.add_parser("controller")
    controller.add_argument("--sizes", default="100,1000,5000")
    book = sub.add_parser("playbook")
    book.add_argument("--hosts", type=int, default=500)
    book.add_argument("--forks", type=int, default=25)
    book.add_argument("--subsets", default="md,lvm,disks,smart")
    args = parser.parse_args()
    if args.what == "controller":
        run_controller([int(size) for size in args.sizes.split(",")])
    else:
        run_playbook(args.hosts, args.forks, args.subsets)


if __name__ == "__main__":
    main()
