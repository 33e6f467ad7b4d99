"""The standalone gate is pasted whole into a Kickstart section, an autoinstall heredoc and a
Jinja template: lines those formats would read as their own must never appear in it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._disk_guard import sample_offsets

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


def shell_sample_offsets(sectors: int, count: int, seed: int, edge_bytes: int = 1 << 20, sample_bytes: int = 65536) -> list[int]:
    """The script's own sample_offsets function, run by sh on its own, in bytes."""
    text = SCRIPT.read_text(encoding="utf-8")
    start = text.index("sample_offsets() {")
    function = text[start:text.index("\n}\n", start) + 3]
    program = "edge_bytes=%d; sample_bytes=%d; sample_count=%d; sample_seed=%d\n%s\nsample_offsets %d | sort -n | uniq\n" % (
        edge_bytes, sample_bytes, count, seed, function, sectors)
    done = subprocess.run(["sh", "-c", program], capture_output=True, text=True, check=True)
    return [int(line) * 512 for line in done.stdout.split()]


@pytest.mark.parametrize("size_bytes, count, seed", [
    (256 << 20, 256, 1), (256 << 20, 256, 2147483647), (20 * 10**12 // 512 * 512, 256, 987654321),
    (64 << 20, 1, 5), (64 << 20, 0, 5), (2 << 20, 256, 5),
])
def test_the_script_samples_where_the_module_samples(size_bytes, count, seed):
    """The module and the standalone script must agree on every verdict, so on every offset they read."""
    assert shell_sample_offsets(size_bytes // 512, count, seed) == sample_offsets(size_bytes, 1 << 20, 65536, count, seed)
