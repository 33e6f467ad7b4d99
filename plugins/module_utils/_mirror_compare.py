# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: compare mirror members byte for byte, read-only.

The engine (compare_members) reads two or more ranges with one reader thread each and reports
the first byte at which they do not all agree, the exact number of such bytes and a bounded list
of differing regions. Each differing 4 KiB page is put to a vote: members that hold the same
bytes there form a group, a group of more than half the members is the majority, and the other
members disagree with it. With two members no group can be a majority, so two-member results
name nobody. Members are indexes here; _mirror_plan names them. Every open here is O_RDONLY.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

# Differences are located to a 4 KiB page, the unit in which file systems and md write.
PAGE_SIZE = 4096
# Unequal blocks are narrowed in 64 KiB chunks first: few calls, and a chunk pair stays in cache.
CHUNK_SIZE = 64 * 1024
# Differing pages are XORed at most this many bytes at a time: larger integers fall out of cache.
XOR_SPAN = 256 * 1024
DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024
DEFAULT_MAX_REGIONS = 64
# Blocks each reader may read ahead of the comparison: enough to keep every device busy.
READ_AHEAD_BLOCKS = 3


class ReadFailed(RuntimeError):
    """A device that could not be read, or that ended before the range did."""


class RangeReader(Protocol):
    """Anything the engine can read from: a name for messages and positioned reads into a buffer."""

    name: str

    def read_into(self, view: memoryview, position: int) -> int:
        """Fill VIEW from byte POSITION; return how many bytes were read (0 at the end)."""


class FileRangeReader:
    """A device or regular file opened read-only; close() or use it as a context manager.

    Reads are preadv into the caller's buffer, not mmap: a bad sector under a mapping kills the
    process with SIGBUS, while a read returns EIO that can be reported.
    """

    def __init__(self, path: str) -> None:
        self.name = path
        self._fd = os.open(path, os.O_RDONLY)
        if hasattr(os, "posix_fadvise"):
            # A hint for a larger read-ahead; it reads nothing and writes nothing.
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)

    def read_into(self, view: memoryview, position: int) -> int:
        return os.preadv(self._fd, [view], position)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "FileRangeReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


Groups = tuple  # tuple[tuple[int, ...], ...]: member indexes that hold equal bytes, by first index


@dataclass
class Comparison:
    """What compare_members found; offsets are relative to the start of the compared range.

    The per-member lists are indexed like the ranges given; a member's disagreeing bytes are the
    bytes in which it differs from the majority, counted only in pages where there is one.
    """

    members: int = 2
    bytes_compared: int = 0
    differing_bytes: int = 0
    first_difference: int | None = None
    regions: list[dict] = field(default_factory=list)
    regions_truncated: bool = False
    seconds: float = 0.0
    no_majority_bytes: int = 0
    no_majority_regions: int = 0
    disagreeing_bytes: list[int] = field(default_factory=list)
    disagreeing_regions: list[int] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.differing_bytes == 0

    def as_dict(self) -> dict:
        seconds = round(self.seconds, 3)
        mib_per_second = self.bytes_compared / float(1 << 20) / self.seconds if self.seconds > 0 else None
        return {
            "identical": self.identical,
            "first_difference": self.first_difference,
            "differing_bytes": self.differing_bytes,
            "regions": [dict(region) for region in self.regions],
            "regions_truncated": self.regions_truncated,
            "bytes_compared": self.bytes_compared,
            "seconds": seconds,
            "mib_per_second": round(mib_per_second, 1) if mib_per_second is not None else None,
            "no_majority_bytes": self.no_majority_bytes,
            "no_majority_regions": self.no_majority_regions,
        }


def majority_of(groups: Groups, members: int) -> tuple[int, ...] | None:
    """The group holding more than half of MEMBERS, or None."""
    largest = max(groups, key=len)
    return largest if 2 * len(largest) > members else None


def ordered_groups(groups: Groups) -> list[list[int]]:
    """Groups as listed in results: largest first, then by first member."""
    return [list(group) for group in sorted(groups, key=lambda group: (-len(group), group[0]))]


class _RegionList:
    """Differing runs of pages, in order, merged into regions and kept up to a bound.

    A region is a maximal run of consecutive pages (counted from the start of the range) that
    each hold a differing byte and in which the members fall into the same groups; it runs from
    its first differing byte to its last. With two members the groups of a differing page are
    always the same, so only a whole equal page ends a region.
    """

    def __init__(self, max_regions: int, members: int) -> None:
        self.max_regions = max_regions
        self.members = members
        self.regions: list[dict] = []
        self.truncated = False
        self.first_difference: int | None = None
        self.no_majority_regions = 0
        self.disagreeing_regions = [0] * members
        self._open: list | None = None  # [first byte, end byte, last page, groups]

    def add(self, first_page: int, last_page: int, first_byte: int, last_byte: int, groups: Groups) -> None:
        if self.first_difference is None:
            self.first_difference = first_byte
        if self._open is not None and first_page == self._open[2] + 1 and groups == self._open[3]:
            self._open[1], self._open[2] = last_byte + 1, last_page
            return
        self._close()
        self._open = [first_byte, last_byte + 1, last_page, groups]

    def _close(self) -> None:
        if self._open is None:
            return
        first_byte, end_byte, _last_page, groups = self._open
        self._open = None
        majority = majority_of(groups, self.members)
        disagreeing = [] if majority is None else [index for index in range(self.members) if index not in majority]
        if majority is None:
            self.no_majority_regions += 1
        for index in disagreeing:
            self.disagreeing_regions[index] += 1
        if len(self.regions) >= self.max_regions:
            self.truncated = True
            return
        region: dict = {"offset": first_byte, "length": end_byte - first_byte}
        if self.members > 2:
            region.update(groups=ordered_groups(groups), disagreeing=disagreeing)
        self.regions.append(region)

    def finish(self) -> None:
        self._close()


def _count_run(views: list[memoryview], start: int, end: int) -> tuple[int, int, int]:
    """(bytes at which VIEWS[*][start:end] do not all agree, first and last such index); they must differ.

    The XOR of two ranges read as little-endian integers has a zero byte exactly where the two
    are equal, and OR-ing the XORs against the first view keeps that true for many; counting
    zero bytes runs at C speed, a byte-by-byte loop would not.
    """
    size = end - start
    reference = int.from_bytes(views[0][start:end], "little")
    difference = 0
    for view in views[1:]:
        difference |= reference ^ int.from_bytes(view[start:end], "little")
    last = start + (difference.bit_length() - 1) // 8
    difference_bytes = difference.to_bytes(size, "little")
    first = start + size - len(difference_bytes.lstrip(b"\0"))
    return size - difference_bytes.count(0), first, last


def _page_groups(buffers: list[bytearray], views: list[memoryview], start: int, end: int) -> Groups:
    """Member indexes grouped by equal bytes in [start:end), each group in index order."""
    groups: list[list[int]] = []
    for index, view in enumerate(views):
        for group in groups:
            if buffers[group[0]].startswith(view[start:end], start):
                group.append(index)
                break
        else:
            groups.append([index])
    return tuple(tuple(group) for group in groups)


def _differing_pages(buffers: list[bytearray], views: list[memoryview], length: int) -> list[tuple[int, Groups]]:
    """(page index, groups) of each page in the first LENGTH bytes on which the members do not all agree.

    startswith is a memcmp that needs no copy; a chunk on which every member equals the first is skipped whole.
    """
    pages: list[tuple[int, Groups]] = []
    first = buffers[0]
    for chunk_start in range(0, length, CHUNK_SIZE):
        chunk_end = min(length, chunk_start + CHUNK_SIZE)
        if all(first.startswith(view[chunk_start:chunk_end], chunk_start) for view in views[1:]):
            continue
        for page_start in range(chunk_start, chunk_end, PAGE_SIZE):
            groups = _page_groups(buffers, views, page_start, min(chunk_end, page_start + PAGE_SIZE))
            if len(groups) > 1:
                pages.append((page_start // PAGE_SIZE, groups))
    return pages


def _page_runs(pages: list[tuple[int, Groups]]) -> list[tuple[int, int, Groups]]:
    """Consecutive pages with the same groups as (first, last, groups), at most XOR_SPAN bytes each."""
    pages_per_run = XOR_SPAN // PAGE_SIZE
    runs: list[tuple[int, int, Groups]] = []
    for page, groups in pages:
        if runs and runs[-1][1] == page - 1 and runs[-1][2] == groups and page - runs[-1][0] < pages_per_run:
            runs[-1] = (runs[-1][0], page, groups)
        else:
            runs.append((page, page, groups))
    return runs


def _compare_block(buffers: list[bytearray], length: int, block_start: int, regions: _RegionList,
                   result: Comparison) -> None:
    """Compare the first LENGTH bytes of the members' buffers read at BLOCK_START; count into RESULT.

    startswith is a memcmp that needs no copy, also when a short last block fills only part of a buffer.
    """
    views = [memoryview(buffer) for buffer in buffers]
    if all(buffers[0].startswith(view[:length]) for view in views[1:]):
        return
    first_page_of_block = block_start // PAGE_SIZE
    for first_page, last_page, groups in _page_runs(_differing_pages(buffers, views, length)):
        start, end = first_page * PAGE_SIZE, min(length, (last_page + 1) * PAGE_SIZE)
        count, first, last = _count_run(views, start, end)
        result.differing_bytes += count
        majority = majority_of(groups, len(buffers))
        if majority is None:
            result.no_majority_bytes += count
        else:
            for index in range(len(buffers)):
                if index not in majority:
                    result.disagreeing_bytes[index] += _count_run([views[majority[0]], views[index]], start, end)[0]
        regions.add(first_page_of_block + first_page, first_page_of_block + last_page,
                    block_start + first, block_start + last, groups)


class _ReadAhead(threading.Thread):
    """Reads one range block by block into recycled buffers, at most DEPTH blocks ahead of the comparison.

    os.preadv releases the GIL, so every device is read at the same time while the main thread
    compares. The pool of DEPTH + 1 buffers bounds the queue of filled ones. A failure is handed
    over in the queue, in order, as the exception itself.
    """

    def __init__(self, reader: RangeReader, start: int, length: int, block_size: int, depth: int) -> None:
        super().__init__(name="mirror-compare-read", daemon=True)
        self.reader = reader
        self.start_at = start
        self.length = length
        self.block_size = block_size
        self.filled: queue.SimpleQueue = queue.SimpleQueue()
        self.free: queue.SimpleQueue = queue.SimpleQueue()
        for _buffer in range(depth + 1):
            self.free.put(bytearray(block_size))
        self.stopping = threading.Event()

    def run(self) -> None:
        done = 0
        try:
            while done < self.length and not self.stopping.is_set():
                buffer = self.free.get()
                if buffer is None:
                    return
                wanted = min(self.block_size, self.length - done)
                self._fill(memoryview(buffer)[:wanted], self.start_at + done)
                self.filled.put((buffer, wanted))
                done += wanted
        except ReadFailed as error:
            self.filled.put(error)
        except Exception as error:  # pylint: disable=broad-except
            # Anything else would leave the comparison waiting for a block that never comes.
            self.filled.put(ReadFailed("reading %s failed at byte %d: %s" % (self.reader.name, self.start_at + done, error)))

    def _fill(self, view: memoryview, position: int) -> None:
        got = 0
        while got < len(view):
            try:
                count = self.reader.read_into(view[got:], position + got)
            except OSError as error:
                raise ReadFailed("cannot read %s at byte %d: %s"
                                 % (self.reader.name, position + got, error.strerror or error)) from None
            if count <= 0:
                raise ReadFailed("%s ended at byte %d, before the compared range did (byte %d): "
                                 "did the device shrink or vanish?"
                                 % (self.reader.name, position + got, self.start_at + self.length))
            got += count

    def next_block(self) -> tuple[bytearray, int]:
        item = self.filled.get()
        if isinstance(item, ReadFailed):
            raise item
        return item

    def stop(self) -> None:
        self.stopping.set()
        self.free.put(None)


def compare_members(sources: list[tuple[RangeReader, int]], length: int, block_size: int = DEFAULT_BLOCK_SIZE,
                    max_regions: int = DEFAULT_MAX_REGIONS, read_ahead: int = READ_AHEAD_BLOCKS) -> Comparison:
    """Compare LENGTH bytes of each (reader, start) in SOURCES, two or more.

    BLOCK_SIZE must be a multiple of PAGE_SIZE so that pages line up across blocks. Each member
    holds at most READ_AHEAD + 1 blocks. Raises ReadFailed naming the device and byte when a read
    fails or a device ends early.
    """
    if len(sources) < 2:
        raise ValueError("compare at least two ranges, got %d" % len(sources))
    if block_size <= 0 or block_size % PAGE_SIZE:
        raise ValueError("block_size must be a positive multiple of %d" % PAGE_SIZE)
    members = len(sources)
    result = Comparison(members=members, disagreeing_bytes=[0] * members)
    regions = _RegionList(max_regions, members)
    started = time.monotonic()
    readers = [_ReadAhead(reader, start, length, block_size, read_ahead) for reader, start in sources]
    for reader in readers:
        reader.start()
    try:
        while result.bytes_compared < length:
            blocks = [reader.next_block() for reader in readers]
            count = blocks[0][1]
            buffers = [buffer for buffer, _count in blocks]
            _compare_block(buffers, count, result.bytes_compared, regions, result)
            result.bytes_compared += count
            for reader, buffer in zip(readers, buffers):
                reader.free.put(buffer)
    finally:
        for reader in readers:
            reader.stop()
        for reader in readers:
            # A read stuck on a dying disk cannot be interrupted; the thread is a daemon, so do not wait forever.
            reader.join(timeout=5)
    regions.finish()
    result.first_difference = regions.first_difference
    result.regions = regions.regions
    result.regions_truncated = regions.truncated
    result.no_majority_regions = regions.no_majority_regions
    result.disagreeing_regions = regions.disagreeing_regions
    result.seconds = time.monotonic() - started
    return result


def compare_ranges(reader_a: RangeReader, start_a: int, reader_b: RangeReader, start_b: int, length: int,
                   block_size: int = DEFAULT_BLOCK_SIZE, max_regions: int = DEFAULT_MAX_REGIONS,
                   read_ahead: int = READ_AHEAD_BLOCKS) -> Comparison:
    """Compare LENGTH bytes of READER_A from START_A with READER_B from START_B (compare_members of two)."""
    return compare_members([(reader_a, start_a), (reader_b, start_b)], length, block_size=block_size,
                           max_regions=max_regions, read_ahead=read_ahead)
