"""The standalone gate is pasted whole into a Kickstart section, an autoinstall heredoc and a
Jinja template: lines those formats would read as their own must never appear in it."""

from __future__ import annotations

from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "preinstall_gate" / "files" / "preinstall-gate.sh"


def lines() -> list[str]:
    return SCRIPT.read_text(encoding="utf-8").splitlines()


def test_no_line_would_end_or_open_a_kickstart_section():
    assert [line for line in lines() if line.startswith("%")] == []


def test_no_line_would_end_the_autoinstall_heredoc():
    template = SCRIPT.parents[1] / "templates" / "autoinstall-early-commands.yaml.j2"
    delimiter = "LIFELINE_PREINSTALL_GATE"
    assert "<<'%s'" % delimiter in template.read_text(encoding="utf-8")
    assert [line for line in lines() if line.strip() == delimiter] == []


def test_nothing_in_it_is_jinja():
    text = SCRIPT.read_text(encoding="utf-8")
    assert [mark for mark in ("{{", "{%", "{#") if mark in text] == []


def test_it_is_plain_ascii_with_unix_line_ends():
    data = SCRIPT.read_bytes()
    assert b"\r" not in data
    data.decode("ascii")
