"""Images stay inside the dataset: a row cannot make mmrl read, or tell about, a file elsewhere;
sizes are bounded before anything is read; downloads go to public addresses only, bounded.
Degenerate images (decompression bombs, tiny ones, extreme aspect ratios, CMYK/RGBA/16-bit) are
skipped with a reason or come out as RGB within ``[data.min_pixels, data.max_pixels]``."""

from __future__ import annotations

import builtins
import contextlib
import http.server
import io
import json
import os
import threading

import pytest
from PIL import Image, ImageFile

import mmrl.data.images as images
from mmrl.data import DataValidationError, load_examples
from mmrl.data.images import ImageProblem, decode_image
from tests.unit.data.test_images import assert_image_problem, png_bytes, png_header_only, write_file


def png(color=(0, 128, 255), size=(8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def dataset(tmp_path):
    """``data/rows.jsonl`` with ``data/img/ok.png``; ``outside/secret.png`` is a real image elsewhere."""
    (tmp_path / "data" / "img").mkdir(parents=True)
    (tmp_path / "data" / "img" / "ok.png").write_bytes(png())
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.png").write_bytes(png((255, 0, 0)))
    return tmp_path


def _load(root, image_values, **kwargs):
    rows = [
        {"id": f"r{i}", "question": "<image>What?", "answer": "1", "image": v}
        for i, v in enumerate(image_values)
    ]
    rows.append({"id": "plain", "question": "What is 1+0?", "answer": "1"})
    path = root / "data" / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_examples("jsonl", path=str(path), max_bad_fraction=1.0, **kwargs)


def _issues(data):
    return {i.row_index: (i.reason, i.detail) for i in data.report.issues}


def test_image_paths_outside_the_dataset_are_bad_rows_that_never_tell_whether_the_file_exists(dataset):
    outside = dataset / "outside"
    data = _load(
        dataset,
        [
            str(outside / "secret.png"),
            str(outside / "no-such.png"),
            "../outside/secret.png",
            "../outside/none.png",
        ],
    )
    issues = _issues(data)
    assert {reason for reason, _ in issues.values()} == {"image_outside_root"}
    assert len(issues) == 4 and len({detail for _, detail in issues.values()}) == 1, "same words, file or not"
    assert "data.image_root" in issues[0][1] and "data.allow_outside_paths=true" in issues[0][1]
    assert data.report.kept == 1


def test_a_home_relative_image_path_outside_the_dataset_is_a_bad_row(dataset, monkeypatch):
    monkeypatch.setenv("HOME", str(dataset / "outside"))
    assert _issues(_load(dataset, ["~/secret.png"]))[0][0] == "image_outside_root"


def test_a_symlink_out_of_the_dataset_is_a_bad_row(dataset):
    os.symlink(dataset / "outside" / "secret.png", dataset / "data" / "img" / "link.png")
    os.symlink(dataset / "outside", dataset / "data" / "img" / "dir-link")
    data = _load(dataset, ["img/link.png", "img/dir-link/secret.png"])
    assert [reason for reason, _ in _issues(data).values()] == ["image_outside_root"] * 2


def test_images_inside_the_dataset_or_under_data_image_root_load(dataset):
    os.symlink(dataset / "data" / "img" / "ok.png", dataset / "data" / "inner-link.png")  # inside: fine
    data = _load(
        dataset,
        ["img/ok.png", str(dataset / "data" / "img" / "ok.png"), "inner-link.png", "img/../img/ok.png"],
    )
    assert data.report.clean and data.report.kept == 5
    elsewhere = _load(dataset, [str(dataset / "outside" / "secret.png")], image_root=str(dataset / "outside"))
    assert elsewhere.report.clean
    # ... and with image_root set, the dataset's own directory is no longer the root
    assert (
        _issues(_load(dataset, ["img/ok.png"], image_root=str(dataset / "outside")))[0][0]
        == "image_outside_root"
    )


def test_allow_outside_paths_reads_them(dataset):
    data = _load(dataset, ["../outside/secret.png"], allow_outside_paths=True)
    assert data.report.clean and data[0].images[0].getpixel((0, 0)) == (255, 0, 0)


def test_data_image_root_and_allow_outside_paths_reach_the_loader_from_the_config(dataset):
    from mmrl.config import load_config
    from mmrl.data import load_from_config

    _load(dataset, ["../outside/secret.png"])  # writes the rows
    cfg = load_config(None, ["data.recipe=jsonl", f"data.path={dataset / 'data' / 'rows.jsonl'}"])
    with pytest.raises(DataValidationError, match="image_outside_root"):
        load_from_config(cfg.data)
    for override in ("data.allow_outside_paths=true", f"data.image_root={dataset}"):
        cfg = load_config(
            None, ["data.recipe=jsonl", f"data.path={dataset / 'data' / 'rows.jsonl'}", override]
        )
        assert load_from_config(cfg.data).report.clean


def test_generated_rows_with_file_paths_need_an_image_root():
    with pytest.raises(ImageProblem, match="no dataset directory") as info:
        decode_image("/etc/hostname", root=None, allow_outside=False)
    assert info.value.reason == "image_outside_root"


def test_an_image_file_over_max_image_bytes_is_refused_before_it_is_read(dataset, monkeypatch):
    big = dataset / "data" / "img" / "huge.png"
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # a 1 GiB sparse file: costs no disk, would cost 1 GiB of memory to read
    opened, real_open = [], builtins.open

    def spy(*args, **kwargs):
        opened.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(images, "open", spy, raising=False)
    data = _load(dataset, ["img/huge.png"])
    reason, detail = _issues(data)[0]
    assert reason == "image_too_large" and "data.max_image_bytes=67108864" in detail
    assert opened == []
    small = _load(dataset, ["img/ok.png"], max_image_bytes=20)
    assert _issues(small)[0][0] == "image_too_large"


def test_image_bytes_in_a_row_over_max_image_bytes_are_refused():
    with pytest.raises(ImageProblem) as info:
        decode_image({"bytes": png(), "path": None}, max_bytes=10)
    assert info.value.reason == "image_too_large"


# -- degenerate images -------------------------------------------------------------------------


@pytest.mark.reliability(8)
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: write_file(d / "bomb.png", png_header_only(20000, 20000)), "image_oversized"),
        (lambda d: write_file(d / "warn.png", png_header_only(10000, 9500)), "image_oversized"),
        (lambda d: write_file(d / "thin.png", png_bytes(Image.new("RGB", (1, 300)))), "image_aspect"),
    ],
)
def test_a_decompression_bomb_or_an_extreme_aspect_ratio_has_its_reason_and_names_the_file(
    tmp_path, make, reason
):
    assert_image_problem(make(tmp_path), tmp_path, reason)


@pytest.mark.reliability(8)
def test_pil_limit_is_read_at_call_time(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageProblem) as info:
        decode_image(png_bytes(Image.new("RGB", (20, 20))))
    assert info.value.reason == "image_oversized"


@pytest.mark.reliability(8)
def test_transparency_is_composited_on_white_and_greyscale_16_bit_is_rescaled():
    clear = Image.new("RGBA", (3, 3), (0, 0, 0, 0))
    assert decode_image(clear).getpixel((1, 1)) == (255, 255, 255)
    half = Image.new("LA", (2, 2), (0, 128))
    assert decode_image(half).getpixel((0, 0)) == (127, 127, 127)
    deep = Image.new("I;16", (2, 1))
    deep.putpixel((0, 0), 0)
    deep.putpixel((1, 0), 65535)
    out = decode_image(png_bytes(deep))
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((1, 0)) == (255, 255, 255)
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))
    assert decode_image(cmyk).getpixel((0, 0)) == (255, 0, 0)


#: The pixel bounds of the policy below: 4 to 16 merged 28x28 patches, so at most 16 image tokens.
MIN_PIXELS, MAX_PIXELS = 28 * 28 * 4, 28 * 28 * 16


@pytest.fixture
def degenerate_rows(tmp_path):
    """``rows.jsonl``: one image row per degenerate kind, in the order of ``files``."""
    img = tmp_path / "img"
    img.mkdir()
    (img / "bomb.png").write_bytes(png_header_only(20000, 20000))  # 68 bytes claiming 400M pixels
    Image.new("RGB", (1, 300), (0, 0, 255)).save(img / "thin.png")
    Image.new("RGB", (10, 10), (0, 255, 0)).save(img / "tiny.png")
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(img / "cmyk.jpg", quality=95)
    Image.new("RGBA", (30, 40), (0, 0, 0, 0)).save(img / "rgba.png")
    deep = Image.new("I;16", (64, 48), 0)
    deep.paste(65535, (32, 0, 64, 48))  # left half black, right half white, in 16 bits
    deep.save(img / "deep.png")
    files = ["bomb.png", "thin.png", "tiny.png", "cmyk.jpg", "rgba.png", "deep.png"]
    rows = [
        {"id": name.split(".")[0], "question": "<image>What is shown?", "answer": "1", "image": f"img/{name}"}
        for name in files
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.reliability(8)
def test_degenerate_images_are_skipped_with_a_reason_or_come_out_rgb_within_the_pixel_bounds(
    degenerate_rows, monkeypatch
):
    from mmrl.policy import VisionPolicy
    from mmrl.testing import tiny_vl_model

    real_load = ImageFile.ImageFile.load

    def load(image):  # the bomb must be refused from its header, never decoded (1.2 GB of RGB)
        assert image.size[0] * image.size[1] < 10**7, f"decoding a {image.size} image"
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    data = load_examples("jsonl", path=str(degenerate_rows), max_bad_fraction=1.0)
    issues = {i.row_index: (i.reason, i.detail) for i in data.report.issues}
    assert issues.keys() == {0, 1}
    assert issues[0][0] == "image_oversized" and "decompression-bomb limit" in issues[0][1]
    assert issues[1][0] == "image_aspect" and "1x300 has an aspect ratio above 200" in issues[1][1]

    policy = VisionPolicy(*tiny_vl_model("qwen2_vl", seed=0), MIN_PIXELS, MAX_PIXELS)
    out = {}
    for example in data:
        prompt = policy.encode(example)
        (image,) = prompt.example.images
        width, height = image.size
        assert image.mode == "RGB" and width % 28 == 0 and height % 28 == 0, (example.id, image)
        assert MIN_PIXELS <= width * height <= MAX_PIXELS, (example.id, image.size)
        image_tokens = prompt.prompt_ids.count(policy.image_token_id)
        assert image_tokens == width * height // (28 * 28) <= MAX_PIXELS // (28 * 28)
        out[example.id.rsplit("/", 1)[1]] = image
    assert list(out) == ["tiny", "cmyk", "rgba", "deep"]
    assert out["tiny"].size == (56, 56)  # 10x10 scaled up to min_pixels
    assert out["tiny"].getpixel((28, 28)) == (0, 255, 0)
    r, g, b = out["cmyk"].getpixel((10, 10))
    assert r > 200 and g < 60 and b < 60  # CMYK (0, 255, 255, 0) is red
    assert out["rgba"].getpixel((10, 10)) == (255, 255, 255)  # transparent on white, not black
    assert out["deep"].getpixel((5, 5)) == (0, 0, 0) and out["deep"].getpixel((50, 40)) == (255, 255, 255)


# -- downloads ---------------------------------------------------------------------------------


class _Server:
    """A local HTTP server whose handler is ``respond(handler)``; counts the requests it got."""

    def __init__(self, respond):
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                respond(self)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(respond):
        servers.append(_Server(respond))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _send(body: bytes, length: int | None = None):
    def respond(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.wfile.write(body)

    return respond


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/a.png",
        "http://192.168.1.1/a.png",
        "http://[::1]/a.png",
        "http://0.0.0.0/a.png",
    ],
)
def test_remote_images_from_link_local_private_or_loopback_addresses_are_refused(url):
    with pytest.raises(ImageProblem) as info:
        decode_image(url, allow_remote=True)
    assert info.value.reason == "image_remote_refused" and "public addresses" in info.value.detail


def test_a_remote_image_on_localhost_is_refused_without_a_request(serve):
    server = serve(_send(png()))
    with pytest.raises(ImageProblem) as info:
        decode_image(f"{server.url}/a.png", allow_remote=True)
    assert info.value.reason == "image_remote_refused" and "127.0.0.1" in info.value.detail
    assert server.requests == 0


@pytest.fixture
def localhost_is_public(monkeypatch):
    """Let the tests' own server (127.0.0.1 only) stand for a public host."""
    real = images._is_public
    monkeypatch.setattr(images, "_is_public", lambda ip: str(ip) == "127.0.0.1" or real(ip))


def test_a_redirect_to_a_private_address_is_refused(serve, localhost_is_public):
    target = serve(_send(png()))

    def redirect(handler):
        handler.send_response(302)
        handler.send_header("Location", target.url.replace("127.0.0.1", "127.0.0.2") + "/a.png")
        handler.end_headers()

    server = serve(redirect)
    with pytest.raises(ImageProblem) as info:
        decode_image(f"{server.url}/a.png", allow_remote=True)
    assert info.value.reason == "image_remote_refused" and "127.0.0.2" in info.value.detail
    assert server.requests == 1 and target.requests == 0


def test_a_public_remote_image_still_loads(serve, localhost_is_public):
    server = serve(_send(png((9, 8, 7))))
    assert decode_image(f"{server.url}/a.png", allow_remote=True).getpixel((0, 0)) == (9, 8, 7)


@pytest.mark.parametrize("declared", [True, False])
def test_a_remote_image_over_max_image_bytes_is_cut_off(serve, localhost_is_public, declared):
    body = b"x" * 200_000
    server = serve(_send(body, len(body) if declared else None))
    with pytest.raises(ImageProblem) as info:
        decode_image(f"{server.url}/a.png", allow_remote=True, max_bytes=100_000)
    assert info.value.reason == "image_too_large"


def test_a_remote_image_that_takes_too_long_is_abandoned(serve, localhost_is_public, monkeypatch):
    server = serve(_send(b"x" * 300_000))
    clock = iter(range(0, 10_000, 15))  # every look at the clock: 15 s later
    monkeypatch.setattr(images.time, "monotonic", lambda: next(clock))
    with pytest.raises(ImageProblem) as info:
        decode_image(f"{server.url}/a.png", allow_remote=True)
    assert info.value.reason == "image_remote_failed" and "more than 20 s" in info.value.detail


@pytest.mark.reliability(8)
@pytest.mark.parametrize("size", [(150, 10), (10, 150), (2000, 20)])
def test_a_thin_image_under_a_small_max_pixels_is_resized_not_rounded_to_zero(size):
    from PIL import Image

    from mmrl.policy.vision import resize_image

    max_pixels = 28 * 28 * 4
    out = resize_image(Image.new("RGB", size, "red"), 28 * 28, max_pixels, 28)
    width, height = out.size
    assert min(width, height) == 28 and width % 28 == 0 and height % 28 == 0
    assert width * height <= max_pixels
    assert (width > height) == (size[0] > size[1])  # the long side stays the long side
    assert resize_image(out, 28 * 28, max_pixels, 28).size == out.size  # resizing again is the identity
