"""ImageStore: one file per distinct image, named by content, referenced relative to the records."""

from __future__ import annotations

import pytest
from PIL import Image

from mmrl.data.image_store import ImageStore, image_digest
from mmrl.testing import tiny_image


def test_same_pixels_are_one_file_and_different_pixels_another(tmp_path):
    store = ImageStore(tmp_path / "rollouts" / "images")
    a, a_again, b = tiny_image(0), tiny_image(0), tiny_image(1)
    assert a is not a_again
    ref = store.reference(a)
    assert ref.startswith("images/") and ref.endswith(".png")
    assert store.reference(a_again) == ref  # equal pixels, another object: the same file
    assert store.reference(b) != ref
    assert sorted(p.name for p in (tmp_path / "rollouts" / "images").iterdir()) == sorted(
        [ref.split("/")[1], store.reference(b).split("/")[1]]
    )
    with Image.open(tmp_path / "rollouts" / ref) as back:  # lossless: the very pixels
        assert back.convert("RGB").tobytes() == a.tobytes()


def test_the_digest_covers_mode_and_size_not_only_bytes():
    # 2x1 and 1x2 images with the same six bytes are different images
    assert image_digest(Image.new("RGB", (2, 1))) != image_digest(Image.new("RGB", (1, 2)))
    assert image_digest(Image.new("L", (3, 1))) != image_digest(Image.new("RGB", (1, 1)))


def test_an_existing_file_is_not_written_again(tmp_path):
    store = ImageStore(tmp_path / "images")
    ref = store.reference(tiny_image(0))
    path = tmp_path / ref
    before = path.stat().st_mtime_ns
    path.chmod(0o444)  # a rewrite would fail
    assert ImageStore(tmp_path / "images").reference(tiny_image(0)) == ref
    assert path.stat().st_mtime_ns == before
    assert not [p for p in (tmp_path / "images").iterdir() if p.name.endswith(".tmp")]


def test_references_are_relative_to_the_records_directory(tmp_path):
    store = ImageStore(tmp_path / "validation" / "images", relative_to=tmp_path / "validation" / "step_4")
    ref = store.reference(tiny_image(2))
    assert ref.startswith("../images/")
    (tmp_path / "validation" / "step_4").mkdir()  # where samples.jsonl is written
    assert (tmp_path / "validation" / "step_4" / ref).is_file()


def test_a_path_is_copied_by_content_and_an_unreadable_one_is_kept_as_its_path(tmp_path, caplog):
    source = tmp_path / "figure.JPG"
    tiny_image(3).save(source, format="JPEG")
    store = ImageStore(tmp_path / "out" / "images")
    ref = store.reference(str(source))
    assert ref.endswith(".jpg") and (tmp_path / "out" / ref).read_bytes() == source.read_bytes()
    assert store.reference(source) == ref  # Path or str, same file
    assert store.reference("gone/figure.png") == "gone/figure.png"
    assert store.reference("gone/other.png") == "gone/other.png"
    assert store.unreadable == 2
    assert sum("could not be read" in r.message for r in caplog.records) == 1  # logged once


def test_other_values_are_refused_with_their_type(tmp_path):
    with pytest.raises(TypeError, match="bytes"):
        ImageStore(tmp_path).reference(b"\x89PNG")
