# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: compare two mirror members byte for byte, read-only.

The engine (compare_ranges) reads two ranges with one reader thread each and reports the first
differing byte, the exact number of differing bytes and a bounded list of differing regions.
Every open here is O_RDONLY. Which ranges to compare (each device's md data area) is worked out
by _mirror_plan; the module file only wires the two together.
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
# Blocks each reader may read ahead of the comparison: enough to keep both devices busy.
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


@dataclass
class Comparison:
    """What compare_ranges found; offsets are relative to the start of the compared range."""

    bytes_compared: int = 0
    differing_bytes: int = 0
    first_difference: int | None = None
    regions: list[dict] = field(default_factory=list)
    regions_truncated: bool = False
    seconds: float = 0.0

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
        }


class _RegionList:
    """Differing runs of pages, in order, merged into regions and kept up to a bound.

    A region is a maximal run of consecutive pages (counted from the start of the range) that
    each hold a differing byte; it runs from its first differing byte to its last.
    """

    def __init__(self, max_regions: int) -> None:
        self.max_regions = max_regions
        self.regions: list[dict] = []
        self.truncated = False
        self.first_difference: int | None = None
        self._open: list[int] | None = None  # [first byte, end byte, last page]

    def add(self, first_page: int, last_page: int, first_byte: int, last_byte: int) -> None:
        if self.first_difference is None:
            self.first_difference = first_byte
        if self._open is not None and first_page == self._open[2] + 1:
            self._open[1], self._open[2] = last_byte + 1, last_page
            return
        self._close()
        self._open = [first_byte, last_byte + 1, last_page]

    def _close(self) -> None:
        if self._open is None:
            return
        if len(self.regions) < self.max_regions:
            self.regions.append({"offset": self._open[0], "length": self._open[1] - self._open[0]})
        else:
            self.truncated = True
        self._open = None

    def finish(self) -> None:
        self._close()


def _compare_run(view_a: memoryview, view_b: memoryview, start: int, end: int) -> tuple[int, int, int]:
    """(differing bytes, first and last differing index) of VIEW_A/VIEW_B[start:end], which differ.

    The XOR of the two ranges read as little-endian integers has a zero byte exactly where the
    two ranges are equal; counting zero bytes runs at C speed, a byte-by-byte loop would not.
    """
    size = end - start
    difference = int.from_bytes(view_a[start:end], "little") ^ int.from_bytes(view_b[start:end], "little")
    last = start + (difference.bit_length() - 1) // 8
    difference_bytes = difference.to_bytes(size, "little")
    first = start + size - len(difference_bytes.lstrip(b"\0"))
    return size - difference_bytes.count(0), first, last


def _unequal_pages(buffer_a: bytearray, view_b: memoryview, length: int) -> list[int]:
    """Indexes of the pages in the first LENGTH bytes that differ; startswith is a memcmp, no copy."""
    pages: list[int] = []
    for chunk_start in range(0, length, CHUNK_SIZE):
        chunk_end = min(length, chunk_start + CHUNK_SIZE)
        if buffer_a.startswith(view_b[chunk_start:chunk_end], chunk_start):
            continue
        for page_start in range(chunk_start, chunk_end, PAGE_SIZE):
            page_end = min(chunk_end, page_start + PAGE_SIZE)
            if not buffer_a.startswith(view_b[page_start:page_end], page_start):
                pages.append(page_start // PAGE_SIZE)
    return pages


def _page_runs(pages: list[int]) -> list[tuple[int, int]]:
    """Consecutive page indexes grouped as (first, last), at most XOR_SPAN bytes each."""
    pages_per_run = XOR_SPAN // PAGE_SIZE
    runs: list[tuple[int, int]] = []
    for page in pages:
        if runs and runs[-1][1] == page - 1 and page - runs[-1][0] < pages_per_run:
            runs[-1] = (runs[-1][0], page)
        else:
            runs.append((page, page))
    return runs


def _compare_block(buffer_a: bytearray, buffer_b: bytearray, length: int, block_start: int,
                   regions: _RegionList) -> int:
    """Compare the first LENGTH bytes of two buffers read at BLOCK_START; return the differing bytes.

    startswith is a memcmp that needs no copy, also when a short last block fills only part of a buffer.
    """
    view_a, view_b = memoryview(buffer_a), memoryview(buffer_b)
    if buffer_a.startswith(view_b[:length]):
        return 0
    differing = 0
    first_page_of_block = block_start // PAGE_SIZE
    for first_page, last_page in _page_runs(_unequal_pages(buffer_a, view_b, length)):
        count, first, last = _compare_run(view_a, view_b, first_page * PAGE_SIZE,
                                          min(length, (last_page + 1) * PAGE_SIZE))
        differing += count
        regions.add(first_page_of_block + first_page, first_page_of_block + last_page,
                    block_start + first, block_start + last)
    return differing


class _ReadAhead(threading.Thread):
    """Reads one range block by block into recycled buffers, at most DEPTH blocks ahead of the comparison.

    os.preadv releases the GIL, so both devices are read at the same time while the main thread
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


def compare_ranges(reader_a: RangeReader, start_a: int, reader_b: RangeReader, start_b: int, length: int,
                   block_size: int = DEFAULT_BLOCK_SIZE, max_regions: int = DEFAULT_MAX_REGIONS,
                   read_ahead: int = READ_AHEAD_BLOCKS) -> Comparison:
    """Compare LENGTH bytes of READER_A from START_A with READER_B from START_B.

    BLOCK_SIZE must be a multiple of PAGE_SIZE so that pages line up across blocks. Raises
    ReadFailed naming the device and byte when a read fails or a device ends early.
    """
    if block_size <= 0 or block_size % PAGE_SIZE:
        raise ValueError("block_size must be a positive multiple of %d" % PAGE_SIZE)
    result = Comparison()
    regions = _RegionList(max_regions)
    started = time.monotonic()
    readers = [_ReadAhead(reader_a, start_a, length, block_size, read_ahead),
               _ReadAhead(reader_b, start_b, length, block_size, read_ahead)]
    for reader in readers:
        reader.start()
    try:
        while result.bytes_compared < length:
            buffer_a, count = readers[0].next_block()
            buffer_b, _count = readers[1].next_block()
            result.differing_bytes += _compare_block(buffer_a, buffer_b, count, result.bytes_compared, regions)
            result.bytes_compared += count
            readers[0].free.put(buffer_a)
            readers[1].free.put(buffer_b)
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
    result.seconds = time.monotonic() - started
    return result
