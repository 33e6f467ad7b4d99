"""The facts role's plain-text fleet summary: counts with their noun in the right number, no template header.

Rendered with jinja2 as Ansible's template module renders it (trim_blocks, trailing newline
kept), from the summary the role builds with the collection's fleet_summary filter.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from ansible_collections.lifeline.storage.plugins.filter.findings import fleet_summary

TEMPLATE = Path(__file__).resolve().parents[3] / "roles" / "facts" / "templates" / "fleet-summary.txt.j2"


def _finding(code: str, severity: str, subject: str) -> dict:
    return {"code": code, "severity": severity, "subject": subject, "message": code, "evidence": {}}


def _facts(md_findings: list[dict], health: list[str] | None = None) -> dict:
    facts = {"lifeline_md": {"findings": md_findings}}
    if health is not None:
        facts["lifeline_smart"] = {"available": True, "findings": [],
                                   "disks": [{"health": {"status": status}} for status in health]}
    return facts


def render(hosts: dict) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    return env.from_string(TEMPLATE.read_text()).render(__facts_summary=fleet_summary(hosts))


def test_one_host_one_disk_one_finding_are_singular_and_there_is_no_header():
    text = render({"web1": _facts([_finding("MD_NO_BITMAP", "warning", "/dev/md0")], ["healthy"])})
    assert text.splitlines()[0] == "lifeline.storage fleet summary: 1 host, worst first"
    assert text.splitlines()[1] == "1 finding: 0 critical, 1 warning, 0 info"
    assert "web1: WARNING, 1 finding\n" in text
    assert "  1 disk by SMART health: 0 failing, 0 watch, 1 healthy, 0 unknown\n" in text
    assert "managed" not in text.lower() and not text.startswith("#")


def test_several_and_none_are_plural():
    text = render({
        "db1": _facts([_finding("MD_ARRAY_DEGRADED", "critical", "/dev/md0"), _finding("MD_NO_BITMAP", "warning", "/dev/md0")],
                      ["failing", "healthy", "unknown"]),
        "db2": _facts([], []),
    })
    lines = text.splitlines()
    assert lines[0] == "lifeline.storage fleet summary: 2 hosts, worst first"
    assert lines[1] == "2 findings: 1 critical, 1 warning, 0 info"
    assert "db1: CRITICAL, 2 findings\n" in text and "db2: OK, 0 findings\n" in text
    assert "  3 disks by SMART health: 1 failing, 0 watch, 1 healthy, 1 unknown\n" in text
    assert "  0 disks by SMART health: 0 failing, 0 watch, 0 healthy, 0 unknown\n" in text
    assert "  [critical] MD_ARRAY_DEGRADED /dev/md0: MD_ARRAY_DEGRADED\n" in text


def test_a_host_without_facts_gives_its_reason():
    text = render({"gone": {"ansible_local": {}}})
    assert "gone: UNKNOWN (no storage facts: the host failed or was unreachable)\n" in text
    assert text.splitlines()[1] == "0 findings: 0 critical, 0 warning, 0 info"


def test_the_replacement_list_names_the_disk_to_replace_first_and_the_one_never_to_pull():
    # Recorded in the lab: md_degraded (RAID1 md1 on VIRT0001 alone, VIRT0002 dropped out) and
    # the lab guest's SMART data (see tests/unit/plugins/module_utils/fleet_hosts.py).
    from plugins.module_utils.fleet_hosts import lab_smart, md_facts

    text = render({"web1": {"lifeline_md": md_facts("md_degraded"), "lifeline_smart": lab_smart()}})
    section = text[text.index("Replacement list:"):]
    assert section.splitlines()[0] == "Replacement list: 4 disks, most urgent first; 2 healthy (keep) not listed"
    assert "  1. web1 VIRT0002 (/dev/vdc): replace\n" in section
    assert "  2. web1 VIRT0001 (/dev/vdb): replace partner first\n" in section
    assert "replace its failed partner first, never this disk" in section
