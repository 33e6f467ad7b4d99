# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fast tests of the lab's pure parts: no VM, no root, no network. selfcheck.py tests the rest."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(LAB_DIR))

import labcache  # noqa: E402
import labhost  # noqa: E402
from labhost import is_our_qemu, port_in_use  # noqa: E402
from lablib import Lab, LabConfig, LabError, boot_stalled  # noqa: E402
from labqemu import DATA_DISKS, KERNEL_COMMAND_LINE, GuestLaunch, data_disk, device_option, guest_command_line  # noqa: E402
from labqmp import QmpClient, QmpError  # noqa: E402

HOST_STYLE_SOURCES = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_is_the_uri_of_the_stanza_whose_suites_include_bookworm() -> None:
    assert labhost._mirror_from_deb822(HOST_STYLE_SOURCES, "bookworm") == "http://mirror.example/debian"


def test_mirror_skips_security_only_disabled_and_source_stanzas() -> None:
    text = (
        "Types: deb\nURIs: http://sec.example/\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://off.example/\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://src.example/\nSuites: bookworm\n"
    )
    assert labhost._mirror_from_deb822(text, "bookworm") is None


def test_mirror_from_one_line_sources_list_with_options() -> None:
    text = ("# deb http://old.example/ bookworm main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n")
    assert labhost._mirror_from_one_line_style(text, "bookworm") == "http://one.example/debian"


def test_find_mirror_falls_back_to_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb http://legacy.example/debian bookworm main\n")
    assert labhost.find_mirror("bookworm", tmp_path) == "http://legacy.example/debian"


def test_find_mirror_names_what_it_looked_at_when_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(labhost.BuildError, match="no apt source for suite 'bookworm'"):
        labhost.find_mirror("bookworm", tmp_path)


def test_image_hash_follows_the_builder_source(tmp_path: Path) -> None:
    shutil.copy(LAB_DIR / "labimage.py", tmp_path / "labimage.py")
    before = labcache.image_source_hash(tmp_path)
    assert before == labcache.image_source_hash(LAB_DIR)
    with (tmp_path / "labimage.py").open("a") as source:
        source.write("\n# changed\n")
    assert labcache.image_source_hash(tmp_path) != before


def test_config_defaults_and_overrides() -> None:
    defaults = LabConfig.from_env({"HOME": "/home/u"})
    assert defaults.cache_root == Path("/home/u/.cache/lifeline-lab")
    assert defaults.state_dir == Path("/home/u/.cache/lifeline-lab/run")
    assert (defaults.ssh_port, defaults.initrd_ssh_port, defaults.disk_size) == (2222, 2223, "512M")
    custom = LabConfig.from_env({"HOME": "/h", "LIFELINE_LAB_SSH_PORT": "2300", "LIFELINE_LAB_STATE": "/s",
                                 "LIFELINE_LAB_CACHE": "/c", "LIFELINE_LAB_DISK_SIZE": "1G"})
    assert (custom.ssh_port, custom.state_dir, custom.cache_root, custom.disk_size) == (
        2300, Path("/s"), Path("/c"), "1G")


@pytest.mark.parametrize("env, message", [
    ({"LIFELINE_LAB_SSH_PORT": "ssh"}, "LIFELINE_LAB_SSH_PORT='ssh' is not a TCP port"),
    ({"LIFELINE_LAB_INITRD_PORT": "70000"}, "LIFELINE_LAB_INITRD_PORT='70000' is not a TCP port"),
    ({"LIFELINE_LAB_STATE": "/tmp/my lab"}, "must not contain spaces or commas"),
    ({"LIFELINE_LAB_STATE": "/" + "x" * 120}, "too long for a unix socket"),
])
def test_config_rejects_what_qemu_or_ssh_could_not_use(env: dict[str, str], message: str) -> None:
    with pytest.raises(LabError, match=message):
        LabConfig.from_env({"HOME": "/h", **env})


def launch(tmp_path: Path) -> GuestLaunch:
    return GuestLaunch(kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd.img",
                       root_overlay=tmp_path / "root.qcow2", state_dir=tmp_path, pid_file=tmp_path / "qemu.pid",
                       qmp_socket=tmp_path / "qmp.sock", console_log=tmp_path / "console.log",
                       ssh_port=2400, initrd_ssh_port=2401)


def test_root_disk_comes_before_every_data_disk_and_by_slot(tmp_path: Path) -> None:
    argv = launch(tmp_path).argv()
    devices = [argv[i + 1] for i, word in enumerate(argv) if word == "-device"]
    assert devices[0].startswith("virtio-blk-pci,id=root,") and "addr=0x4" in devices[0]
    virtio_slots = [int(d.split("addr=")[1], 16) for d in devices if d.startswith("virtio-blk-pci")]
    assert virtio_slots == sorted(virtio_slots)


def test_every_data_disk_is_a_blockdev_node_with_a_device_of_the_same_properties(tmp_path: Path) -> None:
    argv = launch(tmp_path).argv()
    nodes = [json.loads(argv[i + 1]) for i, word in enumerate(argv) if word == "-blockdev"]
    for disk in DATA_DISKS:
        assert {"driver": "qcow2", "node-name": disk.node_name,
                "file": {"driver": "file", "filename": str(tmp_path / f"{disk.device_id}.qcow2")}} in nodes
        assert device_option(disk.device_properties()) in argv
        assert f"serial={disk.serial}" in device_option(disk.device_properties())
    assert "-drive" not in argv  # legacy drives would vanish on device_del


def test_network_forwards_both_ports_to_loopback_only(tmp_path: Path) -> None:
    argv = launch(tmp_path).argv()
    netdev = argv[argv.index("-netdev") + 1]
    assert netdev == "user,id=n0,hostfwd=tcp:127.0.0.1:2400-:22,hostfwd=tcp:127.0.0.1:2401-:2222"
    assert f"unix:{tmp_path / 'qmp.sock'},server=on,wait=off" in argv


def test_a_launch_runs_at_once_with_the_labs_command_line_unless_told_otherwise(tmp_path: Path) -> None:
    argv = launch(tmp_path).argv()
    assert argv[argv.index("-append") + 1] == KERNEL_COMMAND_LINE
    assert "-S" not in argv


def test_a_guest_boot_takes_its_own_files_a_longer_command_line_and_can_start_paused(tmp_path: Path) -> None:
    own = GuestLaunch(kernel=tmp_path / "guest-vmlinuz", initrd=tmp_path / "guest-initrd.img",
                      root_overlay=tmp_path / "root.qcow2", state_dir=tmp_path, pid_file=tmp_path / "qemu.pid",
                      qmp_socket=tmp_path / "qmp.sock", console_log=tmp_path / "console.log",
                      ssh_port=2400, initrd_ssh_port=2401, command_line=guest_command_line("break=premount"),
                      start_paused=True)
    argv = own.argv()
    assert argv[argv.index("-kernel") + 1] == str(tmp_path / "guest-vmlinuz")
    assert argv[argv.index("-initrd") + 1] == str(tmp_path / "guest-initrd.img")
    assert argv[argv.index("-append") + 1] == KERNEL_COMMAND_LINE + " break=premount"
    assert "-S" in argv


@pytest.mark.parametrize("extra", ["root=/dev/vda", "console=tty0", "quiet root=LABEL=x"])
def test_extra_command_line_words_may_not_move_the_root_or_the_console(extra: str) -> None:
    with pytest.raises(ValueError, match="the lab sets root= and console="):
        guest_command_line(extra)


def test_extra_command_line_words_are_appended_in_order() -> None:
    assert guest_command_line("  ip=dhcp   rd.neednet=1 ") == KERNEL_COMMAND_LINE + " ip=dhcp rd.neednet=1"
    assert guest_command_line() == KERNEL_COMMAND_LINE


def test_reboot_from_guest_refuses_when_no_guest_runs(tmp_path: Path) -> None:
    lab = Lab(LabConfig(cache_root=tmp_path / "cache", state_dir=tmp_path / "state", ssh_port=2400,
                        initrd_ssh_port=2401, disk_size="64M"), report=lambda message: None)
    with pytest.raises(LabError, match="needs a running guest"):
        lab.reboot_from_guest()


def test_disk_table_names_by_id_links_and_only_ide_is_not_hotpluggable() -> None:
    assert [d.device_id for d in DATA_DISKS] == ["vd1", "vd2", "vd3", "vd4", "ide1", "ide2", "nvme1"]
    assert data_disk("vd1").by_id == "virtio-VIRT0001"
    assert data_disk("ide2").by_id == "ata-QEMU_HARDDISK_IDE0002"
    assert data_disk("nvme1").by_id == "nvme-QEMU_NVMe_Ctrl_NVME0001"
    assert [d.device_id for d in DATA_DISKS if not d.hotpluggable] == ["ide1", "ide2"]
    with pytest.raises(KeyError, match="known: vd1"):
        data_disk("vd9")


def test_disks_json_records(tmp_path: Path) -> None:
    lab = Lab(LabConfig(tmp_path, tmp_path / "run", 2222, 2223, "512M"), report=lambda _: None)
    record = lab.disks()[1]
    assert record["id"] == "vd2" and record["serial"] == "VIRT0002" and record["bus"] == "virtio"
    assert record["by_id_path"] == "/dev/disk/by-id/virtio-VIRT0002"
    assert record["qcow2"] == str(tmp_path / "run" / "vd2.qcow2")


def test_a_pid_that_is_not_this_labs_qemu_is_not_running(tmp_path: Path) -> None:
    assert not is_our_qemu(os.getpid(), tmp_path / "qemu.pid")
    lab = Lab(LabConfig(tmp_path, tmp_path, 2222, 2223, "512M"), report=lambda _: None)
    lab.pid_file.write_text(f"{os.getpid()}\n")
    assert lab.running_pid() is None


def test_port_in_use_names_the_reason() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert port_in_use(listener.getsockname()[1])


class FakeQemu:
    """Speaks just enough QMP on a unix socket: greeting, capabilities, one event, replies."""

    def __init__(self, path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection = self.server.accept()[0]
        with connection, connection.makefile("rwb") as stream:
            self.send(stream, {"QMP": {"version": {}, "capabilities": []}})
            for line in stream:
                request = json.loads(line)
                if request["execute"] == "device_del":
                    # QEMU answers first and reports the deletion later, as an event.
                    self.send(stream, {"return": {}})
                    self.send(stream, {"event": "DEVICE_DELETED", "data": {"device": request["arguments"]["id"]}})
                elif request["execute"] == "qmp_capabilities":
                    self.send(stream, {"return": {}})
                else:
                    self.send(stream, {"error": {"class": "CommandNotFound", "desc": "no such command"}})

    @staticmethod
    def send(stream: object, message: dict[str, object]) -> None:
        stream.write(json.dumps(message).encode() + b"\n")  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]


def test_qmp_client_negotiates_executes_and_waits_for_events(tmp_path: Path) -> None:
    path = tmp_path / "qmp.sock"
    FakeQemu(path)
    with QmpClient(path, timeout=5) as client:
        assert client.execute("device_del", {"id": "vd2"}) == {}
        event = client.wait_event("DEVICE_DELETED", lambda e: e["data"]["device"] == "vd2", timeout=5)
        assert event["data"]["device"] == "vd2"
        with pytest.raises(QmpError, match="CommandNotFound"):
            client.execute("nope")


def test_qmp_client_names_the_socket_it_cannot_reach(tmp_path: Path) -> None:
    with pytest.raises(QmpError, match="cannot connect to QMP socket .*missing.sock"):
        QmpClient(tmp_path / "missing.sock", timeout=1).connect()


def test_extra_nvme_disks_for_benchmarks():
    from labqemu import _extra_nvme_disks

    extra = _extra_nvme_disks("2")
    assert [(d.device_id, d.serial, d.by_id) for d in extra] == [
        ("nvme2", "NVME0002", "nvme-QEMU_NVMe_Ctrl_NVME0002"), ("nvme3", "NVME0003", "nvme-QEMU_NVMe_Ctrl_NVME0003")]
    # Each in a PCI slot of its own, after the standard NVMe disk in 0x9.
    assert [dict(d.placement)["addr"] for d in extra] == ["0xa", "0xb"]
    assert _extra_nvme_disks("") == ()
    with pytest.raises(ValueError, match="LIFELINE_LAB_EXTRA_NVME must be 0..8"):
        _extra_nvme_disks("9")


# --- the User-mode Linux backend ---------------------------------------------------------

from labuml import (UML_DISKS, UmlGuest, kernel_argv, names_for, namespace_commands,  # noqa: E402
                    private_network_commands, private_network_names)


def test_uml_names_are_stable_per_state_dir_distinct_between_two_and_fit_a_tap_name() -> None:
    first, second = names_for(Path("/tmp/run-a")), names_for(Path("/tmp/run-b"))
    assert first == names_for(Path("/tmp/run-a")) and set(first).isdisjoint(second)
    assert all(len(tap) <= 15 for _namespace, tap, _umid in (first, second))  # IFNAMSIZ - 1


def test_uml_kernel_command_line_has_the_root_over_a_cow_file_and_every_disk_with_its_serial(tmp_path: Path) -> None:
    argv = kernel_argv(Path("/k/linux.uml"), Path("/c/root.img"), tmp_path / "root.cow", tmp_path, "u1", "tap1")
    assert argv[0] == "/k/linux.uml" and "umid=u1" in argv and "root=/dev/ubda" in argv
    assert f"ubd0={tmp_path / 'root.cow'},/c/root.img,LABROOT" in argv
    assert [word for word in argv if word.startswith("ubd") and not word.startswith("ubd0")] == [
        f"ubd{index}={tmp_path}/{device_id}.img,,{serial}" for index, (device_id, serial) in enumerate(
            [("vd1", "VIRT0001"), ("vd2", "VIRT0002"), ("vd3", "VIRT0003"), ("vd4", "VIRT0004"),
             ("ide1", "IDE0001"), ("ide2", "IDE0002"), ("nvme1", "NVME0001")], start=1)]
    # Without GRO the guest drops the host's large TCP segments: a 2 MB upload took over 60 s.
    assert "vec0:transport=tap,ifname=tap1,gro=1" in argv


def test_uml_disks_carry_the_qemu_labs_serials_and_uml_by_id_names() -> None:
    assert [disk.serial for disk in UML_DISKS] == [disk.serial for disk in DATA_DISKS[:7]]
    assert UML_DISKS[0].by_id == "uml-VIRT0001" and UML_DISKS[-1].kernel_name_at_boot == "ubdh"


def test_uml_namespace_is_made_before_its_tap_which_gets_the_host_address() -> None:
    commands = namespace_commands("ns1", "tap1")
    assert commands[0] == ["ip", "netns", "add", "ns1"]
    assert ["ip", "-n", "ns1", "tuntap", "add", "dev", "tap1", "mode", "tap"] in commands
    assert all(command[:3] == ["ip", "-n", "ns1"] for command in commands[1:])


def test_guests_of_one_private_network_share_its_namespace_with_their_own_names_and_macs() -> None:
    first, second = (private_network_names("run/x", Path(path)) for path in ("/tmp/run-a", "/tmp/run-b"))
    assert first.namespace == second.namespace != private_network_names("run/y", Path("/tmp/run-a")).namespace
    names = ("guest_tap", "guest_bridge", "guest_veth", "bridge_port", "guest_mac")
    assert all(getattr(first, name) != getattr(second, name) for name in names)
    assert all(len(getattr(first, name)) <= 15 for name in names[:4])  # IFNAMSIZ - 1
    assert int(first.guest_mac.split(":")[0], 16) & 0b11 == 0b10  # unicast, locally administered


def test_the_first_guest_makes_the_private_network_and_every_guest_gets_a_tap_bridged_to_it(tmp_path: Path) -> None:
    names = private_network_names("run/x", tmp_path)
    first = private_network_commands(names, "ns1", network_exists=False)
    later = private_network_commands(names, "ns1", network_exists=True)
    assert first[0] == ["ip", "netns", "add", names.namespace] and first[len(first) - len(later):] == later
    assert ["ip", "-n", "ns1", "tuntap", "add", "dev", names.guest_tap, "mode", "tap"] in later
    assert ["ip", "-n", names.namespace, "link", "set", names.bridge_port, "master", "llbr", "up"] in later
    argv = kernel_argv(Path("/k/linux.uml"), Path("/c/root.img"), tmp_path / "root.cow", tmp_path, "u1", "tap1", names)
    assert f"vec1:transport=tap,ifname={names.guest_tap},mac={names.guest_mac},gro=1" in argv
    assert not any(word.startswith("vec1") for word in
                   kernel_argv(Path("/k/linux.uml"), Path("/c/root.img"), tmp_path / "root.cow", tmp_path, "u1", "tap1"))


def test_uml_backend_refuses_qemu_only_operations_by_name(tmp_path: Path) -> None:
    lab = Lab(LabConfig(tmp_path, tmp_path / "run", 2400, 2401, "64M", backend="uml"), report=lambda _: None)
    for operation in (lambda: lab.qmp("query-status"), lambda: lab.unplug("vd1"), lambda: lab.set_link(False),
                      lab.reboot_from_guest):
        with pytest.raises(LabError, match="needs the qemu backend"):
            operation()
    lab.replug("vd1")  # a UML disk is never unplugged: nothing to do
    assert [disk["by_id_path"] for disk in lab.disks()][:1] == ["/dev/disk/by-id/uml-VIRT0001"]


def test_a_stopped_uml_guest_is_not_running_and_stopping_it_again_is_harmless(tmp_path: Path) -> None:
    guest = UmlGuest(tmp_path, 2400)
    guest.pid_file.write_text(f"{os.getpid()}\n")  # a live pid that is not this guest's kernel
    assert guest.running_pid() is None
    assert guest.stop() is False and not guest.pid_file.exists()


def test_backend_must_be_one_the_lab_has() -> None:
    assert LabConfig.from_env({"HOME": "/h", "LIFELINE_LAB_BACKEND": "uml"}).backend == "uml"
    with pytest.raises(LabError, match="LIFELINE_LAB_BACKEND='kvm'"):
        LabConfig.from_env({"HOME": "/h", "LIFELINE_LAB_BACKEND": "kvm"})


def test_every_scenario_runs_on_exactly_one_backend_and_default_on_each_that_boots_a_guest() -> None:
    import yaml  # pylint: disable=import-outside-toplevel

    groups = yaml.safe_load((LAB_DIR / "backends.yml").read_text())
    scenarios = {path.parent.name for path in (LAB_DIR.parent.parent / "extensions/molecule").glob("*/molecule.yml")}
    listed = [name for names in groups.values() for name in names if name != "default"]
    assert sorted(listed) == sorted(scenarios - {"default"})
    assert "default" in groups["uml"] and "default" in groups["qemu"]


def test_the_scenarios_that_leave_no_usable_guest_are_last_in_their_group() -> None:
    """initrd_unlock stops a guest stuck at a passphrase prompt; initrd_unlock_dracut swaps the builder."""
    import yaml  # pylint: disable=import-outside-toplevel

    groups = yaml.safe_load((LAB_DIR / "backends.yml").read_text())
    assert groups["qemu_initrd"][-1] == "initrd_unlock"
    assert groups["uml_initrd"][-1] == "initrd_unlock_dracut"


def test_stopping_ends_the_relay_this_state_dir_started_from_any_copy_of_the_collection(tmp_path: Path) -> None:
    """A run stopped by a script from another copy of the collection must still end the relay (it once stayed)."""
    relay_copy = tmp_path / "elsewhere" / "labrelay.py"
    relay_copy.parent.mkdir()
    relay_copy.write_text("import time\ntime.sleep(60)\n")
    process = subprocess.Popen([sys.executable, str(relay_copy)], start_new_session=True)
    guest = UmlGuest(tmp_path, 2400)
    guest.relay_pid_file.write_text(f"{process.pid}\n")
    guest.stop()
    assert process.wait(timeout=20) is not None and not guest.relay_pid_file.exists()


def test_the_offline_repository_index_lists_each_package_with_its_file_size_and_sha256(tmp_path: Path) -> None:
    """apt in the UML guest trusts this index alone: a wrong size or hash would make it refuse the package."""
    import hashlib  # pylint: disable=import-outside-toplevel

    from labumlimage import write_packages_index  # pylint: disable=import-outside-toplevel

    package = tmp_path / "src"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN/control").write_text("Package: lab-dummy\nVersion: 1.0-1\nArchitecture: all\n"
                                            "Maintainer: lab <lab@example.invalid>\nDescription: a package\n")
    repository = tmp_path / "repo"
    repository.mkdir()
    deb = repository / "lab-dummy_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(package), str(deb)], check=True, capture_output=True)
    write_packages_index(repository, tmp_path / "log")
    index = (repository / "Packages").read_text()
    assert "Package: lab-dummy\nVersion: 1.0-1\n" in index
    assert f"Filename: ./{deb.name}\nSize: {deb.stat().st_size}\n" in index
    assert f"SHA256: {hashlib.sha256(deb.read_bytes()).hexdigest()}\n" in index


def test_a_boot_whose_kernel_reports_a_stalled_cpu_is_told_from_a_slow_one() -> None:
    # Lines of the console of a TCG guest that hung 7 s into boot in a test run on 2026-12-05.
    hung = ("[    7.224939] Run /init as init process\n"
            "[   26.318263] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\n"
            "[   26.318390] rcu: \t0-...!: (0 ticks this GP) idle=c460/0/0x0 softirq=47/47 fqs=0 (false positive?)\n")
    assert boot_stalled(hung)
    assert not boot_stalled("[    7.224939] Run /init as init process\n[   96.1] systemd[1]: Reached target multi-user.target\n")
