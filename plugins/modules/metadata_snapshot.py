#!/usr/bin/python
# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: metadata_snapshot
short_description: Write a checksummed snapshot of everything a storage recovery needs
version_added: 0.2.0
description:
  - Writes, on the managed host, a new snapshot directory under O(dest) holding the md, LVM,
    partition and signature metadata of every device, the disk serial to kernel name to md slot
    to PV map, and the first O(head_bytes) of every disk, partition and md array (and the last
    O(head_bytes) of every md member, where 0.90 and 1.0 superblocks live).
  - "Per md array, C(md/geometry.json) records its geometry: level, metadata version, chunk, layout, data offset
    (sectors), component size, raid devices, bitmap, name, home host, UUID, and the member of every slot by serial
    (and partition number), by-id name and device UUID. It is read from C(mdadm --examine) of the members (the one
    with the highest event count speaks for the array) and C(mdadm --detail) of running arrays. With it the snapshot
    keeps data samples of each member past its data offset, O(md_sample_bytes) at the start of the data area and as
    many at its middle (C(md/samples/<array uuid>/slot<N>-<serial>.start), C(.middle)), which
    M(lifeline.storage.md_geometry_check) compares with an assembled array; the P(lifeline.storage.recreate_md#filter) filter
    turns the geometry into the C(mdadm --create --assume-clean) command that rebuilds it."
  - "Captured: C(/proc/mdstat); C(mdadm --detail --scan --verbose); C(mdadm --detail) of every running
    array; C(mdadm --examine) of every md member, text and C(--export); mdadm.conf; a fresh
    C(vgcfgbackup -f) of every VG written into the snapshot (never into C(/etc/lvm)) and a copy of
    C(/etc/lvm/backup) and C(/etc/lvm/archive); pvs, vgs and lvs as JSON; C(sfdisk --dump) of every
    partitioned disk and C(sgdisk --backup) of every GPT disk; C(blkid) and C(lsblk) JSON; C(/etc/fstab)
    and C(/etc/crypttab); the facts of M(lifeline.storage.storage_facts) (md, lvm, disks) and
    C(disk-map.json)."
  - C(manifest.json) lists every file with its sha256 and size, the tool versions and the host. It is
    written last, after every file is synced, and the directory is then renamed into place, so a run
    that is killed half-way never leaves a snapshot that looks complete; the next run removes what it
    left.
  - Files and directories are readable by root only.
  - When the content equals the newest snapshot (volatile files excluded, see RV(snapshot.files)),
    no new snapshot is written and the module reports no change.
  - Reads devices, never writes to them. LVM commands run with the devices file off (PVs it hides
    are included) and with LVM's own metadata backups off, so C(/etc/lvm) is not touched either.
author:
  - Lifeline Storage Maintainers (@lifeline-storage)
requirements:
  - mdadm, lvm2, util-linux (lsblk, blkid, wipefs, sfdisk) on the managed host; gdisk (sgdisk) for
    binary GPT backups; cryptsetup for O(luks_header_backup). A missing tool is listed in
    RV(snapshot.gaps), it does not fail the run.
options:
  dest:
    description:
      - Directory on the managed host that holds the snapshots, one subdirectory per snapshot.
      - Must be an absolute path (C(~) is expanded first); a relative path fails the run before anything is read or
        written, because it would be resolved against the module's working directory on the host.
    type: path
    default: /var/lib/lifeline-storage/snapshots
  keep:
    description:
      - How many complete snapshots to keep on the host; older ones are removed after a new one is written.
      - V(0) keeps every snapshot.
    type: int
    default: 10
  head_bytes:
    description: How many bytes to keep from the start of every disk, partition and md array, and from the end of every md member.
    type: int
    default: 1048576
  md_sample_bytes:
    description:
      - Bytes sampled from each md member's data area, at its start and at its middle; V(0) keeps no samples (the
        geometry is still recorded).
      - A multiple of 4096. Reads are bounded by it; a sample under a mounted file system is volatile.
    type: int
    default: 1048576
  luks_header_backup:
    description:
      - Also keep a C(cryptsetup luksHeaderBackup) of every LUKS device.
      - A LUKS header backup holds the key slots. Anyone with it and an old passphrase can open the volume, even after the
        passphrase was changed on the device. Store such snapshots as you store keys.
    type: bool
    default: false
  timeout:
    description: Seconds each command may run.
    type: int
    default: 60
extends_documentation_fragment:
  - lifeline.storage._attributes
attributes:
  check_mode:
    support: full
    details: Reads everything and reports whether a new snapshot would be written, and the files it would hold, without writing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second run on an unchanged host writes nothing and reports no change.
notes:
  - The P(lifeline.storage.snapshot#role) role fetches the snapshot to the controller and checks every file against the manifest.
  - C(docs/restore.md) in the collection walks through restoring md superblocks and LVM metadata from a snapshot.
seealso:
  - module: lifeline.storage.storage_facts
  - module: lifeline.storage.md_geometry_check
"""

EXAMPLES = r"""
- name: Take a metadata snapshot, keeping the newest 5 on the host
  lifeline.storage.metadata_snapshot:
    keep: 5
  register: snapshot

- name: Show where it is
  ansible.builtin.debug:
    msg: "{{ snapshot.snapshot.path }} ({{ snapshot.snapshot.files | length }} files)"
"""

RETURN = r"""
snapshot:
  description: The snapshot written by this run, or the newest existing one when nothing changed (or would be written, in check mode).
  returned: always
  type: dict
  contains:
    id:
      description:
        - The snapshot's id, C(<UTC time>-<first 8 hex digits of content_sha256>); sorts by time.
        - V(null) in check mode when a new one would be written.
      type: str
    path:
      description: Its directory on the host.
      type: str
    created:
      description: When it was written (UTC, ISO 8601).
      type: str
    content_sha256:
      description: sha256 over the paths and checksums of the non-volatile files; equal content gives equal digests.
      type: str
    files:
      description:
        - Every file, with C(path) (relative), C(sha256), C(size), C(volatile) and C(source) (the command or file it came from).
        - Volatile files change without the storage layout changing and are left out of C(content_sha256) - the facts (they
          carry ages), C(/proc/mdstat), C(mdadm --detail) of each array (state and event count), the C(vgcfgbackup)
          output (it carries its own time) and the raw bytes and md data samples of any device under a mounted file
          system.
      type: list
      elements: dict
    gaps:
      description: What could not be captured, with C(path) and C(reason) (a missing tool, a device that cannot be read).
      type: list
      elements: dict
reused:
  description: V(true) when the content equalled the newest snapshot and no new one was written.
  returned: always
  type: bool
pruned:
  description: Ids of snapshots removed by O(keep).
  returned: always
  type: list
  elements: str
removed_partials:
  description: Directories of earlier runs that died half-way, removed by this run.
  returned: always
  type: list
  elements: str
"""

import datetime
import hashlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lifeline.storage.plugins.module_utils._command import CommandRunner
from ansible_collections.lifeline.storage.plugins.module_utils._errors import CommandError
from ansible_collections.lifeline.storage.plugins.module_utils._host_files import HostFiles
from ansible_collections.lifeline.storage.plugins.module_utils._paths import relative_path_error
from ansible_collections.lifeline.storage.plugins.module_utils._snapshot_capture import SnapshotCapture
from ansible_collections.lifeline.storage.plugins.module_utils._snapshot_store import (
    MANIFEST_FORMAT,
    ScratchFiles,
    SnapshotError,
    SnapshotStore,
    complete_snapshots,
    content_digest,
    host_identity,
    read_manifest,
    snapshot_id,
)
from ansible_collections.lifeline.storage.plugins.module_utils._storage_facts import gather_storage_facts

# (tool, arguments); some print their version on stderr.
VERSION_COMMANDS = (("mdadm", ["--version"]), ("lvm", ["version"]), ("lsblk", ["--version"]), ("blkid", ["--version"]),
                    ("sfdisk", ["--version"]), ("sgdisk", ["--version"]), ("cryptsetup", ["--version"]))


def tool_versions(runner) -> dict:
    versions = {}
    for tool, args in VERSION_COMMANDS:
        if not runner.has(tool):
            versions[tool] = None
            continue
        try:
            result = runner.run(tool, args, ok_rcs=(0, 1))
        except CommandError:
            versions[tool] = None
            continue
        text = (result.stdout.strip() or result.stderr.strip()).splitlines()
        versions[tool] = text[0].strip() if text else None
    return versions


def file_entry(item, data: bytes) -> dict:
    return {"path": item.path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "volatile": item.volatile, "source": item.source}


def plan_only(module, capture, dest: str) -> None:
    """Check mode: every item read and checksummed in memory, nothing written."""
    entries = [file_entry(item, item.data) for item in capture.items()]
    digest = content_digest(entries)
    ids = complete_snapshots(dest)
    newest = read_manifest(dest, ids[-1]) if ids else None
    gaps = [gap._asdict() for gap in capture.gaps]
    if newest is not None and newest["content_sha256"] == digest:
        module.exit_json(changed=len(ids) > module.params["keep"] > 0, reused=True, pruned=[], removed_partials=[],
                         snapshot=dict(newest_summary(dest, newest), gaps=newest.get("gaps", [])))
    module.exit_json(changed=True, reused=False, pruned=[], removed_partials=[],
                     snapshot={"id": None, "path": None, "created": None, "content_sha256": digest, "files": entries, "gaps": gaps})


def newest_summary(dest: str, manifest: dict) -> dict:
    return {"id": manifest["id"], "path": "%s/%s" % (dest.rstrip("/"), manifest["id"]), "created": manifest["created"],
            "content_sha256": manifest["content_sha256"], "files": manifest["files"]}


def write_snapshot(module, runner, files, capture, dest: str) -> None:
    with SnapshotStore(dest) as store:
        removed = store.remove_partials()
        partial = store.begin()
        try:
            entries = []
            for item in capture.items():
                entry = store.add(partial, item.path, item.data)
                entry.update(volatile=item.volatile, source=item.source)
                entries.append(entry)
            digest = content_digest(entries)
            newest = store.newest()
            if newest is not None and newest["content_sha256"] == digest:
                store.discard(partial)
                pruned = store.prune(module.params["keep"])
                module.exit_json(changed=bool(removed or pruned), reused=True, pruned=pruned, removed_partials=removed,
                                 snapshot=dict(newest_summary(dest, newest), gaps=newest.get("gaps", [])))
            created = datetime.datetime.now(datetime.timezone.utc)
            manifest = {
                "format": MANIFEST_FORMAT,
                "id": snapshot_id(created.timestamp(), digest),
                "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "host": host_identity(files),
                "tool_versions": tool_versions(runner),
                "head_bytes": module.params["head_bytes"],
                "md_sample_bytes": module.params["md_sample_bytes"],
                "luks_headers": module.params["luks_header_backup"],
                "content_sha256": digest,
                "files": entries,
                "gaps": [gap._asdict() for gap in capture.gaps],
            }
            path = store.commit(partial, manifest)
        except BaseException:
            store.discard(partial)
            raise
        pruned = store.prune(module.params["keep"])
    module.exit_json(changed=True, reused=False, pruned=pruned, removed_partials=removed,
                     snapshot={"id": manifest["id"], "path": path, "created": manifest["created"], "content_sha256": digest,
                               "files": entries, "gaps": manifest["gaps"]})


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", default="/var/lib/lifeline-storage/snapshots"),
            keep=dict(type="int", default=10),
            head_bytes=dict(type="int", default=1048576),
            md_sample_bytes=dict(type="int", default=1048576),
            luks_header_backup=dict(type="bool", default=False),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    dest_error = relative_path_error("dest", module.params["dest"])
    if dest_error:
        module.fail_json(msg=dest_error)
    for name, minimum in (("keep", 0), ("head_bytes", 512), ("timeout", 1), ("md_sample_bytes", 0)):
        if module.params[name] < minimum:
            module.fail_json(msg="%s must be at least %d, got %d" % (name, minimum, module.params[name]))
    if module.params["md_sample_bytes"] % 4096:
        module.fail_json(msg="md_sample_bytes must be a multiple of 4096, got %d" % module.params["md_sample_bytes"])
    runner = CommandRunner(module, module.params["timeout"])
    files = HostFiles()
    facts = gather_storage_facts(runner, files, ["md", "lvm", "disks"])
    scratch = ScratchFiles(files)
    capture = SnapshotCapture(runner, scratch, facts, module.params["head_bytes"], module.params["luks_header_backup"],
                              module.params["md_sample_bytes"])
    try:
        if module.check_mode:
            plan_only(module, capture, module.params["dest"])
        write_snapshot(module, runner, files, capture, module.params["dest"])
    except SnapshotError as error:
        module.fail_json(msg=str(error))
    except OSError as error:
        module.fail_json(msg="writing the snapshot under %s failed: %s (%s); no partial snapshot was kept"
                         % (module.params["dest"], error.strerror or error, error.filename or ""))
    finally:
        scratch.cleanup()


if __name__ == "__main__":
    main()
