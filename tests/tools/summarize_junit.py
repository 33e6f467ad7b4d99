"""Adds up pytest JUnit XML reports and the pass/fail of the non-pytest stages.

Prints one line per stage and, last, the closing line `total: N passed, N failed, N skipped`.
Exits 1 when anything failed or when no test ran at all.
"""

from __future__ import annotations

import sys
from xml.etree import ElementTree
from pathlib import Path


def count_junit(path: Path) -> tuple[int, int, int]:
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def main(junit_dir: str, stages_file: str) -> int:
    passed = failed = skipped = 0
    for line in Path(stages_file).read_text().splitlines():
        name, status = line.split(" ", 1)
        print("stage %-28s %s" % (name, status))
        if status == "ok":
            passed += 1
        else:
            failed += 1
    for report in sorted(Path(junit_dir).glob("*.xml")):
        p, f, s = count_junit(report)
        print("tests %-28s %d passed, %d failed, %d skipped" % (report.stem, p, f, s))
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print("total: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
