"""Decode one image value from a dataset row into an RGB ``PIL.Image.Image``, or say why not.

A row can hold an image in any of the forms ``datasets`` and users produce:

* ``{"bytes": b"...", "path": "x.png"}``: how ``datasets.Image`` stores images in parquet (bytes win
  when both are set; ``path`` alone is a file path);
* a path string, absolute or relative to the data file's directory (``base_dir``);
* ``bytes``; a ``data:image/...;base64,`` URI; a ``PIL.Image.Image`` (synthetic recipes);
* an ``http(s)://`` URL, refused unless ``allow_remote=True``.

What is kept from PIL: its decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89M
pixels by default). Anything above it is reported as ``image_oversized``, including the band where
PIL only warns. Truncated files stay errors (``LOAD_TRUNCATED_IMAGES`` is never switched on).

Conversion to RGB: an image with transparency is composited on white (a transparent chart drawn
black-on-clear stays readable; a plain ``convert("RGB")`` would make it black-on-black), 16-bit and
float greyscale is rescaled to 0..255, everything else goes through ``Image.convert("RGB")``.
Images are not resized here; the policy adapter resizes them to ``[min_pixels, max_pixels]``.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import urllib.request
import warnings
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = ["MAX_ASPECT_RATIO", "ImageProblem", "decode_image", "describe_image_value", "to_rgb"]

#: Qwen-VL's ``smart_resize`` refuses images whose long side is more than 200 times the short one.
MAX_ASPECT_RATIO = 200

#: Seconds to wait for a remote image when remote images are allowed.
REMOTE_TIMEOUT_S = 20


class ImageProblem(Exception):
    """Why an image value could not be decoded.

    Attributes:
        reason: A short code for the report table: ``image_missing``, ``image_empty``,
            ``image_corrupt``, ``image_oversized``, ``image_aspect``, ``image_remote_refused``,
            ``image_remote_failed`` or ``image_bad_value``.
        detail: A sentence for a human, without the path.
        path: The file, URL or description of the value the problem is about.
    """

    def __init__(self, reason: str, detail: str, path: str):
        super().__init__(reason, detail, path)
        self.reason, self.detail, self.path = reason, detail, path

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail} ({self.path})"


def describe_image_value(value: Any, base_dir: str | Path | None = None) -> str:
    """A short reference to an image value for logs and reports (a path, a URL, or its kind)."""
    if isinstance(value, dict):
        path = value.get("path")
        if value.get("bytes"):
            return f"<{len(value['bytes'])} bytes{', ' + str(path) if path else ''}>"
        return describe_image_value(path, base_dir) if path else "<empty image struct>"
    if isinstance(value, str):
        if value.startswith("data:"):
            return "<data URI>"
        if _is_url(value):
            return value
        return str(_resolve(value, base_dir))
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, Image.Image):
        return f"<PIL {value.mode} {value.width}x{value.height}>"
    return f"<{type(value).__name__}>"


def decode_image(
    value: Any, *, base_dir: str | Path | None = None, allow_remote: bool = False
) -> Image.Image:
    """The RGB image a row value stands for; raises ``ImageProblem`` with a reason code.

    >>> img = decode_image(Image.new("RGBA", (4, 3), (0, 0, 0, 0)))
    >>> img.mode, img.size, img.getpixel((0, 0))
    ('RGB', (4, 3), (255, 255, 255))
    """
    where = describe_image_value(value, base_dir)
    if isinstance(value, Image.Image):
        return _checked_rgb(value, where)
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data:
            return _from_bytes(bytes(data), where)
        if path:
            return decode_image(path, base_dir=base_dir, allow_remote=allow_remote)
        raise ImageProblem("image_missing", "the image struct has neither bytes nor a path", where)
    if isinstance(value, (bytes, bytearray)):
        if not value:
            raise ImageProblem("image_empty", "the image has zero bytes", where)
        return _from_bytes(bytes(value), where)
    if isinstance(value, str):
        if not value.strip():
            raise ImageProblem("image_missing", "the image path is an empty string", where)
        if value.startswith("data:"):
            return _from_bytes(_data_uri_bytes(value, where), where)
        if _is_url(value):
            if not allow_remote:
                raise ImageProblem(
                    "image_remote_refused",
                    "remote image URLs are refused; download the images and point the rows at local "
                    "files, or set data.allow_remote_images=true",
                    where,
                )
            return _from_bytes(_fetch(value), where)
        return _from_file(_resolve(value, base_dir), where)
    if value is None:
        raise ImageProblem("image_missing", "the image value is null", where)
    raise ImageProblem(
        "image_bad_value",
        f"cannot read an image from a {type(value).__name__}; use a path, bytes or {{'bytes', 'path'}}",
        where,
    )


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB: alpha composited on white, 16-bit/float greyscale rescaled to 0..255."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        import numpy as np

        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        return Image.fromarray(scaled.round().astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# --------------------------------------------------------------------------------------------


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _resolve(path: str, base_dir: str | Path | None) -> Path:
    p = Path(os.path.expanduser(path))
    if p.is_absolute() or base_dir is None:
        return p
    return Path(base_dir) / p


def _data_uri_bytes(uri: str, where: str) -> bytes:
    header, _, payload = uri.partition(",")
    if ";base64" not in header:
        raise ImageProblem("image_bad_value", "only base64 data URIs are supported", where)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageProblem("image_corrupt", f"the data URI is not valid base64 ({exc})", where) from None


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=REMOTE_TIMEOUT_S) as resp:
            return resp.read()
    except Exception as exc:  # network errors come in many types; all mean the same here
        raise ImageProblem("image_remote_failed", f"download failed: {exc}", url) from None


def _from_file(path: Path, where: str) -> Image.Image:
    if not path.exists():
        raise ImageProblem("image_missing", "the image file does not exist", where)
    if path.is_dir():
        raise ImageProblem("image_missing", "the image path is a directory", where)
    if path.stat().st_size == 0:
        raise ImageProblem("image_empty", "the image file has zero bytes", where)
    return _from_bytes(path.read_bytes(), where)


def _from_bytes(data: bytes, where: str) -> Image.Image:
    if not data:
        raise ImageProblem("image_empty", "the image has zero bytes", where)
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # PIL warns between MAX_IMAGE_PIXELS and twice that, and raises above; both are "too big".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem(
            "image_oversized", f"more pixels than PIL's decompression-bomb limit ({limit}): {exc}", where
        ) from None
    except Image.UnidentifiedImageError:
        raise ImageProblem("image_corrupt", "not an image file PIL can identify", where) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageProblem("image_corrupt", f"cannot decode the image ({exc})", where) from None
    return _checked_rgb(image, where)


def _checked_rgb(image: Image.Image, where: str) -> Image.Image:
    width, height = image.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageProblem(
            "image_oversized",
            f"{width}x{height} is more pixels than PIL's decompression-bomb limit ({limit})",
            where,
        )
    if width < 1 or height < 1:
        raise ImageProblem("image_corrupt", f"the image has size {width}x{height}", where)
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageProblem(
            "image_aspect",
            f"{width}x{height} has an aspect ratio above {MAX_ASPECT_RATIO}, which Qwen-VL's resize refuses",
            where,
        )
    return to_rgb(image)
