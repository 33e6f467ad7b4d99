"""The dracut path: the role found dracut (not initramfs-tools) and its settings are in the image.

What the image holds is read with lsinitrd from the image file itself, not from the role's
configuration file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from labcheck import sh

sys.path.insert(0, str(Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "tests/lab"))

from lablib import Lab  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="module", autouse=True)
def fresh_guest_afterwards():
    """The scenarios after this one expect initramfs-tools: they get a fresh guest."""
    yield
    Lab(report=lambda message: print("lab: " + message)).reset()


def image_cmdline(host) -> list[str]:
    image = sh(host, "readlink -f /initrd.img").strip()
    return sh(host, "lsinitrd %s -f etc/cmdline.d/01-default.conf" % image).split()


def test_initramfs_tools_is_gone_and_dracut_built_the_image(host) -> None:
    # The package, not the program: initramfs-tools-core and its mkinitramfs stay behind.
    assert host.run("dpkg-query -W -f='${db:Status-Status}' initramfs-tools").stdout != "installed"
    image = sh(host, "readlink -f /initrd.img").strip()
    assert "dracut" in sh(host, "lsinitrd %s | head -n 40" % image).lower()


def test_image_holds_the_network_settings_and_the_retry_policy(host) -> None:
    words = image_cmdline(host)
    # 600 s of waiting: 10 attempts of 60 s, and carrier awaited for all of it.
    for expected in ("rd.neednet=1", "ip=dhcp", "rd.net.timeout.dhcp=60", "rd.net.dhcp.retry=10",
                     "rd.net.timeout.carrier=600"):
        assert expected in words, words


def test_image_has_the_network_module_with_the_handler_that_reads_the_retry_settings(host) -> None:
    image = sh(host, "readlink -f /initrd.img").strip()
    modules = sh(host, "lsinitrd -m %s" % image).split()
    # No NetworkManager on the guest: network-legacy (dhclient), never systemd-networkd, which ignores them.
    assert "network" in modules and "network-legacy" in modules, modules
    assert "systemd-networkd" not in modules, modules
    assert "usr/sbin/dhclient" in sh(host, "lsinitrd %s" % image)
