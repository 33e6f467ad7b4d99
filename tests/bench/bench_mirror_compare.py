# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What mirror_compare's engine costs next to cmp and a plain read, on two 1 GiB files in the page cache.

Writes a random 1 GiB file and a copy of it with about 1000 single bytes changed at scattered
places, reads both once so they are in the page cache (nothing is dropped: no root needed),
then takes the median of N runs of: the engine on the pair at the default block size and at
256 KiB, `cmp -l a b | wc -l`, and `cat a b > /dev/null`. Checks that the engine's differing byte
count equals cmp's line count. Last, the engine on 256 MiB of fully different data, where every
byte must be counted. With the files in the page cache this measures CPU and memory cost, not
disks. A benchmark, not a test: it prints figures and asserts nothing about time.

    python3 tests/bench/bench_mirror_compare.py [--rounds N] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIZE = 1 << 30
FULLY_DIFFERENT_SIZE = 256 << 20
DIFFERENCES = 1000
MIB = float(1 << 20)


def import_engine():
    """The engine as Ansible loads it, through an ansible_collections path to this checkout."""
    root = Path(tempfile.mkdtemp(prefix="lifeline-bench-"))
    namespace = root / "ansible_collections" / "lifeline"
    namespace.mkdir(parents=True)
    (namespace / "storage").symlink_to(REPO)
    sys.path.insert(0, str(root))
    from ansible_collections.lifeline.storage.plugins.module_utils import _mirror_compare
    return _mirror_compare, root


def write_random(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    chunk = 16 << 20
    with open(path, "wb") as out:
        for _chunk in range(size // chunk):
            out.write(rng.randbytes(chunk))


def make_pair(directory: Path) -> tuple[Path, Path, int]:
    original, changed = directory / "a.img", directory / "b.img"
    write_random(original, SIZE, 1)
    shutil.copyfile(original, changed)
    positions = random.Random(2).sample(range(SIZE), DIFFERENCES)
    with open(changed, "r+b") as out:
        for position in positions:
            out.seek(position)
            byte = out.read(1)[0]
            out.seek(position)
            out.write(bytes([byte ^ 0xFF]))
    return original, changed, len(positions)


def warm(*paths: Path) -> None:
    for path in paths:
        with open(path, "rb") as source:
            while source.read(16 << 20):
                pass


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    outcome = function()
    return time.perf_counter() - started, outcome


def median_run(function, rounds: int) -> tuple[float, object]:
    times, outcome = [], None
    for _round in range(rounds):
        elapsed, outcome = timed(function)
        times.append(elapsed)
    return statistics.median(times), outcome


def engine_run(engine, path_a: Path, path_b: Path, length: int, block_size: int):
    with engine.FileRangeReader(str(path_a)) as reader_a, engine.FileRangeReader(str(path_b)) as reader_b:
        return engine.compare_ranges(reader_a, 0, reader_b, 0, length, block_size=block_size)


def cmp_lines(path_a: Path, path_b: Path) -> int:
    cmp = subprocess.Popen(["cmp", "-l", str(path_a), str(path_b)], stdout=subprocess.PIPE)
    count = subprocess.run(["wc", "-l"], stdin=cmp.stdout, capture_output=True, text=True, check=True)
    cmp.stdout.close()
    cmp.wait()
    return int(count.stdout.split()[0])


def cat_both(path_a: Path, path_b: Path) -> None:
    with open(os.devnull, "wb") as sink:
        subprocess.run(["cat", str(path_a), str(path_b)], stdout=sink, check=True)


def line(label: str, seconds: float, size: int) -> None:
    print("  %-34s %7.3f s  %8.0f MiB/s per file" % (label, seconds, size / MIB / seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/var/tmp", help="where the 2.3 GiB of test files go")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    args = parser.parse_args()
    engine, import_root = import_engine()
    work = Path(tempfile.mkdtemp(prefix="mirror-compare-bench-", dir=args.dir))
    try:
        print("writing 2 x 1 GiB in %s (%d CPUs)" % (work, os.cpu_count() or 0))
        path_a, path_b, changed = make_pair(work)
        warm(path_a, path_b)
        print("median of %d runs, both files in the page cache:" % args.rounds)
        default_block = engine.DEFAULT_BLOCK_SIZE
        engine_time, comparison = median_run(lambda: engine_run(engine, path_a, path_b, SIZE, default_block), args.rounds)
        line("engine, block_size %d KiB" % (default_block >> 10), engine_time, SIZE)
        small_time, small = median_run(lambda: engine_run(engine, path_a, path_b, SIZE, 256 << 10), args.rounds)
        line("engine, block_size 256 KiB", small_time, SIZE)
        cmp_time, cmp_count = median_run(lambda: cmp_lines(path_a, path_b), args.rounds)
        line("cmp -l a b | wc -l", cmp_time, SIZE)
        cat_time, _nothing = median_run(lambda: cat_both(path_a, path_b), args.rounds)
        line("cat a b > /dev/null", cat_time, SIZE)
        print("  engine/cmp time %.2f, engine/cat time %.2f (256 KiB blocks: %.2f and %.2f)"
              % (engine_time / cmp_time, engine_time / cat_time, small_time / cmp_time, small_time / cat_time))
        counts = (comparison.differing_bytes, small.differing_bytes, cmp_count, changed)
        agree = len(set(counts)) == 1
        print("  differing bytes: engine %d, engine 256 KiB %d, cmp %d, written %d: %s"
              % (counts + ("agree" if agree else "DISAGREE",)))
        print("  first difference at byte %d, %d regions listed, truncated: %s"
              % (comparison.first_difference, len(comparison.regions), comparison.regions_truncated))

        random_path = work / "random.img"
        write_random(random_path, FULLY_DIFFERENT_SIZE, 3)
        warm(random_path)
        print("fully different data, %d MiB:" % (FULLY_DIFFERENT_SIZE >> 20))
        different_time, different = median_run(
            lambda: engine_run(engine, path_a, random_path, FULLY_DIFFERENT_SIZE, default_block), args.rounds)
        line("engine, every byte counted", different_time, FULLY_DIFFERENT_SIZE)
        print("  differing bytes %d of %d (%.2f%%, random data: about 99.61%% expected)"
              % (different.differing_bytes, FULLY_DIFFERENT_SIZE, 100.0 * different.differing_bytes / FULLY_DIFFERENT_SIZE))
        if not agree:
            raise SystemExit("the engine and cmp disagree on the number of differing bytes")
    finally:
        if args.keep:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(import_root, ignore_errors=True)


if __name__ == "__main__":
    main()
