# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: writes metadata snapshots so that none ever looks complete by mistake.

A snapshot is built in a hidden `.partial-*` directory, every file fsynced, the manifest written
last, and only then renamed to its id. A snapshot directory is complete if and only if it has
a manifest; a run that dies half-way leaves a `.partial-*` directory, which the next run
removes. Everything is readable by root only. One run at a time holds the directory's lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
PARTIAL_PREFIX = ".partial-"
LOCK_FILE = ".lock"


class SnapshotError(RuntimeError):
    """The snapshot directory cannot be used (locked by another run, not writable)."""


class ScratchFiles:
    """Host files read as bytes, and private temporary paths for tools that write a file."""

    def __init__(self, files) -> None:
        self._files = files
        self._directory = tempfile.mkdtemp(prefix="lifeline-snapshot-")  # mode 0700

    def read_bytes(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def list_dir(self, path: str) -> list[str]:
        return self._files.list_dir(path)

    def temp_path(self, name: str) -> str:
        return os.path.join(self._directory, name)

    def take(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            data = handle.read()
        os.unlink(path)
        return data

    def cleanup(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)


def content_digest(entries: list[dict]) -> str:
    """What two snapshots must share to be the same: the non-volatile files and their checksums."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda item: item["path"]):
        if not entry["volatile"]:
            digest.update(("%s %s\n" % (entry["path"], entry["sha256"])).encode())
    return digest.hexdigest()


def snapshot_id(created: float, digest: str) -> str:
    """Sorts by time: 20261123T161500Z-1a2b3c4d."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created)) + "-" + digest[:8]


def complete_snapshots(directory: str) -> list[str]:
    """Ids of complete snapshots (a manifest present), oldest first."""
    if not os.path.isdir(directory):
        return []
    return sorted(name for name in os.listdir(directory)
                  if not name.startswith(".") and os.path.isfile(os.path.join(directory, name, MANIFEST)))


def read_manifest(directory: str, snapshot: str) -> dict:
    with open(os.path.join(directory, snapshot, MANIFEST)) as handle:
        return json.load(handle)


class SnapshotStore:
    """The snapshot directory on the host; use as a context manager to hold its lock."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = None

    def __enter__(self) -> "SnapshotStore":
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            self._lock = os.fdopen(os.open(os.path.join(self.directory, LOCK_FILE), os.O_WRONLY | os.O_CREAT, 0o600), "w")
        except OSError as error:
            raise SnapshotError("cannot use %s: %s" % (self.directory, error.strerror or error))
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SnapshotError("another metadata_snapshot run holds the lock on %s" % self.directory)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._lock is not None:
            self._lock.close()

    def remove_partials(self) -> list[str]:
        """Directories that runs which died half-way left behind; never complete, so never kept."""
        removed = []
        for name in sorted(os.listdir(self.directory)):
            if name.startswith(PARTIAL_PREFIX):
                shutil.rmtree(os.path.join(self.directory, name))
                removed.append(name)
        return removed

    def newest(self) -> dict | None:
        ids = complete_snapshots(self.directory)
        return read_manifest(self.directory, ids[-1]) if ids else None

    def begin(self) -> str:
        partial = tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=self.directory)  # mode 0700
        return partial

    @staticmethod
    def add(partial: str, relative: str, data: bytes) -> dict:
        path = os.path.join(partial, relative)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        return {"path": relative, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def commit(self, partial: str, manifest: dict) -> str:
        """Write the manifest last, then rename: the snapshot appears complete or not at all."""
        data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        self.add(partial, MANIFEST, data)
        for root, dirs, _files in os.walk(partial):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
        final = os.path.join(self.directory, manifest["id"])
        os.rename(partial, final)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return final

    @staticmethod
    def discard(partial: str) -> None:
        shutil.rmtree(partial, ignore_errors=True)

    def prune(self, keep: int) -> list[str]:
        """Remove the oldest complete snapshots beyond KEEP."""
        ids = complete_snapshots(self.directory)
        doomed = ids[:-keep] if keep > 0 else []
        for name in doomed:
            shutil.rmtree(os.path.join(self.directory, name))
        return doomed


def host_identity(files) -> dict:
    machine_id = files.read_optional("/etc/machine-id")
    return {"hostname": socket.gethostname(), "machine_id": machine_id, "kernel": os.uname().release}
