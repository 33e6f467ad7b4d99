"""The parser for mdadm ARRAY lines (--examine --scan, --detail --scan, mdadm.conf).

No captured fixtures: every input here is hand-written, labelled with the documentation it follows.
"""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_conf_parse import parse_mdadm_examine_scan


# ------------------------------------------------------------------------------------------
# ARRAY lines
# ------------------------------------------------------------------------------------------

# Hand-written from the documented format (mdadm.conf(5); `mdadm --examine --scan --verbose` of
# mdadm 4.2): continuation lines carry devices= and spares=.
HAND_WRITTEN_EXAMINE_SCAN = """ARRAY /dev/md/0  level=raid1 metadata=1.2 num-devices=2 UUID=5b4f5a0e:6b3cb2a1:34a4ae41:9d9ffe28 name=lifeline-lab:0
   devices=/dev/vdc,/dev/vdb
ARRAY /dev/md0 level=raid5 num-devices=3 UUID=0a1b2c3d:4e5f6a7b:8c9d0e1f:2a3b4c5d
   spares=1   devices=/dev/sdb1,/dev/sdc1,/dev/sdd1,/dev/sde1
ARRAY metadata=imsm UUID=9a3b2c1d:11223344:55667788:99aabbcc
   devices=/dev/sdb,/dev/sdc
ARRAY /dev/md/vol0 container=9a3b2c1d:11223344:55667788:99aabbcc member=0 UUID=0f0e0d0c:0b0a0908:07060504:03020100
"""

# Hand-written from mdadm.conf(5): comments, other keywords, quoting, case-insensitive and
# three-letter keywords; plus an INACTIVE-ARRAY line as `mdadm --detail --scan` prints it.
HAND_WRITTEN_MDADM_CONF = """# mdadm.conf written by hand
DEVICE partitions containers
HOMEHOST <system>
MAILADDR root
CREATE owner=root group=disk mode=0660 auto=yes

ARRAY /dev/md/home uuid=9187a482:5dde19d9:eea3cc4a:d646ab8b name='Data Storage' # trailing comment
arr /dev/md2 metadata=0.90 UUID=3aaa0122:29827cfa:5331ad66:ca767371
    spare-group=group1
INACTIVE-ARRAY /dev/md127 metadata=1.2 name=meat:z UUID=8a021a34:f19bbc01:7bcf6f8e:3bea43a9
"""


def test_examine_scan_verbose_with_continuations():
    entries = parse_mdadm_examine_scan(HAND_WRITTEN_EXAMINE_SCAN)
    assert [entry["device"] for entry in entries] == ["/dev/md/0", "/dev/md0", None, "/dev/md/vol0"]
    first = entries[0]
    assert {key: first[key] for key in ("uuid", "level", "metadata", "num_devices", "name", "container", "member",
                                        "spares", "devices", "inactive")} == {
        "uuid": "5b4f5a0e:6b3cb2a1:34a4ae41:9d9ffe28", "level": "raid1", "metadata": "1.2", "num_devices": 2,
        "name": "lifeline-lab:0", "container": None, "member": None, "spares": None,
        "devices": ["/dev/vdc", "/dev/vdb"], "inactive": False}
    assert first["raw"]["devices"] == "/dev/vdc,/dev/vdb"
    assert entries[1]["spares"] == 1 and len(entries[1]["devices"]) == 4 and entries[1]["metadata"] is None
    assert entries[2]["metadata"] == "imsm" and entries[2]["devices"] == ["/dev/sdb", "/dev/sdc"]
    assert (entries[3]["container"], entries[3]["member"]) == ("9a3b2c1d:11223344:55667788:99aabbcc", "0")
    assert entries[3]["devices"] == []


def test_mdadm_conf_array_lines_only():
    entries = parse_mdadm_examine_scan(HAND_WRITTEN_MDADM_CONF)
    assert [entry["device"] for entry in entries] == ["/dev/md/home", "/dev/md2", "/dev/md127"]
    assert entries[0]["uuid"] == "9187a482:5dde19d9:eea3cc4a:d646ab8b" and entries[0]["name"] == "Data Storage"
    assert entries[0]["raw"] == {"uuid": "9187a482:5dde19d9:eea3cc4a:d646ab8b", "name": "Data Storage"}
    assert entries[1]["metadata"] == "0.90" and entries[1]["raw"]["spare-group"] == "group1"
    assert entries[2]["inactive"] is True and entries[2]["name"] == "meat:z"


def test_scan_empty_output_has_no_arrays():
    assert parse_mdadm_examine_scan("") == []


@pytest.mark.parametrize("text, line_number, message", [
    ("   devices=/dev/sda\n", 1, "continuation line"),
    ("ARRAY /dev/md0 UUID=a bogus\n", 1, "'bogus' is not key=value"),
    ("ARRAY /dev/md0 num-devices=two UUID=a\n", 1, "num-devices is not a whole number"),
    ("ARRAY /dev/md0 UUID=a\n  uuid=b\n", 2, "given twice"),
    ("ARRAY /dev/md0 name='unclosed\n", 1, "unclosed"),
    ("/dev/md0 UUID=a\n", 1, "keyword"),
])
def test_scan_errors_name_the_line(text, line_number, message):
    with pytest.raises(ParseError) as raised:
        parse_mdadm_examine_scan(text)
    assert raised.value.line_number == line_number
    assert raised.value.line == text.split("\n")[line_number - 1]
    assert message in str(raised.value) and repr(raised.value.line) in str(raised.value)
