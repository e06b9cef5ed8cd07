"""Image decoding: every storage form, and each value that is no image with its reason and path.

Unreadable files and degenerate images (bombs, extreme aspect ratios, CMYK/RGBA/16-bit) are in
``tests/reliability/test_image_rows.py`` and ``tests/reliability/test_images.py``, which use the
builders here."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from mmrl.data.images import ImageProblem, decode_image, describe_image_value


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A 68-byte PNG whose header claims ``width`` x ``height`` (PIL checks the size at open)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + chunk(b"IEND", b"")
    )


RED = Image.new("RGB", (5, 4), (255, 0, 0))


def test_every_storage_form_decodes_to_the_same_rgb_pixels(tmp_path):
    data = png_bytes(RED)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "red.png").write_bytes(data)
    forms = [
        RED,
        data,
        {"bytes": data, "path": "ignored.png"},  # datasets.Image storage: bytes win
        {"bytes": None, "path": "img/red.png"},  # path only, relative to base_dir
        "img/red.png",
        str(tmp_path / "img" / "red.png"),
        "data:image/png;base64," + base64.b64encode(data).decode(),
    ]
    for value in forms:
        img = decode_image(value, base_dir=tmp_path)
        assert img.mode == "RGB" and img.size == (5, 4)
        assert img.getpixel((2, 2)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: "https://example.com/chart.png", "image_remote_refused"),
        (lambda d: {"bytes": None, "path": None}, "image_missing"),
        (lambda d: None, "image_missing"),
        (lambda d: 42, "image_bad_value"),
        (lambda d: "data:image/png;base64,@@@", "image_corrupt"),
    ],
)
def test_each_failure_has_its_reason_and_names_the_file(tmp_path, make, reason):
    assert_image_problem(make(tmp_path), tmp_path, reason)


def write_file(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def assert_image_problem(value, base_dir, reason) -> None:
    """Decoding ``value`` fails with ``reason``, naming the file when the value is a path."""
    with pytest.raises(ImageProblem) as info:
        decode_image(value, base_dir=base_dir)
    assert info.value.reason == reason
    if isinstance(value, str) and not value.startswith("data:"):
        assert info.value.path.endswith(value.rsplit("/", 1)[-1])


def test_describe_image_value(tmp_path):
    assert describe_image_value("a.png", tmp_path) == str(tmp_path / "a.png")
    assert describe_image_value({"bytes": b"123", "path": "x.png"}) == "<3 bytes, x.png>"
    assert describe_image_value(RED) == "<PIL RGB 5x4>"
