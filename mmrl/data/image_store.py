"""Images written once, as files named by their content, for the records that show them.

A run's ``rollouts/step_N.jsonl`` and an evaluation's ``samples.jsonl`` name each example's images
by a path relative to the directory of the JSON Lines file, e.g. ``images/4be1...9c.png``. The file
name is a digest of the pixels (mode, size and raw bytes of a ``PIL.Image``) or of a file's bytes,
so an image that appears in every step, on every rank, or in many samples is one file::

    store = ImageStore(run_dir / "rollouts" / "images")          # references relative to rollouts/
    store.reference(example.images[0])                          # 'images/4be1...9c.png'

PIL images are written as PNG (lossless: the file holds exactly the pixels the model saw, after
the policy's resize); an image given as a path is copied with its own extension. Files are written
to a temporary name and renamed, so processes sharing the directory never see half a file, and a
file already present is not written again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["IMAGES_DIR", "ImageStore", "image_digest", "image_reference"]

#: The folder of an image store, beside the JSON Lines files that reference it.
IMAGES_DIR = "images"

#: Hex digits of the digest kept in file names (128 bits: no collision in any real run).
_NAME_DIGITS = 32

_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def image_reference(image: Any, example_id: str, index: int) -> str:
    """A name for an image that is not stored: its path when it came from a file, else an in-row tag.

    >>> image_reference("figs/a.png", "ex/1", 0)
    'figs/a.png'
    """
    if isinstance(image, (str, Path)):
        return str(image)
    filename = getattr(image, "filename", None)
    if filename:
        return str(filename)
    size = getattr(image, "size", None)
    shape = f" {size[0]}x{size[1]}" if size else ""
    return f"{example_id}#image{index}{shape}"


def image_digest(image: Any) -> str:
    """SHA-256 hex digest of a ``PIL.Image``'s mode, size and pixels.

    >>> from PIL import Image
    >>> image_digest(Image.new("RGB", (2, 1), "red")) == image_digest(Image.new("RGB", (2, 1), "red"))
    True
    >>> image_digest(Image.new("RGB", (2, 1), "red")) == image_digest(Image.new("RGB", (1, 2), "red"))
    False
    """
    h = hashlib.sha256(f"{image.mode} {image.size[0]}x{image.size[1]}\n".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ImageStore:
    """A folder of content-named image files (see the module doc).

    Args:
        directory: Where the files go (created on first use).
        relative_to: The directory references are relative to: that of the JSON Lines file that
            holds them (default: ``directory``'s parent).
    """

    def __init__(self, directory: str | Path, relative_to: str | Path | None = None):
        self.directory = Path(directory)
        self.relative_to = Path(relative_to) if relative_to is not None else self.directory.parent
        self.unreadable = 0  # images given as paths that could not be read (kept as their path)

    def reference(self, image: Any) -> str:
        """Store ``image`` (a ``PIL.Image`` or a path) if it is not stored yet; its relative path.

        A path that is not a readable file is returned unchanged (counted in ``unreadable`` and
        logged once): a record must still be written when a source image has gone.
        """
        if isinstance(image, (str, Path)):
            name = self._copy(Path(image))
            if name is None:
                return str(image)
        elif hasattr(image, "tobytes") and hasattr(image, "save"):
            name = self._save_pil(image)
        else:
            raise TypeError(f"an image must be a PIL.Image or a path, got {type(image).__name__}")
        return Path(os.path.relpath(self.directory / name, self.relative_to)).as_posix()

    def _save_pil(self, image: Any) -> str:
        name = image_digest(image)[:_NAME_DIGITS] + ".png"
        target = self.directory / name
        if not target.exists():
            self._write(target, lambda tmp: image.save(tmp, format="PNG", compress_level=1))
        return name

    def _copy(self, path: Path) -> str | None:
        try:
            digest = _file_digest(path)
        except OSError as exc:
            if self.unreadable == 0:
                log.warning("image %s could not be read (%s); records keep its path", path, exc)
            self.unreadable += 1
            return None
        suffix = path.suffix.lower() if path.suffix.lower() in _SUFFIXES else ".img"
        name = digest[:_NAME_DIGITS] + suffix
        target = self.directory / name
        if not target.exists():
            self._write(target, lambda tmp: shutil.copyfile(path, tmp))
        return name

    def _write(self, target: Path, write: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
