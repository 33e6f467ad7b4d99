# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the lab scenarios' testinfra tests.

The truth a test compares storage_facts against comes from mdadm and sysfs on the guest,
read here with the simplest possible parsing (KEY=VALUE exports, sysfs files), never through
the collection's own parsers.
"""

from __future__ import annotations

import json
import os
import subprocess

LAB_SERIALS = ("VIRT0001", "VIRT0002", "VIRT0003", "VIRT0004", "IDE0001", "IDE0002", "NVME0001")
# The guest the scenario runs on (tests/lab/backends.yml): the same serials, other by-id names.
LAB_BACKEND = os.environ.get("LIFELINE_LAB_BACKEND") or "qemu"
QEMU_BY_ID_PREFIXES = {"VIRT": "virtio-", "IDE": "ata-QEMU_HARDDISK_", "NVME": "nvme-QEMU_NVMe_Ctrl_"}


def by_id_path(serial: str) -> str:
    """The /dev/disk/by-id path udev gives the lab disk with SERIAL on this backend."""
    if LAB_BACKEND == "uml":
        return "/dev/disk/by-id/uml-" + serial
    prefix = next(prefix for kind, prefix in QEMU_BY_ID_PREFIXES.items() if serial.startswith(kind))
    return "/dev/disk/by-id/" + prefix + serial


def gather(host, check: bool = False, subset: str = "md") -> dict:
    """Run storage_facts on the guest through Ansible and return the subset's facts."""
    result = host.ansible("lifeline.storage.storage_facts", "gather_subset=%s" % subset, check=check)
    assert result.get("changed") is False, result
    return result["ansible_facts"]["lifeline_%s" % subset]


def sh(host, command: str) -> str:
    """Run a command on the guest (the lab logs in as root); fail the test with its stderr if it fails."""
    result = host.run(command)
    assert result.rc == 0, "%s failed with %d: %s" % (command, result.rc, result.stderr)
    return result.stdout


def kernel_name_to_serial(host) -> dict[str, str]:
    """Which kernel name each lab disk has right now, from the by-id links udev made."""
    names = {}
    for serial in LAB_SERIALS:
        found = sh(host, "ls /dev/disk/by-id/ | grep -E -- '[-_]%s$' | head -n1 || true" % serial).strip()
        if found:
            target = sh(host, "readlink -f /dev/disk/by-id/%s" % found).strip()
            names[os.path.basename(target)] = serial
    return names


def by_serial(serial: str, host) -> str:
    """The kernel device path of the lab disk with SERIAL."""
    for name, found in kernel_name_to_serial(host).items():
        if found == serial:
            return "/dev/" + name
    raise AssertionError("no disk with serial %s in the guest" % serial)


def export_pairs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def mdadm_detail(host, array: str) -> dict[str, str]:
    return export_pairs(sh(host, "mdadm --detail --export %s" % array))


def mdadm_examine(host, device: str) -> dict[str, str]:
    return export_pairs(sh(host, "mdadm --examine --export %s" % device))


def sysfs(host, path: str) -> str:
    return sh(host, "cat %s" % path).strip()


def slots_by_serial(host, array: str) -> dict[str, int]:
    """Slot of each member, from the kernel's md/rdN links, named by serial."""
    serials = kernel_name_to_serial(host)
    name = os.path.basename(array)
    slots = {}
    for line in sh(host, "for l in /sys/block/%s/md/rd*; do [ -e \"$l\" ] && echo \"$(basename $l) $(readlink $l)\"; done; true" % name).splitlines():
        link, target = line.split()
        kernel_name = target.rsplit("dev-", 1)[1]
        slots[serials.get(kernel_name, kernel_name)] = int(link[2:])
    return slots


def hash_devices(host, devices: list[str]) -> dict[str, str]:
    """sha256 of every byte of each device, read with O_DIRECT so the page cache cannot answer."""
    hashes = {}
    for device in devices:
        out = sh(host, "dd if=%s bs=4M iflag=direct status=none | sha256sum" % device)
        hashes[device] = out.split()[0]
    return hashes


def array(facts: dict, name: str) -> dict:
    found = [a for a in facts["arrays"] if a["name"] == name]
    assert found, "storage_facts reported no array %s; it reported %s" % (name, [a["name"] for a in facts["arrays"]])
    return found[0]


def codes(findings: list[dict], subject: str | None = None) -> list[str]:
    return [f["code"] for f in findings if subject is None or f["subject"] == subject]


def run_playbook(inventory: str, playbook: str, extra_vars: dict, options: tuple[str, ...] = ()) -> str:
    """ansible-playbook on the controller; returns its output (fails the test on a failed run)."""
    result = subprocess.run(
        ["ansible-playbook", "-i", inventory, playbook, "-e", json.dumps(extra_vars), *options],
        capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def module_result(request, tmp_path, module: str, args: dict, environment: dict | None = None, check: bool = False,
                  hosts: str = "all") -> dict:
    """A module's registered result, failed or not, through a one-task playbook on HOSTS (one host).

    testinfra's host.ansible can neither set the environment nor return a failed module's result.
    """
    return module_results(request, tmp_path, [(module, args, check)], environment, hosts)[0]


def module_results(request, tmp_path, calls: list[tuple[str, dict, bool]], environment: dict | None = None,
                   hosts: str = "all") -> list[dict]:
    """The registered results of several module calls (module, args, check mode), in order, from one playbook.

    One ansible-playbook run costs seconds; calls that need nothing done between them share one.
    HOSTS: the inventory's one guest, or one of them in a scenario with two.
    """
    import yaml  # pylint: disable=import-outside-toplevel

    tasks = []
    result_files = []
    for number, (module, args, check) in enumerate(calls):
        result_file = tmp_path / ("%s-%d-result.json" % (module.rsplit(".", 1)[-1], number))
        result_files.append(result_file)
        tasks += [
            {"name": "Run %s" % module, module: args, "check_mode": check, "environment": environment or {},
             "register": "result", "ignore_errors": True},
            {"name": "Keep the result", "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(result_file)},
             "delegate_to": "localhost", "become": False},
        ]
    playbook = [{"hosts": hosts, "gather_facts": False, "become": True, "tasks": tasks}]
    playbook_file = tmp_path / "run-module.yml"
    playbook_file.write_text(yaml.safe_dump(playbook))
    run_playbook(request.config.option.ansible_inventory, str(playbook_file), {})
    return [json.loads(result_file.read_text()) for result_file in result_files]
