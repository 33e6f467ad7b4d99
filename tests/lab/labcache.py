# Copyright: lifeline.storage contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image cache: one directory per recipe hash, built in a temp dir and renamed into place."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labhost import BuildError, remove_tree_safely
from labimage import BUILD_INFO, INITRD, KERNEL, KEY_NAME, OUTPUT_FILES, ROOT_IMG, Reporter, build_into
from labumlimage import UmlKernel, build_uml_root, cached_uml_kernel, fetch_uml_kernel

# Files (relative to this directory) whose content shapes the image: the recipe only.
IMAGE_SOURCE_FILES = ("labimage.py",)


@dataclass(frozen=True)
class Image:
    """A complete, cached guest image."""

    directory: Path

    @property
    def root_img(self) -> Path:
        return self.directory / ROOT_IMG

    @property
    def kernel(self) -> Path:
        return self.directory / KERNEL

    @property
    def initrd(self) -> Path:
        return self.directory / INITRD

    @property
    def private_key(self) -> Path:
        return self.directory / KEY_NAME

    @property
    def build_info_file(self) -> Path:
        return self.directory / BUILD_INFO

    def build_info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(self.build_info_file.read_text())
        return info

    def is_complete(self) -> bool:
        return all((self.directory / name).is_file() for name in OUTPUT_FILES)


def image_source_hash(lab_dir: Path | None = None, source_files: tuple[str, ...] = IMAGE_SOURCE_FILES) -> str:
    """sha256 over the recipe's source, the key of the image cache."""
    lab_dir = lab_dir or Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in source_files:
        digest.update(name.encode() + b"\0")
        digest.update((lab_dir / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cached_image(cache_root: Path) -> Image:
    """The image this source would build (complete or not)."""
    return Image(cache_root / f"image-{image_source_hash()}")


@contextmanager
def build_lock(cache_root: Path) -> Iterator[None]:
    """One build at a time per cache: a second `lab build` waits for the first."""
    cache_root.mkdir(parents=True, exist_ok=True)
    with (cache_root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def remove_abandoned_builds(cache_root: Path) -> None:
    """Temp dirs of builds whose process is gone (interrupted) are deleted."""
    for tmp in cache_root.glob(".build-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and Path(f"/proc/{pid}").exists() and int(pid) != os.getpid():
            continue
        remove_tree_safely(tmp)


def prune_images(cache_root: Path) -> list[Path]:
    """Delete cached images other than this source's, and abandoned build dirs."""
    keep = cached_image(cache_root).directory
    removed = []
    with build_lock(cache_root):
        remove_abandoned_builds(cache_root)
        for directory in sorted(cache_root.glob("image-*")):
            if directory != keep:
                remove_tree_safely(directory)
                removed.append(directory)
    return removed


def uml_root_image(cache_root: Path, report: Reporter) -> tuple[UmlKernel, Path]:
    """The UML kernel and the UML variant of this source's image, fetched and built first if missing.

    The variant is keyed by its own recipe (labumlimage.py) and the kernel's package version,
    inside the base image's directory, which is keyed by the base recipe: a change to any of
    them builds a new variant.
    """
    image = cached_image(cache_root)
    with build_lock(cache_root):  # a concurrent run may be fetching or building the same
        kernel = cached_uml_kernel(cache_root) or fetch_uml_kernel(cache_root, report)
        recipe = image_source_hash(source_files=("labumlimage.py",))
        variant = image.directory / f"uml-{recipe}-{kernel.package_version}.img"
        if not variant.is_file():
            build_uml_root(image.root_img, kernel, variant, report)
    return kernel, variant


def build_image(cache_root: Path, report: Reporter, force: bool = False) -> Image:
    """Return the cached image for this source, building it first if it is not there."""
    image = cached_image(cache_root)
    if image.is_complete() and not force:
        return image
    with build_lock(cache_root):
        if image.is_complete() and not force:  # built by a concurrent `lab build`
            return image
        remove_abandoned_builds(cache_root)
        workdir = cache_root / f".build-{image.directory.name}-{os.getpid()}"
        if workdir.exists():
            remove_tree_safely(workdir)
        workdir.mkdir(parents=True)
        try:
            _build_keeping_failed_log(workdir, cache_root, report)
            if image.directory.exists():
                remove_tree_safely(image.directory)
            workdir.rename(image.directory)  # atomic: a half-built image is never seen as complete
        finally:
            if workdir.exists():
                remove_tree_safely(workdir)
    return image


def _build_keeping_failed_log(workdir: Path, cache_root: Path, report: Reporter) -> None:
    """Build; on failure keep the build log outside the temp dir, which is about to go."""
    try:
        info = build_into(workdir, report)
    except BuildError as exc:
        kept_log = cache_root / "failed-build.log"
        if (workdir / "build.log").is_file():
            shutil.copyfile(workdir / "build.log", kept_log)
        raise BuildError(f"{exc}\n(full log: {kept_log})") from exc
    (workdir / "build.log").unlink()
    info["source_hash"] = image_source_hash()
    (workdir / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
