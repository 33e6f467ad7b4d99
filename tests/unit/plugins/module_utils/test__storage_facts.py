"""gather_subset resolution, as in ansible's setup module."""

from __future__ import annotations

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import resolve_subsets


@pytest.mark.parametrize("requested, expected", [
    (["all"], ["md"]),
    (["md"], ["md"]),
    (["all", "!md"], []),
    (["md", "md"], ["md"]),
])
def test_resolve_subsets(requested, expected):
    assert resolve_subsets(requested) == expected


def test_unknown_subset_is_named():
    with pytest.raises(ValueError, match="unknown gather_subset raid"):
        resolve_subsets(["md", "raid"])
