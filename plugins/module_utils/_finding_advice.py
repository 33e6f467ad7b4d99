# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: what to do about each finding code, read from docs/findings.md.

The tables in docs/findings.md are the one place the advice is written; the HTML report quotes
them rather than keeping a second copy that could drift. A row is `| `CODE` | severity | when |
what to do |` under a `## subset (...)` heading.
"""

from __future__ import annotations

import html
import re

_CODE_CELL = re.compile(r"^`([A-Z][A-Z0-9_]+)`$")
_SUBSET_HEADING = re.compile(r"^##\s+(\w+)")
_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)]+)\)")


def _cells(line: str) -> list[str]:
    # Rows start and end with a pipe; a pipe inside a cell would be escaped as \|.
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def parse_findings_doc(text: str) -> dict[str, dict]:
    """Code -> {subset, severity, when, what_to_do}, the last three as the document's Markdown."""
    advice: dict[str, dict] = {}
    subset = None
    for line in text.splitlines():
        heading = _SUBSET_HEADING.match(line)
        if heading:
            subset = heading.group(1)
            continue
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        match = _CODE_CELL.match(cells[0]) if cells else None
        if match and len(cells) >= 4:
            advice[match.group(1)] = {"subset": subset, "severity": cells[1], "when": cells[2], "what_to_do": cells[3]}
    return advice


def markdown_inline_to_html(text: str) -> str:
    """The inline Markdown the findings tables use (code, bold, links) as HTML, everything else escaped.

    A link's target is dropped and its text kept: the report is one file that must open without
    the documents beside it.
    """
    parts = []
    position = 0
    for match in _INLINE.finditer(text):
        parts.append(html.escape(text[position:match.start()]))
        code, bold, link_text = match.group(1), match.group(2), match.group(3)
        if code is not None:
            parts.append("<code>%s</code>" % html.escape(code))
        elif bold is not None:
            parts.append("<strong>%s</strong>" % html.escape(bold))
        else:
            parts.append("<em>%s</em>" % html.escape(link_text))
        position = match.end()
    parts.append(html.escape(text[position:]))
    return "".join(parts)
