# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to lifeline.storage: attaching a broken host's iSCSI exports on a helper (open-iscsi).

Pure: parsers of `iscsiadm -m session` and `iscsiadm -m node`, the by-path name udev gives an
attached LUN, the serial in a SCSI unit serial page, and the iscsiadm commands of a login or a
logout. Nothing here runs a command.
"""

from __future__ import annotations

import re

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_export import MASKED

ISCSIADM = "iscsiadm"
# iscsiadm's exit status when there is no session or no node record (ISCSI_ERR_NO_OBJS_FOUND).
NO_OBJECTS_FOUND = 21
BY_PATH_DIR = "/dev/disk/by-path"

# tcp: [1] 10.251.0.1:3260,1 iqn.2026-12.storage.lifeline:export.virt0001 (non-flash)
_SESSION = re.compile(r"^(?P<transport>\S+): \[(?P<sid>\d+)\] (?P<portal>\S+?),(?P<tpgt>-?\d+) (?P<iqn>\S+)(?: \(.*\))?$")
# 10.251.0.1:3260,4294967295 iqn.2026-12.storage.lifeline:export.virt0001
_NODE = re.compile(r"^(?P<portal>\S+?),(?P<tpgt>-?\d+) (?P<iqn>\S+)$")


def parse_sessions(text: str) -> list[dict]:
    """`iscsiadm -m session` -> [{sid, portal, iqn}] (an IPv6 portal keeps its brackets)."""
    sessions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _SESSION.match(line.strip())
        if not match:
            raise ParseError("iscsiadm -m session", "not a session line", number, line)
        sessions.append({"sid": int(match.group("sid")), "portal": match.group("portal"), "iqn": match.group("iqn")})
    return sessions


def parse_nodes(text: str) -> list[dict]:
    """`iscsiadm -m node` -> [{portal, iqn}]."""
    nodes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _NODE.match(line.strip())
        if not match:
            raise ParseError("iscsiadm -m node", "not a node record line", number, line)
        nodes.append({"portal": match.group("portal"), "iqn": match.group("iqn")})
    return nodes


def portal(address: str, port: int) -> str:
    """ADDRESS:PORT as iscsiadm and udev write it: an IPv6 address in brackets."""
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def by_path(portal_text: str, iqn: str, lun: int = 0) -> str:
    """The /dev/disk/by-path link udev's stock rules give LUN of IQN at PORTAL."""
    return "%s/ip-%s-iscsi-%s-lun-%d" % (BY_PATH_DIR, portal_text, iqn, lun)


def vpd_serial(page: bytes) -> str | None:
    """The unit serial number in a SCSI VPD page 0x80 (sysfs vpd_pg80); None when the page is not one."""
    if len(page) < 4 or page[1] != 0x80:
        return None
    length = int.from_bytes(page[2:4], "big")
    serial = page[4:4 + length].split(b"\0", 1)[0].decode("ascii", "replace").strip()
    return serial or None


def login_commands(portal_text: str, iqn: str, chap_user: str, chap_password: str) -> list[list[str]]:
    """A node record for the target with CHAP and no automatic login at boot, then the login."""
    node = [ISCSIADM, "--mode", "node", "--targetname", iqn, "--portal", portal_text]
    settings = (("node.session.auth.authmethod", "CHAP"), ("node.session.auth.username", chap_user),
                ("node.session.auth.password", chap_password), ("node.startup", "manual"))
    return ([node + ["--op", "new"]]
            + [node + ["--op", "update", "--name", name, "--value", value] for name, value in settings]
            + [node + ["--login"]])


def logout_commands(portal_text: str, iqn: str, logged_in: bool) -> list[list[str]]:
    node = [ISCSIADM, "--mode", "node", "--targetname", iqn, "--portal", portal_text]
    return ([node + ["--logout"]] if logged_in else []) + [node + ["--op", "delete"]]


def masked(command: list[str], secret: str | None) -> list[str]:
    """A command as it may be shown: the CHAP secret replaced."""
    return [MASKED if secret and word == secret else word for word in command]
