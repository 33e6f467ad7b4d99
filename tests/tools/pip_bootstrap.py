# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stands in for the get-pip.py script ansible-test would download for each sanity venv.

ansible-test fetches that script from a host outside the package registries this project may
use. This does the same job from what is at hand: pip from the standard library's ensurepip,
then the exact packages ansible-test asked for (for example pip==24.2) from PyPI.
"""

import subprocess
import sys

# ensurepip in its own process: in-process it points PIP_CONFIG_FILE at /dev/null, which would
# drop the machine's pip configuration (index, certificates) for the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
requested = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + requested)
