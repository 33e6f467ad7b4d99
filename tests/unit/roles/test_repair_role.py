"""The repair role's argument spec and defaults agree, and the apply step is gated in the role as in the module."""

from __future__ import annotations

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "repair"


def spec() -> dict:
    return yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def test_argument_spec_and_defaults_name_the_same_options_with_the_same_values() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    optional = {name for name, option in spec().items() if not option.get("required")}
    assert optional == set(defaults)
    for name, value in defaults.items():
        assert spec()[name].get("default") == value, name
    required = {name for name, option in spec().items() if option.get("required")}
    assert required == {"repair_filesystem", "repair_backup_directory"}


def test_only_the_apply_task_can_write_to_the_stack_and_it_needs_the_confirmation() -> None:
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    steps = []
    for task in tasks:
        for inner in [task] + task.get("block", []) + task.get("always", []):
            if "lifeline.storage.fs_repair" in inner:
                steps.append((inner["lifeline.storage.fs_repair"]["step"], inner.get("when")))
    assert [step for step, _when in steps] == ["plan", "check", "backup", "rehearse", "apply"]
    assert steps[-1][1] == "repair_confirm_device | length > 0 and not ansible_check_mode"
    rehearse = [task for task in tasks if "block" in task][0]
    assert rehearse["always"][0]["lifeline.storage.overlay"]["state"] == "absent"
