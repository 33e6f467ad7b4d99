"""The lvm_metadata filter on a recorded LVM metadata backup."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.filter.lvm_metadata import lvm_metadata

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "lvm" / "xenserver_shrinklvm_real_config.vg.txt"


def test_reads_the_recorded_backup():
    text = FIXTURE.read_text()
    parsed = lvm_metadata(text)
    first_section = next(line.split()[0] for line in text.splitlines() if line.rstrip().endswith("{"))
    assert parsed["vg_name"] == first_section
    assert parsed["pvs"] and all(pv["uuid"] for pv in parsed["pvs"])


def test_truncated_text_is_an_error_not_half_read():
    text = FIXTURE.read_text()
    with pytest.raises(AnsibleFilterError, match="lvm_metadata: cannot parse"):
        lvm_metadata(text[: len(text) // 2])


def test_wrong_type_is_an_error():
    with pytest.raises(AnsibleFilterError, match="expects the text of an LVM metadata backup"):
        lvm_metadata(None)
