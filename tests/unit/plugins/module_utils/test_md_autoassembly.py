# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host can start md arrays on its own, from the files that decide it.

Hosts are described as dicts of files and links; the udev rules file is the one Debian's
mdadm 4.2-5 package installs (tests/unit/fixtures/md_assemble/SOURCES.md).
"""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest

from ansible_collections.lifeline.storage.plugins.module_utils._md_autoassembly import (
    auto_policy,
    detect_auto_assembly,
    metadata_kind,
    reached_rule_lines,
)

FIXTURES = Path(__file__).resolve().parents[3] / "unit" / "fixtures" / "md_assemble"
DEBIAN_RULES = (FIXTURES / "debian-mdadm-4.2-5.64-md-raid-assembly.rules").read_text()
GOTO_DISABLED_RULES = (FIXTURES / "derived-goto-disabled.64-md-raid-assembly.rules").read_text()
# Content does not matter for these two, only presence and masking.
TIMER = "[Unit]\nDescription=Timer to wait for more drives before activating degraded array %I.\n"
SERVICE = "[Service]\nType=oneshot\nExecStart=/sbin/mdadm --run /dev/%i\n"
TARGET_1X = {"uuid": "3f5ea966:6745a7df:ab5b0f5c:236f14b9", "metadata": "1.2", "local": True}


class FakeFiles:
    """HostFiles over dicts: FILES path -> text (None: exists, unreadable), LINKS path -> target, DIRS empty dirs."""

    def __init__(self, files: dict[str, str | None], links: dict[str, str] | None = None,
                 dirs: set[str] | None = None) -> None:
        self.files = files
        self.links = links or {}
        self.dirs = dirs or set()

    def _resolve(self, path: str) -> str:
        target = self.links.get(path)
        return posixpath.normpath(posixpath.join(posixpath.dirname(path), target)) if target else path

    def exists(self, path: str) -> bool:
        path = self._resolve(path)
        return (path == "/dev/null" or path in self.files or path in self.dirs
                or any(name.startswith(path.rstrip("/") + "/") for name in list(self.files) + list(self.links)))

    def read_text(self, path: str) -> str:
        path = self._resolve(path)
        if path == "/dev/null":
            return ""
        text = self.files.get(path)
        if text is None:
            raise OSError(13, "Permission denied")
        return text

    def read_optional(self, path: str) -> str | None:
        try:
            return self.read_text(path).strip()
        except OSError:
            return None

    def list_dir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted({name[len(prefix):].split("/")[0] for name in list(self.files) + list(self.links)
                       if name.startswith(prefix)})

    def read_link(self, path: str) -> str | None:
        return self.links.get(path)


def debian_host(**changes) -> dict[str, str | None]:
    """A Debian 12 host with mdadm installed as the package installs it, booted with systemd, md a module."""
    files: dict[str, str | None] = {
        "/lib/udev/rules.d/64-md-raid-assembly.rules": DEBIAN_RULES,
        "/lib/systemd/system/mdadm-last-resort@.timer": TIMER,
        "/lib/systemd/system/mdadm-last-resort@.service": SERVICE,
        "/run/systemd/system/.placeholder": "",
        "/etc/mdadm/mdadm.conf": "HOMEHOST <system>\nMAILADDR root\n",
        "/proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0a1b ro quiet\n",
        "/sys/module/md_mod/initstate": "live\n",
        "/sys/module/md_mod/parameters/start_ro": "1\n",
    }
    files.update(changes)
    return {path: text for path, text in files.items() if text is not False}


def evidence_about(result: dict, source_part: str) -> list[str]:
    return [item["detail"] for item in result["evidence"] if source_part in item["source"]]


def test_debian_package_as_installed_assembles_and_starts_degraded_arrays_on_its_own():
    result = detect_auto_assembly(FakeFiles(debian_host()), TARGET_1X)
    assert {key: result[key] for key in ("active", "udev_incremental", "last_resort_timer", "mdadm_conf",
                                         "mdadm_conf_auto", "mdadm_conf_allows", "kernel_autodetect", "start_ro")} == {
        "active": True, "udev_incremental": True, "last_resort_timer": True, "mdadm_conf": "/etc/mdadm/mdadm.conf",
        "mdadm_conf_auto": None, "mdadm_conf_allows": True, "kernel_autodetect": False, "start_ro": True}
    rule_lines = [item for item in result["evidence"] if item["source"].endswith("64-md-raid-assembly.rules")]
    assert rule_lines[0]["line"].startswith('ACTION=="add|change", IMPORT{program}="/sbin/mdadm --incremental')
    assert "line 33" in rule_lines[0]["detail"]
    assert "mdadm-last-resort@" in rule_lines[1]["line"]


def test_rules_masked_in_etc_switch_udev_assembly_and_the_timer_off():
    files = FakeFiles(debian_host(), links={"/etc/udev/rules.d/64-md-raid-assembly.rules": "/dev/null"})
    result = detect_auto_assembly(files, TARGET_1X)
    assert (result["active"], result["udev_incremental"], result["last_resort_timer"]) == (False, False, False)
    assert evidence_about(result, "/etc/udev/rules.d/64-md-raid-assembly.rules") == [
        "64-md-raid-assembly.rules is switched off (a link to /dev/null or an empty file)"]


def test_an_empty_override_file_also_switches_it_off():
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/udev/rules.d/64-md-raid-assembly.rules": ""})))
    assert result["udev_incremental"] is False


def test_a_relative_link_to_dev_null_counts_as_masked():
    files = FakeFiles(debian_host(), links={"/etc/udev/rules.d/64-md-raid-assembly.rules": "../../../dev/null"})
    assert detect_auto_assembly(files)["udev_incremental"] is False


def test_an_override_with_other_content_replaces_the_packaged_file():
    override = "# local: no md assembly here\nSUBSYSTEM!=\"block\", GOTO=\"end\"\nLABEL=\"end\"\n"
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/udev/rules.d/64-md-raid-assembly.rules": override})))
    assert result["udev_incremental"] is False
    assert evidence_about(result, "/etc/udev/rules.d") == ["no reachable rule runs mdadm --incremental"]


def test_an_unconditional_goto_before_the_incremental_rule_disables_it():
    result = detect_auto_assembly(FakeFiles(debian_host(**{
        "/lib/udev/rules.d/64-md-raid-assembly.rules": GOTO_DISABLED_RULES})), TARGET_1X)
    assert (result["udev_incremental"], result["last_resort_timer"], result["active"]) == (False, False, False)


def test_reached_lines_follow_conditional_gotos_and_stop_at_unconditional_ones():
    packaged = [rule[1] for rule in reached_rule_lines(DEBIAN_RULES)]
    # The packaged file jumps over LABEL="md_inc" unconditionally, but reaches it by conditional GOTOs.
    assert 'LABEL="md_inc"' in packaged and any("--incremental" in line for line in packaged)
    disabled = [rule[1] for rule in reached_rule_lines(GOTO_DISABLED_RULES)]
    assert 'LABEL="md_inc"' in disabled and 'LABEL="md_inc_end"' in disabled
    assert not any("--incremental" in line or "last-resort" in line for line in disabled)


def test_no_rules_file_anywhere_means_udev_assembles_nothing():
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/lib/udev/rules.d/64-md-raid-assembly.rules": False})))
    assert (result["udev_incremental"], result["last_resort_timer"], result["active"]) == (False, False, False)


def test_red_hat_rules_name_is_recognised():
    rules = ('SUBSYSTEM!="block", GOTO="md_end"\nENV{ID_FS_TYPE}=="linux_raid_member", ACTION=="add", '
             'RUN+="/sbin/mdadm -I $env{DEVNAME}"\nACTION=="remove", RUN+="/sbin/mdadm -If $name"\nLABEL="md_end"\n')
    files = FakeFiles(debian_host(**{"/lib/udev/rules.d/64-md-raid-assembly.rules": False,
                                     "/usr/lib/udev/rules.d/65-md-incremental.rules": rules}))
    result = detect_auto_assembly(files)
    assert result["udev_incremental"] is True and result["last_resort_timer"] is False


def test_a_remove_rule_alone_is_not_assembly():
    rules = 'ACTION=="remove", ENV{ID_PATH}!="?*", RUN+="/sbin/mdadm -If $name"\n'
    files = FakeFiles(debian_host(**{"/lib/udev/rules.d/64-md-raid-assembly.rules": rules}))
    assert detect_auto_assembly(files)["udev_incremental"] is False


def test_unreadable_rules_file_is_unknown_not_off():
    files = FakeFiles(debian_host(**{"/lib/udev/rules.d/64-md-raid-assembly.rules": None}))
    result = detect_auto_assembly(files, TARGET_1X)
    assert (result["udev_incremental"], result["last_resort_timer"], result["active"]) == (None, None, None)
    assert "cannot be read" in evidence_about(result, "64-md-raid-assembly.rules")[0]


def test_masked_timer_or_service_stops_the_last_resort_start():
    for unit in ("mdadm-last-resort@.timer", "mdadm-last-resort@.service"):
        files = FakeFiles(debian_host(), links={"/etc/systemd/system/" + unit: "/dev/null"})
        result = detect_auto_assembly(files, TARGET_1X)
        assert (result["udev_incremental"], result["last_resort_timer"]) == (True, False), unit


def test_without_systemd_nothing_runs_the_timer():
    files = FakeFiles(debian_host(**{"/run/systemd/system/.placeholder": False}))
    assert detect_auto_assembly(files)["last_resort_timer"] is False


@pytest.mark.parametrize("auto_line, local, allows", [
    ("AUTO -all", True, False),
    ("AUTO +1.x -all", False, True),
    ("AUTO +imsm -1.x +all", True, False),
    ("AUTO homehost -all", True, True),
    ("AUTO homehost -all", False, False),
    ("AUTO homehost -all", None, None),
    ("AUTO -0.90 +all", False, True),
    ("AUTO no", True, False),
])
def test_auto_line_decides_for_arrays_not_listed(auto_line, local, allows):
    conf = "HOMEHOST <system>\n%s\nAUTO +all\n" % auto_line  # only the first AUTO line counts
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf": conf})),
                                  dict(TARGET_1X, local=local))
    assert result["mdadm_conf_allows"] is allows
    assert result["mdadm_conf_auto"] == auto_line.split(None, 1)[1]
    assert result["active"] is allows


def test_array_line_wins_over_auto_and_ignore_wins_over_everything():
    listed = ("AUTO -all\nARRAY /dev/md/healthy metadata=1.2 UUID=3f5ea966:6745a7df:ab5b0f5c:236f14b9 "
              "name=lifeline-lab:healthy\n")
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf": listed})), TARGET_1X)
    assert (result["mdadm_conf_allows"], result["active"]) == (True, True)
    ignored = "ARRAY <ignore> UUID=3f5ea966-6745-a7df-ab5b-0f5c236f14b9\n"
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf": ignored})), TARGET_1X)
    assert (result["mdadm_conf_allows"], result["active"]) == (False, False)


def test_conf_directory_files_are_read_after_the_main_file():
    files = FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf.d/10-rescue.conf": "AUTO -all\n",
                                     "/etc/mdadm/mdadm.conf.d/README": "AUTO +all\n"}))
    result = detect_auto_assembly(files, TARGET_1X)
    assert (result["mdadm_conf_auto"], result["mdadm_conf_allows"]) == ("-all", False)


def test_a_restricting_device_line_makes_the_answer_unknown():
    conf = "DEVICE /dev/sd[ab]1\n"
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf": conf})), TARGET_1X)
    assert (result["mdadm_conf_allows"], result["active"]) == (None, None)


def test_no_mdadm_conf_means_everything_is_taken():
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf": False})), TARGET_1X)
    assert (result["mdadm_conf"], result["mdadm_conf_allows"], result["active"]) == (None, True, True)


def test_red_hat_location_is_read_when_debians_is_absent():
    files = FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf": False, "/etc/mdadm.conf": "AUTO -all\n"}))
    result = detect_auto_assembly(files, TARGET_1X)
    assert (result["mdadm_conf"], result["mdadm_conf_allows"]) == ("/etc/mdadm.conf", False)


def test_two_conf_files_that_disagree_make_the_answer_unknown():
    files = FakeFiles(debian_host(**{"/etc/mdadm.conf": "AUTO -all\n"}))
    result = detect_auto_assembly(files, TARGET_1X)
    assert result["mdadm_conf_allows"] is None and result["active"] is None
    assert any("both exist" in item["detail"] for item in result["evidence"])


def test_unreadable_conf_is_unknown():
    result = detect_auto_assembly(FakeFiles(debian_host(**{"/etc/mdadm/mdadm.conf": None})), TARGET_1X)
    assert (result["mdadm_conf_allows"], result["active"]) == (None, None)


def test_unknown_metadata_is_decided_only_when_the_auto_line_treats_all_kinds_alike():
    conf = {"/etc/mdadm/mdadm.conf": "AUTO +imsm -all\n"}
    assert detect_auto_assembly(FakeFiles(debian_host(**conf)))["mdadm_conf_allows"] is None
    conf = {"/etc/mdadm/mdadm.conf": "AUTO -all\n"}
    assert detect_auto_assembly(FakeFiles(debian_host(**conf)))["mdadm_conf_allows"] is False


@pytest.mark.parametrize("words, kind, expected", [
    (["+1", "-all"], "1.x", "yes"),
    (["+1.2", "-all"], "1.x", "yes"),
    (["+0", "-all"], "0.90", "yes"),
    (["+0", "-all"], "1.x", "no"),
    (["-ddf", "homehost", "-imsm", "+all"], "imsm", "homehost"),
    (["-ddf", "homehost", "-imsm", "+all"], "ddf", "no"),
    (["yes", "-all"], "1.x", "yes"),
    ([], "1.x", "yes"),
])
def test_auto_policy_reads_words_as_mdadm_does(words, kind, expected):
    assert auto_policy(words, kind) == expected


def test_metadata_kinds():
    assert [metadata_kind(v) for v in ("1.2", "1.0", "0.90.00", "0.91.00", "imsm", None, "9.9")] == [
        "1.x", "1.x", "0.90", "0.90", "imsm", None, None]


def test_kernel_autodetect_depends_on_metadata_module_and_boot_parameters():
    target_090 = dict(TARGET_1X, metadata="0.90.00")
    assert detect_auto_assembly(FakeFiles(debian_host()), TARGET_1X)["kernel_autodetect"] is False
    assert detect_auto_assembly(FakeFiles(debian_host()), target_090)["kernel_autodetect"] is False  # md is a module
    built_in = debian_host(**{"/sys/module/md_mod/initstate": False})
    assert detect_auto_assembly(FakeFiles(built_in), target_090)["kernel_autodetect"] is None
    no_auto = dict(built_in, **{"/proc/cmdline": "root=/dev/md0 raid=noautodetect rd.md=0\n"})
    result = detect_auto_assembly(FakeFiles(no_auto), target_090)
    assert result["kernel_autodetect"] is False
    assert evidence_about(result, "/proc/cmdline") == ["boot parameter raid=noautodetect", "boot parameter rd.md=0"]


def test_start_ro_unknown_when_md_is_not_loaded_but_modprobe_config_is_shown():
    files = debian_host(**{"/sys/module/md_mod/parameters/start_ro": False, "/sys/module/md_mod/initstate": False,
                           "/etc/modprobe.d/mdadm.conf": "# mdadm module configuration file\noptions md_mod start_ro=1\n"})
    result = detect_auto_assembly(FakeFiles(files))
    assert result["start_ro"] is None
    assert evidence_about(result, "/etc/modprobe.d/mdadm.conf") == ["sets md's start_ro when the module loads"]


def test_initramfs_script_is_named_in_the_evidence():
    files = debian_host(**{"/usr/share/initramfs-tools/scripts/local-block/mdadm": "#!/bin/sh\n"})
    assert evidence_about(detect_auto_assembly(FakeFiles(files)), "local-block/mdadm")
