# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the collection importable as ansible_collections.lifeline.storage.

Unit tests import the code the way Ansible loads it on a host. When the repository is not
already checked out under an ansible_collections/lifeline/storage path (ansible-test's layout),
a symlink tree in a temporary directory provides that path.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "unit" / "fixtures"


def _collection_parent() -> Path:
    if REPO_ROOT.parent.name == "lifeline" and REPO_ROOT.parent.parent.name == "ansible_collections":
        return REPO_ROOT.parent.parent.parent
    root = Path(tempfile.mkdtemp(prefix="lifeline-units-"))
    atexit.register(shutil.rmtree, str(root), True)
    namespace_dir = root / "ansible_collections" / "lifeline"
    namespace_dir.mkdir(parents=True)
    (namespace_dir / "storage").symlink_to(REPO_ROOT)
    return root


if "ansible_collections.lifeline.storage" not in sys.modules:
    sys.path.insert(0, str(_collection_parent()))
