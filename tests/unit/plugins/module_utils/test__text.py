"""Bytes that are not UTF-8, from any tool or host file, stay visible as \\xNN and never break a result.

Each tool's case feeds a fixture holding the bytes E5 E5 E5 (tests/unit/fixtures/undecodable,
see its SOURCES.md) through CommandRunner, with a fake process starter that returns the bytes
the tool printed, then through the collection's parser, and checks that the result serialises
the way Ansible serialises a module result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._command import BoundedRun, CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._lsblk_parse import parse_lsblk_json
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_parse import parse_lvm_report_json
from ansible_collections.lifeline.storage.plugins.module_utils._mdadm_parse import parse_mdadm_examine
from ansible_collections.lifeline.storage.plugins.module_utils._signature_parse import (
    parse_blkid_export_multi,
    parse_blkid_udev,
    parse_wipefs_json,
)
from ansible_collections.lifeline.storage.plugins.module_utils._smart_collect import query_disk
from ansible_collections.lifeline.storage.plugins.module_utils._smartctl_parse import NO_WAKE_ARGS
from ansible_collections.lifeline.storage.plugins.module_utils._text import decode_tool_output, json_with_escapes

from .smartctl_replay import recording_name

UNDECODABLE = Path(__file__).resolve().parents[2] / "fixtures" / "undecodable"
ESCAPED = "\\xe5\\xe5\\xe5"


class BytesModule:
    """AnsibleModule and the process starter as CommandRunner uses them: the tool answers with bytes."""

    def __init__(self, answer) -> None:
        self._answer = answer

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/sbin/" + name

    def spawn(self, argv, environ_update, timeout_seconds) -> BoundedRun:
        rc, stdout, stderr = self._answer(list(argv))
        return BoundedRun(rc, stdout, stderr, False)


def bytes_runner(answer) -> CommandRunner:
    module = BytesModule(answer)
    return CommandRunner(module, 5, spawn=module.spawn)


def fixture_runner(name: str, rc: int = 0, stderr: bytes = b"") -> CommandRunner:
    data = (UNDECODABLE / name).read_bytes()
    assert b"\xe5\xe5\xe5" in data
    return bytes_runner(lambda args: (rc, data, stderr))


def serialises(result) -> bytes:
    """What Ansible does with a module result; a lone surrogate would raise here."""
    return json.dumps(result, ensure_ascii=False).encode("utf-8")


# The escape as it appears in serialised JSON (its backslash written as JSON's \\).
ESCAPED_IN_JSON = json.dumps(ESCAPED)[1:-1].encode("utf-8")


def test_decoding_keeps_utf8_and_escapes_every_other_byte():
    assert decode_tool_output("t\u00e9st".encode("utf-8")) == "t\u00e9st"
    assert decode_tool_output(b"FAT \xe5\xe5\xe5") == "FAT " + ESCAPED
    # An encoded surrogate and a truncated sequence are not UTF-8 either.
    assert decode_tool_output(b"\xed\xa0\x80 \xc3") == "\\xed\\xa0\\x80 \\xc3"
    serialises(decode_tool_output(bytes(range(256))))


def test_json_escapes_are_made_valid_json_and_read_back_as_the_same_text():
    text = decode_tool_output(b'{"a": "x\xe5", "b": "\\\\xe5", "c": "\\\\\xe5"}')
    assert json.loads(json_with_escapes(text)) == {"a": "x\\xe5", "b": "\\xe5", "c": "\\\\xe5"}
    plain = '{"a": "tab\\there \\\\ \\u00e9"}'
    assert json_with_escapes(plain) == plain


def test_runner_decodes_stdout_and_stderr_and_keeps_the_bytes():
    runner = fixture_runner("blkid-probe-export-multi.txt", rc=0, stderr=b"warning: \xe5\n")
    result = runner.run("blkid", ["-p", "-o", "export"])
    assert "LABEL=data" + ESCAPED + "\n" in result.stdout
    assert result.stderr == "warning: \\xe5\n"
    assert result.stdout_bytes() == (UNDECODABLE / "blkid-probe-export-multi.txt").read_bytes()
    serialises({"stdout": result.stdout, "stderr": result.stderr})


def test_runner_failure_carries_decoded_output():
    runner = bytes_runner(lambda args: (1, b"", b"mdadm: bad \xe5\n"))
    with pytest.raises(CommandError) as raised:
        runner.run("mdadm", ["--detail", "/dev/md0"])
    details = raised.value.as_dict()
    assert details["stderr"] == "mdadm: bad \\xe5\n" and details["msg"].endswith("mdadm: bad \\xe5")
    serialises(details)


def test_blkid_export_label():
    # blkid escapes some characters with a backslash in export output, never "x": the escape survives unescaping.
    devices = parse_blkid_export_multi(fixture_runner("blkid-probe-export-multi.txt").run("blkid", ["-p"]).stdout)
    assert devices["ext4.img"]["LABEL"] == "data" + ESCAPED
    assert ESCAPED_IN_JSON in serialises(devices)
    # blkid's own escapes are still undone: an escaped blank, an escaped backslash before "xe5".
    assert parse_blkid_export_multi("DEVNAME=/dev/sda\nLABEL=a\\ b\\\\xe5\n")["/dev/sda"]["LABEL"] == "a b\\xe5"


def test_blkid_udev_escapes_cannot_yield_surrogates():
    # udev's own \xNN escapes of an encoded surrogate, and a lone surrogate handed in by a caller.
    tags = parse_blkid_udev("ID_FS_LABEL_ENC=\\xed\\xa0\\x80\nID_FS_TYPE=vfat\nID_FS_UUID_ENC=\udce5\\x41\n")
    assert tags["LABEL"] == "\\xed\\xa0\\x80"
    assert "\\x" in tags["UUID"] and tags["UUID"].endswith("A")
    serialises(tags)


def test_wipefs_json_label():
    signatures = parse_wipefs_json(fixture_runner("wipefs-json-default-ext4.json").run("wipefs", ["--json"]).stdout)
    assert signatures[0]["label"] == ESCAPED
    assert ESCAPED_IN_JSON in serialises(signatures)


def test_lsblk_json_serial_and_model():
    records = parse_lsblk_json(fixture_runner("lsblk.json").run("lsblk", ["--json"]).stdout)
    sda = next(record for record in records if record["kernel_name"] == "sda")
    assert sda["serial"] == "IDE" + ESCAPED + "0001" and sda["model"] == "QEMU " + ESCAPED
    assert ESCAPED_IN_JSON in serialises(records)


def test_mdadm_examine_name():
    examined = parse_mdadm_examine(fixture_runner("mdadm-examine-raid1-ok.txt").run("mdadm", ["--examine"]).stdout)
    assert examined["/dev/vda1"]["name"] == "sysrescue" + ESCAPED + ":126"
    assert ESCAPED_IN_JSON in serialises(examined)


def test_lvm_report_lv_name():
    lvs = parse_lvm_report_json(fixture_runner("lvs.json").run("lvs", ["--reportformat", "json"]).stdout, "lv")
    assert lvs[0]["name"] == "root" + ESCAPED and lvs[0]["full_name"] == "system/root" + ESCAPED
    assert ESCAPED_IN_JSON in serialises(lvs)


def smartctl_answer(args: list[str]):
    assert args[0] == "/usr/sbin/smartctl"
    recorded = list(args[1:])
    if recorded[:2] == list(NO_WAKE_ARGS):
        recorded = recorded[2:]
    path = UNDECODABLE / ("undecodable___" + recording_name(recorded) + ".txt")
    rc = int(path.with_suffix(".rc").read_text().split()[-1])
    return rc, path.read_bytes(), b""


def test_smartctl_serial_and_model_through_pysmart():
    runner = bytes_runner(smartctl_answer)
    record = {"kernel_name": "sda", "device": "/dev/sda", "serial": None, "model": None, "transport": "ata", "by_id": []}
    disk = query_disk(runner, record, wake=False)
    assert disk["query"] == "read", disk["reason"]
    assert disk["model"] == "QEMU " + ESCAPED
    assert disk["serial_reported"] == "IDE" + ESCAPED + "0001" and disk["serial"] == disk["serial_reported"]
    assert ESCAPED_IN_JSON in serialises(disk)


def test_smartctl_json_answer_keeps_the_escapes_of_the_text_answer():
    calls = []

    def answer(args):
        calls.append(args)
        return smartctl_answer(args)

    disk = query_disk(bytes_runner(answer), {"kernel_name": "sda", "device": "/dev/sda", "serial": None,
                                             "model": None, "transport": "ata", "by_id": []}, wake=False)
    assert [args[-3:] for args in calls] == [["--json=o", "--all", "/dev/sda"]]  # read from the JSON answer alone
    assert disk["model"] == "QEMU " + ESCAPED
    assert disk["serial_reported"] == "IDE" + ESCAPED + "0001"


def test_host_files_decode_contents_names_and_links(tmp_path):
    (tmp_path / "sys").mkdir()
    (tmp_path / "sys" / "label").write_bytes(b"FAT \xe5\xe5\xe5\n")
    os.symlink(b"target-\xe5", os.fsencode(tmp_path / "sys" / "link"))
    (tmp_path / os.fsdecode(b"sys/name-\xe5")).write_bytes(b"")
    files = HostFiles(str(tmp_path))
    assert files.read_text("/sys/label") == "FAT " + ESCAPED + "\n"
    assert files.read_optional("/sys/label") == "FAT " + ESCAPED
    assert files.list_dir("/sys") == ["label", "link", "name-\\xe5"]
    assert files.read_link("/sys/link") == "target-\\xe5"
    serialises([files.read_text("/sys/label"), files.list_dir("/sys"), files.read_link("/sys/link")])
