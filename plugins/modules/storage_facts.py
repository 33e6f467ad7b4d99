#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: storage_facts
short_description: Gather md RAID, SMART, LVM and block device facts with findings, naming every disk by serial
version_added: 0.1.0
description:
  - Gathers storage facts from a host in one run, like M(ansible.builtin.setup), for the subsets
    named in O(gather_subset). Each subset becomes its own fact.
  - The C(md) subset (C(ansible_facts.lifeline_md)) reports every md array from C(/proc/mdstat)
    and C(/sys/block/mdX/md/), every member with its slot, role, event count and stable identity
    (serial, WWN, C(/dev/disk/by-id) path), every md superblock found on a device that is not part of
    a running array (C(mdadm --examine --scan)), and a list of findings an operator can act on.
  - The C(smart) subset (C(ansible_facts.lifeline_smart)) reports every whole disk's SMART data read
    with the pySMART library (identity, power-on hours, temperature, ATA attributes, NVMe health,
    error and self-test logs) and a C(health) verdict from the rule table in the collection's
    C(docs/smart-health.md). Disks are queried in parallel, each with one C(smartctl -n standby --json=o --all)
    that asks for the power mode before it reads anything; a disk in standby is reported and left asleep
    unless O(smart_wake=true). pySMART parses the text output that call carries.
    A disk without SMART (virtio, some USB bridges) or whose query fails is listed with the reason;
    no single disk fails the module.
  - The C(lvm) subset (C(ansible_facts.lifeline_lvm)) reports every PV, VG and LV from one read-only
    C(lvm fullreport), including PVs that an LVM devices file hides, and for each VG whether
    C(/etc/lvm/backup) holds a current copy of its metadata. Thin pools whose data or metadata fill up
    (O(lvm_thin_pool_warning_percent), O(lvm_thin_pool_critical_percent)), old-style snapshots that fill
    up or are invalid, and RAID or mirror LVs that are partial, need a refresh or are not in sync are
    findings; a percentage LVM did not report is V(null) and makes no finding.
  - The C(disks) subset (C(ansible_facts.lifeline_disks)) reports every block device with its stable
    identity, partition table, every signature at any offset (C(wipefs) listing merged with a
    C(blkid) low-level probe), holders, mount points, md and LVM membership, and whether it is blank.
  - The disk identity map (kernel name to serial, WWN and by-id path) is read once per run from
    C(lsblk) and C(/dev/disk/by-id) and shared by all subsets.
  - A subset that cannot be gathered (a tool or library missing, an output that cannot be parsed)
    is reported with C(available=false) and the reason in its own fact; the other subsets are still
    gathered. The module fails only when no requested subset could be gathered.
  - Never writes to any device. Devices are opened read-only by C(mdadm --examine), C(lsblk),
    C(wipefs --no-act), C(blkid -p) and C(smartctl), which only reads logs and never starts a self-test
    here; LVM reports run with metadata backups turned off, so not even C(/etc/lvm/backup) is written. Every command runs in the
    C locale with a timeout.
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - mdadm on the managed host for array UUIDs, event counts and superblocks outside running arrays
  - util-linux lsblk on the managed host
  - for the C(disks) subset, util-linux C(wipefs) and C(blkid)
  - for the C(lvm) subset, lvm2 2.03.12 or later (C(lvm fullreport) with C(--devicesfile))
  - for the C(smart) subset, smartmontools 7.0 or later (smartctl) and the pySMART Python library on the
    managed host; the P(lifeline.storage.facts#role) role installs pySMART, also on hosts without
    internet access. When pySMART is not on the Python path, the module looks in the role's default
    install directory C(/var/lib/lifeline-storage/python), so ad hoc calls work after the role ran
    with its default C(facts_pysmart_path)
options:
  gather_subset:
    description:
      - Which subsets to gather. V(all) gathers every subset; C(!name) excludes one.
    type: list
    elements: str
    default: [all]
  gather_timeout:
    description:
      - Seconds each command may run before it is stopped and reported as timed out.
    type: int
    default: 30
  smart_wake:
    description:
      - Read disks that are in standby too, spinning them up.
      - By default every smartctl call carries C(-n standby,3), and a disk in standby or sleep is
        reported with RV(ansible_facts.lifeline_smart.disks[].query=standby) and not read.
    type: bool
    default: false
    version_added: 0.2.0
  smart_devices:
    description:
      - Query only these disks, named by kernel name, C(/dev) path, C(/dev/disk/by-id) path, serial or WWN.
      - A name that matches no whole disk is listed in RV(ansible_facts.lifeline_smart.not_found) with a
        C(SMART_DISK_NOT_FOUND) finding.
      - By default every whole disk (C(lsblk) type C(disk)) is queried.
    type: list
    elements: str
    version_added: 0.2.0
  smart_max_workers:
    description:
      - How many disks are queried at the same time.
    type: int
    default: 8
    version_added: 0.2.0
  smart_selftest_max_age_hours:
    description:
      - A disk whose last self-test ran more than this many power-on hours ago gets a C(SMART_SELFTEST_OLD) finding.
    type: int
    default: 720
    version_added: 0.2.0
  lvm_thin_pool_warning_percent:
    description:
      - A thin pool whose data or metadata use is at or above this percentage gets a C(LVM_THIN_POOL_DATA_HIGH) or
        C(LVM_THIN_POOL_METADATA_HIGH) finding of severity C(warning).
      - Must be above 0 and not above O(lvm_thin_pool_critical_percent).
    type: float
    default: 80.0
    version_added: 0.3.0
  lvm_thin_pool_critical_percent:
    description:
      - A thin pool whose data or metadata use is at or above this percentage gets the finding with severity C(critical).
      - Must not be below O(lvm_thin_pool_warning_percent) nor above 100.
    type: float
    default: 95.0
    version_added: 0.3.0
extends_documentation_fragment:
  - lifeline.storage._attributes
  - lifeline.storage._attributes.facts
  - lifeline.storage._attributes.read_only
attributes:
  facts:
    support: full
notes:
  - Findings codes and what to do about each are listed in the collection's C(docs/findings.md).
  - A disk that has vanished (unplugged, failed) cannot be named by the kernel any more; its slot is
    reported in RV(ansible_facts.lifeline_md.arrays[].missing_slots) and only an earlier record (a
    metadata snapshot or an earlier fleet report) can name its serial.
seealso:
  - module: ansible.builtin.setup
"""

EXAMPLES = r"""
- name: Gather md facts
  lifeline.storage.storage_facts:
    gather_subset: [md]

- name: Gather SMART facts of two mirror members only, leaving sleeping disks asleep
  lifeline.storage.storage_facts:
    gather_subset: [smart]
    smart_devices: [WD-WCC4E1234567, WD-WCC4E7654321]

- name: List failing disks by serial
  ansible.builtin.debug:
    msg: "{{ ansible_facts.lifeline_smart.disks | selectattr('health.status', 'equalto', 'failing') | map(attribute='serial') | list }}"

- name: Fail the play when any md array is degraded
  ansible.builtin.assert:
    that: >-
      ansible_facts.lifeline_md.findings
      | selectattr('code', 'equalto', 'MD_ARRAY_DEGRADED') | list | length == 0
    fail_msg: "{{ ansible_facts.lifeline_md.findings | map(attribute='message') | join('; ') }}"

- name: Print which disk (by serial) sits in which slot of md0
  ansible.builtin.debug:
    msg: "{{ ansible_facts.lifeline_md.arrays | selectattr('name', 'equalto', 'md0') | map(attribute='members') | first
             | items2dict(key_name='slot', value_name='serial') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts for each gathered subset.
  returned: always
  type: dict
  contains:
    lifeline_md:
      description: The md subset.
      returned: when O(gather_subset) includes V(md) or V(all)
      type: dict
      contains:
        available:
          description: Whether the subset could be gathered. When V(false), RV(ansible_facts.lifeline_md.error) says why.
          type: bool
        error:
          description: Why the subset is missing or incomplete, or V(null).
          type: str
        identity_error:
          description: Why the identity map is incomplete (serials and WWNs unknown), or V(null).
          type: str
        kernel_md:
          description: Whether the kernel has md support loaded (C(/proc/mdstat) exists).
          type: bool
        personalities:
          description: RAID levels the kernel has loaded, from C(/proc/mdstat).
          type: list
          elements: str
        arrays:
          description: Every array in C(/proc/mdstat).
          type: list
          elements: dict
          contains:
            name:
              description: Kernel name, for example V(md0).
              type: str
            device:
              description: Device path.
              type: str
            state:
              description: V(active) or V(inactive), from C(/proc/mdstat).
              type: str
            array_state:
              description: C(md/array_state) from sysfs (V(clean), V(active), V(read-auto), V(readonly), V(inactive), ...).
              type: str
            read_only:
              description: V(read-only), V(auto-read-only), or V(null) for a read-write array.
              type: str
            level:
              description: RAID level, for example V(raid1).
              type: str
            metadata:
              description: Superblock version, for example V(1.2).
              type: str
            uuid:
              description: Array UUID as mdadm prints it (lowercase), from C(mdadm --detail --export).
              type: str
            array_name:
              description: Array name from the superblock, for example V(host:0).
              type: str
            size_bytes:
              description: Array size in bytes.
              type: int
            raid_disks:
              description: Number of slots in the array.
              type: int
            active_disks:
              description: Number of working members, from C(/proc/mdstat).
              type: int
            member_status:
              description: The C([UU_]) string from C(/proc/mdstat).
              type: str
            degraded:
              description: C(md/degraded) from sysfs, the number of missing members.
              type: int
            mismatch_cnt:
              description: C(md/mismatch_cnt) from sysfs, sectors found to differ by the last check.
              type: int
            sync:
              description: The running sync operation.
              type: dict
              contains:
                action:
                  description: C(md/sync_action) (V(idle), V(resync), V(recover), V(check), V(repair), V(reshape), V(frozen)).
                  type: str
                percent:
                  description:
                    - Progress in percent as C(/proc/mdstat) shows it, or V(null) when idle or unknown.
                    - It runs slightly ahead of RV(ansible_facts.lifeline_md.arrays[].sync.completed_sectors), which is md's last checkpoint.
                  type: float
                completed_sectors:
                  description: Sectors done at md's last checkpoint, from C(md/sync_completed).
                  type: int
                total_sectors:
                  description: Sectors to do, from C(md/sync_completed).
                  type: int
                speed_kib_s:
                  description: Speed in KiB/s, from C(/proc/mdstat).
                  type: int
                finish_minutes:
                  description: The kernel's estimate of the minutes left.
                  type: float
                pending:
                  description: V(DELAYED) or V(PENDING) when a resync is waiting, else V(null).
                  type: str
            bitmap:
              description: Write-intent bitmap.
              type: dict
              contains:
                present:
                  description: Whether the array has a write-intent bitmap; V(null) when unknown.
                  type: bool
                location:
                  description: C(md/bitmap/location) (V(none), V(file), or an offset such as V(+8)).
                  type: str
                pages_used:
                  description: Bitmap pages in use, from C(/proc/mdstat).
                  type: int
                pages_total:
                  description: Bitmap pages in all, from C(/proc/mdstat).
                  type: int
                chunk_kib:
                  description: Bitmap chunk size in KiB.
                  type: int
                file:
                  description: Bitmap file, for an external bitmap.
                  type: str
            members:
              description: Members known to the kernel, ordered by slot.
              type: list
              elements: dict
              contains:
                kernel_name:
                  description: Kernel name, for example V(sdb1). Moves between boots.
                  type: str
                device:
                  description: Device path.
                  type: str
                disk:
                  description: Kernel name of the whole disk the member is on.
                  type: str
                serial:
                  description: Serial of the disk, or V(null) when unknown.
                  type: str
                wwn:
                  description: WWN of the disk, or V(null) when unknown.
                  type: str
                model:
                  description: Model of the disk, or V(null) when unknown.
                  type: str
                stable_name:
                  description: The preferred C(/dev/disk/by-id) path, or V(null) when none exists.
                  type: str
                by_id:
                  description: Every C(/dev/disk/by-id) path of the member.
                  type: list
                  elements: str
                slot:
                  description: Slot (raid disk number), or V(null) for spares and faulty members.
                  type: int
                role:
                  description: V(active), V(rebuilding), V(spare), V(faulty), V(journal), V(replacement) or V(unknown).
                  type: str
                state:
                  description: Words of C(md/dev-*/state) from sysfs, for example V(in_sync) and V(write_mostly).
                  type: list
                  elements: str
                mdstat_flags:
                  description: Flags shown in C(/proc/mdstat) (V(faulty), V(spare), V(write_mostly), ...).
                  type: list
                  elements: str
                errors:
                  description: C(md/dev-*/errors), read errors corrected on this member.
                  type: int
                events:
                  description: Event count in the member's superblock, from C(mdadm --examine).
                  type: int
                update_time:
                  description: Last superblock update time, as mdadm prints it.
                  type: str
                device_uuid:
                  description: The member's device UUID from its superblock.
                  type: str
            missing_slots:
              description: Slots of a redundant array that no working member fills.
              type: list
              elements: int
            errors:
              description: Errors met while gathering this array (for example C(mdadm --detail) failing).
              type: list
              elements: str
        stray_superblocks:
          description:
            - md superblocks on devices that are not members of a running array, grouped by array UUID.
            - A group whose RV(ansible_facts.lifeline_md.stray_superblocks[].assembled_as) is set carries the UUID of a
              running array that does not include these devices (a member that dropped out).
          type: list
          elements: dict
          contains:
            array_uuid:
              description: Array UUID from the superblocks.
              type: str
            array_name:
              description: Array name from the superblocks.
              type: str
            level:
              description: RAID level from the superblocks.
              type: str
            metadata:
              description: Superblock version.
              type: str
            raid_devices:
              description: Number of slots the superblocks record.
              type: int
            layout:
              description: Layout from the superblocks (for RAID10 for example V(near=2), which mirrors slot 0 with 1 and 2 with 3), or V(null).
              type: str
            assembled_as:
              description: Kernel name of the running array with this UUID, or V(null) when it is not assembled.
              type: str
            devices:
              description: >-
                Devices carrying the superblock with their identity (as for members), C(events), C(update_time),
                C(device_uuid), C(role), C(slot) and C(array_state) as the superblock records them, and C(read_only):
                V(true) when the kernel marks the device read-only (C(/sys/class/block/NAME/ro)), which md cannot
                assemble from, V(null) when unknown.
              type: list
              elements: dict
        unreadable:
          description: Devices that could not be examined, each with C(device) and C(reason).
          type: list
          elements: dict
        findings:
          description: >-
            Findings, worst first, each with C(code), C(severity) (V(critical), V(warning), V(info)), C(subject),
            C(message) and C(evidence). Codes are listed in the collection's C(docs/findings.md).
          type: list
          elements: dict
    lifeline_smart:
      description:
        - The C(smart) subset. Every returned field of a disk is present for every disk; a field
          that could not be read is V(null) (or empty), never guessed.
      returned: when O(gather_subset) includes V(smart) or V(all)
      type: dict
      contains:
        available:
          description:
            - Whether the subset could be gathered.
            - V(false) when pySMART or smartctl is missing, with the reason in RV(ansible_facts.lifeline_smart.error).
          type: bool
        error:
          description: Why the subset could not be gathered (Ansible's standard missing-library message when pySMART is missing).
          type: str
        identity_error:
          description: Set when the disk identity map is incomplete (for example C(lsblk) failed).
          type: str
        wake:
          description: The value of O(smart_wake) for this run.
          type: bool
        not_found:
          description: Each name in O(smart_devices) that matched no whole disk, with C(request) and C(reason).
          type: list
          elements: dict
        disks:
          description: One entry per whole disk, in kernel-name order.
          type: list
          elements: dict
          contains:
            kernel_name:
              description: Kernel name at the time of the run (V(sda), V(nvme0n1)); it may change at the next boot.
              type: str
            device:
              description: C(/dev) path.
              type: str
            serial:
              description: Serial from C(lsblk), or as smartctl reports it when C(lsblk) has none.
              type: str
            serial_reported:
              description: Serial as smartctl reports it (differs from RV(ansible_facts.lifeline_smart.disks[].serial) behind some USB bridges).
              type: str
            wwn:
              description: World Wide Name, when the disk has one.
              type: str
            stable_name:
              description: The preferred C(/dev/disk/by-id) path (serial-bearing first).
              type: str
            by_id:
              description: Every C(/dev/disk/by-id) path of the disk.
              type: list
              elements: str
            size_bytes:
              description: Size as C(lsblk) reports it.
              type: int
            rotational:
              description: The kernel's rotational flag.
              type: bool
            transport:
              description: C(lsblk)'s transport (V(sata), V(sas), V(nvme), V(usb), ...), or V(null).
              type: str
            query:
              description:
                - What happened when the disk was asked.
                - V(read) SMART data was read; V(standby) the disk was asleep and left so; V(unsupported) the
                  disk has no SMART (the reason says why); V(error) the query failed or timed out (see
                  RV(ansible_facts.lifeline_smart.disks[].error)).
              type: str
              choices: [read, standby, unsupported, error]
            reason:
              description: Why the disk was not read, in words; V(null) when it was read.
              type: str
            error:
              description: For a failed command, C(msg), C(cmd), C(rc), C(stdout) and C(stderr).
              type: dict
            power_mode:
              description: V(active), V(standby), V(sleep) or V(unknown) (NVMe disks and disks smartctl does not ask).
              type: str
            model:
              description: Model.
              type: str
            firmware:
              description: Firmware version.
              type: str
            interface:
              description: How the disk is attached (V(ata), V(sata), V(sas), V(scsi), V(nvme), V(usb), V(megaraid), V(unknown)).
              type: str
            smartctl_type:
              description: smartctl's device type as smartctl detected it (its C(-d) argument, for example V(sat) or V(nvme)).
              type: str
            capacity_bytes:
              description: Capacity as smartctl reports it.
              type: int
            rotation_rate_rpm:
              description: Rotation rate of a spinning disk.
              type: int
            solid_state:
              description: V(true) for SSDs and NVMe, V(false) for spinning disks, V(null) when smartctl does not say.
              type: bool
            smart_supported:
              description: Whether the device has SMART.
              type: bool
            smart_enabled:
              description: Whether SMART is enabled.
              type: bool
            assessment:
              description: pySMART's assessment, V(PASS), V(WARN) or V(FAIL) (from the disk's own self-assessment and attribute thresholds).
              type: str
            messages:
              description: pySMART's warnings for the disk (attributes past their thresholds, SCSI sense data).
              type: list
              elements: str
            power_on_hours:
              description: Power-on hours (ATA attribute 9, the NVMe health log or the SCSI counters).
              type: int
            temperature_c:
              description: Temperature in degrees Celsius.
              type: int
            attributes:
              description:
                - ATA/SATA attributes by id (as a string, for example C(attributes['197'])), each with C(id), C(name),
                  C(normalized), C(worst), C(threshold), C(type), C(when_failed) (V(null), V(FAILING_NOW) or
                  V(In_the_past)), C(raw) (as smartctl prints it) and C(raw_value) (its first number).
                - Empty for NVMe and SAS disks.
              type: dict
            nvme:
              description:
                - The NVMe health log, V(null) for other disks, with C(critical_warning), C(media_errors),
                  C(percentage_used), C(available_spare), C(available_spare_threshold), C(unsafe_shutdowns),
                  C(error_log_entries), C(power_cycles) and C(power_on_hours).
              type: dict
            scsi:
              description:
                - SAS/SCSI counters, V(null) for other disks, with C(grown_defects), C(uncorrected_read_errors),
                  C(uncorrected_write_errors), C(non_medium_errors) and C(power_on_hours).
              type: dict
            error_log_count:
              description: Entries in the device error log (ATA error count or NVMe error log entries).
              type: int
            self_test:
              description:
                - The self-test log, with C(count), C(running) and C(last), the newest test with C(type), C(result),
                  C(lifetime_hours) (power-on hours when it ran) and C(age_hours) (power-on hours since);
                  C(last) is V(null) when the log is empty.
              type: dict
            identity_incomplete:
              description:
                - V(null) when smartctl reported both serial and model. Otherwise C(missing) (V(serial), V(model) or both)
                  and C(command) (the smartctl call that lacked them); the disk's health is then V(unknown) and a
                  C(SMART_IDENTITY_INCOMPLETE) finding says so.
              type: dict
            health:
              description:
                - The verdict, from the rule table in C(docs/smart-health.md), with C(status) (V(healthy), V(watch),
                  V(failing) or V(unknown)), C(score) (0 to 100, V(null) when unknown) and C(reasons) (each rule that
                  matched, with C(code), C(verdict), C(penalty) and C(message)).
              type: dict
        findings:
          description:
            - Findings, worst first, in the same shape as the md subset's. Codes are listed in the collection's C(docs/findings.md).
          type: list
          elements: dict
    lifeline_lvm:
      description:
        - The C(lvm) subset, from one C(lvm fullreport --readonly --devicesfile "") call, so PVs that an LVM devices file
          hides are reported too. A column LVM did not report is V(null).
      returned: when O(gather_subset) includes V(lvm) or V(all)
      type: dict
      contains:
        available:
          description: Whether the subset could be gathered (V(false) when lvm is missing or its report cannot be read).
          type: bool
        error:
          description: Why the subset could not be gathered.
          type: str
        identity_error:
          description: Set when the disk identity map is incomplete.
          type: str
        devices_file:
          description:
            - The LVM devices file, with C(path), C(exists) and C(in_use) (lvm.conf's C(devices/use_devicesfile);
              V(null) when lvm could not say).
          type: dict
        pvs:
          description:
            - Physical volumes with C(uuid), C(name) (the device; V(null) when missing), C(vg_name), C(vg_uuid), C(size_bytes),
              C(free_bytes), C(used_bytes), C(dev_size_bytes), C(pe_start_bytes), C(pe_count), C(pe_alloc_count), C(attr), C(missing),
              C(duplicate), C(exported), C(hidden_by_devices_file) (the devices file is in use and does not list this PV),
              and the device's C(serial), C(wwn) and C(stable_name).
          type: list
          elements: dict
        vgs:
          description:
            - Volume groups with C(uuid), C(name), C(attr), C(seqno), C(extent_size_bytes), C(extent_count),
              C(free_extent_count), C(size_bytes), C(free_bytes), C(pv_count), C(lv_count), C(snap_count) (old-style
              snapshots), C(missing_pv_count), C(partial), C(exported) and C(backup).
            - C(backup) compares C(/etc/lvm/backup/<vg>) with the live metadata - C(path), C(exists), C(seqno), C(created)
              (epoch seconds, from the file's C(creation_time)), C(age_hours), C(current) (same seqno and VG uuid as the live
              metadata), C(error) (when the file cannot be parsed) and C(archive_count) (files in C(/etc/lvm/archive)).
          type: list
          elements: dict
        lvs:
          description:
            - Logical volumes with C(uuid), C(name), C(hidden) (an internal LV LVM shows in brackets), C(vg_name),
              C(full_name), C(path), C(attr), C(attributes) (C(attr) decoded - C(volume_type), C(permissions),
              C(allocation_policy), C(allocation_locked), C(fixed_minor), C(state), C(device_open), C(target_type), C(zero),
              C(health), C(skip_activation)), C(size_bytes), C(segtype), C(segtypes), C(segment_count), C(pool_lv), C(origin),
              C(active), C(health_status), C(partial) and C(refresh_needed) (from C(health_status), else from C(attr);
              V(null) when neither says, and C(refresh_needed) also when C(partial) hides it).
            - Percentages as numbers from 0 to 100, V(null) where LVM reports none - C(data_percent) and C(metadata_percent)
              (thin pools; LVM reports C(data_percent) for thin volumes and caches too), C(snap_percent) (old-style
              snapshots; 100 for an invalid one), C(sync_percent) (RAID and mirror LVs; for a cache, its dirty share),
              and C(sync_action) (C(raid_sync_action), for example V(idle), V(recover) or V(check)).
          type: list
          elements: dict
        findings:
          description: Findings, worst first, in the same shape as the md subset's (C(docs/findings.md)).
          type: list
          elements: dict
    lifeline_disks:
      description:
        - The C(disks) subset. A value that could not be read is V(null) (unknown), never an empty list or V(false)
          that would read as "nothing there".
      returned: when O(gather_subset) includes V(disks) or V(all)
      type: dict
      contains:
        available:
          description: Whether the subset could be gathered.
          type: bool
        error:
          description: What could not be read, when something could not (a missing tool, an unreadable mountinfo); V(null) otherwise.
          type: str
        identity_error:
          description: Set when the disk identity map is incomplete.
          type: str
        missing_tools:
          description: Which of C(wipefs) and C(blkid) the host lacks.
          type: list
          elements: str
        devices:
          description:
            - Every block device (whole disks, partitions, md arrays, dm devices, loop devices with a backing file), in
              kernel-name order.
            - Identity as in the other subsets - C(kernel_name), C(device), C(type), C(disk), C(size_bytes), C(serial),
              C(wwn), C(model), C(transport), C(rotational), C(stable_name), C(by_id).
            - C(parent) (a partition's disk, or the only device under a dm or md device), C(slaves), C(holders) and
              C(partitions) (kernel names, from sysfs; V(null) when sysfs cannot be read), C(major_minor), C(backing_file)
              (loop devices).
            - C(partition_table) - C(type) (V(gpt), V(dos), ... or V(null) when there is none), C(id) and C(offsets) (every
              partition-table signature, both GPT headers and the protective MBR included); V(null) when unknown.
            - C(signatures) - every signature at any offset, from C(wipefs --no-act --json) merged with C(blkid -p), each with
              C(type), C(kind) (V(filesystem), V(swap), V(crypto), V(raid), V(lvm), V(partition_table), V(other)), C(usage),
              C(offset) (bytes), C(uuid), C(uuid_sub), C(label), C(version) and C(source); V(null) when the device could not be
              probed.
            - C(ambivalent) - blkid found several signatures that contradict each other (its exit status 8).
            - C(md_member) and C(md_array_uuid) (in mdadm's form, as in RV(ansible_facts.lifeline_md.arrays[].uuid)),
              C(lvm_pv) and C(lvm_pv_uuid), from the signatures.
            - C(mountpoints) (from C(/proc/self/mountinfo)), C(blank) (V(true) only when the device was read and has no
              signature, partition table, partition, holder or mount point; V(null) when any of these is unknown),
              C(probed_with) (which tools answered) and C(errors).
          type: list
          elements: dict
        skipped:
          description: Devices not probed (loop devices without a backing file, zram, optical drives), with C(device) and C(reason).
          type: list
          elements: dict
        unreadable:
          description: Devices whose probe failed, with C(device) and C(reason); their C(signatures) are V(null).
          type: list
          elements: dict
        findings:
          description: Findings, worst first, in the same shape as the md subset's (C(docs/findings.md)).
          type: list
          elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._lvm_collect import THIN_POOL_OPTION_DEFAULTS, thin_pool_thresholds
from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import (
    gather_storage_facts,
    resolve_subsets,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            gather_subset=dict(type="list", elements="str", default=["all"]),
            gather_timeout=dict(type="int", default=30),
            smart_wake=dict(type="bool", default=False),
            smart_devices=dict(type="list", elements="str"),
            smart_max_workers=dict(type="int", default=8),
            smart_selftest_max_age_hours=dict(type="int", default=720),
            lvm_thin_pool_warning_percent=dict(type="float", default=THIN_POOL_OPTION_DEFAULTS["lvm_thin_pool_warning_percent"]),
            lvm_thin_pool_critical_percent=dict(type="float", default=THIN_POOL_OPTION_DEFAULTS["lvm_thin_pool_critical_percent"]),
        ),
        supports_check_mode=True,
    )
    try:
        subsets = resolve_subsets(module.params["gather_subset"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    for name, minimum in (("gather_timeout", 1), ("smart_max_workers", 1), ("smart_selftest_max_age_hours", 0)):
        if module.params[name] < minimum:
            module.fail_json(msg="%s must be at least %d, got %d" % (name, minimum, module.params[name]))
    try:
        thin_pool_thresholds(module.params)
    except ValueError as error:
        module.fail_json(msg=str(error))

    runner = CommandRunner(module, module.params["gather_timeout"])
    options = {name: module.params[name] for name in module.params if name.startswith(("smart_", "lvm_"))}
    facts = gather_storage_facts(runner, HostFiles(), subsets, options)
    import_tracebacks = [value.pop("import_traceback") for value in facts.values() if "import_traceback" in value]
    failed = [key for key, value in facts.items() if not value.get("available")]
    if facts and len(failed) == len(facts):
        if len(failed) == 1:
            msg = facts[failed[0]]["error"]
        else:
            msg = "; ".join("%s: %s" % (key, facts[key]["error"]) for key in failed)
        module.fail_json(msg=msg, exception=import_tracebacks[0] if import_tracebacks else None,
                         ansible_facts=facts, changed=False)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
