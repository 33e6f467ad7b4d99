"""The lab guest is what the other scenarios rely on: a real kernel with md, real disks by serial."""

from __future__ import annotations

from labcheck import LAB_SERIALS, gather, kernel_name_to_serial, sh


def test_guest_kernel_has_md(host):
    assert host.file("/proc/mdstat").exists
    assert sh(host, "mdadm --version 2>&1").startswith("mdadm")


def test_every_data_disk_present_by_serial(host):
    assert sorted(kernel_name_to_serial(host).values()) == sorted(LAB_SERIALS)


def test_blank_disks_give_no_arrays_and_no_findings(host):
    facts = gather(host)
    assert facts["available"] is True and facts["kernel_md"] is True
    assert facts["arrays"] == [] and facts["stray_superblocks"] == [] and facts["findings"] == []
