"""Decode one image value from a dataset row into an RGB ``PIL.Image.Image``, or say why not.

A row can hold an image in any of the forms ``datasets`` and users produce:

* ``{"bytes": b"...", "path": "x.png"}``: how ``datasets.Image`` stores images in parquet (bytes win
  when both are set; ``path`` alone is a file path);
* a path string, absolute or relative to the data file's directory (``base_dir``);
* ``bytes``; a ``data:image/...;base64,`` URI; a ``PIL.Image.Image`` (synthetic recipes);
* an ``http(s)://`` URL, refused unless ``allow_remote=True``.

What a row may make mmrl read (``mmrl.data.load_examples`` passes ``root``, ``allow_outside=False``
and ``max_bytes`` from ``data.image_root``, ``data.allow_outside_paths`` and ``data.max_image_bytes``):

* A file path must resolve, symlinks followed, under ``root`` (the dataset's directory); an
  absolute path elsewhere, ``..``, ``~`` or a symlink out is ``image_outside_root``. That is decided
  from the path alone, before the file is looked at, so the report never tells whether a file
  outside exists.
* More than ``max_bytes`` is ``image_too_large``, known from the file's size before it is read (and
  from the bytes received for a download, which stops there).
* A download (``allow_remote``) connects only to public addresses: a host that resolves to a
  loopback, private, link-local, multicast or reserved address is refused, redirects included
  (each connection is checked). It is bounded by ``max_bytes`` and ``REMOTE_TIMEOUT_S`` seconds in
  all, and goes direct (proxy settings are not used).

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
import http.client
import io
import ipaddress
import os
import socket
import stat
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = [
    "DEFAULT_MAX_IMAGE_BYTES",
    "MAX_ASPECT_RATIO",
    "ImageProblem",
    "decode_image",
    "describe_image_value",
    "to_rgb",
]

#: Qwen-VL's ``smart_resize`` refuses images whose long side is more than 200 times the short one.
MAX_ASPECT_RATIO = 200

#: Seconds a remote image may take in all (connecting and downloading) when remote images are allowed.
REMOTE_TIMEOUT_S = 20

#: ``data.max_image_bytes``'s default: 64 MiB, far above any real dataset image.
DEFAULT_MAX_IMAGE_BYTES = 64 << 20


class ImageProblem(Exception):
    """Why an image value could not be decoded.

    Attributes:
        reason: A short code for the report table: ``image_missing``, ``image_empty``,
            ``image_corrupt``, ``image_oversized``, ``image_aspect``, ``image_too_large``,
            ``image_outside_root``, ``image_remote_refused``, ``image_remote_failed`` or
            ``image_bad_value``.
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
    value: Any,
    *,
    base_dir: str | Path | None = None,
    allow_remote: bool = False,
    root: str | Path | None = None,
    allow_outside: bool = True,
    max_bytes: int | None = None,
) -> Image.Image:
    """The RGB image a row value stands for; raises ``ImageProblem`` with a reason code.

    ``root`` and ``allow_outside=False`` confine file paths to ``root`` (every path is refused when
    ``root`` is ``None``); ``max_bytes`` bounds what is read (see the module docstring).

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
            return _from_bytes(_within(bytes(data), max_bytes, where), where)
        if path:
            return decode_image(
                path,
                base_dir=base_dir,
                allow_remote=allow_remote,
                root=root,
                allow_outside=allow_outside,
                max_bytes=max_bytes,
            )
        raise ImageProblem("image_missing", "the image struct has neither bytes nor a path", where)
    if isinstance(value, (bytes, bytearray)):
        if not value:
            raise ImageProblem("image_empty", "the image has zero bytes", where)
        return _from_bytes(_within(bytes(value), max_bytes, where), where)
    if isinstance(value, str):
        if not value.strip():
            raise ImageProblem("image_missing", "the image path is an empty string", where)
        if value.startswith("data:"):
            return _from_bytes(_within(_data_uri_bytes(value, where), max_bytes, where), where)
        if _is_url(value):
            if not allow_remote:
                raise ImageProblem(
                    "image_remote_refused",
                    "remote image URLs are refused; download the images and point the rows at local "
                    "files, or set data.allow_remote_images=true",
                    where,
                )
            return _from_bytes(_fetch(value, max_bytes), where)
        path = _resolve(value, base_dir)
        if not allow_outside:
            _check_inside(path, root, value)
        return _from_file(path, where, max_bytes)
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


def _check_inside(path: Path, root: str | Path | None, given: str) -> None:
    """Refuse ``path`` unless it resolves (symlinks followed) under ``root``. Decided from the path
    alone: the answer is the same whether a file outside exists or not."""
    if root is None:
        raise ImageProblem(
            "image_outside_root",
            "these rows have no dataset directory for image paths to live in; set data.image_root=DIR to the "
            "folder that holds the images, or data.allow_outside_paths=true to read any path",
            given,
        )
    real_root = os.path.realpath(Path(root).expanduser())
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise ImageProblem(
            "image_outside_root",
            f"the image path leads outside the dataset's directory {real_root} (an absolute path elsewhere, "
            "'..', '~' or a symlink out); set data.image_root=DIR to the folder that holds the images, or "
            "data.allow_outside_paths=true to read any path",
            given,
        )


def _too_large(size: int | str, max_bytes: int) -> str:
    return f"{size} bytes is more than data.max_image_bytes={max_bytes}"


def _within(data: bytes, max_bytes: int | None, where: str) -> bytes:
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageProblem("image_too_large", _too_large(len(data), max_bytes), where)
    return data


def _public_socket(host: str, port: int, timeout: float | None) -> socket.socket:
    """A connection to ``host``, made only to an address that is public (refused otherwise)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from None
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        ip = ipaddress.ip_address(address[0])
        if not _is_public(ip):
            raise _RefusedAddress(
                f"{host} resolves to {ip}, a loopback, private, link-local or reserved address"
            )
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


class _RefusedAddress(OSError):
    """A download would have connected to an address that is not public."""


class _PublicHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _public_socket(self.host, self.port, self.timeout)


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = _public_socket(self.host, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(_PublicHTTPSConnection, req)


def _fetch(url: str, max_bytes: int | None) -> bytes:
    """The bytes at ``url``: public addresses only, at most ``max_bytes``, ``REMOTE_TIMEOUT_S`` in all."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _PublicHTTPHandler(), _PublicHTTPSHandler()
    )
    deadline = time.monotonic() + REMOTE_TIMEOUT_S
    try:
        with opener.open(url, timeout=REMOTE_TIMEOUT_S) as resp:
            declared = resp.headers.get("Content-Length")
            if (
                max_bytes is not None
                and declared is not None
                and declared.isdigit()
                and int(declared) > max_bytes
            ):
                raise ImageProblem("image_too_large", _too_large(declared, max_bytes), url)
            chunks, received = [], 0
            while chunk := resp.read(1 << 16):
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    raise ImageProblem(
                        "image_too_large", f"more than data.max_image_bytes={max_bytes} bytes", url
                    )
                if time.monotonic() > deadline:
                    raise ImageProblem(
                        "image_remote_failed", f"the download took more than {REMOTE_TIMEOUT_S} s", url
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except ImageProblem:
        raise
    except Exception as exc:  # network errors come in many types; all mean the same here
        refused = exc if isinstance(exc, _RefusedAddress) else getattr(exc, "reason", None)
        if isinstance(refused, _RefusedAddress):
            raise ImageProblem(
                "image_remote_refused", f"{refused}; only public addresses are fetched", url
            ) from None
        raise ImageProblem("image_remote_failed", f"download failed: {exc}", url) from None


def _from_file(path: Path, where: str, max_bytes: int | None = None) -> Image.Image:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageProblem("image_missing", "the image file does not exist", where) from None
    except OSError as exc:
        raise ImageProblem(
            "image_missing", f"the image file cannot be read ({exc.strerror})", where
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageProblem("image_missing", "the image path is a directory", where)
    if not stat.S_ISREG(info.st_mode):
        raise ImageProblem("image_missing", "the image path is not a regular file", where)
    if info.st_size == 0:
        raise ImageProblem("image_empty", "the image file has zero bytes", where)
    if max_bytes is not None and info.st_size > max_bytes:
        raise ImageProblem("image_too_large", _too_large(info.st_size, max_bytes), where)
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1 if max_bytes is not None else -1)
    return _from_bytes(_within(data, max_bytes, where), where)


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
