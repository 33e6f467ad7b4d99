# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: what an e2fsck or xfs_repair run did, read from its exit status and output,
and what a repair changed, from file listings taken before and after.
"""

from __future__ import annotations

import posixpath
import re

# e2fsck's exit status is a sum of these (e2fsck(8), EXIT CODE).
E2FSCK_BITS = (
    (1, "errors_corrected"),
    (2, "reboot_needed"),
    (4, "errors_left_uncorrected"),
    (8, "operational_error"),
    (16, "usage_error"),
    (32, "cancelled"),
    (128, "shared_library_error"),
)
_QUESTION_RE = re.compile(r"^(?P<question>.*?)\s*(?P<answer>yes|no)\s*$")
_CLEARED_ENTRY_RE = re.compile(r"^Entry '(?P<name>.*)' in (?P<dir>/.*?) \(\d+\) has (?P<why>[^.]*)\.\s+Clear\? yes")
_LOST_FOUND_RE = re.compile(r"^Connect to /lost\+found\? yes")
_UNATTACHED_RE = re.compile(r"^Unattached (?:zero-length )?inode (?P<inode>\d+)")
_SUMMARY_RE = re.compile(r": (?P<used>\d+)/(?P<total>\d+) files \([^)]*\), (?P<blocks>\d+)/(?P<blocks_total>\d+) blocks$")
_XFS_LOST_RE = re.compile(r"(?:moving disconnected inode|disconnected (?:dir )?inode) (?P<inode>\d+)", re.IGNORECASE)
# A directory entry whose inode is gone: phase 4 names it with its block and offset, phase 6 without,
# a short-form directory (held in its inode) as "shortform directory N".
_XFS_ENTRY_RE = re.compile(r'^entry "(?P<name>.*)" (?:at block \d+ offset \d+ )?in (?:shortform )?directory (?:inode )?'
                           r"(?P<directory>\d+) (?:references|points to) (?:free|non-existent) inode (?P<inode>\d+)")
# xfs_repair's progress lines ("Phase 7 - verify and correct link counts...", "- reset superblock...") run on
# every file system, clean or not: they are no fix.
_XFS_PROGRESS_PREFIXES = ("Phase ", "- ")


def e2fsck_status(rc: int) -> list[str]:
    return [word for bit, word in E2FSCK_BITS if rc & bit]


def interpret_e2fsck(output: str, rc: int) -> dict:
    """{rc, status, clean, modified, aborted, fixes, cleared_entries, lost_found, files_used, blocks_used}.

    fixes: each question e2fsck answered yes (with -y) or no (with -n), as its text; cleared_entries:
    paths of directory entries it removed; lost_found: inodes it connected to /lost+found.
    """
    fixes: list[str] = []
    would_fix: list[str] = []
    cleared: list[str] = []
    lost: list[int] = []
    pending_unattached: int | None = None
    summary = None
    lines = output.splitlines()
    for index, line in enumerate(lines):
        text = line.strip()
        unattached = _UNATTACHED_RE.match(text)
        if unattached:
            pending_unattached = int(unattached.group("inode"))
        if _LOST_FOUND_RE.match(text) and pending_unattached is not None:
            lost.append(pending_unattached)
            pending_unattached = None
        entry = _CLEARED_ENTRY_RE.match(text)
        if entry:
            cleared.append(entry.group("dir").rstrip("/") + "/" + entry.group("name"))
        if text.endswith("? yes") or text.endswith("? no"):
            question = text.rsplit("?", 1)[0] + "?"
            # e2fsck prints "Fix? yes" on a line of its own after the problem; name the problem.
            if question in ("Fix?", "Clear?", "Salvage?", "Recreate?", "Relocate?") and index > 0:
                question = lines[index - 1].strip() + " " + question
            (fixes if text.endswith("yes") else would_fix).append(question)
        found = _SUMMARY_RE.search(text)
        if found:
            summary = found
    return {
        "tool": "e2fsck",
        "rc": rc,
        "status": e2fsck_status(rc),
        "clean": rc == 0,
        "modified": "***** FILE SYSTEM WAS MODIFIED *****" in output,
        "aborted": "e2fsck: aborted" in output or bool(rc & 8),
        "fixes": fixes,
        "would_fix": would_fix,
        "cleared_entries": cleared,
        "junked_entries": [],
        "lost_found": lost,
        "files_used": int(summary.group("used")) if summary else None,
        "blocks_used": int(summary.group("blocks")) if summary else None,
    }


def interpret_xfs_repair(output: str, rc: int, no_modify: bool) -> dict:
    """What xfs_repair did, from its exit status (xfs_repair(8)) and its lost+found lines.

    With -n: 0 no corruption, 1 corruption found. Without: 0 done, 2 the log is dirty (mount to
    replay it first; -L zeroes it and loses the transactions), 1 otherwise failed.
    """
    lost = sorted({int(found.group("inode")) for found in _XFS_LOST_RE.finditer(output)})
    fixes = [line.strip() for line in output.splitlines()
             if not line.strip().startswith(_XFS_PROGRESS_PREFIXES) and
             line.strip().startswith(("would ", "Would ")) == no_modify and
             any(word in line for word in ("correct", "clear", "fix", "junk", "reset", "rebuild", "moving"))]
    return {
        "tool": "xfs_repair",
        "rc": rc,
        "status": ["clean" if rc == 0 else "dirty_log" if rc == 2 else "corruption_found" if no_modify else "failed"],
        "clean": rc == 0 and not (fixes if no_modify else False),
        "modified": (not no_modify) and rc == 0 and bool(fixes or lost),
        "aborted": (not no_modify) and rc != 0,
        "fixes": [] if no_modify else fixes,
        "would_fix": fixes if no_modify else [],
        "cleared_entries": [],
        "junked_entries": xfs_junked_entries(output),
        "lost_found": lost,
        "files_used": None,
        "blocks_used": None,
    }


def xfs_junked_entries(output: str) -> list[dict]:
    """Directory entries xfs_repair clears (or with -n would clear) because their inode is gone, once each:
    directory_inode, name and inode. xfs_repair names the directory by inode number only."""
    entries: list[dict] = []
    seen: set[tuple[int, str]] = set()
    for line in output.splitlines():
        found = _XFS_ENTRY_RE.match(line.strip())
        if found and (int(found.group("directory")), found.group("name")) not in seen:
            seen.add((int(found.group("directory")), found.group("name")))
            entries.append({"directory_inode": int(found.group("directory")), "name": found.group("name"),
                            "inode": int(found.group("inode"))})
    return entries


def entry_paths(entries: list[dict], directories: dict[int, str]) -> list[str]:
    """/PATH of each junked entry, its directory found by inode number in DIRECTORIES (inode -> path below the
    mount point, "" for its root); a directory not among them is named "<directory inode N>"."""
    paths = []
    for entry in entries:
        directory = directories.get(entry["directory_inode"])
        parent = "<directory inode %d>" % entry["directory_inode"] if directory is None else directory
        paths.append("/" + posixpath.join(parent, entry["name"]) if parent else "/" + entry["name"])
    return paths


def interpret(fstype: str, output: str, rc: int, no_modify: bool) -> dict:
    if fstype == "xfs":
        return interpret_xfs_repair(output, rc, no_modify)
    return interpret_e2fsck(output, rc)


# A listing maps each path to its size in bytes; these stand for entries that are not regular files.
NOT_A_FILE = -1
UNREADABLE = -2


def compare_listings(before: dict[str, int] | None, after: dict[str, int] | None, removed: list[str] | None = None
                     ) -> dict:
    """Files and bytes before and after, paths that disappeared or changed size, and what lost+found holds after.

    A path whose inode could not be read (UNREADABLE: its directory entry is there, the inode is
    damaged) counts as a file of unknown size, and is listed in unreadable_before or _after; one
    that is a directory after the repair is listed in unlisted_before instead: what it held before
    is unknown to the listing (XFS refuses a whole inode cluster when one inode in it is damaged, so
    a directory whose own inode is intact can be unreadable). REMOVED: paths the repair's output
    says it removed (relative, as the listings); those missing after count as disappeared even when
    the listing before could not see them.
    """
    if before is None or after is None:
        return {"files_before": None, "bytes_before": None, "files_after": None, "bytes_after": None,
                "disappeared": None, "resized": None, "lost_found_after": None,
                "unreadable_before": None, "unreadable_after": None, "unlisted_before": None}
    unlisted = sorted(path for path, size in before.items() if size == UNREADABLE and after.get(path) == NOT_A_FILE)

    def files(listing: dict[str, int]) -> dict[str, int]:
        return {path: size for path, size in listing.items() if size != NOT_A_FILE}

    def total(listing: dict[str, int]) -> int:
        return sum(size for size in listing.values() if size >= 0)

    old = {path: size for path, size in files(before).items() if path not in unlisted}
    new = files(after)
    return {
        "files_before": len(old),
        "bytes_before": total(old),
        "files_after": len(new),
        "bytes_after": total(new),
        "disappeared": sorted({path for path in before if path not in after} |
                              {path for path in removed or [] if path not in after}),
        "resized": sorted(path for path in old if path in new and new[path] != old[path] and min(old[path], new[path]) >= 0),
        "lost_found_after": sorted(path for path in after if path.startswith("lost+found/")),
        "unreadable_before": sorted(path for path, size in before.items() if size == UNREADABLE),
        "unreadable_after": sorted(path for path, size in after.items() if size == UNREADABLE),
        "unlisted_before": unlisted,
    }
