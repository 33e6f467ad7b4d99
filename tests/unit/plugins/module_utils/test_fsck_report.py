# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fs_repair's reading of e2fsck output, on runs recorded with e2fsprogs 1.47.0 (fixtures/repair/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.lifeline.storage.plugins.module_utils._fsck_report import (
    compare_listings,
    e2fsck_status,
    interpret,
    interpret_xfs_repair,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "repair"


def recorded(name: str) -> tuple[str, int]:
    text = (FIXTURES / ("%s-1.47.0.txt" % name)).read_text()
    output, rc = text.rsplit("rc=", 1)
    return output, int(rc)


def test_clean_file_system_is_clean():
    report = interpret("ext4", *recorded("e2fsck-fn-clean"), no_modify=True)
    assert report["clean"] and report["rc"] == 0 and report["status"] == []
    assert report["fixes"] == [] and report["would_fix"] == [] and report["files_used"] == 25


def test_read_only_check_of_a_corrupted_inode_table_block():
    report = interpret("ext4", *recorded("e2fsck-fn"), no_modify=True)
    assert report["rc"] == 12 and report["status"] == ["errors_left_uncorrected", "operational_error"]
    assert not report["clean"] and not report["modified"] and report["aborted"]
    assert report["fixes"] == []
    assert "Inode 17 seems to contain garbage.  Clear?" in report["would_fix"]


def test_repair_names_each_entry_it_removed():
    report = interpret("ext4", *recorded("e2fsck-fy"), no_modify=False)
    assert report["rc"] == 1 and report["status"] == ["errors_corrected"]
    assert report["modified"] and not report["aborted"]
    assert report["cleared_entries"] == ["/home/alice/doc2", "/home/alice/doc3", "/home/alice/doc4", "/home/alice/doc5"]
    assert report["lost_found"] == []
    assert len(report["fixes"]) == 14
    assert "Free blocks count wrong (7041, counted=7053). Fix?" in report["fixes"]
    assert report["files_used"] == 21


def test_repair_of_a_directory_block_connects_its_files_to_lost_found():
    report = interpret("ext4", *recorded("e2fsck-fy-dir"), no_modify=False)
    assert report["rc"] == 1 and report["modified"]
    assert report["lost_found"] == [23, 24, 25]
    assert report["cleared_entries"] == []
    assert "Directory inode 22, block #0, offset 0: directory corrupted Salvage?" in report["fixes"]


def test_after_the_repair_the_check_is_clean():
    report = interpret("ext4", *recorded("e2fsck-fn-after"), no_modify=True)
    assert report["clean"] and report["files_used"] == 21


def test_exit_status_bits():
    assert e2fsck_status(0) == []
    assert e2fsck_status(4) == ["errors_left_uncorrected"]
    assert e2fsck_status(9) == ["errors_corrected", "operational_error"]


def test_xfs_exit_status_words():
    assert interpret_xfs_repair("", 0, True)["clean"]
    assert interpret_xfs_repair("", 1, True)["status"] == ["corruption_found"]
    dirty = interpret_xfs_repair("", 2, False)
    assert dirty["status"] == ["dirty_log"] and dirty["aborted"]
    moved = interpret_xfs_repair("moving disconnected inode 131, moving to lost+found\n", 0, False)
    assert moved["lost_found"] == [131]


def test_listing_comparison_names_lost_and_unreadable_paths():
    before = {"home": -1, "home/a": 3000, "home/b": -2, "etc/hosts": 10}
    after = {"home": -1, "home/a": 3000, "etc/hosts": 12, "lost+found": -1, "lost+found/#23": 3000}
    result = compare_listings(before, after)
    assert result == {"files_before": 3, "bytes_before": 3010, "files_after": 3, "bytes_after": 6012,
                      "disappeared": ["home/b"], "resized": ["etc/hosts"], "lost_found_after": ["lost+found/#23"],
                      "unreadable_before": ["home/b"], "unreadable_after": []}


def test_listing_that_could_not_be_read_is_unknown():
    assert compare_listings(None, {})["disappeared"] is None
