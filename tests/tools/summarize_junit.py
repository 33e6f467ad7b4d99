"""Adds up pytest JUnit XML reports and the pass/fail of the non-pytest stages.

    summarize_junit.py JUNIT_DIR STAGES_FILE [WORK_DIR TOTAL_SECONDS]

Prints one line per stage and per report; with WORK_DIR, the seconds of every stage and lab
scenario (from the scenarios-GROUP.tsv files tests/run-all leaves there) and the run's total
against CI's limit; last, the closing line `total: N passed, N failed, N skipped`.
Exits 1 when anything failed or when no test ran at all.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from xml.etree import ElementTree

CI_LIMIT_SECONDS = 5400


def count_junit(path: Path) -> tuple[int, int, int]:
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def read_stages(stages_file: Path) -> list[tuple[str, str, str]]:
    """(name, status, seconds) per stage line: tab-separated, seconds may be missing."""
    stages = []
    for line in stages_file.read_text().splitlines():
        name, status, seconds = (line.split("\t") + ["", ""])[:3]
        stages.append((name, status, seconds))
    return stages


def scenario_seconds(times_file: Path) -> dict[str, dict[str, int]]:
    """Seconds per scenario and step, from a scenarios-GROUP.tsv file."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in times_file.read_text().splitlines():
        scenario, step, seconds = line.split("\t")
        table[scenario][step] += int(seconds)
    return table


def print_time_table(stages: list[tuple[str, str, str]], work_dir: Path, total_seconds: int) -> None:
    print("%-34s %8s" % ("seconds", ""))
    for name, _status, seconds in stages:
        print("stage %-28s %8s" % (name, seconds or "?"))
    for times_file in sorted(work_dir.glob("scenarios-*.tsv")):
        group = times_file.stem.split("-", 1)[1]
        for scenario, steps in scenario_seconds(times_file).items():
            detail = ", ".join("%s %d" % (step, seconds) for step, seconds in steps.items())
            print("  %-32s %8d  (%s)" % ("%s/%s" % (group, scenario), sum(steps.values()), detail))
    share = 100.0 * total_seconds / CI_LIMIT_SECONDS
    print("run %-30s %8d  of CI's %d (%.0f %%)" % ("total", total_seconds, CI_LIMIT_SECONDS, share))


def main(argv: list[str]) -> int:
    junit_dir, stages_file = Path(argv[0]), Path(argv[1])
    stages = read_stages(stages_file)
    passed = failed = skipped = 0
    for name, status, _seconds in stages:
        print("stage %-28s %s" % (name, status))
        if status == "ok":
            passed += 1
        else:
            failed += 1
    for report in sorted(junit_dir.glob("*.xml")):
        p, f, s = count_junit(report)
        print("tests %-28s %d passed, %d failed, %d skipped" % (report.stem, p, f, s))
        passed, failed, skipped = passed + p, failed + f, skipped + s
    if len(argv) >= 4:
        print_time_table(stages, Path(argv[2]), int(argv[3]))
    print("total: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
