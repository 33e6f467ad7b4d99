"""Passes a molecule run's output through and writes how long each scenario and step took.

    molecule test ... 2>&1 | python3 scenario_times.py TIMES.tsv

molecule logs `Executing` when a step of a scenario starts; a step lasts until the next one
starts or the output ends. TIMES.tsv gets one line per step: scenario, step, seconds.
"""

from __future__ import annotations

import re
import sys
import time

# Molecule's step line: "INFO     [md_raid1 > converge] Executing" (colour codes removed first).
STEP_START = re.compile(r"\[(?P<scenario>[A-Za-z0-9_.-]+) > (?P<step>[a-z_]+)\] Executing")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def main(times_path: str) -> int:
    steps: list[tuple[str, str, float]] = []
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        found = STEP_START.search(COLOUR.sub("", line))
        if found:
            steps.append((found["scenario"], found["step"], time.monotonic()))
    ended = time.monotonic()
    with open(times_path, "w", encoding="utf-8") as times:
        for index, (scenario, step, started) in enumerate(steps):
            finished = steps[index + 1][2] if index + 1 < len(steps) else ended
            times.write("%s\t%s\t%.0f\n" % (scenario, step, finished - started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
