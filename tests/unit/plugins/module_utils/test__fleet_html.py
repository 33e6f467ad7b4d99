"""The fleet report's HTML and the advice it quotes from docs/findings.md.

Hosts are made of facts recorded in the lab (see fleet_hosts.py); the page is read back with
the standard library's HTML parser, as a browser would see its elements.
"""

from __future__ import annotations

from html.parser import HTMLParser

from ansible_collections.lifeline.storage.plugins.filter.findings import fleet_summary
from ansible_collections.lifeline.storage.plugins.filter.fleet_report_html import fleet_report_html
from ansible_collections.lifeline.storage.plugins.module_utils._finding_advice import markdown_inline_to_html, parse_findings_doc

from .fleet_hosts import REPO_DOCS, failing_disk, lab_smart, md_facts

FINDINGS_DOC = (REPO_DOCS / "findings.md").read_text()


class Elements(HTMLParser):
    """Every start tag with its attributes, and the URLs a page would fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.fetches: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in ("script", "img", "iframe") and attributes.get("src"):
            self.fetches.append(attributes["src"])
        if tag == "link":
            self.fetches.append(attributes.get("href") or "")


def fleet() -> dict:
    smart = lab_smart()
    smart["disks"].append(failing_disk("VIRT0003", "/dev/vdd"))
    return fleet_summary({"web1": {"lifeline_md": md_facts("md_degraded"), "lifeline_smart": lab_smart()},
                          "db1": {"lifeline_md": md_facts("md_events_diverge"), "lifeline_smart": smart},
                          "r5": {"lifeline_md": md_facts("md_raid5_resync")}, "gone": {}})


def parsed(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


def test_every_finding_code_of_the_docs_has_its_advice():
    advice = parse_findings_doc(FINDINGS_DOC)
    assert advice["MD_ARRAY_DEGRADED"]["subset"] == "md" and advice["MD_ARRAY_DEGRADED"]["severity"] == "critical"
    assert advice["MD_ARRAY_DEGRADED"]["what_to_do"].startswith("Replace the missing member.")
    assert advice["SMART_DISK_FAILING"]["subset"] == "smart"
    assert advice["LVM_VG_PARTIAL"]["subset"] == "lvm" and advice["DISKS_SUBSET_UNAVAILABLE"]["subset"] == "disks"
    assert "`mdadm --grow --bitmap=internal`" in advice["MD_NO_BITMAP"]["what_to_do"]


def test_inline_markdown_is_escaped_and_links_keep_only_their_text():
    assert markdown_inline_to_html("Run `a <b>` **now**, see [mirror_compare](mirror-compare.md) & more") == (
        "Run <code>a &lt;b&gt;</code> <strong>now</strong>, see <em>mirror_compare</em> &amp; more")


def test_hosts_worst_first_with_counts_findings_advice_and_serial_to_slot_maps():
    page = fleet_report_html(fleet(), FINDINGS_DOC, "2026-12-05 13:30:00 UTC")
    elements = parsed(page)
    hosts = [attrs["data-host"] for tag, attrs in elements.tags if tag == "section"]
    assert hosts == ["gone", "db1", "web1", "r5"]
    statuses = [attrs["data-status"] for tag, attrs in elements.tags if tag == "section"]
    assert statuses == ["unknown", "critical", "critical", "warning"]
    assert '<span id="total-critical">4</span>' in page
    # md_degraded's member by serial in its slot, and the slot VIRT0002 dropped out of.
    assert '<tr class="member" data-serial="VIRT0001"><td>0</td><td>VIRT0001</td><td>/dev/vdb</td><td>active</td><td>in_sync</td></tr>' in page
    assert '<tr class="member" data-serial="VIRT0002"><td>1</td><td>VIRT0002</td><td>/dev/vdc</td>' in page
    assert '<a href="#advice-MD_ARRAY_DEGRADED">what to do</a>' in page
    assert '<tr id="advice-MD_ARRAY_DEGRADED"><td><code>MD_ARRAY_DEGRADED</code></td>' in page
    assert "Replace the missing member. Do <strong>not</strong> re-add" in page
    codes = [attrs["value"] for tag, attrs in elements.tags if tag == "option" and attrs.get("value")]
    assert "MD_SYNC_IN_PROGRESS" in codes and codes == sorted(codes)


def test_the_replacement_list_is_in_the_page_most_urgent_first():
    page = fleet_report_html(fleet(), FINDINGS_DOC, "now")
    actions = [attrs["data-action"] for tag, attrs in parsed(page).tags if tag == "tr" and "data-action" in attrs]
    assert actions[:4] == ["replace", "replace", "replace_partner_first", "replace_partner_first"]
    assert "holds the last good copy of degraded /dev/md3" in page


def test_the_page_fetches_nothing_and_escapes_what_hosts_report():
    summary = fleet_summary({'<script>alert("x")</script>': {"lifeline_md": md_facts("md_degraded")}})
    page = fleet_report_html(summary, "")
    elements = parsed(page)
    assert elements.fetches == []
    assert [tag for tag, _attrs in elements.tags].count("script") == 1
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "what to do</a>" not in page  # no advice without the document
