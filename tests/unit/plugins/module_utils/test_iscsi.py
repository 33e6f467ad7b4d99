# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iSCSI export and import modules' parsers, planners and input checks, on outputs recorded in the lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._errors import ParseError
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_export import (
    backstore_name, create_commands, export_iqn, export_matches, export_name_of, masked, parse_saveconfig,
    parse_targetcli_bool, plan_exports)
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_export_host import ExportError, check_params
from ansible_collections.lifeline.storage.plugins.module_utils._iscsi_import import (
    by_path, login_commands, logout_commands, parse_nodes, parse_sessions, portal, vpd_serial)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "iscsi"
SAVECONFIG = (FIXTURES / "targetctl-save.json").read_text()
SESSIONS = (FIXTURES / "iscsiadm-session.txt").read_text()
NODES = (FIXTURES / "iscsiadm-node.txt").read_text()
HELPER = "iqn.2026-12.storage.lifeline.lab:helper"


def wanted(serial: str, **extra) -> dict:
    entry = {"name": serial, "device": "/dev/ubdb", "path": "/dev/disk/by-id/uml-" + serial, "iqn": export_iqn(serial),
             "backstore": backstore_name(serial), "initiator": HELPER, "chap_user": "lifeline",
             "chap_password": "lab-secret-0042", "address": "10.251.0.1", "port": 3260}
    entry.update(extra)
    return entry


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

def test_an_export_is_named_by_serial_and_its_iqn_is_a_valid_iscsi_name():
    assert export_name_of({"kernel_name": "sdb", "type": "disk", "serial": "WD-WCC7K1234567", "by_id": []}) == "WD-WCC7K1234567"
    assert export_iqn("WD-WCC7K1234567") == "iqn.2026-12.storage.lifeline:export.wd-wcc7k1234567"
    assert export_iqn("S3 Z_9/x") == "iqn.2026-12.storage.lifeline:export.s3-z-9-x"
    assert backstore_name("S3 Z_9/x") == "lifeline-S3-Z_9-x"


def test_a_partition_adds_its_number_and_an_array_uses_its_md_uuid_link():
    assert export_name_of({"kernel_name": "sdb2", "type": "part", "serial": "S1", "by_id": []}) == "S1-part2"
    array = {"kernel_name": "md127", "type": "raid1", "serial": None,
             "by_id": ["/dev/disk/by-id/md-name-export", "/dev/disk/by-id/md-uuid-9e5b1c1f:7d1c4a09:8f0e2b11:03a4c5d6"]}
    assert export_name_of(array) == "md-uuid-9e5b1c1f:7d1c4a09:8f0e2b11:03a4c5d6"
    assert export_name_of({"kernel_name": "loop0", "type": "loop", "serial": None, "wwn": None, "by_id": []}) is None


# ---------------------------------------------------------------------------------------------
# LIO's configuration (targetctl save, recorded in the lab after the export role's run)
# ---------------------------------------------------------------------------------------------

def test_the_recorded_exports_are_read_with_every_safety_setting():
    current = parse_saveconfig(SAVECONFIG)
    assert sorted(current["backstores"]) == ["lifeline-VIRT0001", "lifeline-VIRT0002"]
    assert current["backstores"]["lifeline-VIRT0001"] == {
        "dev": "/dev/disk/by-id/uml-VIRT0001", "readonly": True, "wwn": "VIRT0001"}
    (tpg,) = current["targets"][export_iqn("VIRT0001")]["tpgs"]
    assert tpg["portals"] == ["10.251.0.1:3260"] and tpg["authentication"] == 1 and tpg["generate_node_acls"] == 0
    assert tpg["acls"][0]["mapped_luns"] == [{"index": 0, "tpg_lun": 0, "write_protect": True}]


def test_what_was_asked_matches_the_recorded_exports_and_the_run_is_a_no_op():
    current = parse_saveconfig(SAVECONFIG)
    asked = [wanted("VIRT0001"), wanted("VIRT0002")]
    assert all(export_matches(item, current) for item in asked)
    assert plan_exports(asked, current, "present", True) == []


@pytest.mark.parametrize("change", [
    {"address": "10.251.0.9"}, {"initiator": "iqn.2026-12.storage.lifeline.lab:other"},
    {"chap_password": "another-secret1"}, {"path": "/dev/disk/by-id/uml-VIRT0003"}])
def test_an_export_that_differs_in_anything_is_replaced(change):
    steps = plan_exports([wanted("VIRT0001", **change)], parse_saveconfig(SAVECONFIG), "present", True)
    assert [step["action"] for step in steps] == ["replace"]
    assert steps[0]["commands"][:2] == [["targetcli", "/iscsi", "delete", export_iqn("VIRT0001")],
                                        ["targetcli", "/backstores/block", "delete", "lifeline-VIRT0001"]]


@pytest.mark.parametrize("path, value", [
    (("storage_objects", 0, "readonly"), False),
    (("targets", 0, "tpgs", 0, "node_acls", 0, "mapped_luns", 0, "write_protect"), False),
    (("targets", 0, "tpgs", 0, "attributes", "generate_node_acls"), 1),
    (("targets", 0, "tpgs", 0, "attributes", "authentication"), 0)])
def test_an_export_made_writable_or_open_is_replaced(path, value):
    config = json.loads(SAVECONFIG)
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    current = parse_saveconfig(json.dumps(config))
    changed = [step["name"] for step in plan_exports([wanted("VIRT0001"), wanted("VIRT0002")], current, "present", True)]
    assert len(changed) == 1


def test_a_portal_on_every_address_is_replaced():
    config = json.loads(SAVECONFIG)
    config["targets"][0]["tpgs"][0]["portals"].append({"ip_address": "0.0.0.0", "iser": False, "offload": False, "port": 3260})
    steps = plan_exports([wanted("VIRT0001"), wanted("VIRT0002")], parse_saveconfig(json.dumps(config)), "present", True)
    assert [step["action"] for step in steps] == ["replace"]


def test_a_new_export_gets_authentication_before_its_portal_and_no_default_portal():
    commands = create_commands(wanted("VIRT0003"), default_portal=True)
    words = [" ".join(command[1:3]) for command in commands]
    tpg = "/iscsi/%s/tpg1" % export_iqn("VIRT0003")
    assert commands[2] == ["targetcli", tpg + "/portals", "delete", "0.0.0.0", "3260"]
    assert words.index(tpg + " set") < words.index(tpg + "/portals create")
    assert commands[-1][-1] == "write_protect=1"
    assert ["targetcli", tpg + "/portals", "delete", "0.0.0.0", "3260"] not in create_commands(wanted("VIRT0003"), False)


def test_absent_removes_every_export_of_the_collection_and_nothing_else():
    config = json.loads(SAVECONFIG)
    config["storage_objects"].append({"name": "someone-elses", "plugin": "block", "dev": "/dev/sdz"})
    steps = plan_exports(None, parse_saveconfig(json.dumps(config)), "absent", False)
    commands = [command for step in steps for command in step["commands"]]
    assert ["targetcli", "/iscsi", "delete", export_iqn("VIRT0001")] in commands
    assert not any("someone-elses" in command for command in commands)
    assert plan_exports(None, {"backstores": {}, "targets": {}}, "absent", False) == []


def test_the_chap_secret_never_shows():
    assert masked(["targetcli", "x", "set", "auth", "userid=u", "password=lab-secret-0042"])[-1] == "password=********"


@pytest.mark.parametrize("text", ["", "{", "[1, 2]"])
def test_output_that_is_not_a_configuration_is_refused(text):
    with pytest.raises(ParseError):
        parse_saveconfig(text)


def test_targetcli_preferences_are_read_as_printed():
    assert parse_targetcli_bool("auto_add_default_portal=true \n", "auto_add_default_portal") is True
    assert parse_targetcli_bool("auto_add_default_portal=false\n", "auto_add_default_portal") is False
    assert parse_targetcli_bool("No such parameter\n", "auto_add_default_portal") is None


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------

def params(**extra) -> dict:
    entry = {"state": "present", "devices": ["VIRT0001"], "address": "10.251.0.1", "port": 3260, "initiator": HELPER,
             "chap_user": "lifeline", "chap_password": "lab-secret-0042"}
    entry.update(extra)
    return entry


@pytest.mark.parametrize("extra, named", [
    ({"address": "0.0.0.0"}, "every address"), ({"address": "::"}, "every address"),
    ({"address": "10.251.0"}, "'10.251.0'"), ({"initiator": "helper"}, "'helper'"),
    ({"chap_password": "short"}, "12 to 16"), ({"devices": ["sdb"]}, "sdb names a device by its kernel name"),
    ({"devices": ["/dev/sdb1"]}, "/dev/sdb1"), ({"devices": ["md127"]}, "md127"), ({"devices": ["/dev/md0"]}, "/dev/md0")])
def test_bad_input_is_refused_naming_it(extra, named):
    with pytest.raises(ExportError) as refused:
        check_params(params(**extra))
    assert named in str(refused.value)


def test_stable_names_pass():
    check_params(params(devices=["VIRT0001", "/dev/disk/by-id/uml-VIRT0002", "/dev/md/export", "0x5000c500a1b2c3d4"]))


# ---------------------------------------------------------------------------------------------
# The helper's side (iscsiadm, recorded in the lab's helper guest after the import role's run)
# ---------------------------------------------------------------------------------------------

def test_sessions_and_node_records_are_read():
    assert parse_sessions(SESSIONS) == [
        {"sid": 1, "portal": "10.251.0.1:3260", "iqn": export_iqn("VIRT0001")},
        {"sid": 2, "portal": "10.251.0.1:3260", "iqn": export_iqn("VIRT0002")}]
    assert sorted(node["iqn"] for node in parse_nodes(NODES)) == [export_iqn("VIRT0001"), export_iqn("VIRT0002")]


@pytest.mark.parametrize("parser", [parse_sessions, parse_nodes])
def test_a_line_of_another_shape_is_refused_with_its_number(parser):
    with pytest.raises(ParseError) as raised:
        parser("iscsiadm: No active sessions.\nsomething else\n")
    assert raised.value.line_number == 1


def test_the_by_path_name_and_an_ipv6_portal():
    assert by_path(portal("10.251.0.1", 3260), export_iqn("VIRT0001")) == (
        "/dev/disk/by-path/ip-10.251.0.1:3260-iscsi-iqn.2026-12.storage.lifeline:export.virt0001-lun-0")
    assert portal("fd00::1", 3260) == "[fd00::1]:3260"


def test_the_unit_serial_page_gives_the_broken_hosts_serial():
    # /sys/block/sda/device/vpd_pg80 of the imported VIRT0001, read in the lab's helper guest.
    assert vpd_serial(b"\x00\x80\x00\x09VIRT0001\x00") == "VIRT0001"
    assert vpd_serial(b"\x00\x83\x00\x04abcd") is None
    assert vpd_serial(b"") is None


def test_a_login_never_starts_at_boot_and_logout_deletes_the_record():
    commands = login_commands("10.251.0.1:3260", export_iqn("VIRT0001"), "lifeline", "lab-secret-0042")
    assert commands[0][-2:] == ["--op", "new"] and commands[-1][-1] == "--login"
    assert ["--name", "node.startup", "--value", "manual"] == commands[-2][-4:]
    assert [command[-1] for command in logout_commands("10.251.0.1:3260", export_iqn("VIRT0001"), True)] == ["--logout", "delete"]
    assert [command[-1] for command in logout_commands("10.251.0.1:3260", export_iqn("VIRT0001"), False)] == ["delete"]


def test_only_the_first_new_export_on_port_3260_gets_targetcli_s_portal_on_every_address():
    # The kernel refuses 0.0.0.0:3260 once one address listens on port 3260: targetcli then adds none.
    empty = {"backstores": {}, "targets": {}, "portal_users": {}}
    steps = plan_exports([wanted("VIRT0003"), wanted("VIRT0004")], empty, "present", True)
    deletes = [["delete", "0.0.0.0"] == command[2:4] for step in steps for command in step["commands"]]
    assert deletes.count(True) == 1 and steps[0]["commands"][2][2:4] == ["delete", "0.0.0.0"]
    recorded = plan_exports([wanted("VIRT0003")], parse_saveconfig(SAVECONFIG), "present", True)
    assert not any(command[2:4] == ["delete", "0.0.0.0"] for command in recorded[0]["commands"])
    shared = {"backstores": {}, "targets": {}, "portal_users": {"0.0.0.0:3260": 1}}
    assert plan_exports([wanted("VIRT0003")], shared, "present", True)[0]["commands"][2][2:4] == ["delete", "0.0.0.0"]
    assert not any(command[2:4] == ["delete", "0.0.0.0"]
                   for command in plan_exports([wanted("VIRT0003")], empty, "present", False)[0]["commands"])
