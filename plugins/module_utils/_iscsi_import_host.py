# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the iscsi_import module's work on the helper (reads, then iscsiadm)."""

from __future__ import annotations

import ipaddress
import os
import time

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import kernel_read_only
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_export import IQN_PREFIX
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_import import (
    NO_OBJECTS_FOUND, by_path, login_commands, logout_commands, masked, parse_nodes, parse_sessions, portal,
    vpd_serial)

INITIATOR_FILE = "/etc/iscsi/initiatorname.iscsi"
SYS_BLOCK = "/sys/block"
# How long a LUN has, after its login, to appear as a block device.
DEVICE_WAIT_SECONDS = 30.0


class ImportRefused(RuntimeError):
    """Input or host state that the module refuses; nothing has been run."""


def configured_initiator(files) -> str | None:
    text = files.read_optional(INITIATOR_FILE) or ""
    for line in text.splitlines():
        if line.startswith("InitiatorName="):
            return line.split("=", 1)[1].strip()
    return None


def read_iscsi(runner) -> tuple[list[dict], list[dict]]:
    """(sessions, node records) as iscsiadm lists them; exit 21 means none."""
    sessions = runner.run("iscsiadm", ["--mode", "session"], ok_rcs=(0, NO_OBJECTS_FOUND))
    nodes = runner.run("iscsiadm", ["--mode", "node"], ok_rcs=(0, NO_OBJECTS_FOUND))
    return (parse_sessions(sessions.stdout) if sessions.rc == 0 else [],
            parse_nodes(nodes.stdout) if nodes.rc == 0 else [])


def device_record(files, portal_text: str, iqn: str) -> dict:
    """The local block device of an attached target's LUN 0, with the serial the target reports."""
    link = by_path(portal_text, iqn)
    target = files.read_link(link)
    kernel_name = os.path.basename(target) if target else None
    record = {"iqn": iqn, "portal": portal_text, "by_path": link, "device": None, "serial": None, "read_only": None,
              "size_bytes": None}
    if kernel_name:
        sysfs = os.path.join(SYS_BLOCK, kernel_name)
        record["device"] = "/dev/" + kernel_name
        record["read_only"] = kernel_read_only(files, kernel_name)
        sectors = (files.read_optional(os.path.join(sysfs, "size")) or "").strip()
        record["size_bytes"] = int(sectors) * 512 if sectors.isdecimal() else None
        try:
            with open(os.path.join(sysfs, "device", "vpd_pg80"), "rb") as page:
                record["serial"] = vpd_serial(page.read())
        except OSError:
            record["serial"] = None  # the target sent no unit serial page
    return record


def _wait_for_device(runner, files, portal_text: str, iqn: str) -> dict:
    deadline = time.monotonic() + DEVICE_WAIT_SECONDS
    while True:
        runner.run("udevadm", ["settle"], ok_rcs=(0, 1))
        record = device_record(files, portal_text, iqn)
        if record["device"] or time.monotonic() > deadline:
            return record
        time.sleep(0.5)


def run_import(params: dict, runner, files, check_mode: bool) -> tuple[bool, dict]:
    """(failed, result) of one run of the iscsi_import module."""
    result: dict = {"changed": False, "commands": [], "devices": [], "detached": []}
    secret = params.get("chap_password")
    try:
        try:
            address = ipaddress.ip_address(params["address"])
        except ValueError:
            raise ImportRefused("address %r is not an IP address" % params["address"]) from None
        portal_text = portal(str(address), params["port"])
        if not runner.has("iscsiadm"):
            raise ImportRefused("iscsiadm is not installed on this host (Debian and Ubuntu: package open-iscsi)")
        sessions, nodes = read_iscsi(runner)
        if params["state"] == "present":
            initiator = configured_initiator(files)
            if initiator != params["initiator"]:
                raise ImportRefused("%s names the initiator %s, not %s: write it and restart iscsid first"
                                    % (INITIATOR_FILE, initiator or "nothing", params["initiator"]))
    except (ImportRefused, ParseError) as error:
        result["msg"] = str(error)
        return True, result
    except CommandError as error:
        result.update(error.as_dict())
        return True, result
    attached = {(session["portal"], session["iqn"]) for session in sessions}
    if params["state"] == "absent":
        return _detach(params, runner, portal_text, attached, nodes, check_mode, result)
    for iqn in params["targets"]:
        commands = [] if (portal_text, iqn) in attached else login_commands(portal_text, iqn, params["chap_user"], secret)
        record = device_record(files, portal_text, iqn) if not commands else {"by_path": by_path(portal_text, iqn)}
        if record.get("read_only") is not True:
            commands.append(["blockdev", "--setro", record.get("device") or record["by_path"]])
        result["commands"] += [masked(command, secret) for command in commands]
        if check_mode or not commands:
            result["devices"].append(device_record(files, portal_text, iqn))
            continue
        try:
            for command in commands[:-1]:
                runner.run(command[0], command[1:])
            record = _wait_for_device(runner, files, portal_text, iqn)
            if record["device"] is None:
                result["msg"] = ("%s logged in, but %s did not appear within %d s"
                                 % (iqn, record["by_path"], DEVICE_WAIT_SECONDS))
                result["changed"] = True
                return True, result
            runner.run("blockdev", ["--setro", record["device"]])
        except CommandError as error:
            result.update(error.as_dict())
            result["cmd"] = masked(error.cmd, secret)
            result["changed"] = True
            return True, result
        result["devices"].append(device_record(files, portal_text, iqn))
    result["changed"] = bool(result["commands"])
    writable = [record["device"] for record in result["devices"] if record["device"] and not record["read_only"]]
    if writable and not check_mode:
        result["msg"] = "%s stayed writable after blockdev --setro" % ", ".join(writable)
        return True, result
    result["msg"] = "%d target(s) attached read-only" % len(result["devices"])
    return False, result


def _detach(params: dict, runner, portal_text: str, attached: set, nodes: list[dict], check_mode: bool,
            result: dict) -> tuple[bool, dict]:
    known = attached | {(node["portal"], node["iqn"]) for node in nodes}
    if params.get("targets"):
        chosen = sorted((portal_text, iqn) for iqn in params["targets"] if (portal_text, iqn) in known)
    else:
        chosen = sorted(pair for pair in known if pair[1].startswith(IQN_PREFIX))
    for pair in chosen:
        commands = logout_commands(pair[0], pair[1], pair in attached)
        result["commands"] += commands
        result["detached"].append(pair[1])
        if check_mode:
            continue
        try:
            for command in commands:
                runner.run(command[0], command[1:])
        except CommandError as error:
            result.update(error.as_dict())
            result["changed"] = True
            return True, result
    result["changed"] = bool(chosen)
    result["msg"] = "%d target(s) detached" % len(chosen) if chosen else "nothing attached"
    return False, result
