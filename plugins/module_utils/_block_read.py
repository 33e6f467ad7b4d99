# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: reading a device's bytes, never writing them.

Every open here is O_RDONLY. The metadata snapshot keeps the first and last bytes of devices
and samples of md members' data areas, which the md geometry check reads back through the
array; the pre-install gate looks for non-zero bytes where no signature was found.
"""

from __future__ import annotations

import errno
import os


def read_range(device: str, offset: int, length: int, uncached: bool = False) -> bytes:
    """LENGTH bytes at OFFSET, opened read-only; a negative OFFSET counts from the end.

    UNCACHED drops the range's clean cached pages first, so the bytes come from the device and not
    from what an earlier read left in the page cache: md writes to its members below that cache.
    """
    fd = os.open(device, os.O_RDONLY)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        start = max(0, size + offset) if offset < 0 else min(offset, size)
        if uncached and hasattr(os, "posix_fadvise"):
            try:
                os.posix_fadvise(fd, start, length, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        os.lseek(fd, start, os.SEEK_SET)
        chunks = []
        remaining = min(length, size - start)
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def device_size(device: str) -> int:
    """Size in bytes of a device or file, opened read-only."""
    fd = os.open(device, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def exclusive_open_error(device: str) -> str | None:
    """Why DEVICE cannot be opened exclusively (mounted, held by md or dm, open elsewhere), or None.

    O_EXCL on a block device asks the kernel for sole use; it is read-only here and released at once.
    """
    try:
        fd = os.open(device, os.O_RDONLY | os.O_EXCL)
    except OSError as error:
        if error.errno == errno.EBUSY:
            return "in use: the kernel refuses an exclusive open (mounted, held by md/dm, or open elsewhere)"
        return "cannot be opened: %s" % (error.strerror or error)
    os.close(fd)
    return None
