"""What the initrd_unlock scenarios read from the initramfs images the role built, and their shared settings.

Both initrd_unlock scenarios run the same prepare and converge (initrd_unlock/), one on the UML
guest (images built and read) and one on the qemu guest that boots them. Images are read with
the builder's own tools (lsinitramfs, unmkinitramfs) from the image files, never from the
role's configuration files.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import yaml

from labcheck import by_id_path, run_playbook, sh

SCENARIO = Path(__file__).resolve().parent.parent / "initrd_unlock"
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
VARS = yaml.safe_load((SCENARIO / "vars" / "main.yml").read_text())
PASSPHRASE = VARS["initrd_unlock_test_passphrase"]
KEY = EPHEMERAL / "initrd_unlock_key"
KEY_IN_IMAGE = "etc/dropbear/dropbear_ed25519_host_key"
BUILD_LOG = "/var/log/lab-mkinitramfs.log"  # prepare.yml's mkinitramfs wrapper: one line per build
CONVERGE = str(SCENARIO / "converge.yml")
SECOND_VOLUME = "labvault2"
SECOND_DATA = "/var/tmp/lab-labvault2.sha256"


def record(figure: str) -> None:
    """Measured times go to the run's log and to a file beside molecule's state, for the report."""
    print(figure)
    with (EPHEMERAL / "initrd_unlock_figures.txt").open("a") as figures:
        figures.write(time.strftime("%H:%M:%S ") + figure + "\n")


def image_kernel(host) -> str:
    """The kernel version /initrd.img belongs to: the guest's Debian kernel (a UML guest runs another)."""
    return sh(host, "readlink -f /initrd.img").strip().rsplit("initrd.img-", 1)[1]


def image_key_hash(host) -> str:
    """sha256 of the host key inside the current initramfs image, extracted from the image itself."""
    return sh(host, "set -e; d=$(mktemp -d); unmkinitramfs /initrd.img $d; "
                    "f=$(find $d -path '*/%s' | head -n1); sha256sum < $f | cut -d' ' -f1; rm -rf $d" % KEY_IN_IMAGE).strip()


def builds(host) -> list[str]:
    return [line for line in sh(host, "cat %s" % BUILD_LOG).splitlines() if line.strip()]


def assert_built_once(host, runs: str) -> None:
    """The mkinitramfs log holds one build for RUNS (the first run installs the packages: dpkg's build)."""
    made = builds(host)
    record("initramfs builds in %s: %d (%s)" % (runs, len(made), "; ".join(made)))
    assert len(made) == 1, made


def image_volumes(host) -> list[str]:
    """The volume names in the current image's cryptroot/crypttab."""
    return sorted(sh(host, "set -e; d=$(mktemp -d); unmkinitramfs /initrd.img $d; "
                           "f=$(find $d -path '*/cryptroot/crypttab' | head -n1); awk 'NF >= 2 { print $1 }' $f; "
                           "rm -rf $d").split())


def add_volume_after_the_first_run(host) -> None:
    """What an operator does after the role ran: a new LUKS volume on VIRT0002 in crypttab with `initramfs`.

    add-luks-volume.sh (also run by the qemu guest's prepare, before the role) writes 4 MiB of
    random data into it and keeps their sha256 in SECOND_DATA. The build log is emptied: builds()
    then counts what the next run builds.
    """
    assert image_volumes(host) == ["labvault"]
    disk = sh(host, "readlink -f %s" % by_id_path("VIRT0002")).strip()
    script = (Path(__file__).resolve().parent / "add-luks-volume.sh").read_text()
    sh(host, "PASSPHRASE=%s bash -c %s add-luks-volume %s %s %s"
             % (shlex.quote(PASSPHRASE), shlex.quote(script), disk, SECOND_VOLUME, SECOND_DATA))
    sh(host, ": > %s" % BUILD_LOG)


def run_after_the_crypttab_change(host, inventory: str) -> str:
    """The role's next run: it names the difference, rebuilds once, and the image then unlocks both volumes."""
    output = run_playbook(inventory, CONVERGE, {})
    assert "crypttab changed" in output and "missing /boot/initrd.img-" in output and SECOND_VOLUME in output, output[-3000:]
    assert "RUNNING HANDLER [lifeline.storage.initrd_unlock : Rebuild the initramfs]" in output
    assert len(builds(host)) == 1, builds(host)
    assert image_volumes(host) == ["labvault", SECOND_VOLUME]
    return output
