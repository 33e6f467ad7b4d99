# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prometheus_textfile filter: one host's storage facts as node_exporter textfile metrics."""

from __future__ import annotations

import time

from ansible.errors import AnsibleFilterError

from ansible_collections.lifeline.storage.plugins.module_utils._prometheus_textfile import render_textfile


def prometheus_textfile(facts, collected_at: float | None = None) -> str:
    """FACTS (a host's ansible_facts, or just its lifeline_* keys) in the Prometheus text format."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError("prometheus_textfile expects a host's facts (a dict), got %s" % type(facts).__name__)
    return render_textfile(facts, time.time() if collected_at is None else float(collected_at))


class FilterModule:
    def filters(self) -> dict:
        return {"prometheus_textfile": prometheus_textfile}
