"""Remote unlock through the initramfs the role built, on a real dm-crypt volume.

The guest is booted from its own kernel and initramfs (tests/lab/lab reboot-from-guest), the
initramfs is reached over SSH on the lab's forwarded port with the operator's key, its host
key is checked against the known_hosts entry the role wrote on the controller, and
cryptroot-unlock opens the volume. The late-router cases boot with the network link down;
without the retry policy the same case must fail, which shows the test can tell them apart.

The cases run in file order and each leaves the guest booted and unlocked; the last one
(retry policy off) leaves a guest nobody can unlock, and replaces it with a fresh one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from labcheck import run_playbook, sh

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SCENARIO = Path(__file__).resolve().parent.parent
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
sys.path.insert(0, str(PROJECT / "tests/lab"))

from lablib import Lab  # noqa: E402  pylint: disable=wrong-import-position

VARS = yaml.safe_load((SCENARIO / "vars" / "main.yml").read_text())
PASSPHRASE = VARS["initrd_unlock_test_passphrase"]
ALIAS = VARS["initrd_unlock_host_alias"]
KEY = EPHEMERAL / "initrd_unlock_key"
KNOWN_HOSTS = EPHEMERAL / "initrd_unlock_known_hosts"
# How long the "router" stays down. initramfs-tools' own attempts last about 265 s from the
# moment it starts configuring the network, so only a longer outage separates the policies.
LINK_DOWN_SECONDS = int(os.environ.get("LIFELINE_IU_LINK_DOWN_SECONDS", "330"))
INITRAMFS_SSH_DEADLINE = 240  # seconds after the link comes up to answer
# With the policy on, SSH answered 6 s after the link came up; 120 s without an answer is a failure.
RETRY_OFF_DEADLINE = 120
KEY_IN_IMAGE = "etc/dropbear/dropbear_ed25519_host_key"
BUILD_LOG = "/var/log/lab-mkinitramfs.log"  # prepare.yml's mkinitramfs wrapper: one line per build
SECOND_VOLUME = "labvault2"
SECOND_DATA = "/var/tmp/lab-labvault2.sha256"


def record(figure: str) -> None:
    """Measured times go to the run's log and to a file beside molecule's state, for the report."""
    print(figure)
    with (EPHEMERAL / "initrd_unlock_figures.txt").open("a") as figures:
        figures.write(time.strftime("%H:%M:%S ") + figure + "\n")


def lab() -> Lab:
    return Lab(report=lambda message: print("lab: " + message, flush=True))


def ssh_argv(*extra: str, known_hosts: Path = KNOWN_HOSTS) -> list[str]:
    """ssh as docs/initrd-unlock.md tells an operator, host key checked strictly, no connection sharing."""
    return ["ssh", "-p", str(lab().config.initrd_ssh_port), "-i", str(KEY), "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", f"HostKeyAlias={ALIAS}", "-o", "ConnectTimeout=10", "-o", "ControlMaster=no",
            "-o", "ControlPath=none", *extra, "root@127.0.0.1"]


def login(known_hosts: Path = KNOWN_HOSTS, timeout: float = 60) -> tuple[bool, str]:
    """Whether the initramfs accepts the key (its host key verified), and ssh's log.

    -N: no session, so the forced cryptroot-unlock never runs: a probe must not send an empty
    passphrase, which would use up one of crypttab's tries. ssh -v says when it is logged in.
    """
    probe = subprocess.Popen(ssh_argv("-v", "-N", known_hosts=known_hosts), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    deadline = time.monotonic() + timeout
    try:
        assert probe.stderr is not None
        for line in probe.stderr:
            log.append(line)
            if line.startswith("Authenticated to "):
                return True, "".join(log)
            if time.monotonic() > deadline:
                break
        return False, "".join(log)
    finally:
        probe.kill()
        probe.wait()


def wait_for_initramfs_ssh(seconds: float) -> float:
    """Seconds until the initramfs accepted the key with its host key verified."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < seconds:
        accepted, last = login()
        if accepted:
            return time.monotonic() - started
        time.sleep(5)
    raise AssertionError("the initramfs did not accept SSH within %ds: %s" % (seconds, last[-1500:]))


def unlock_and_wait_for_system(guest: Lab, volumes: int = 1) -> None:
    """cryptroot-unlock over SSH, one session per volume (as docs/initrd-unlock.md says); then the system's SSH.

    Without a terminal cryptroot-unlock passes all of stdin on, so a newline would be part of the passphrase.
    """
    for _volume in range(volumes):
        result = subprocess.run([*ssh_argv("-T"), "cryptroot-unlock"], input=PASSPHRASE, capture_output=True, text=True,
                                timeout=300, check=False)
        record("cryptroot-unlock: rc %d %s %s" % (result.returncode, result.stdout.strip(), result.stderr.strip()))
        # 255: the initramfs closed the session while it handed over to the system.
        assert result.returncode in (0, 255), result
        assert "pseudo-terminal" not in result.stderr, result.stderr
    started = time.monotonic()
    # 229 s were measured with a second guest on the same two cores; this is a deadline, not a figure under test.
    while time.monotonic() - started < 600:
        if guest.ssh_answers():
            record("system SSH answered %.0fs after the unlock" % (time.monotonic() - started))
            return
        time.sleep(3)
    raise AssertionError("the system did not come up after the unlock")


def image_key_hash(host) -> str:
    """sha256 of the host key inside the current initramfs image, extracted from the image itself."""
    return sh(host, "set -e; d=$(mktemp -d); unmkinitramfs /initrd.img $d; "
                    "f=$(find $d -path '*/%s' | head -n1); sha256sum < $f | cut -d' ' -f1; rm -rf $d" % KEY_IN_IMAGE).strip()


def builds(host) -> list[str]:
    return [line for line in sh(host, "cat %s" % BUILD_LOG).splitlines() if line.strip()]


def test_the_first_run_built_the_initramfs_once(host) -> None:
    """converge installed the packages (dpkg's own build) and ran the role; idempotence ran it again."""
    made = builds(host)
    record("initramfs builds in converge and idempotence: %d (%s)" % (len(made), "; ".join(made)))
    assert len(made) == 1, made


def test_image_holds_the_restricted_keys_the_host_key_and_the_network_settings(host) -> None:
    listing = sh(host, "lsinitramfs /initrd.img").splitlines()
    assert KEY_IN_IMAGE in listing
    # Only the key dropbear offers; the package's RSA and ECDSA private keys stay out of the image.
    assert [line for line in listing if line.startswith("etc/dropbear/") and line.endswith("_host_key")] == [KEY_IN_IMAGE]
    assert "conf/conf.d/lifeline-initrd-unlock" in listing
    assert any(line.endswith("bin/ipconfig.klibc") for line in listing)
    keys = sh(host, "set -e; d=$(mktemp -d); unmkinitramfs /initrd.img $d; "
                    "cat $(find $d -path '*/root-*/.ssh/authorized_keys'); rm -rf $d")
    public = (KEY.with_suffix(".pub")).read_text().split()[1]
    assert ('no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty,command="/bin/cryptroot-unlock" '
            'ssh-ed25519 ' + public) in keys
    assert image_key_hash(host) == sh(host, "sha256sum < /etc/dropbear/initramfs/dropbear_ed25519_host_key "
                                            "| cut -d' ' -f1").strip()


MANAGED = ["/etc/dropbear/initramfs/dropbear.conf", "/etc/dropbear/initramfs/authorized_keys",
           "/etc/initramfs-tools/conf.d/lifeline-initrd-unlock", "/etc/initramfs-tools/hooks/lifeline-initrd-unlock"]


def test_check_mode_plans_a_change_and_writes_nothing(host, request) -> None:
    """A new port in check mode: the plan shows the dropbear.conf change and the rebuild, nothing changes."""
    before = sh(host, "sha256sum %s $(readlink -f /initrd.img)" % " ".join(MANAGED))
    output = run_playbook(request.config.option.ansible_inventory, str(SCENARIO / "converge.yml"),
                          {"initrd_unlock_port": 2299}, options=("--check", "--diff"))
    assert "-p 2299" in output and "changed: [" in output, output[-3000:]
    assert "TASK [lifeline.storage.initrd_unlock : Set dropbear's port and options]" in output
    assert sh(host, "sha256sum %s $(readlink -f /initrd.img)" % " ".join(MANAGED)) == before


def test_host_key_survives_a_forced_rebuild(host) -> None:
    before = image_key_hash(host)
    started = time.monotonic()
    sh(host, "update-initramfs -u -k all")
    record("forced update-initramfs -u -k all: %.0fs" % (time.monotonic() - started))
    assert image_key_hash(host) == before


def test_host_key_survives_the_kernel_install_hook(host) -> None:
    """What a kernel update runs: the image is created anew (-c) by /etc/kernel/postinst.d."""
    before = image_key_hash(host)
    version = sh(host, "uname -r").strip()
    started = time.monotonic()
    sh(host, "set -e; update-initramfs -d -k %s; test ! -e /boot/initrd.img-%s; "
             "/etc/kernel/postinst.d/initramfs-tools %s /boot/vmlinuz-%s" % (version, version, version, version))
    record("image deleted and created by the kernel postinst hook: %.0fs" % (time.monotonic() - started))
    assert image_key_hash(host) == before


def image_volumes(host) -> list[str]:
    """The volume names in the current image's cryptroot/crypttab."""
    return sorted(sh(host, "set -e; d=$(mktemp -d); unmkinitramfs /initrd.img $d; "
                           "f=$(find $d -path '*/cryptroot/crypttab' | head -n1); awk 'NF >= 2 { print $1 }' $f; "
                           "rm -rf $d").split())


def test_a_volume_added_to_crypttab_after_the_role_ran_is_built_in_by_the_next_run(host, request) -> None:
    """An operator adds a data volume with `initramfs` after the first run; the next run rebuilds once."""
    assert image_volumes(host) == ["labvault"]
    disk = sh(host, "readlink -f /dev/disk/by-id/virtio-VIRT0002").strip()
    sh(host, "set -e; printf '%%s' '%s' | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 "
             "--pbkdf-force-iterations 1000 %s -; printf '%%s' '%s' | cryptsetup open %s %s -; "
             "dd if=/dev/urandom of=/dev/mapper/%s bs=1M count=4 oflag=direct status=none; "
             "dd if=/dev/mapper/%s bs=1M count=4 iflag=direct status=none | sha256sum > %s; cryptsetup close %s; "
             "echo \"%s UUID=$(cryptsetup luksUUID %s) none luks,initramfs\" >> /etc/crypttab"
             % (PASSPHRASE, disk, PASSPHRASE, disk, SECOND_VOLUME, SECOND_VOLUME, SECOND_VOLUME, SECOND_DATA,
                SECOND_VOLUME, SECOND_VOLUME, disk))
    sh(host, ": > %s" % BUILD_LOG)
    inventory = request.config.option.ansible_inventory
    output = run_playbook(inventory, str(SCENARIO / "converge.yml"), {})
    assert "crypttab changed" in output and "missing /boot/initrd.img-" in output and SECOND_VOLUME in output, output[-3000:]
    assert "RUNNING HANDLER [lifeline.storage.initrd_unlock : Rebuild the initramfs]" in output
    assert len(builds(host)) == 1, builds(host)
    assert image_volumes(host) == ["labvault", SECOND_VOLUME]
    again = run_playbook(inventory, str(SCENARIO / "converge.yml"), {})
    assert re.search(r"lifeline-lab\s*:.*changed=0 ", again[again.rindex("PLAY RECAP"):]), again[-2000:]
    assert len(builds(host)) == 1, builds(host)


def late_router_boot(guest: Lab, deadline: float) -> float:
    """Reboot with the link down, bring it up after LINK_DOWN_SECONDS; seconds to SSH after that."""
    guest.reboot_from_guest(link_up=False)
    time.sleep(LINK_DOWN_SECONDS)
    guest.set_link(True)
    return wait_for_initramfs_ssh(deadline)


# One boot serves as both the plain reboot and the late router: a boot whose router was down
# for LINK_DOWN_SECONDS asks more of the initramfs than one whose router was up all along.
def test_late_router_then_unlock_over_ssh_with_the_retry_policy(host) -> None:
    guest = lab()
    seconds = late_router_boot(guest, INITRAMFS_SSH_DEADLINE)
    record("retry on: link down %ds; initramfs accepted SSH %.0fs after it came up" % (LINK_DOWN_SECONDS, seconds))
    # The same server with an empty known_hosts is refused: the check above was a real check.
    empty = EPHEMERAL / "empty_known_hosts"
    empty.write_text("")
    accepted, log = login(known_hosts=empty)
    assert not accepted and "Host key verification failed" in log, log
    unlock_and_wait_for_system(guest, volumes=2)
    assert sh(host, "cryptsetup status labvault").splitlines()[0].endswith("is active.")
    # The volume added to crypttab after the first run was unlocked in the initramfs, its data intact.
    assert sh(host, "cryptsetup status %s" % SECOND_VOLUME).splitlines()[0].endswith("is active.")
    assert sh(host, "dd if=/dev/mapper/%s bs=1M count=4 iflag=direct status=none | sha256sum" % SECOND_VOLUME) == \
        sh(host, "cat %s" % SECOND_DATA)
    # The initramfs' retrying ipconfig was stopped before switch_root: only the system's DHCP client runs,
    # and nothing of it is left in /run.
    assert host.run("pgrep -a ipconfig").stdout == ""
    assert sh(host, "ls /run | grep '^lifeline-ipconfig' || true").strip() == ""
    # On the console: a line when it started waiting, then one a minute, never on the prompt's line.
    console = (guest.state_dir / "console.log").read_text(errors="replace")
    boot = console[console.rindex("Linux version"):] if "Linux version" in console else console
    waiting = [line for line in boot.splitlines() if "lifeline-initrd-unlock:" in line]
    record("console lines of the patient ipconfig during a %ds outage: %d" % (LINK_DOWN_SECONDS, len(waiting)))
    assert 1 <= len(waiting) <= LINK_DOWN_SECONDS // 60 + 3, waiting
    assert not [line for line in waiting if "Please unlock disk" in line], waiting
    # klibc's own line per failed attempt stays off the console while the wrapper waits.
    assert boot.count("IP-Config: no response") == 0, [line for line in boot.splitlines() if "IP-Config" in line]


def test_late_router_without_the_retry_policy_fails(host, request) -> None:
    """The same outage with initramfs-tools' own attempts: nothing answers. Leaves a fresh guest."""
    inventory = request.config.option.ansible_inventory
    playbook = SCENARIO / "converge.yml"
    output = run_playbook(inventory, str(playbook), {"initrd_unlock_network_retry": False})
    assert "RUNNING HANDLER [lifeline.storage.initrd_unlock : Rebuild the initramfs]" in output
    guest = lab()
    try:
        with pytest.raises(AssertionError, match="did not accept SSH"):
            late_router_boot(guest, RETRY_OFF_DEADLINE)
    finally:
        print((guest.state_dir / "console.log").read_text(errors="replace")[-3000:])
        guest.reset()  # nobody can type the passphrase into this one
