# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: does an assembled md array place data where the recorded geometry did?

The snapshot kept, for every member, bytes of its data area (samples). With the recorded
geometry, each chunk-sized piece of a sample has one array offset it must appear at; this reads
the array there and compares, 4 KiB block by block. A wrong member order, chunk size, layout or
data offset puts other bytes there. Writes since the snapshot (an installer's pvcreate at the
array's start) change some blocks too, so a piece counts as different only when more than a
quarter of its informative blocks differ; a block that is one repeated byte in both places (never
written, zeroed) says nothing about the geometry and is not counted. Parity and syndrome chunks
of RAID4/5/6 have no array offset and are not compared.

check_samples is pure (the array is read through a function it is given); the module glue below
it reads the snapshot and the array, read-only.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.lifeline.storage.plugins.module_utils._md_geometry import member_identity, metadata_version, normal_uuid
from ansible_collections.lifeline.storage.plugins.module_utils._md_layout import LayoutUnknown, array_pieces, shape_of

BLOCK = 4096
# More than this share of a piece's informative blocks differing makes the piece "differs".
DIFFERS_SHARE = 0.25
MAX_LISTED = 64
VERDICTS = ("matches", "does not match", "unknown")


def compare_piece(expected: bytes, actual: bytes) -> tuple[int, int]:
    """(informative blocks, differing blocks) between the recorded bytes and the array's.

    A recorded block of data that the array now shows as zeros counts as a difference: in a
    sparsely written file system, a wrong chunk size or member order mostly puts a block where
    the array holds nothing. What an installer wiped at the array's start is left out by the
    caller instead (skip_bytes).
    """
    informative = differing = 0
    for start in range(0, len(expected), BLOCK):
        ours = expected[start:start + BLOCK]
        theirs = actual[start:start + BLOCK]
        if ours != theirs:
            informative += 1
            differing += 1
        elif ours.count(ours[:1]) != len(ours):
            informative += 1
    return informative, differing


def _piece_verdict(informative: int, differing: int) -> str:
    if informative == 0:
        return "uninformative"
    if differing == 0:
        return "matches"
    return "differs" if differing > informative * DIFFERS_SHARE else "partly differs"


def check_samples(geometry: dict, samples: list[dict], sample_data: dict, read_array, array_size: int,
                  labels: list[str] | None = None, skip_bytes: int = 0) -> dict:
    """Compare every sample of GEOMETRY with the array.

    SAMPLES: the geometry's sample descriptors; SAMPLE_DATA: path -> bytes, or a string saying why the
    sample cannot be used; READ_ARRAY(offset, length) -> bytes; ARRAY_SIZE in bytes; LABELS limits the
    samples compared (default: all, "start" and "middle"); array offsets below SKIP_BYTES are not
    compared (a PV's label and metadata area, which an installer rewrites and a restore rewrites again).
    """
    result = {"verdict": "unknown", "reason": None, "members": [], "unverified": [], "differing_pieces": [], "unchecked": [],
              "counts": {"compared": 0, "matches": 0, "differs": 0, "partly differs": 0, "uninformative": 0,
                         "parity": 0}}
    try:
        shape = shape_of(geometry)
    except LayoutUnknown as error:
        result["reason"] = "the recorded geometry cannot be placed: %s" % error
        return result
    by_slot: dict[int, dict] = {}
    for sample in samples:
        if labels and sample.get("label") not in labels:
            continue
        summary = by_slot.setdefault(sample["slot"], {"slot": sample["slot"], "key": sample.get("key"), "matches": 0,
                                                      "differs": 0, "partly differs": 0, "uninformative": 0, "parity": 0})
        data = sample_data.get(sample.get("path")) if sample.get("path") else sample.get("reason")
        if not isinstance(data, bytes):
            result["unchecked"].append({"slot": sample["slot"], "key": sample.get("key"), "label": sample.get("label"),
                                        "reason": data or "the sample is not in the snapshot"})
            continue
        for piece in array_pieces(shape, sample["slot"], sample["member_offset"], len(data)):
            piece = _past(piece, skip_bytes)
            if piece is not None:
                _compare(result, summary, sample, piece, data, read_array, array_size)
    result["members"] = [by_slot[slot] for slot in sorted(by_slot)]
    result["unverified"] = [summary["key"] for summary in result["members"] if not (summary["matches"] or summary["partly differs"])]
    counts = result["counts"]
    if counts["differs"]:
        result["verdict"] = "does not match"
        result["reason"] = ("%d of %d compared pieces differ from the array at the offsets the recorded geometry gives"
                            % (counts["differs"], counts["compared"]))
    elif counts["matches"] or counts["partly differs"]:
        result["verdict"] = "matches"
        result["reason"] = "%d of %d compared pieces match the array at the offsets the recorded geometry gives" % (
            counts["matches"], counts["compared"])
        if counts["partly differs"]:
            result["reason"] += ("; %d differ in a few blocks, as writes since the snapshot would make them"
                                 % counts["partly differs"])
        if result["unverified"]:
            result["reason"] += "; no piece of %s could be compared" % ", ".join(str(key) for key in result["unverified"])
    else:
        result["reason"] = "no sample held data that could tell one geometry from another (never written, or parity only)"
    return result


def _past(piece: dict, skip_bytes: int) -> dict | None:
    """The part of PIECE at array offsets from SKIP_BYTES on, or None when nothing of it is left."""
    if piece["kind"] != "data" or not skip_bytes:
        return piece
    cut = skip_bytes - piece["array_offset"]
    if cut <= 0:
        return piece
    if cut >= piece["length"]:
        return None
    return dict(piece, array_offset=piece["array_offset"] + cut, member_offset=piece["member_offset"] + cut,
                length=piece["length"] - cut)


def _compare(result: dict, summary: dict, sample: dict, piece: dict, data: bytes, read_array, array_size: int) -> None:
    counts = result["counts"]
    if piece["kind"] != "data":
        summary["parity"] += 1
        counts["parity"] += 1
        return
    start = piece["member_offset"] - sample["member_offset"]
    expected = data[start:start + piece["length"]]
    if piece["array_offset"] + piece["length"] > array_size:
        actual = b""
    else:
        actual = read_array(piece["array_offset"], piece["length"])
    informative, differing = compare_piece(expected, actual) if len(actual) == len(expected) else (1, 1)
    verdict = _piece_verdict(informative, differing)
    summary[verdict] += 1
    counts[verdict] += 1
    if verdict != "uninformative":
        counts["compared"] += 1
    if verdict in ("differs", "partly differs") and len(result["differing_pieces"]) < MAX_LISTED:
        result["differing_pieces"].append({
            "slot": sample["slot"], "key": sample.get("key"), "label": sample.get("label"),
            "member_offset": piece["member_offset"], "array_offset": piece["array_offset"], "length": piece["length"],
            "verdict": verdict, "informative_blocks": informative, "differing_blocks": differing,
            "beyond_array_end": not actual and piece["array_offset"] + piece["length"] > array_size,
        })


def live_differences(recorded: dict, detail: dict, examined: dict[str, dict], devices: list[dict]) -> list[dict]:
    """Where the running array's geometry (mdadm --detail, its members' --examine) differs from the recorded one.

    A new UUID or name after a re-create is listed like the rest; whether it matters is the caller's call.
    """
    now_members = {}
    for row in detail.get("devices") or []:
        if row.get("raid_device") is not None and row.get("device"):
            now_members[row["raid_device"]] = member_identity(row["device"], devices)
    offsets = {examined[device].get("data_offset_sectors") for device in examined if examined[device].get("superblock") == "md"}
    now = {
        "level": (detail.get("level") or "").lower() or None,
        "raid_devices": detail.get("raid_devices"),
        "chunk_kib": detail.get("chunk_kib") if recorded.get("chunk_kib") else None,
        "layout": detail.get("layout") if detail.get("layout") != "-unknown-" else None,
        "metadata": metadata_version(detail.get("version")),
        "uuid": normal_uuid(detail.get("uuid")),
        "name": detail.get("name"),
        "component_size_kib": detail.get("used_dev_size_kib") if detail.get("used_dev_size_kib") else None,
        "data_offset_sectors": offsets.pop() if len(offsets) == 1 else None,
    }
    differences = []
    for field, value in now.items():
        was = recorded.get(field)
        if field == "component_size_kib" and recorded.get("level") in ("raid0", "linear"):
            continue
        if value is not None and was is not None and value != was:
            differences.append({"field": field, "recorded": was, "now": value})
    order_then = {member["slot"]: member.get("key") for member in recorded.get("members") or [] if not member.get("missing")}
    order_now = {slot: identity["key"] for slot, identity in now_members.items()}
    if order_now and order_then != order_now:
        differences.append({"field": "member order", "recorded": [order_then.get(slot) for slot in sorted(order_then)],
                            "now": [order_now.get(slot) for slot in sorted(order_now)]})
    return differences


class SnapshotFiles:
    """A snapshot directory on the host: every file read is checked against the manifest's sha256."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        with open(os.path.join(directory, "manifest.json"), "rb") as handle:
            self.manifest = json.loads(handle.read().decode("utf-8"))
        self.entries = {entry["path"]: entry for entry in self.manifest.get("files") or []}

    def read(self, path: str) -> bytes | str:
        """The file's bytes, or a string saying why it cannot be used."""
        entry = self.entries.get(path)
        if entry is None:
            gap = next((gap for gap in self.manifest.get("gaps") or [] if gap.get("path") == path), None)
            return "not in the snapshot: %s" % (gap["reason"] if gap else "the manifest does not list it")
        try:
            with open(os.path.join(self.directory, path), "rb") as handle:
                data = handle.read()
        except OSError as error:
            return "cannot be read: %s" % (error.strerror or error)
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            return "its sha256 does not match the manifest: the snapshot copy is damaged"
        return data

    def volatile(self, path: str) -> bool:
        return bool((self.entries.get(path) or {}).get("volatile"))
