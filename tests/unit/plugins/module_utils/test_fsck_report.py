# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fs_repair's reading of e2fsck and xfs_repair output, on runs recorded with e2fsprogs 1.47.0 and xfsprogs 6.1.0
(fixtures/repair/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.lifeline.storage.plugins.module_utils._fsck_report import (
    compare_listings,
    e2fsck_status,
    entry_paths,
    interpret,
    interpret_xfs_repair,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "repair"


def recorded(name: str, version: str = "1.47.0") -> tuple[str, int]:
    text = (FIXTURES / ("%s-%s.txt" % (name, version))).read_text()
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


XFS_LOST = ["doc%d" % number for number in range(16, 24)]


def test_xfs_read_only_check_of_a_zeroed_inode_block():
    report = interpret("xfs", *recorded("xfs_repair-n", "6.1.0"), no_modify=True)
    assert report["rc"] == 1 and report["status"] == ["corruption_found"] and not report["clean"]
    assert not report["modified"] and report["fixes"] == []
    assert "would have cleared inode 262292" in report["would_fix"]
    assert "would rebuild directory inode 262272" in report["would_fix"]
    # Phase 4 and phase 6 both name each entry; it is listed once.
    assert [entry["name"] for entry in report["junked_entries"]] == XFS_LOST
    assert report["junked_entries"][4] == {"directory_inode": 262272, "name": "doc20", "inode": 262292}


def test_xfs_repair_of_a_zeroed_inode_block_names_the_entries_it_cleared():
    report = interpret("xfs", *recorded("xfs_repair", "6.1.0"), no_modify=False)
    assert report["rc"] == 0 and report["modified"] and not report["aborted"]
    assert "cleared inode 262288" in report["fixes"] and "rebuilding directory inode 262272" in report["fixes"]
    assert [entry["name"] for entry in report["junked_entries"]] == XFS_LOST
    assert not any(fix.startswith(("Phase", "- ")) for fix in report["fixes"]), report["fixes"]
    assert entry_paths(report["junked_entries"][:1], {128: "", 262272: "home/alice"}) == ["/home/alice/doc16"]
    assert entry_paths(report["junked_entries"][:1], {}) == ["/<directory inode 262272>/doc16"]


def test_xfs_repair_of_a_clean_file_system_fixed_nothing():
    # Its progress lines name clearing, resetting and correcting on every run: they are no fixes.
    report = interpret("xfs", *recorded("xfs_repair-clean", "6.1.0"), no_modify=False)
    assert report["rc"] == 0 and report["fixes"] == [] and not report["modified"] and report["junked_entries"] == []
    after = interpret("xfs", *recorded("xfs_repair-n-after", "6.1.0"), no_modify=True)
    assert after["clean"] and after["would_fix"] == []


def test_a_directory_unreadable_before_is_unlisted_and_the_removed_entries_disappear():
    # XFS before the repair: the whole inode cluster is refused, so home/alice cannot be read at all.
    before = {"home": -1, "home/alice": -2, "etc": -1, "etc/hosts": 4}
    after = {"home": -1, "home/alice": -1, "home/alice/doc01": 1037, "etc": -1, "etc/hosts": 4}
    changes = compare_listings(before, after, removed=["home/alice/doc16"])
    assert changes["unlisted_before"] == ["home/alice"] and changes["files_before"] == 1
    assert changes["disappeared"] == ["home/alice/doc16"] and changes["files_after"] == 2


def test_listing_comparison_names_lost_and_unreadable_paths():
    before = {"home": -1, "home/a": 3000, "home/b": -2, "etc/hosts": 10}
    after = {"home": -1, "home/a": 3000, "etc/hosts": 12, "lost+found": -1, "lost+found/#23": 3000}
    result = compare_listings(before, after)
    assert result == {"files_before": 3, "bytes_before": 3010, "files_after": 3, "bytes_after": 6012,
                      "disappeared": ["home/b"], "resized": ["etc/hosts"], "lost_found_after": ["lost+found/#23"],
                      "unreadable_before": ["home/b"], "unreadable_after": [], "unlisted_before": []}


def test_listing_that_could_not_be_read_is_unknown():
    assert compare_listings(None, {})["disappeared"] is None
