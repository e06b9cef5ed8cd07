"""Image resizing and prompt normalisation: pure functions, no model."""

import pytest
from PIL import Image

from mmrl.policy.text import text_messages
from mmrl.policy.vision import resize_image, vision_messages
from mmrl.testing import tiny_image
from mmrl.types import Example


@pytest.mark.parametrize(
    "size, factor, min_pixels, max_pixels",
    [
        ((300, 200), 28, 28 * 28 * 4, 28 * 28 * 64),
        ((31, 900), 28, 3136, 200_000),
        ((640, 480), 32, 4096, 65536),
    ],
)
def test_resize_bounds_multiples_and_idempotence(size, factor, min_pixels, max_pixels):
    resized = resize_image(tiny_image(0, size), min_pixels, max_pixels, factor)
    w, h = resized.size
    assert w % factor == 0 and h % factor == 0
    assert min_pixels <= w * h <= max_pixels
    again = resize_image(resized, min_pixels, max_pixels, factor)
    assert again is resized  # resizing twice changes nothing: "resized once"


def test_resize_converts_modes_and_loads_paths(tmp_path):
    rgba = Image.new("RGBA", (56, 56), (10, 20, 30, 0))
    out = resize_image(rgba, 3136, 3136, 28)
    assert out.mode == "RGB" and out.size == (56, 56)
    assert out.getpixel((0, 0)) == (255, 255, 255)  # transparent pixels composited on white
    path = tmp_path / "img.png"
    tiny_image(1, (84, 56)).save(path)
    assert resize_image(str(path), 3136, 10_000, 28).size == (84, 56)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        resize_image(tmp_path / "missing.png", 3136, 10_000, 28)


def test_resize_refuses_extreme_aspect_ratio():
    with pytest.raises(ValueError, match="aspect ratio"):
        resize_image(Image.new("RGB", (5000, 10)), 3136, 10**6, 28)


def _example(prompt, images=()):
    return Example(id="ex1", task="math", prompt=prompt, answer="1", images=images)


def test_vision_messages_from_markers_and_parts():
    img = tiny_image(0)
    msgs = vision_messages(_example("Compare <image> with <image>.", (img, img)))
    assert msgs == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare "},
                {"type": "image"},
                {"type": "text", "text": " with "},
                {"type": "image"},
                {"type": "text", "text": "."},
            ],
        }
    ]
    # no marker: images go first
    assert vision_messages(_example("What is it?", (img,)))[0]["content"][0] == {"type": "image"}
    assert vision_messages(_example("text only")) == [{"role": "user", "content": "text only"}]
    with pytest.raises(ValueError, match="ex1.*1 image placeholder.*2 image"):
        vision_messages(_example([{"role": "user", "content": [{"type": "image"}]}], (img, img)))


def test_text_messages_join_parts_and_refuse_images():
    parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert text_messages(_example(parts)) == [{"role": "user", "content": "ab"}]
    with pytest.raises(ValueError, match="text-only"):
        text_messages(_example("<image> x", (tiny_image(0),)))
    with pytest.raises(ValueError, match="'image' content part"):
        text_messages(_example([{"role": "user", "content": [{"type": "image"}]}]))
