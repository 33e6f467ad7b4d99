# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: the iscsi_export module's work on the host (reads, then targetcli)."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile

from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError, ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._identity import BY_ID_DIR, IdentityMap, link_aliases
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_export import (
    backstore_name, export_iqn, export_matches, export_name_of, masked, parse_saveconfig, parse_targetcli_bool,
    plan_exports, remove_commands)
from ansible_collections.lifeline.storage.plugins.module_utils._md_assemble import resolve_members

INITIATOR_NAME = re.compile(r"^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[^\s]+)?|eui\.[0-9A-Fa-f]{16})$")
CHAP_USER = re.compile(r"^[A-Za-z0-9._@:-]{1,255}$")
MD_NAME_DIR = "/dev/md/"


class ExportError(RuntimeError):
    """Input or host state that the module refuses; nothing has been run."""


def check_params(params: dict) -> None:
    """Refuse bad input before anything is read or run; each message names the bad value."""
    if params["state"] == "present":
        try:
            address = ipaddress.ip_address(params["address"])
        except ValueError:
            raise ExportError("address %r is not an IP address" % params["address"]) from None
        if address.is_unspecified:
            raise ExportError("address %s would listen on every address of the host: name the one the helper reaches"
                              % params["address"])
        if not INITIATOR_NAME.match(params["initiator"]):
            raise ExportError("initiator %r is not an iSCSI name (iqn.YYYY-MM.domain[:name] or eui.16HEX)"
                              % params["initiator"])
        if not CHAP_USER.match(params["chap_user"]):
            raise ExportError("chap_user must be 1 to 255 letters, digits or . _ @ : -")
        if not 12 <= len(params["chap_password"]) <= 16 or any(char.isspace() for char in params["chap_password"]):
            # LIO's CHAP secrets; many initiators refuse fewer than 12 characters.
            raise ExportError("chap_password must be 12 to 16 characters without spaces")
    for name in params.get("devices") or []:
        if _is_kernel_name(name):
            raise ExportError("%s names a device by its kernel name, which can change at the next boot: name it by "
                              "serial, WWN, a %s path or %sNAME" % (name, BY_ID_DIR, MD_NAME_DIR))


def _is_kernel_name(name: str) -> bool:
    if name.startswith(BY_ID_DIR + "/") or name.startswith(MD_NAME_DIR):
        return False
    return name.startswith("/dev/") or bool(re.match(r"^(sd[a-z]+|vd[a-z]+|hd[a-z]+|xvd[a-z]+|ubd[a-z]+|nvme\d+n\d+|"
                                                     r"mmcblk\d+|md\d+|dm-\d+|loop\d+)(p?\d+)?$", name))


def resolve_devices(runner, files, names: list[str]) -> list[dict]:
    """Each named device with its export name and the stable path its backstore opens."""
    identity = IdentityMap.gather(runner, files)
    if identity.error:
        raise ExportError("cannot list the block devices: %s" % identity.error)
    resolved, missing, ambiguous = resolve_members(identity.as_dict(), names, link_aliases(files, names))
    problems = ["no block device is named %s" % name for name in missing]
    problems += ["%s names more than one device" % text for text in ambiguous]
    if problems:
        raise ExportError("; ".join(problems))
    devices = []
    for device in resolved:
        name = export_name_of(device)
        if name is None:
            raise ExportError("%s (%s) has no serial, WWN or md UUID to name its export by"
                              % (device["requested_as"], device["device"]))
        requested = device["requested_as"]
        path = requested if requested.startswith("/dev/") else device["stable_name"]
        if not path:
            raise ExportError("%s (%s) has no %s link to export it by" % (requested, device["device"], BY_ID_DIR))
        devices.append({"name": name, "device": device["device"], "path": path, "requested_as": requested,
                        "iqn": export_iqn(name), "backstore": backstore_name(name)})
    for field in ("iqn", "backstore"):
        seen: dict[str, str] = {}
        for device in devices:
            if device[field] in seen and seen[device[field]] != device["device"]:
                raise ExportError("%s and %s would both be exported as %s"
                                  % (seen[device[field]], device["device"], device[field]))
            seen[device[field]] = device["device"]
    return devices


def address_is_local(runner, address: str) -> bool:
    result = runner.run("ip", ["-json", "address", "show"])
    try:
        interfaces = json.loads(result.stdout)
    except ValueError as error:
        raise ParseError("ip -json address show", str(error)) from error
    wanted = ipaddress.ip_address(address)
    return any(ipaddress.ip_address(entry.get("local", "")) == wanted
               for interface in interfaces for entry in interface.get("addr_info") or []
               if entry.get("local"))


def read_lio(runner) -> dict:
    """LIO's running configuration, through a file only root can read (it holds CHAP secrets)."""
    handle, path = tempfile.mkstemp(prefix="lifeline-lio-", suffix=".json")
    os.close(handle)
    try:
        runner.run("targetctl", ["save", path])
        with open(path, encoding="utf-8") as saved:
            return parse_saveconfig(saved.read())
    finally:
        os.unlink(path)


def _public(export: dict, params: dict) -> dict:
    return {"name": export["name"], "device": export["device"], "path": export["path"], "iqn": export["iqn"],
            "backstore": export["backstore"], "portal": "%s:%s" % (params["address"], params["port"]),
            "initiator": params["initiator"]}


def run_export(params: dict, runner, files, check_mode: bool) -> tuple[bool, dict]:
    """(failed, result) of one run of the iscsi_export module."""
    result: dict = {"changed": False, "commands": [], "exports": [], "removed": []}
    try:
        check_params(params)
        wanted = None
        if params.get("devices"):
            wanted = [dict(device, initiator=params["initiator"], chap_user=params["chap_user"],
                           chap_password=params["chap_password"], address=params["address"], port=params["port"])
                      for device in resolve_devices(runner, files, params["devices"])]
        if params["state"] == "present" and not address_is_local(runner, params["address"]):
            raise ExportError("address %s is not an address of this host (ip address show)" % params["address"])
        for tool in ("targetcli", "targetctl"):
            if not runner.has(tool):
                raise ExportError("%s is not installed on this host (Debian and Ubuntu: package targetcli-fb)" % tool)
        current = read_lio(runner)
        auto_add_default_portal = False
        if params["state"] == "present":
            answer = runner.run("targetcli", ["get", "global", "auto_add_default_portal"]).stdout
            auto_add_default_portal = parse_targetcli_bool(answer, "auto_add_default_portal") is not False
        steps = plan_exports(wanted, current, params["state"], auto_add_default_portal)
    except (ExportError, ParseError) as error:
        result["msg"] = str(error)
        return True, result
    except CommandError as error:
        result.update(error.as_dict())
        return True, result
    result["commands"] = [masked(command) for step in steps for command in step["commands"]]
    result["changed"] = bool(steps)
    result["removed"] = [step["name"] for step in steps if step["action"] == "remove"]
    if params["state"] == "present":
        result["exports"] = [_public(export, params) for export in wanted]
    if check_mode or not steps:
        result["msg"] = "%d export(s) to change" % len(steps) if steps else "nothing to change"
        return False, result
    for step in steps:
        failed = _run_step(runner, step, result)
        if failed:
            return True, result
    if params["state"] == "present":
        after = read_lio(runner)
        wrong = [export["name"] for export in wanted if not export_matches(export, after)]
        if wrong:
            result["msg"] = "LIO does not show the exports of %s as asked after the run" % ", ".join(wrong)
            return True, result
    result["msg"] = "%d export(s) changed" % len(steps)
    return False, result


def _run_step(runner, step: dict, result: dict) -> bool:
    """Run one export's commands; when one fails, remove what was made of that export (nothing half-made)."""
    for command in step["commands"]:
        try:
            runner.run(command[0], command[1:])
        except CommandError as error:
            result.update(error.as_dict())
            result["cmd"] = masked(error.cmd)
            result["msg"] = "%s: %s" % (step["name"], error)
            if step["action"] != "remove":
                result["undone"] = []
                for undo in remove_commands(step["iqn"], step["backstore"]):
                    try:
                        runner.run(undo[0], undo[1:])
                        result["undone"].append(undo)
                    except CommandError:
                        pass  # that part was never made
            return True
    return False
