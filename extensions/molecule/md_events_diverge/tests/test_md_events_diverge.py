"""A member left behind while its mirror was written alone: its event count falls behind."""

from __future__ import annotations

from labcheck import by_serial, gather, mdadm_examine


def test_stale_member_named_with_its_event_count(host):
    facts = gather(host)
    fresh, stale = by_serial("VIRT0003", host), by_serial("VIRT0004", host)
    fresh_events = int(mdadm_examine(host, fresh)["MD_EVENTS"])
    stale_events = int(mdadm_examine(host, stale)["MD_EVENTS"])
    assert stale_events < fresh_events, "the lab did not produce divergent members"
    found = [f for f in facts["findings"] if f["code"] == "MD_EVENTS_DIVERGE"]
    assert len(found) == 1, facts["findings"]
    evidence = found[0]["evidence"]
    assert found[0]["severity"] == "critical"
    assert evidence["newest"] == fresh_events
    assert evidence["events"][stale] == stale_events
    assert [d["serial"] for d in evidence["stale"]] == ["VIRT0004"]
