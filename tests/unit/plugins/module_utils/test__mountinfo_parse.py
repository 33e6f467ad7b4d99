"""The mountinfo parser, on /proc/self/mountinfo recorded on Linux 6.18 (tests/unit/fixtures/disks/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._mountinfo_parse import parse_mountinfo, unescape_mount_field

MOUNTINFO = Path(__file__).resolve().parents[2] / "fixtures" / "disks" / "mountinfo.txt"


def recorded() -> str:
    return MOUNTINFO.read_text()


def test_one_record_per_line_in_kernel_order():
    mounts = parse_mountinfo(recorded())
    assert len(mounts) == len(recorded().splitlines()) == 22
    assert [m["mount_id"] for m in mounts[:3]] == [43, 45, 46]
    assert mounts[0] == {
        "mount_id": 43, "parent_id": 42, "major": 254, "minor": 0, "major_minor": "254:0", "root": "/",
        "mount_point": "/", "options": "rw,relatime", "optional_fields": [], "fs_type": "ext4", "source": "/dev/vda",
        "super_options": "rw,discard,resv_strict,resuid=65534,resgid=65534"}


def test_space_in_mount_point_is_unescaped_and_optional_fields_kept():
    bind = parse_mountinfo(recorded())[-1]
    assert "/srv/data\\040vol" in recorded().splitlines()[-1]
    assert (bind["mount_point"], bind["major_minor"], bind["source"], bind["optional_fields"]) == (
        "/srv/data vol", "254:0", "/dev/vda", ["shared:2"])
    assert parse_mountinfo(recorded())[-2]["optional_fields"] == ["shared:1"]


def test_pseudo_file_systems_have_their_own_source_names():
    by_point = {m["mount_point"]: m for m in parse_mountinfo(recorded())}
    assert (by_point["/proc"]["source"], by_point["/proc"]["major_minor"]) == ("proc", "0:21")
    assert by_point["/sys/fs/cgroup/unified"]["fs_type"] == "cgroup2"


@pytest.mark.parametrize("escaped, plain", [
    ("/srv/data\\040vol", "/srv/data vol"),
    ("/a\\011tab", "/a\ttab"),
    ("/a\\012newline", "/a\nnewline"),
    ("/back\\134slash", "/back\\slash"),
    ("/no/escape", "/no/escape"),
])
def test_octal_escapes_the_kernel_writes(escaped, plain):
    assert unescape_mount_field(escaped) == plain


@pytest.mark.parametrize("cut, message", [
    (lambda line: line.split(" - ")[0], "no ' - ' separator"),
    (lambda line: line.rsplit(" ", 1)[0], "expected file system type, source and super options"),
    (lambda line: "x" + line, "expected mount id, parent id and major:minor"),
    (lambda line: line.replace("254:0", "254-0"), "expected mount id, parent id and major:minor"),
])
def test_damaged_line_is_a_parse_error_naming_it(cut, message):
    lines = recorded().splitlines()
    lines[0] = cut(lines[0])
    with pytest.raises(ParseError, match=message) as caught:
        parse_mountinfo("\n".join(lines) + "\n")
    assert (caught.value.line_number, caught.value.line) == (1, lines[0])
