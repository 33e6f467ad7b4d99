# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: what is written on a block device, from wipefs and blkid.

Shared by the `disks` subset of storage_facts and by the disk_guard pre-install gate, so both
see the same signatures. wipefs's listing is the primary source: it lists every signature at
every offset. blkid's low-level probe adds what wipefs does not print (VERSION, UUID_SUB, the
partition table's id) and says when it cannot tell one signature from another (exit 8).
Parsing is _signature_parse's; nothing here parses text itself.

Nothing here writes: wipefs runs with --no-act and never with --all (with --all it erases, or
with --no-act prints an erase report instead of a listing; see _signature_parse), and blkid -p
only reads. Device bytes are not read here.
"""

from __future__ import annotations

import posixpath

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._signature_parse import (
    parse_blkid_probe,
    parse_wipefs_json,
    signatures_from_blkid_tags,
)

# USAGE is not a default column, and without it a partition table cannot be told from a file system.
WIPEFS_COLUMNS = "DEVICE,OFFSET,TYPE,UUID,LABEL,USAGE"
BLKID_NOTHING_FOUND = 2
BLKID_AMBIVALENT = 8


def wipefs_args(devices: list[str]) -> list[str]:
    return ["--no-act", "--json", "--output", WIPEFS_COLUMNS] + list(devices)


def blkid_args(device: str) -> list[str]:
    return ["-p", "-o", "export", device]


def _listing(signatures: list[dict] | None, error: str | None) -> dict:
    return {"signatures": signatures, "error": error}


def failure_reason(error: Exception) -> str:
    """The error's message, ending with the tool's own last words when the message lacks them."""
    message = str(error)
    lines = (getattr(error, "stderr", None) or "").strip().splitlines()
    if lines and lines[-1].strip() not in message:
        message = "%s: %s" % (message, lines[-1].strip())
    return message


def _list_one(runner, device: str) -> dict:
    try:
        return _listing(parse_wipefs_json(runner.run("wipefs", wipefs_args([device])).stdout), None)
    except (CommandError, ParseError) as error:
        return _listing(None, failure_reason(error))


def _split_by_device(devices: list[str], signatures: list[dict]) -> dict[str, dict] | None:
    """One listing per device from a call for several, or None when they cannot be told apart.

    wipefs names each signature's device by the basename of the path it was given.
    """
    by_basename = {posixpath.basename(device): device for device in devices}
    if len(by_basename) != len(devices) or any(sig["device"] not in by_basename for sig in signatures):
        return None
    listings = {device: _listing([], None) for device in devices}
    for sig in signatures:
        listings[by_basename[sig["device"]]]["signatures"].append(sig)
    return listings


def list_signatures(runner, devices: list[str]) -> dict[str, dict]:
    """wipefs's listing of each device: {device: {signatures: [...] or None, error: None or why}}.

    One wipefs call for all devices. wipefs stops at the first device it cannot open and then
    prints nothing for any, so a failed call is repeated once per device to learn which one
    failed and to keep the others' listings: at most len(devices) + 1 calls.
    """
    if len(devices) > 1:
        try:
            listings = _split_by_device(devices, parse_wipefs_json(runner.run("wipefs", wipefs_args(devices)).stdout))
        except (CommandError, ParseError):
            listings = None
        if listings is not None:
            return listings
    return {device: _list_one(runner, device) for device in devices}


def _blkid(runner, device: str) -> dict:
    """blkid's low-level probe: {tags: {...} or None, ambivalent: bool or None, error}."""
    try:
        result = runner.run("blkid", blkid_args(device), ok_rcs=(0, BLKID_NOTHING_FOUND, BLKID_AMBIVALENT))
    except CommandError as error:
        return {"tags": None, "ambivalent": None, "error": failure_reason(error)}
    if result.rc == BLKID_AMBIVALENT:
        # blkid prints nothing then; wipefs's listing says what the several signatures are.
        return {"tags": {}, "ambivalent": True, "error": None}
    if result.rc == BLKID_NOTHING_FOUND and result.stderr.strip():
        # blkid also exits 2 when it cannot open the device; only a silent 2 means "nothing found".
        return {"tags": None, "ambivalent": None, "error": "%s exited with 2: %s" % (
            " ".join(result.cmd), result.stderr.strip().splitlines()[-1])}
    try:
        return {"tags": parse_blkid_probe(result.stdout), "ambivalent": False, "error": None}
    except ParseError as error:
        return {"tags": None, "ambivalent": None, "error": str(error)}


def _from_wipefs(sig: dict) -> dict:
    return {"type": sig["type"], "kind": sig["kind"], "usage": sig["usage"], "offset": sig["offset"], "uuid": sig["uuid"],
            "uuid_sub": None, "label": sig["label"], "version": None, "source": "wipefs"}


def _same(listed: dict, probed: dict) -> bool:
    if listed["type"].lower() != probed["type"].lower():
        return False
    return listed["uuid"] is None or probed["uuid"] is None or listed["uuid"].lower() == probed["uuid"].lower()


def merge_signatures(listed: list[dict], tags: dict | None) -> list[dict]:
    """wipefs's signatures, each completed by what blkid said of the same signature.

    A signature blkid reports and wipefs does not list is kept too, marked source "blkid".
    Each: {type, kind, usage, offset, uuid, uuid_sub, label, version, source}; source is
    "wipefs", "blkid" or "wipefs+blkid".
    """
    signatures = [_from_wipefs(sig) for sig in listed]
    for probed in signatures_from_blkid_tags(tags or {}):
        matches = [sig for sig in signatures if _same(sig, probed)]
        for sig in matches:
            # A LUKS2 or GPT header is listed once per copy; blkid's details apply to each copy.
            sig.update(source="wipefs+blkid", version=probed["version"], uuid_sub=probed["uuid_sub"],
                       uuid=sig["uuid"] or probed["uuid"], label=sig["label"] or probed["label"])
        if not matches:
            offset_tag = "PTMAGIC_OFFSET" if probed["kind"] == "partition_table" else "SBMAGIC_OFFSET"
            signatures.append({"type": probed["type"], "kind": probed["kind"], "usage": probed["usage"],
                               "offset": (tags or {}).get(offset_tag), "uuid": probed["uuid"], "uuid_sub": probed["uuid_sub"],
                               "label": probed["label"], "version": probed["version"], "source": "blkid"})
    return signatures


def partition_table(signatures: list[dict], tags: dict | None) -> dict:
    """{type, id, offsets}: type and id as blkid names them (gpt, dos, ...; PTUUID), else as wipefs lists them.

    offsets lists every partition-table signature wipefs found (a GPT has one at each end).
    type None: no partition table.
    """
    tables = [sig for sig in signatures if sig["kind"] == "partition_table"]
    # A GPT disk also carries a protective MBR; the table is the GPT.
    named = [sig for sig in tables if sig["type"].lower() != "pmbr"] or tables
    tags = tags or {}
    return {
        "type": tags.get("PTTYPE") or (named[0]["type"] if named else None),
        "id": tags.get("PTUUID") or next((sig["uuid"] for sig in named if sig["uuid"]), None),
        "offsets": sorted(sig["offset"] for sig in tables if sig["offset"] is not None),
    }


def mdadm_uuid(blkid_uuid: str | None) -> str | None:
    """An md array UUID as mdadm and lifeline_md write it (8:8:8:8 hex), from blkid's 8-4-4-4-12 form."""
    if not blkid_uuid:
        return None
    digits = blkid_uuid.replace("-", "").lower()
    if len(digits) != 32:
        return blkid_uuid
    return ":".join(digits[start:start + 8] for start in range(0, 32, 8))


def _first_uuid(signatures: list[dict], sig_type: str) -> tuple[bool, str | None]:
    found = sorted((sig for sig in signatures if sig["type"].lower() == sig_type), key=lambda sig: sig["offset"] or 0)
    return bool(found), found[0]["uuid"] if found else None


def empty_probe() -> dict:
    """The probe of a device nothing is known about."""
    return {"signatures": None, "partition_table": None, "ambivalent": None, "md_member": None, "md_array_uuid": None,
            "lvm_pv": None, "lvm_pv_uuid": None, "probed_with": [], "errors": []}


def probe_device(runner, device: str, listing: dict | None = None) -> dict:
    """What is written on one device.

    {signatures, partition_table, ambivalent, md_member, md_array_uuid, lvm_pv, lvm_pv_uuid,
    probed_with, errors}. signatures None means unknown (wipefs could not read the device; the
    reason is in errors), [] means wipefs read it and found nothing. LISTING is this device's
    entry from list_signatures when the caller listed several devices in one call; without it,
    wipefs runs for this device alone. blkid runs once, unless wipefs failed or it is not
    installed (probed_with then lacks "blkid").
    """
    listing = listing if listing is not None else list_signatures(runner, [device])[device]
    probe = empty_probe()
    if listing["signatures"] is None:
        probe["errors"].append(listing["error"])
        return probe
    probe["probed_with"].append("wipefs")
    tags = None
    if runner.has("blkid"):
        blkid = _blkid(runner, device)
        if blkid["error"]:
            probe["errors"].append(blkid["error"])
        else:
            probe["probed_with"].append("blkid")
            tags = blkid["tags"]
        probe["ambivalent"] = blkid["ambivalent"]
    signatures = merge_signatures(listing["signatures"], tags)
    md_member, md_uuid = _first_uuid(signatures, "linux_raid_member")
    lvm_pv, pv_uuid = _first_uuid(signatures, "lvm2_member")
    probe.update(signatures=signatures, partition_table=partition_table(signatures, tags), md_member=md_member,
                 md_array_uuid=mdadm_uuid(md_uuid), lvm_pv=lvm_pv, lvm_pv_uuid=pv_uuid)
    return probe
