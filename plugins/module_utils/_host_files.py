# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: read-only access to /proc, /sys and /dev on the host.

Collectors read kernel state through this class rather than open() so that unit tests can
replay recorded host state, and so that no collector can write by accident. Files are read
as bytes and decoded by the collection's one decoder (_text.py): bytes that are not UTF-8
show as \\xNN escapes.
"""

from __future__ import annotations

import os

from ansible_collections.lifeline.storage.plugins.module_utils._text import decode_tool_output


class HostFiles:
    """Reads text files, directory listings and symlinks; never writes."""

    def __init__(self, root: str = "/") -> None:
        self._root = root

    def _path(self, path: str) -> str:
        return os.path.join(self._root, path.lstrip("/"))

    def exists(self, path: str) -> bool:
        return os.path.exists(self._path(path))

    def read_text(self, path: str) -> str:
        with open(self._path(path), "rb") as handle:
            return decode_tool_output(handle.read())

    def read_optional(self, path: str) -> str | None:
        """The file's text stripped of surrounding white space, or None when absent or unreadable."""
        try:
            return self.read_text(path).strip()
        except OSError:
            return None

    def list_dir(self, path: str) -> list[str]:
        # Names are read as bytes too: os.listdir on a str path would hand back surrogates.
        try:
            return sorted(decode_tool_output(name) for name in os.listdir(os.fsencode(self._path(path))))
        except OSError:
            return []

    def read_link(self, path: str) -> str | None:
        try:
            return decode_tool_output(os.readlink(os.fsencode(self._path(path))))
        except OSError:
            return None
