"""meta/execution-environment.yml renders a build context that holds every controller-side dependency.

`ansible-builder create` (pip package ansible-builder, in requirements-test.txt) writes the
context an image would be built from; no image is built. The dependencies it must list are
found in the collection itself: the programs that tasks run on the controller (delegated to
localhost), the modules that run there (known_hosts), and the imports of the filter plugins
and the module_utils they use.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# What runs on the controller -> the bindep.txt package that provides it. A program or module
# missing here fails the test: add its package to bindep.txt and to this map.
CONTROLLER_PROGRAMS = {"sha256sum": "coreutils", "pip": "python3-pip"}
# known_hosts runs ssh-keygen; unarchive runs GNU tar.
CONTROLLER_MODULES = {"ansible.builtin.known_hosts": "openssh-client", "ansible.builtin.unarchive": "tar"}
SHELL_FREE_MODULES = {"ansible.builtin.file", "ansible.builtin.copy", "ansible.builtin.template", "ansible.builtin.stat",
                      "ansible.builtin.find", "ansible.builtin.assert", "ansible.builtin.debug", "ansible.builtin.set_fact",
                      "ansible.builtin.fetch", "ansible.builtin.slurp", "ansible.builtin.include_tasks", "ansible.builtin.include_role"}


def _tasks(node):
    """Every task dict in a tasks file or play list, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        for key in ("tasks", "block", "rescue", "always", "pre_tasks", "post_tasks", "handlers"):
            if key in node:
                yield from _tasks(node[key])
        if not any(key in node for key in ("tasks", "block", "hosts")):
            yield node


def controller_tasks():
    files = sorted(REPO.glob("roles/*/tasks/*.yml")) + sorted(REPO.glob("playbooks/*.yml"))
    for path in files:
        document = yaml.safe_load(path.read_text()) or []
        plays = document if isinstance(document, list) else [document]
        for play in plays:
            on_localhost = isinstance(play, dict) and play.get("hosts") == "localhost"
            for task in _tasks(play):
                if on_localhost or task.get("delegate_to") == "localhost":
                    yield path, task


def program_of(task: dict) -> str | None:
    for module in ("ansible.builtin.command", "ansible.builtin.shell"):
        if module in task:
            args = task[module]
            words = args.get("argv") if isinstance(args, dict) and args.get("argv") else str(args.get("cmd") if isinstance(args, dict) else args).split()
            first = str(words[0])
            if "ansible_playbook_python" in first and words[1:3] == ["-m", "pip"]:
                return "pip"
            return first.rsplit("/", 1)[-1]
    return None


def test_every_controller_side_program_and_module_has_its_package_in_bindep():
    bindep = (REPO / "bindep.txt").read_text()
    packages = {line.split()[0] for line in bindep.splitlines() if line.strip() and not line.startswith("#")}
    needed = set()
    for path, task in controller_tasks():
        program = program_of(task)
        modules = [key for key in task if key.startswith("ansible.") and key not in SHELL_FREE_MODULES]
        if program is not None:
            assert program in CONTROLLER_PROGRAMS, "%s runs %s on the controller: add its package to bindep.txt" % (path, program)
            needed.add(CONTROLLER_PROGRAMS[program])
        for module in modules:
            if module in ("ansible.builtin.command", "ansible.builtin.shell"):
                continue
            assert module in CONTROLLER_MODULES, "%s runs %s on the controller: what does it need?" % (path, module)
            needed.add(CONTROLLER_MODULES[module])
    assert needed == {"coreutils", "python3-pip", "openssh-client", "tar"}
    assert needed <= packages, needed - packages


def test_filter_plugins_import_only_the_standard_library_ansible_and_the_collection():
    names = set()
    for path in sorted(REPO.glob("plugins/filter/*.py")) + sorted(REPO.glob("plugins/module_utils/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    third_party = sorted(name for name in names if name not in sys.stdlib_module_names and name not in ("ansible", "ansible_collections"))
    # pySMART runs on the managed hosts (module_utils imported by storage_facts there), not on the controller.
    assert third_party == ["pySMART"], third_party


@pytest.mark.skipif(shutil.which("ansible-builder") is None, reason="ansible-builder is not installed (requirements-test.txt)")
def test_ansible_builder_create_renders_a_context_with_every_dependency(tmp_path):
    context = tmp_path / "context"
    done = subprocess.run(["ansible-builder", "create", "-f", str(REPO / "meta" / "execution-environment.yml"), "-c", str(context),
                           "--output-filename", "Containerfile"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    build = context / "_build"
    python_lines = [line.split("#")[0].strip() for line in (build / "requirements.txt").read_text().splitlines()]
    for requirement in (REPO / "requirements.txt").read_text().splitlines():
        requirement = requirement.split("#")[0].strip()
        if requirement:
            assert requirement in python_lines, (requirement, python_lines)
    system = (build / "bindep.txt").read_text()
    for package in ("openssh-client [platform:dpkg]", "openssh-clients [platform:rpm]", "coreutils", "python3-pip", "tar"):
        assert package in system, system
    containerfile = (context / "Containerfile").read_text()
    assert re.search(r"ansible-core>=2\.17", containerfile) and "ansible-runner" in containerfile
