"""gather_subset resolution, as in ansible's setup module."""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import resolve_subsets


@pytest.mark.parametrize("requested, expected", [
    (["all"], ["md", "smart", "lvm", "disks"]),
    (["md"], ["md"]),
    (["all", "!md"], ["smart", "lvm", "disks"]),
    (["all", "!md", "!smart", "!lvm", "!disks"], []),
    (["smart", "md", "md"], ["md", "smart"]),
])
def test_resolve_subsets(requested, expected):
    assert resolve_subsets(requested) == expected


def test_unknown_subset_is_named():
    with pytest.raises(ValueError, match="unknown gather_subset raid"):
        resolve_subsets(["md", "raid"])


def test_a_subset_missing_its_library_is_unavailable_and_the_others_still_gathered(monkeypatch):
    from ansible_collections.lifeline.storage.plugins.module_utils import _smart_collect, _storage_facts
    from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap

    monkeypatch.setattr(_smart_collect, "PYSMART_IMPORT_ERROR", "No module named 'pySMART'")
    monkeypatch.setattr(IdentityMap, "gather", classmethod(lambda cls, runner, files: cls({}, None)))
    monkeypatch.setattr(_storage_facts, "SUBSETS", (
        ("md", "lifeline_md", lambda runner, files, identity, options: {"available": True, "findings": []}),
        ("smart", "lifeline_smart", _smart_collect.collect_smart),
    ))
    facts = _storage_facts.gather_storage_facts(None, None, ["md", "smart"])
    assert facts["lifeline_md"]["available"] is True
    assert facts["lifeline_smart"]["available"] is False
    assert facts["lifeline_smart"]["error"].startswith("Failed to import the required Python library (pySMART)")
    assert facts["lifeline_smart"]["import_traceback"] == "No module named 'pySMART'"
    assert [f["code"] for f in facts["lifeline_smart"]["findings"]] == ["SMART_SUBSET_UNAVAILABLE"]
