# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: runs the storage_facts subsets that were asked for.

Like ansible's setup module: one run per host, any number of subsets, each its own fact key.
The identity map is gathered once and handed to every subset. A subset that fails is reported
in its own facts; the others are still gathered.
"""

from __future__ import annotations

from ansible_collections.lifeline.storage.plugins.module_utils._disks_collect import collect_disks
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, LibraryMissing, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._findings import make_finding
from ansible_collections.lifeline.storage.plugins.module_utils._identity import IdentityMap
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_collect import collect_lvm
from ansible_collections.lifeline.storage.plugins.module_utils._md_collect import collect_md
from ansible_collections.lifeline.storage.plugins.module_utils._smart_collect import collect_smart

# subset name -> (fact key, collector). A tuple, so no caller can change the table.
# A collector is called as collector(runner, files, identity, options).
SUBSETS = (
    ("md", "lifeline_md", collect_md),
    ("smart", "lifeline_smart", collect_smart),
    ("lvm", "lifeline_lvm", collect_lvm),
    ("disks", "lifeline_disks", collect_disks),
)
SUBSET_NAMES = tuple(subset[0] for subset in SUBSETS)


def resolve_subsets(requested: list[str]) -> list[str]:
    """Expand `all` and `!name` exclusions into the ordered list of subsets to gather."""
    chosen: set[str] = set()
    excluded: set[str] = set()
    for item in requested:
        if item == "all":
            chosen.update(SUBSET_NAMES)
        elif item.startswith("!"):
            excluded.add(item[1:] if item[1:] != "all" else "")
        else:
            chosen.add(item)
    unknown = sorted((chosen | excluded) - set(SUBSET_NAMES) - {""})
    if unknown:
        raise ValueError("unknown gather_subset %s; known subsets: all, %s" % (", ".join(unknown), ", ".join(SUBSET_NAMES)))
    return [name for name in SUBSET_NAMES if name in chosen and name not in excluded]


def unavailable(subset: str, reason: str) -> dict:
    return {
        "available": False,
        "error": reason,
        "findings": [make_finding(
            "%s_SUBSET_UNAVAILABLE" % subset.upper(), "warning", subset,
            "The %s subset could not be gathered: %s" % (subset, reason), {"reason": reason})],
    }


def gather_storage_facts(runner, files, subsets: list[str], options: dict | None = None) -> dict[str, dict]:
    """Fact key -> facts for each subset in SUBSETS order; OPTIONS are the module's subset options."""
    identity = IdentityMap.gather(runner, files)
    gathered: dict[str, dict] = {}
    for name, fact_key, collector in SUBSETS:
        if name not in subsets:
            continue
        try:
            facts = collector(runner, files, identity, options or {})
        except (CommandError, ParseError, OSError) as error:
            facts = unavailable(name, str(error))
        except LibraryMissing as error:
            facts = unavailable(name, str(error))
            facts["import_traceback"] = error.import_traceback
        facts["identity_error"] = identity.error
        gathered[fact_key] = facts
    return gathered
