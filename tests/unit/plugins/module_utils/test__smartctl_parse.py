"""smartctl's JSON envelope: the text output and the device type it carries (fixtures/smart/SOURCES.md)."""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._smartctl_parse import parse_smartctl_json_text

from .smartctl_replay import FIXTURES

LAB = FIXTURES / "lab"


def _without_clock(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("Local Time is:")]


def test_the_json_answer_carries_the_text_answer_and_the_detected_type():
    answer = parse_smartctl_json_text((LAB / "--json=o_--all__dev_sda.txt").read_text())
    assert answer["device_type"] == "sat"  # what `-d test` names as opened
    # The same disk's `-d sat --all`, recorded separately: only the clock differs.
    assert _without_clock(answer["text"]) == _without_clock((LAB / "-d_sat_--all__dev_sda.txt").read_text())
    assert answer["text"].endswith("\n\n")


def test_a_device_smartctl_cannot_type_has_no_type_and_its_message():
    answer = parse_smartctl_json_text((LAB / "--json=o_--all__dev_vdb.txt").read_text())
    assert answer["device_type"] is None
    assert "/dev/vdb: Unable to detect device type" in answer["text"]


def test_output_that_is_not_smartctl_json_is_none():
    assert parse_smartctl_json_text("") is None
    assert parse_smartctl_json_text("=======> UNRECOGNIZED OPTION: json=o\n") is None
    assert parse_smartctl_json_text('{"smartctl": {"version": [7, 3]}}') is None  # json without "o"
    assert parse_smartctl_json_text('["output"]') is None
