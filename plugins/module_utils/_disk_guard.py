# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the pre-install gate's verdict on each target disk.

A disk passes only when it is blank or allow-listed by a stable identity. Blank means: it was
read, and neither it nor any partition on it carries a signature (at any offset) or a partition
table, nothing holds it or is mounted from it, the kernel grants an exclusive open, its first
and last bytes are all zero, and so are samples read across the rest of it. Anything unknown
counts as data. The evidence comes from the disks subset of storage_facts (one implementation of
signature probing); nothing here writes.

A disk whose signatures were wiped (``wipefs -a`` by mistake) still holds its data: the samples
are there to find it. Where they are read is computed the same way by the standalone script
(roles/preinstall_gate/files/preinstall-gate.sh), so both give the same verdict for a seed.
"""

from __future__ import annotations

import posixpath

from ansible_collections.lifeline.storage.plugins.module_utils._block_read import exclusive_open_error, read_range

BY_ID_PREFIX = "/dev/disk/by-id/"
SECTOR = 512
# A small linear congruential generator, chosen because busybox sh's 64-bit arithmetic can
# compute it too: the module and the standalone script draw the same offsets from one seed.
LCG_MULTIPLIER = 1103515245
LCG_INCREMENT = 12345
LCG_MODULUS = 1 << 31


def sample_offsets(size_bytes: int, edge_bytes: int, sample_bytes: int, count: int, seed: int) -> list[int]:
    """Byte offsets of the samples read between the first and last EDGE_BYTES of a disk.

    COUNT evenly spaced samples, the first just past the first edge and the last ending just
    before the last edge, the middle of the disk always among them; then COUNT // 4 more at
    offsets drawn from SEED. All in whole sectors. None when COUNT is 0 or the edges meet.
    """
    sectors, edge, length = size_bytes // SECTOR, edge_bytes // SECTOR, sample_bytes // SECTOR
    room = sectors - 2 * edge - length  # the last sector a sample may start at, past the first edge
    if count <= 0 or room < 0:
        return []
    starts = [edge + (index * room // (count - 1) if count > 1 else 0) for index in range(count)]
    starts.append(edge + room // 2)
    state = seed % LCG_MODULUS
    for _draw in range(count // 4):
        state = (LCG_MULTIPLIER * state + LCG_INCREMENT) % LCG_MODULUS
        starts.append(edge + state % (room + 1))
    return [start * SECTOR for start in sorted(set(starts))]


def allow_list_errors(allow: list[str]) -> list[str]:
    """Allow-list entries that name a disk by something that moves between boots."""
    errors = []
    for entry in allow:
        if entry.startswith("/dev/") and not entry.startswith(BY_ID_PREFIX):
            errors.append("%s: allow-list a disk by serial, WWN or %s path; kernel names such as /dev/sdX change "
                          "between boots and could let the gate pass the wrong disk" % (entry, BY_ID_PREFIX))
    return errors


def _names(entry: dict) -> set[str]:
    return {name for name in [entry.get("serial"), entry.get("wwn"), entry.get("kernel_name"), entry.get("device")]
            + list(entry.get("by_id") or []) if name}


def resolve_targets(devices: list[dict], requested: list[str] | None) -> tuple[list[dict], list[str]]:
    """The whole disks to judge, and each requested name that matches none."""
    disks = [entry for entry in devices if entry.get("type") == "disk"]
    if not requested:
        return disks, []
    chosen, missing = [], []
    for name in requested:
        match = next((entry for entry in disks if name in _names(entry)), None)
        if match is None:
            missing.append(name)
        elif match not in chosen:
            chosen.append(match)
    return chosen, missing


def allowed_by(entry: dict, allow: list[str]) -> str | None:
    """The allow-list entry naming this disk by a stable identity (never its kernel name)."""
    stable = {name for name in [entry.get("serial"), entry.get("wwn")] + list(entry.get("by_id") or []) if name}
    return next((item for item in allow if item in stable or posixpath.basename(item) in stable), None)


def _signature_evidence(entry: dict) -> list[dict]:
    evidence = []
    if entry.get("signatures") is None:
        reason = "; ".join(entry.get("errors") or []) or "not probed"
        return [{"kind": "unreadable", "device": entry["device"], "detail": "could not be probed (%s): treated as data" % reason}]
    for sig in entry["signatures"]:
        kind = "partition_table" if sig.get("kind") == "partition_table" else "signature"
        label = " label %s" % sig["label"] if sig.get("label") else ""
        evidence.append({"kind": kind, "device": entry["device"], "type": sig.get("type"), "offset": sig.get("offset"),
                         "detail": "%s at offset %s%s" % (sig.get("type"), sig.get("offset"), label)})
    return evidence


def _use_evidence(entry: dict) -> list[dict]:
    evidence = []
    for holder in entry.get("holders") or []:
        evidence.append({"kind": "holder", "device": entry["device"], "detail": "held by %s" % holder})
    for mountpoint in entry.get("mountpoints") or []:
        evidence.append({"kind": "mount", "device": entry["device"], "detail": "mounted at %s" % mountpoint})
    if entry.get("holders") is None or entry.get("mountpoints") is None:
        evidence.append({"kind": "unreadable", "device": entry["device"], "detail": "holders or mount points unknown"})
    return evidence


def edge_evidence(device: str, edge_bytes: int) -> list[dict]:
    """Non-zero bytes in the first or last EDGE_BYTES: unknown content is data, not blank."""
    evidence = []
    for where, offset in (("first", 0), ("last", -edge_bytes)):
        try:
            data = read_range(device, offset, edge_bytes)
        except OSError as error:
            return [{"kind": "unreadable", "device": device, "detail": "%s %d bytes unreadable: %s" % (where, edge_bytes, error.strerror or error)}]
        nonzero = len(data) - data.count(0)
        if nonzero:
            evidence.append({"kind": "nonzero_bytes", "device": device, "where": where, "count": nonzero,
                             "detail": "%d non-zero bytes in the %s %d bytes, no known signature" % (nonzero, where, edge_bytes)})
    return evidence


def sample_evidence(device: str, offsets: list[int], sample_bytes: int) -> list[dict]:
    """The first sample with a non-zero byte, or the first that cannot be read; nothing when all are zero."""
    for offset in offsets:
        try:
            data = read_range(device, offset, sample_bytes)
        except OSError as error:
            return [{"kind": "unreadable", "device": device, "offset": offset,
                     "detail": "%d bytes at offset %d unreadable: %s" % (sample_bytes, offset, error.strerror or error)}]
        if len(data) != sample_bytes:
            return [{"kind": "unreadable", "device": device, "offset": offset,
                     "detail": "%d bytes at offset %d unreadable: read %d bytes" % (sample_bytes, offset, len(data))}]
        nonzero = len(data) - data.count(0)
        if nonzero:
            return [{"kind": "nonzero_bytes", "device": device, "where": "sample", "offset": offset, "count": nonzero,
                     "detail": "%d non-zero bytes in %d bytes sampled at offset %d, no known signature"
                     % (nonzero, sample_bytes, offset)}]
    return []


def judge_disk(entry: dict, partitions: list[dict], allow: list[str], edge_bytes: int,
               sampling: dict | None = None) -> dict:
    """{verdict: blank|allowed|refused, allowed_by, evidence} for one whole disk."""
    evidence = _signature_evidence(entry) + _use_evidence(entry)
    for name in entry.get("partitions") or []:
        evidence.append({"kind": "partition", "device": "/dev/" + name, "detail": "has partition /dev/%s" % name})
    for part in partitions:
        evidence += _signature_evidence(part) + _use_evidence(part)
    busy = exclusive_open_error(entry["device"])
    if busy:
        evidence.append({"kind": "in_use", "device": entry["device"], "detail": busy})
    if not evidence:
        evidence = edge_evidence(entry["device"], edge_bytes)
    samples = 0
    if not evidence and sampling and entry.get("size_bytes"):
        offsets = sample_offsets(entry["size_bytes"], edge_bytes, sampling["bytes"], sampling["count"], sampling["seed"])
        samples = len(offsets)
        evidence = sample_evidence(entry["device"], offsets, sampling["bytes"])
    permitted = allowed_by(entry, allow)
    if permitted:
        verdict = "allowed"
    else:
        verdict = "blank" if not evidence else "refused"
    return {"name": entry.get("serial") or entry["kernel_name"], "device": entry["device"], "serial": entry.get("serial"),
            "wwn": entry.get("wwn"), "stable_name": entry.get("stable_name"), "size_bytes": entry.get("size_bytes"),
            "verdict": verdict, "allowed_by": permitted, "evidence": evidence, "samples_read": samples}


def refusal_lines(judged: list[dict]) -> list[str]:
    """One line per refused disk naming the evidence, as the operator reads it in the failure message."""
    return ["%s (%s): %s" % (disk["name"], disk["device"], "; ".join(item["detail"] for item in disk["evidence"]))
            for disk in judged if disk["verdict"] == "refused"]


def guard(disks_facts: dict, requested: list[str] | None, allow: list[str], edge_bytes: int,
          sampling: dict | None = None) -> dict:
    devices = disks_facts.get("devices") or []
    by_name = {entry["kernel_name"]: entry for entry in devices}
    targets, missing = resolve_targets(devices, requested)
    judged = []
    for entry in targets:
        partitions = [by_name[name] for name in entry.get("partitions") or [] if name in by_name]
        judged.append(judge_disk(entry, partitions, allow, edge_bytes, sampling))
    return {"disks": judged, "missing": missing, "refused": refusal_lines(judged),
            "passed": not missing and all(disk["verdict"] != "refused" for disk in judged)}
