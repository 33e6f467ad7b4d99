# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: where a byte of an md member lives in the assembled array.

Pure arithmetic over a recorded geometry (level, raid devices, chunk, layout, component size):
given a member's slot and an offset into its data area (past the data offset), the array offset
that holds the same bytes, or the reason it has none (a parity or syndrome chunk, space past
the used area). The rules are md's own mapping, as the Linux kernel's raid0, raid10 and raid456
personalities place chunks, with md's original RAID10 far-set rule (far copies rotate over all
devices). Nothing here reads a device.
"""

from __future__ import annotations

from typing import NamedTuple

SECTOR = 512

# mdadm's RAID5 layout names (maps.c r5layout) and RAID6 names (r6layout), to md's algorithm names.
_R5_LAYOUTS = {
    "left-asymmetric": "left-asymmetric", "la": "left-asymmetric", "ddf-n-restart": "left-asymmetric",
    "right-asymmetric": "right-asymmetric", "ra": "right-asymmetric", "ddf-zero-restart": "right-asymmetric",
    "left-symmetric": "left-symmetric", "ls": "left-symmetric", "ddf-n-continue": "left-symmetric", "default": "left-symmetric",
    "right-symmetric": "right-symmetric", "rs": "right-symmetric",
    "parity-first": "parity-first", "parity-last": "parity-last",
}
_R6_LAYOUTS = {
    "left-asymmetric": "left-asymmetric", "la": "left-asymmetric",
    "right-asymmetric": "right-asymmetric", "ra": "right-asymmetric",
    "left-symmetric": "left-symmetric", "ls": "left-symmetric", "default": "left-symmetric",
    "right-symmetric": "right-symmetric", "rs": "right-symmetric",
    "parity-first": "parity-first", "parity-last": "parity-last",
    "ddf-zero-restart": "ddf-zero-restart", "ddf-n-restart": "ddf-n-restart", "ddf-n-continue": "ddf-n-continue",
    "left-asymmetric-6": "left-asymmetric-6", "right-asymmetric-6": "right-asymmetric-6",
    "left-symmetric-6": "left-symmetric-6", "right-symmetric-6": "right-symmetric-6", "parity-first-6": "parity-first-6",
}
STRIPED_LEVELS = ("raid0", "raid4", "raid5", "raid6", "raid10")


class LayoutUnknown(ValueError):
    """The geometry does not say enough to place a member's bytes in the array; the message says what is missing."""


class Shape(NamedTuple):
    level: str
    raid_devices: int
    chunk_bytes: int | None
    algorithm: str | None       # raid4/5/6
    near: int                   # raid10
    far: int                    # raid10
    offset: bool                # raid10 "offset" copies
    component_bytes: int | None
    member_bytes: tuple         # linear: each slot's size in bytes


def parse_raid10_layout(text: str | None) -> tuple[int, int, bool]:
    """(near, far, offset) from mdadm's words: "near=2", "far=2", "offset=2", "near=2, far=2"."""
    if not text:
        raise LayoutUnknown("the RAID10 layout was not recorded")
    near, far, offset = 1, 1, False
    for part in text.replace(",", " ").split():
        key, _sep, value = part.partition("=")
        if not value.isdigit() or key not in ("near", "far", "offset"):
            raise LayoutUnknown("RAID10 layout %r is not one mdadm prints" % text)
        if key == "near":
            near = int(value)
        else:
            far, offset = int(value), key == "offset"
    return near, far, offset


def shape_of(geometry: dict) -> Shape:
    """The arithmetic part of a recorded geometry; LayoutUnknown when a needed field is missing."""
    level = (geometry.get("level") or "").lower()
    devices = geometry.get("raid_devices")
    if not devices:
        raise LayoutUnknown("the number of raid devices was not recorded")
    chunk_kib = geometry.get("chunk_kib")
    component = geometry.get("component_size_sectors")
    component_bytes = component * SECTOR if component else None
    chunk = chunk_kib * 1024 if chunk_kib else None
    if level in STRIPED_LEVELS and not chunk:
        raise LayoutUnknown("the chunk size of a %s array was not recorded" % level)
    algorithm, near, far, offset = None, 1, 1, False
    member_bytes: tuple = ()
    if level == "raid10":
        near, far, offset = parse_raid10_layout(geometry.get("layout"))
        if far > 1 and not offset and not component_bytes:
            raise LayoutUnknown("a RAID10 far layout needs the component size, which was not recorded")
    elif level == "raid5":
        algorithm = _layout_name(_R5_LAYOUTS, level, geometry.get("layout"))
    elif level == "raid6":
        algorithm = _layout_name(_R6_LAYOUTS, level, geometry.get("layout"))
    elif level == "raid4":
        algorithm = "parity-last"
    elif level == "raid0":
        sizes = {member.get("used_sectors") for member in geometry.get("members") or [] if not member.get("missing")}
        if len(sizes) > 1:
            raise LayoutUnknown("the RAID0 members differ in size, so its data spans several zones; only one zone is placed")
    elif level == "linear":
        sizes = {member.get("slot"): member.get("used_sectors") for member in geometry.get("members") or []}
        if any(not sizes.get(slot) for slot in range(devices)):
            raise LayoutUnknown("a linear array needs every member's size, and one was not recorded")
        member_bytes = tuple(sizes[slot] * SECTOR for slot in range(devices))
    elif level != "raid1":
        raise LayoutUnknown("level %r has no known data layout" % (geometry.get("level"),))
    return Shape(level, devices, chunk, algorithm, near, far, offset, component_bytes, member_bytes)


def _layout_name(names: dict, level: str, text: str | None) -> str:
    if not text:
        return names["default"]
    name = names.get(text.strip().lower())
    if name is None:
        raise LayoutUnknown("%s layout %r is not one this collection can place" % (level, text))
    return name


def raid456_devices(shape: Shape, stripe: int, data_index: int) -> tuple[int, int, int | None]:
    """(device of data chunk DATA_INDEX, parity device, syndrome device or None) in STRIPE.

    md's raid5_compute_sector, for one stripe: data_index counts the stripe's data chunks in
    array order.
    """
    disks = shape.raid_devices
    if shape.level == "raid6":
        return _raid6_devices(shape.algorithm, disks, stripe, data_index)
    data_disks = disks - 1
    algorithm = shape.algorithm
    dd = data_index
    if algorithm == "left-asymmetric":
        pd = data_disks - stripe % disks
        dd = dd + 1 if dd >= pd else dd
    elif algorithm == "right-asymmetric":
        pd = stripe % disks
        dd = dd + 1 if dd >= pd else dd
    elif algorithm == "left-symmetric":
        pd = data_disks - stripe % disks
        dd = (pd + 1 + dd) % disks
    elif algorithm == "right-symmetric":
        pd = stripe % disks
        dd = (pd + 1 + dd) % disks
    elif algorithm == "parity-first":
        pd, dd = 0, dd + 1
    else:  # parity-last, and raid4
        pd = data_disks
    return dd, pd, None


def _raid6_devices(algorithm: str, disks: int, stripe: int, dd: int) -> tuple[int, int, int]:
    data_disks = disks - 2
    if algorithm in ("left-asymmetric", "right-asymmetric", "ddf-zero-restart", "ddf-n-restart"):
        if algorithm == "left-asymmetric":
            pd = disks - 1 - stripe % disks
        elif algorithm == "ddf-n-restart":
            pd = disks - 1 - (stripe + 1) % disks
        else:
            pd = stripe % disks
        qd = pd + 1
        if pd == disks - 1:
            dd, qd = dd + 1, 0
        elif dd >= pd:
            dd += 2
        return dd, pd, qd
    if algorithm in ("left-symmetric", "right-symmetric"):
        pd = disks - 1 - stripe % disks if algorithm == "left-symmetric" else stripe % disks
        return (pd + 2 + dd) % disks, pd, (pd + 1) % disks
    if algorithm == "ddf-n-continue":
        pd = disks - 1 - stripe % disks
        return (pd + 1 + dd) % disks, pd, (pd + disks - 1) % disks
    if algorithm == "parity-first":
        return dd + 2, 0, 1
    if algorithm == "parity-last":
        return dd, data_disks, data_disks + 1
    qd = disks - 1
    if algorithm in ("left-asymmetric-6", "right-asymmetric-6"):
        rotation = stripe % (disks - 1)
        pd = data_disks - rotation if algorithm == "left-asymmetric-6" else rotation
        return (dd + 1 if dd >= pd else dd), pd, qd
    if algorithm in ("left-symmetric-6", "right-symmetric-6"):
        rotation = stripe % (disks - 1)
        pd = data_disks - rotation if algorithm == "left-symmetric-6" else rotation
        return (pd + 1 + dd) % (disks - 1), pd, qd
    # parity-first-6
    return dd + 1, 0, qd


def _raid456_chunk(shape: Shape, slot: int, member_chunk: int) -> tuple[str, int | None]:
    """What chunk MEMBER_CHUNK of SLOT holds: ("data", array chunk), ("parity", None) or ("syndrome", None)."""
    parity_count = 2 if shape.level == "raid6" else 1
    data_disks = shape.raid_devices - parity_count
    stripe = member_chunk
    for index in range(data_disks):
        device, pd, qd = raid456_devices(shape, stripe, index)
        if device == slot:
            return "data", stripe * data_disks + index
    _device, pd, qd = raid456_devices(shape, stripe, 0)
    return ("parity", None) if slot == pd else ("syndrome", None) if slot == qd else ("unused", None)


def raid10_dev_chunks(shape: Shape) -> int | None:
    """Chunks of each member md uses (calc_sectors in md's raid10), or None when the component size is unknown."""
    if not shape.component_bytes:
        return None
    chunks = shape.component_bytes // shape.chunk_bytes
    array_chunks = (chunks // shape.far) * shape.raid_devices // shape.near
    copies = shape.near * shape.far
    return -(-(array_chunks * copies) // shape.raid_devices)


def _raid10_chunk(shape: Shape, slot: int, member_chunk: int) -> tuple[str, int | None]:
    """The array chunk whose copy chunk MEMBER_CHUNK of SLOT holds (md's raid10_find_virt, far sets = all devices)."""
    disks, near, far = shape.raid_devices, shape.near, shape.far
    used = raid10_dev_chunks(shape)
    if used is not None and member_chunk >= used:
        return "unused", None
    device = slot
    if shape.offset:
        copy = member_chunk % far
        chunk = member_chunk // far
        device = (device - copy * near) % disks
    else:
        chunk = member_chunk
        if far > 1:
            stride = used // far
            copy = chunk // stride
            chunk -= copy * stride
            device = (device - copy * near) % disks
    return "data", (chunk * disks + device) // near


def array_pieces(shape: Shape, slot: int, member_offset: int, length: int) -> list[dict]:
    """Split LENGTH bytes at MEMBER_OFFSET (from the start of the member's data area) into pieces.

    Each piece: member_offset, length, kind ("data", "parity", "syndrome", "unused") and
    array_offset (None unless kind is "data"). A piece never crosses a chunk boundary.
    """
    if slot < 0 or slot >= shape.raid_devices:
        raise LayoutUnknown("slot %d is not a slot of a %d-device array" % (slot, shape.raid_devices))
    if shape.level == "raid1":
        return [_piece(member_offset, length, "data", member_offset)]
    if shape.level == "linear":
        before = sum(shape.member_bytes[:slot])
        end = min(length, max(0, shape.member_bytes[slot] - member_offset))
        pieces = [_piece(member_offset, end, "data", before + member_offset)] if end > 0 else []
        if end < length:
            pieces.append(_piece(member_offset + end, length - end, "unused", None))
        return pieces
    chunk_bytes = shape.chunk_bytes
    pieces = []
    position, end = member_offset, member_offset + length
    while position < end:
        member_chunk, within = divmod(position, chunk_bytes)
        size = min(chunk_bytes - within, end - position)
        if shape.level == "raid0":
            kind, array_chunk = "data", member_chunk * shape.raid_devices + slot
        elif shape.level == "raid10":
            kind, array_chunk = _raid10_chunk(shape, slot, member_chunk)
        else:
            kind, array_chunk = _raid456_chunk(shape, slot, member_chunk)
        pieces.append(_piece(position, size, kind, array_chunk * chunk_bytes + within if array_chunk is not None else None))
        position += size
    return pieces


def _piece(member_offset: int, length: int, kind: str, array_offset: int | None) -> dict:
    return {"member_offset": member_offset, "length": length, "kind": kind, "array_offset": array_offset}
