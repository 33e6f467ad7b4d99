# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: refusing relative paths in module options.

A module runs on the managed host in a working directory the operator does not choose (the
remote user's home, or Ansible's temporary directory), so a relative path would write or read
somewhere unexpected. Options that name a file or directory on the host must be absolute.
"""

from __future__ import annotations

import os


def relative_path_error(option: str, value: str) -> str | None:
    """The message refusing VALUE of OPTION when it is not an absolute path, else None."""
    if os.path.isabs(value):
        return None
    return ("%s must be an absolute path on the managed host, got %r: a relative path would be resolved against the "
            "module's working directory there (the remote user's home or a temporary directory)" % (option, value))
