"""The images the initrd_unlock role builds: their contents, check mode, and rebuilds that keep the host key.

Runs on the UML guest, which builds initramfs-tools images for the guest's Debian kernel with
the same packages, hooks and mkinitramfs as the qemu guest, at host speed; booting them is the
initrd_unlock scenario's part (qemu). prepare and converge are initrd_unlock's.
"""

from __future__ import annotations

import re
import time

from initrd_image import (CONVERGE, KEY, KEY_IN_IMAGE, add_volume_after_the_first_run, assert_built_once, builds, image_kernel,
                          image_key_hash, record, run_after_the_crypttab_change)
from labcheck import run_playbook, sh


def test_the_first_run_built_the_initramfs_once_and_the_second_not_at_all(host) -> None:
    """converge installed the packages (dpkg's own build) and ran the role; idempotence ran it again."""
    assert_built_once(host, "converge and idempotence")


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
    output = run_playbook(request.config.option.ansible_inventory, CONVERGE,
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
    version = image_kernel(host)
    started = time.monotonic()
    sh(host, "set -e; update-initramfs -d -k %s; test ! -e /boot/initrd.img-%s; "
             "/etc/kernel/postinst.d/initramfs-tools %s /boot/vmlinuz-%s" % (version, version, version, version))
    record("image deleted and created by the kernel postinst hook: %.0fs" % (time.monotonic() - started))
    assert image_key_hash(host) == before


def test_a_volume_added_to_crypttab_after_the_role_ran_is_built_in_by_the_next_run_and_only_that_run(host, request) -> None:
    """The role follows crypttab: one rebuild for the change, none on the run after it.

    The qemu scenario makes the same change and boots the image to unlock both volumes.
    """
    add_volume_after_the_first_run(host)
    inventory = request.config.option.ansible_inventory
    run_after_the_crypttab_change(host, inventory)
    again = run_playbook(inventory, CONVERGE, {})
    assert re.search(r"lifeline-lab\s*:.*changed=0 ", again[again.rindex("PLAY RECAP"):]), again[-2000:]
    assert len(builds(host)) == 1, builds(host)
