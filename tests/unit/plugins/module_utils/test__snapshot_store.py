"""The snapshot store: complete or absent, root-only, one run at a time, retention."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._snapshot_store import (
    MANIFEST,
    SnapshotError,
    SnapshotStore,
    complete_snapshots,
    content_digest,
    snapshot_id,
)


def manifest(snapshot: str, digest: str = "d" * 64) -> dict:
    return {"id": snapshot, "content_sha256": digest, "files": [], "created": "2026-11-23T16:00:00Z"}


def test_a_snapshot_appears_only_when_its_manifest_is_written(tmp_path):
    with SnapshotStore(str(tmp_path)) as store:
        partial = store.begin()
        entry = store.add(partial, "md/examine/sda.txt", b"Magic : a92b4efc\n")
        assert entry == {"path": "md/examine/sda.txt", "size": 17,
                         "sha256": "%s" % __import__("hashlib").sha256(b"Magic : a92b4efc\n").hexdigest()}
        # Killed here: nothing complete exists, and the next run removes the partial directory.
        assert complete_snapshots(str(tmp_path)) == []
    with SnapshotStore(str(tmp_path)) as store:
        assert store.remove_partials() == [os.path.basename(partial)]
        assert not os.path.exists(partial)


def test_commit_renames_into_place_with_root_only_modes(tmp_path):
    with SnapshotStore(str(tmp_path)) as store:
        partial = store.begin()
        store.add(partial, "raw/sda.head", b"\0" * 4096)
        final = store.commit(partial, manifest("20261123T160000Z-dddddddd"))
    assert complete_snapshots(str(tmp_path)) == ["20261123T160000Z-dddddddd"]
    assert json.loads((tmp_path / "20261123T160000Z-dddddddd" / MANIFEST).read_text())["id"] == "20261123T160000Z-dddddddd"
    assert stat.S_IMODE(os.stat(final).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(final, "raw")).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(final, "raw", "sda.head")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(final, MANIFEST)).st_mode) == 0o600


def test_a_second_run_cannot_take_the_lock(tmp_path):
    with SnapshotStore(str(tmp_path)):
        with pytest.raises(SnapshotError, match="another metadata_snapshot run holds the lock"):
            with SnapshotStore(str(tmp_path)):
                pass


def test_prune_keeps_the_newest(tmp_path):
    ids = ["20261120T000000Z-aaaaaaaa", "20261121T000000Z-bbbbbbbb", "20261122T000000Z-cccccccc"]
    with SnapshotStore(str(tmp_path)) as store:
        for snapshot in ids:
            store.commit(store.begin(), manifest(snapshot))
        assert store.prune(2) == ids[:1]
        assert store.prune(0) == []
    assert complete_snapshots(str(tmp_path)) == ids[1:]


def test_digest_ignores_volatile_files_and_order():
    stable = {"path": "disk-map.json", "sha256": "1" * 64, "volatile": False}
    ages = {"path": "facts.json", "sha256": "2" * 64, "volatile": True}
    changed_ages = dict(ages, sha256="3" * 64)
    assert content_digest([stable, ages]) == content_digest([changed_ages, stable])
    assert content_digest([stable]) != content_digest([dict(stable, sha256="4" * 64)])


def test_snapshot_ids_sort_by_time():
    assert snapshot_id(0, "ab" * 32) == "19700101T000000Z-abababab"
    assert snapshot_id(86400, "0" * 64) > snapshot_id(3600, "f" * 64)
