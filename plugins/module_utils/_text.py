# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the one way bytes from a host become text.

Tool output and host files are UTF-8 almost always, but labels, names, serials and model
strings are whatever bytes a disk or an installer wrote (a FAT label in code page 850, say).
Python's surrogateescape would carry such a byte as a lone surrogate, which Ansible refuses
to serialise, so one bad label would cost the whole module result. Here every byte that is
not part of valid UTF-8 is written as a four-character escape, backslash, "x" and two
lower-case hex digits (byte E5 becomes the text "\\xe5"): visible to the operator, safe in
JSON, and never a surrogate. Text that already held a backslash followed by "x" is left as
it is, so the two cannot be told apart; no tool this collection reads prints that in a field
that matters.
"""

from __future__ import annotations

import re


def decode_tool_output(data: bytes) -> str:
    """DATA as text: valid UTF-8 decoded, every other byte written as \\xNN (lower-case hex)."""
    return data.decode("utf-8", "backslashreplace")


# JSON knows no \x escape: in a tool's valid JSON a backslash before "x" is always the second
# of an escaped pair. After an even run of backslashes (or none), "\x" came from the decoder.
_DECODER_ESCAPE_IN_JSON_RE = re.compile(r"(?<!\\)((?:\\\\)*)\\x")


def json_with_escapes(text: str) -> str:
    """TEXT, a tool's JSON decoded by decode_tool_output, with each \\xNN written as JSON's \\\\xNN.

    json.loads then accepts it, and the string value holds the same visible \\xNN as a plain
    text output would.
    """
    return _DECODER_ESCAPE_IN_JSON_RE.sub(r"\1\\\\x", text)
