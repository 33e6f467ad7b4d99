# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: read-only iSCSI exports of a broken host's disks (LIO, targetcli).

Pure: what the exports are called, what LIO has now (from `targetctl save`'s JSON) and the
targetcli commands that take it from there to what was asked. Nothing here runs a command.

Each export is one iSCSI target named by the device's serial, with one LUN over a block
backstore made read-only, one portal on one address, and one ACL: the helper's initiator name
with CHAP, its LUN mapped write-protected. The backstore's unit serial is the device's own
serial, so the helper's lsblk shows the broken host's serial on the imported disk.
"""

from __future__ import annotations

import json
import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError

IQN_PREFIX = "iqn.2026-12.storage.lifeline:export."
BACKSTORE_PREFIX = "lifeline-"
TARGETCLI = "targetcli"
MASKED = "********"

# RFC 3720's iSCSI names: lower case letters, digits, '.', '-' and ':'.
_IQN_UNSAFE = re.compile(r"[^a-z0-9.-]+")
_BACKSTORE_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def export_iqn(export_name: str) -> str:
    """The target name of the export of the device called EXPORT_NAME (its serial)."""
    return IQN_PREFIX + _IQN_UNSAFE.sub("-", export_name.lower()).strip("-")


def backstore_name(export_name: str) -> str:
    return BACKSTORE_PREFIX + _BACKSTORE_UNSAFE.sub("-", export_name).strip("-")


def export_name_of(identity: dict) -> str | None:
    """What an export of this device is called: a disk's serial (or WWN), a partition's disk serial
    with -partN, an md array's md-uuid- by-id name; None when it has none of them."""
    by_id = [link.rsplit("/", 1)[-1] for link in identity.get("by_id") or []]
    md_uuid = next((link for link in by_id if link.startswith("md-uuid-")), None)
    if md_uuid:
        return md_uuid
    stable = identity.get("serial") or identity.get("wwn")
    if not stable:
        return None
    if identity.get("type") == "part":
        number = re.search(r"(\d+)$", identity["kernel_name"])
        return "%s-part%s" % (stable, number.group(1)) if number else None
    return stable


def parse_saveconfig(text: str) -> dict:
    """LIO's running configuration (`targetctl save FILE`) -> the exports this collection made.

    Returns {"backstores": {name: {dev, readonly, wwn}}, "targets": {iqn: {...}}}, only the
    objects named with the collection's prefixes; anything else in LIO is someone else's.
    """
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ParseError("targetctl save", "not JSON: %s" % error) from error
    if not isinstance(config, dict):
        raise ParseError("targetctl save", "%s, not an object" % type(config).__name__)
    backstores = {}
    for storage in config.get("storage_objects") or []:
        name = storage.get("name") or ""
        if storage.get("plugin") == "block" and name.startswith(BACKSTORE_PREFIX):
            backstores[name] = {"dev": storage.get("dev"), "readonly": storage.get("readonly") is True,
                                "wwn": storage.get("wwn")}
    targets = {}
    portal_users: dict[str, int] = {}  # ADDRESS:PORT -> how many iSCSI TPGs listen there, anyone's
    for target in config.get("targets") or []:
        if target.get("fabric") != "iscsi":
            continue
        iqn = target.get("wwn") or ""
        tpgs = [_tpg(tpg) for tpg in target.get("tpgs") or []]
        for portal in (portal for tpg in tpgs for portal in tpg["portals"]):
            portal_users[portal] = portal_users.get(portal, 0) + 1
        if iqn.startswith(IQN_PREFIX):
            targets[iqn] = {"tpgs": tpgs}
    return {"backstores": backstores, "targets": targets, "portal_users": portal_users}


DEFAULT_PORTAL = "0.0.0.0:3260"


def gets_default_portal(auto_add_default_portal: bool, portals_in_use: set[str]) -> bool:
    """Whether targetcli adds its portal on every address to a new target.

    It tries when its auto_add_default_portal preference is on, and the kernel refuses the
    bind while another target listens on port 3260 of one address (targetcli then goes on
    without it); a 0.0.0.0:3260 that another target has is shared.
    """
    if not auto_add_default_portal:
        return False
    return DEFAULT_PORTAL in portals_in_use or not any(portal.endswith(":3260") for portal in portals_in_use)


def _tpg(tpg: dict) -> dict:
    attributes = tpg.get("attributes") or {}
    return {
        "tag": tpg.get("tag"),
        "enable": tpg.get("enable") is True,
        "authentication": attributes.get("authentication"),
        "generate_node_acls": attributes.get("generate_node_acls"),
        "portals": sorted("%s:%s" % (portal.get("ip_address"), portal.get("port")) for portal in tpg.get("portals") or []),
        "luns": [{"index": lun.get("index"), "storage_object": lun.get("storage_object")} for lun in tpg.get("luns") or []],
        "acls": [{
            "initiator": acl.get("node_wwn"),
            "chap_userid": acl.get("chap_userid"),
            "chap_password": acl.get("chap_password"),
            "mapped_luns": [{"index": mapped.get("index"), "tpg_lun": mapped.get("tpg_lun"),
                             "write_protect": mapped.get("write_protect") is True}
                            for mapped in acl.get("mapped_luns") or []],
        } for acl in tpg.get("node_acls") or []],
    }


def export_matches(wanted: dict, current: dict) -> bool:
    """Whether LIO already has the export WANTED exactly as asked (every safety setting included)."""
    backstore = current["backstores"].get(wanted["backstore"])
    target = current["targets"].get(wanted["iqn"])
    if backstore is None or target is None or len(target["tpgs"]) != 1:
        return False
    tpg = target["tpgs"][0]
    expected_acl = {"initiator": wanted["initiator"], "chap_userid": wanted["chap_user"],
                    "chap_password": wanted["chap_password"],
                    "mapped_luns": [{"index": 0, "tpg_lun": 0, "write_protect": True}]}
    return (backstore == {"dev": wanted["path"], "readonly": True, "wwn": wanted["name"]}
            and tpg["enable"] and tpg["authentication"] == 1 and tpg["generate_node_acls"] == 0
            and tpg["portals"] == ["%s:%s" % (wanted["address"], wanted["port"])]
            and tpg["luns"] == [{"index": 0, "storage_object": "/backstores/block/" + wanted["backstore"]}]
            and tpg["acls"] == [expected_acl])


def create_commands(wanted: dict, default_portal: bool) -> list[list[str]]:
    """targetcli commands that make one export. DEFAULT_PORTAL: targetcli adds a portal on every
    address (0.0.0.0) to each new target; it is deleted before the target has a LUN or an ACL."""
    iqn, backstore, tpg = wanted["iqn"], wanted["backstore"], "/iscsi/%s/tpg1" % wanted["iqn"]
    initiator = wanted["initiator"]
    commands = [
        [TARGETCLI, "/backstores/block", "create", "name=" + backstore, "dev=" + wanted["path"], "readonly=true",
         "wwn=" + wanted["name"]],
        [TARGETCLI, "/iscsi", "create", iqn],
    ]
    if default_portal:
        commands.append([TARGETCLI, tpg + "/portals", "delete", "0.0.0.0", "3260"])
    # Authentication is required before the portal listens.
    commands += [
        [TARGETCLI, tpg, "set", "attribute", "authentication=1", "generate_node_acls=0", "demo_mode_write_protect=1"],
        [TARGETCLI, tpg + "/portals", "create", wanted["address"], str(wanted["port"])],
        [TARGETCLI, tpg + "/luns", "create", "/backstores/block/" + backstore, "add_mapped_luns=false"],
        [TARGETCLI, tpg + "/acls", "create", initiator, "add_mapped_luns=false"],
        [TARGETCLI, "%s/acls/%s" % (tpg, initiator), "set", "auth", "userid=" + wanted["chap_user"],
         "password=" + wanted["chap_password"]],
        # 1, not true: targetcli passes the word on, and LIO maps the LUN writable for "true".
        [TARGETCLI, "%s/acls/%s" % (tpg, initiator), "create", "mapped_lun=0", "tpg_lun_or_backstore=lun0",
         "write_protect=1"],
    ]
    return commands


def remove_commands(iqn: str | None, backstore: str | None) -> list[list[str]]:
    """targetcli commands that remove one export: its target (portal, LUN, ACL with it), then its backstore."""
    commands = []
    if iqn:
        commands.append([TARGETCLI, "/iscsi", "delete", iqn])
    if backstore:
        commands.append([TARGETCLI, "/backstores/block", "delete", backstore])
    return commands


def plan_exports(wanted: list[dict] | None, current: dict, state: str, auto_add_default_portal: bool) -> list[dict]:
    """One step per export to change: {"name", "iqn", "backstore", "action", "commands"}.

    present: an export that exists as asked is left alone; one that differs in anything is
    removed and made again. absent: each wanted export (every one this collection made when
    WANTED is None) that exists is removed.
    """
    steps = []
    if state == "absent":
        if wanted is None:
            names = sorted(set(current["targets"]) | set(current["backstores"]))
            pairs = [(name, None) if name in current["targets"] else (None, name) for name in names]
        else:
            pairs = [(item["iqn"], item["backstore"]) for item in wanted]
        for iqn, backstore in pairs:
            iqn = iqn if iqn in current["targets"] else None
            backstore = backstore if backstore in current["backstores"] else None
            if iqn or backstore:
                steps.append({"name": iqn or backstore, "iqn": iqn, "backstore": backstore, "action": "remove",
                              "commands": remove_commands(iqn, backstore)})
        return steps
    # The portals LIO listens on as the steps run, which decide whether targetcli adds its default one.
    in_use = dict(current.get("portal_users") or {})
    for item in wanted or []:
        if export_matches(item, current):
            continue
        stale_iqn = item["iqn"] if item["iqn"] in current["targets"] else None
        stale_backstore = item["backstore"] if item["backstore"] in current["backstores"] else None
        if stale_iqn:
            for tpg in current["targets"][stale_iqn]["tpgs"]:
                for portal in tpg["portals"]:
                    in_use[portal] = max(in_use.get(portal, 1) - 1, 0)
        listening = {portal for portal, users in in_use.items() if users > 0}
        default_portal = gets_default_portal(auto_add_default_portal, listening)
        steps.append({"name": item["name"], "iqn": item["iqn"], "backstore": item["backstore"],
                      "action": "replace" if stale_iqn or stale_backstore else "create",
                      "commands": remove_commands(stale_iqn, stale_backstore) + create_commands(item, default_portal)})
        portal = "%s:%s" % (item["address"], item["port"])
        in_use[portal] = in_use.get(portal, 0) + 1
    return steps


def masked(command: list[str]) -> list[str]:
    """A command as it may be shown: the CHAP password replaced."""
    return ["password=" + MASKED if word.startswith("password=") else word for word in command]


def parse_targetcli_bool(text: str, key: str) -> bool | None:
    """`targetcli get global KEY` prints `KEY=true`; None when it printed something else."""
    match = re.search(r"^%s=(\w+)" % re.escape(key), text, re.MULTILINE)
    if not match:
        return None
    return {"true": True, "false": False}.get(match.group(1).lower())
