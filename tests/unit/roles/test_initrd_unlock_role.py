"""initrd_unlock without a VM: its argument spec against its defaults, the files it renders,
and the retry policy's ipconfig wrapper run under sh with a stand-in for klibc's ipconfig.

The wrapper is extracted from the rendered hook exactly as the hook writes it into the image;
only its absolute paths (/run, /proc/uptime, /bin/ipconfig.klibc) are pointed into a temporary
directory, where a fake ipconfig fails a given number of times and moves a fake clock on."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "initrd_unlock"
RESTRICTIONS = 'no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty,command="/bin/cryptroot-unlock"'


def defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render(template: str, **overrides) -> str:
    # As ansible.builtin.template renders: trim_blocks on.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    variables = {**defaults(), **yaml.safe_load((ROLE / "vars" / "main.yml").read_text()),
                 "ansible_managed": "Ansible managed", **overrides}
    return env.from_string((ROLE / "templates" / template).read_text()).render(**variables)


def test_argument_spec_and_defaults_name_the_same_options_with_the_same_values() -> None:
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(spec) == set(defaults())
    for name, value in defaults().items():
        assert spec[name].get("default") == value, name


def test_every_key_gets_the_spelled_out_restrictions_not_restrict() -> None:
    text = render("authorized_keys.j2", initrd_unlock_authorized_keys=["ssh-ed25519 AAAA1 a@b ", "ssh-rsa AAAA2 c"])
    keys = [line for line in text.splitlines() if not line.startswith("#")]
    assert keys == [RESTRICTIONS + " ssh-ed25519 AAAA1 a@b", RESTRICTIONS + " ssh-rsa AAAA2 c"]
    assert "restrict," not in text


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, ["IP=dhcp"]),
    ({"initrd_unlock_device": "eno1"}, ["IP=:::::eno1:dhcp", "DEVICE=eno1"]),
    ({"initrd_unlock_network": "static", "initrd_unlock_address": "192.0.2.10", "initrd_unlock_netmask": "255.255.255.0",
      "initrd_unlock_gateway": "192.0.2.1", "initrd_unlock_device": "eth0"},
     ["IP=192.0.2.10::192.0.2.1:255.255.255.0::eth0:off", "DEVICE=eth0"]),
])
def test_initramfs_tools_network_settings(overrides: dict, expected: list[str]) -> None:
    text = render("initramfs-tools-network.conf.j2", **overrides)
    assert [line for line in text.splitlines() if line and not line.startswith("#")] == expected


def dracut_cmdline(**overrides) -> list[str]:
    text = render("dracut-network.conf.j2", __initrd_unlock_dracut_network_handler="network-legacy", **overrides)
    line = [line for line in text.splitlines() if line.startswith("kernel_cmdline+=")]
    assert len(line) == 1, text
    return line[0].split('"')[1].split()


def test_dracut_retries_cover_the_whole_wait_and_carrier_is_awaited_for_all_of_it() -> None:
    assert dracut_cmdline() == ["rd.neednet=1", "ip=dhcp", "rd.net.timeout.dhcp=60", "rd.net.dhcp.retry=15",
                                "rd.net.timeout.carrier=900"]
    assert "rd.net.dhcp.retry=2" in dracut_cmdline(initrd_unlock_network_wait=61)


@pytest.mark.parametrize("handler", ["network-legacy", "network-manager"])
def test_dracut_includes_the_chosen_network_handler_before_the_network_module(handler: str) -> None:
    text = render("dracut-network.conf.j2", __initrd_unlock_dracut_network_handler=handler)
    modules = [line for line in text.splitlines() if line.startswith("add_dracutmodules+=")]
    assert modules == ['add_dracutmodules+=" %s network "' % handler]


def test_dracut_without_the_retry_policy_sets_the_network_only() -> None:
    assert dracut_cmdline(initrd_unlock_network_retry=False, initrd_unlock_network="static",
                          initrd_unlock_address="192.0.2.10", initrd_unlock_netmask="255.255.255.0",
                          initrd_unlock_gateway="192.0.2.1") == [
        "rd.neednet=1", "ip=192.0.2.10::192.0.2.1:255.255.255.0:::none"]


# --- the wrapper ------------------------------------------------------------------------

FAKE_IPCONFIG = """#!/bin/sh
# Fails while $ROOT/failures_left > 0, moving the clock on by $ROOT/step seconds per call.
echo "$*" >> "$ROOT/calls"
echo "IP-Config: attempt with $*"
[ -e "$ROOT/run/concurrent" ] && echo overlap >> "$ROOT/overlaps"
: > "$ROOT/run/concurrent"
now=$(cut -d. -f1 "$ROOT/uptime")
echo "$(( now + $(cat "$ROOT/step") )).00 0.00" > "$ROOT/uptime"
left=$(cat "$ROOT/failures_left")
rm -f "$ROOT/run/concurrent"
if [ "$left" -gt 0 ]; then
    echo $(( left - 1 )) > "$ROOT/failures_left"
    exit 1
fi
echo "DEVICE=eth0" > "$ROOT/run/net-eth0.conf"
exit 0
"""


HOST_KEYS = ("dropbear_rsa_host_key", "dropbear_ecdsa_host_key", "dropbear_ed25519_host_key")


@pytest.fixture(name="wrapper")
def fixture_wrapper(tmp_path: Path):
    """Run the hook into a fake DESTDIR, then aim the wrapper it wrote at tmp_path."""
    if shutil.which("sh") is None:
        pytest.skip("no sh")
    hook = tmp_path / "hook"
    hook.write_text(render("initramfs-tools-hook.j2", initrd_unlock_network_wait=100))
    destdir = tmp_path / "destdir"
    (destdir / "bin").mkdir(parents=True)
    (destdir / "bin" / "ipconfig").write_text("klibc ipconfig\n")
    (destdir / "bin" / "ipconfig").chmod(0o755)
    (destdir / "etc" / "dropbear").mkdir(parents=True)
    for key in HOST_KEYS:
        (destdir / "etc" / "dropbear" / key).write_text("private\n")
    subprocess.run(["sh", str(hook)], env={"DESTDIR": str(destdir), "PATH": "/usr/bin:/bin"}, check=True)
    assert sorted(path.name for path in (destdir / "etc" / "dropbear").iterdir()) == ["dropbear_ed25519_host_key"]
    assert (destdir / "bin" / "ipconfig.klibc").read_text() == "klibc ipconfig\n"
    text = (destdir / "bin" / "ipconfig").read_text()
    for path in ("/run/", "/proc/uptime", "/bin/ipconfig.klibc"):
        assert path in text
    (tmp_path / "run").mkdir()
    text = (text.replace("/proc/uptime", str(tmp_path / "uptime")).replace("/run/", str(tmp_path / "run") + "/")
            .replace("/bin/ipconfig.klibc", str(tmp_path / "ipconfig.klibc")).replace("sleep 2", "sleep 0"))
    script = tmp_path / "ipconfig"
    script.write_text(text)
    fake = tmp_path / "ipconfig.klibc"
    fake.write_text(FAKE_IPCONFIG)
    fake.chmod(0o755)
    (tmp_path / "uptime").write_text("10.00 0.00\n")
    (tmp_path / "step").write_text("5\n")
    return tmp_path


def run_wrapper(root: Path, failures: int, *args: str) -> subprocess.CompletedProcess:
    (root / "failures_left").write_text(f"{failures}\n")
    return subprocess.run(["sh", str(root / "ipconfig"), *args], env={"ROOT": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_hook_keeps_klibc_ipconfig_and_installs_the_wrapper_in_its_place(wrapper: Path) -> None:
    assert (wrapper / "ipconfig").is_file()


def test_one_call_keeps_trying_with_the_same_arguments_until_it_gets_an_address(wrapper: Path) -> None:
    done = run_wrapper(wrapper, 7, "-t", "2", "-c", "dhcp", "-d", "eth0")
    assert done.returncode == 0, done.stderr
    assert (wrapper / "calls").read_text().splitlines() == ["-t 2 -c dhcp -d eth0"] * 8
    assert "lifeline-initrd-unlock: no network yet at 15s; trying until 100s after boot" in done.stderr
    # klibc's lines of the seven failed attempts stay off the console; the successful one is shown.
    assert done.stdout.count("IP-Config:") == 1 and "IP-Config" not in done.stderr
    assert not (wrapper / "run" / "lifeline-ipconfig.lock").exists()


def test_it_says_it_waits_once_then_once_a_minute_each_time_on_a_line_of_its_own(wrapper: Path) -> None:
    done = run_wrapper(wrapper, 1000, "-t", "2", "-c", "dhcp", "-d", "eth0")
    said = [line for line in done.stderr.splitlines() if line.startswith("lifeline-initrd-unlock:")]
    # The clock moves 5 s a call from 10 s: first failure at 15 s, a minute later at 75 s, giving up at 100 s.
    assert said == ["lifeline-initrd-unlock: no network yet at 15s; trying until 100s after boot",
                    "lifeline-initrd-unlock: still no network, waited 65s; trying until 100s after boot",
                    "lifeline-initrd-unlock: no network after 100s, giving up (initrd_unlock_network_wait=100): "
                    "IP-Config: attempt with -t 2 -c dhcp -d eth0"]
    # Each message starts a new line: a passphrase prompt may be waiting on the console's current one.
    assert done.stderr.count("\nlifeline-initrd-unlock:") == 3


def test_under_busybox_on_a_terminal_each_message_is_one_write(wrapper: Path, tmp_path: Path) -> None:
    """The initramfs runs the wrapper with busybox sh, its stderr the console, where cryptroot's
    passphrase prompt waits without a newline. A message split over two writes lets the prompt
    in between and ends up on the prompt's line; one write per message cannot."""
    missing = [tool for tool in ("busybox", "strace") if shutil.which(tool) is None]
    if missing:
        pytest.fail("%s not installed: tests/lab/install-deps installs them" % " and ".join(missing))
    trace = tmp_path / "writes.trace"
    console, terminal = pty.openpty()
    try:
        (wrapper / "failures_left").write_text("1000\n")
        done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=write", "-s", "512", "-o", str(trace),
                               "busybox", "sh", str(wrapper / "ipconfig"), "-t", "2", "-c", "dhcp", "-d", "eth0"],
                              env={"ROOT": str(wrapper), "PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=terminal, timeout=60, check=False)
    finally:
        os.close(terminal)
        os.close(console)
    assert done.returncode != 0  # it gave up at 100 s, after the three messages below
    writes = [line for line in trace.read_text().splitlines() if line.split(None, 1)[-1].startswith("write(")]
    said = [line for line in writes if "lifeline-initrd-unlock" in line]
    assert len(said) == 3, writes
    for line in said:
        text = line.split(", ", 1)[1]
        assert text.startswith('"\\nlifeline-initrd-unlock: ') and '\\n", ' in text, line


def test_without_the_retry_policy_the_hook_still_keeps_only_the_offered_host_key(tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.write_text(render("initramfs-tools-hook.j2", initrd_unlock_network_retry=False))
    destdir = tmp_path / "destdir"
    (destdir / "etc" / "dropbear").mkdir(parents=True)
    (destdir / "bin").mkdir()
    (destdir / "bin" / "ipconfig").write_text("klibc ipconfig\n")
    for key in HOST_KEYS:
        (destdir / "etc" / "dropbear" / key).write_text("private\n")
    subprocess.run(["sh", str(hook)], env={"DESTDIR": str(destdir), "PATH": "/usr/bin:/bin"}, check=True)
    assert sorted(path.name for path in (destdir / "etc" / "dropbear").iterdir()) == ["dropbear_ed25519_host_key"]
    assert sorted(path.name for path in (destdir / "bin").iterdir()) == ["ipconfig"]  # klibc's own, untouched


def test_the_init_bottom_script_stops_the_wrapper_and_leaves_nothing_in_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    (run / "lifeline-ipconfig.pid").write_text("%d\n" % sleeper.pid)
    (run / "lifeline-ipconfig.out").write_text("IP-Config: no response\n")
    script = (ROLE / "files" / "init-bottom-stop-ipconfig").read_text().replace("/run/", str(run) + "/")
    # The wrapper's EXIT trap removes its pid file; the sleeper stands in for it and cannot.
    subprocess.run(["sh", "-c", script], check=True, timeout=30)
    assert sleeper.wait(timeout=10) != 0  # it was told to stop
    assert sorted(path.name for path in run.iterdir()) == ["lifeline-ipconfig.pid"]


def test_it_gives_up_once_the_wait_since_boot_is_over(wrapper: Path) -> None:
    done = run_wrapper(wrapper, 1000, "-t", "2", "-c", "dhcp", "-d", "eth0")
    assert done.returncode != 0
    # Clock starts at 10 s and moves 5 s a call: the call that ends at or past 100 s is the last.
    assert len((wrapper / "calls").read_text().splitlines()) == 18
    assert "giving up" in done.stderr


def test_a_later_call_after_the_wait_tries_once_like_ipconfig_itself(wrapper: Path) -> None:
    (wrapper / "uptime").write_text("500.00 0.00\n")
    done = run_wrapper(wrapper, 1000, "-t", "9", "-c", "dhcp", "-d", "eth0")
    assert done.returncode != 0
    assert (wrapper / "calls").read_text().splitlines() == ["-t 9 -c dhcp -d eth0"]


def test_it_stops_when_told_to_at_switch_root(wrapper: Path) -> None:
    (wrapper / "run" / "lifeline-ipconfig.stop").write_text("")
    done = run_wrapper(wrapper, 1000, "-t", "2")
    assert done.returncode != 0
    assert not (wrapper / "calls").exists()


def test_two_callers_never_run_two_clients_at_once(wrapper: Path) -> None:
    (wrapper / "failures_left").write_text("6\n")
    env = {"ROOT": str(wrapper), "PATH": "/usr/bin:/bin"}
    callers = [subprocess.Popen(["sh", str(wrapper / "ipconfig"), "-t", "2"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _caller in range(2)]
    assert [caller.wait(timeout=60) for caller in callers] == [0, 0]
    assert not (wrapper / "overlaps").exists()
    # The second caller found the address the first one got, without a DHCP client of its own.
    assert len((wrapper / "calls").read_text().splitlines()) in (7, 8)
