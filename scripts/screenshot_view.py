"""Screenshot a step page of ``mmrl view``: the top of the page and the step's first prompt with its samples.

    python scripts/screenshot_view.py                   # -> docs/view_vl.png (about 15 s on 2 CPU cores)
    python scripts/screenshot_view.py --run runs/demo-20261203-0815 --step 7 --output docs/view.png

Without ``--run`` it trains one step of a tiny random-init Qwen2-VL (``mmrl.testing``) on
``synthetic_geometry`` diagrams (2 prompts x 8 samples, the pictures resized to 280 x 280), in a
temporary directory. That model's answers are noise; they are scored by ``coin_flip`` below (an
even number of characters counts as correct), so that the group's rewards, advantages and A-GRAE
weights differ as in a real run. Then it builds the site, opens the step page in the system
Chromium (``apt-get install chromium``; driven by Playwright, which downloads nothing), and saves
the page from its top down to the end of the first prompt's group (at most ``--height`` pixels),
reduced to 64 colours.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from mmrl.types import Example, Score

ROOT = Path(__file__).resolve().parents[1]
SIDE = 280  # the policy's picture size (min = max pixels), the largest the step page shows unscaled


def coin_flip(response: str, example: Example) -> Score:
    """1.0 when the response has an even number of characters: mixed rewards for a random model."""
    hit = len(response) % 2 == 0
    return Score(float(hit), correct=hit, components={"accuracy": float(hit)})


def train_tiny_vl_run(run: Path) -> Path:
    """One step of a tiny random-init Qwen2-VL on synthetic geometry diagrams, into ``run``."""
    from mmrl.config import load_config
    from mmrl.testing import save_tiny_vl_model
    from mmrl.train import fit

    model = save_tiny_vl_model(run.parent / "tiny-qwen2-vl", "qwen2_vl")
    cfg = load_config(
        None,
        [
            f"model.path={model}",
            f"trainer.output_dir={run}",
            "trainer.max_steps=1",
            "trainer.prompts_per_step=2",
            "trainer.micro_batch_size=8",
            "trainer.seed=0",
            "data.recipe=synthetic_geometry",
            "data.options={num_examples: 8, image_size: 336}",
            f"data.min_pixels={SIDE * SIDE}",
            f"data.max_pixels={SIDE * SIDE}",
            "rollout.engine=hf",
            "rollout.n=8",
            "rollout.max_new_tokens=24",
            "rollout.stop=['.', '?']",
            "algorithm.name=grpo+a_grae",
            "algorithm.a_grae.alpha=0.5",
            "algorithm.overlong.buffer_length=8",
            f"reward.verifier={Path(__file__).resolve()}:coin_flip",
            "reward.num_workers=0",
            "reward.format_weight=0",
            "reward.accuracy_weight=1",
            "logging.tensorboard=false",
            "logging.progress_bar=false",
        ],
    )
    fit(cfg)
    return run


def screenshot(page_path: Path, output: Path, height: int, chromium: str, profile: Path) -> str:
    """Save ``page_path`` from its top to the end of its first group, 1200 pixels wide; say what
    the group shows."""
    from io import BytesIO

    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
            viewport={"width": 1200, "height": 900},
        )
        page = context.new_page()
        page.goto(page_path.as_uri())
        section = page.locator("section.group").first
        sizes = section.locator("img").evaluate_all(  # the pictures load lazily: load them before the shot
            "imgs => Promise.all(imgs.map(i => { i.loading = 'eager'; "
            "return i.decode().then(() => i.naturalWidth + 'x' + i.naturalHeight); }))"
        )
        shown = (
            f"{section.locator('h3').inner_text()}: {len(sizes)} picture(s) ({', '.join(sizes)}), "
            f"{section.locator('table.samples tbody tr').count()} samples"
        )
        box = section.bounding_box()
        bottom = min(box["y"] + box["height"] + 8, height)
        png = page.screenshot(clip={"x": 0, "y": 0, "width": 1200, "height": bottom}, full_page=True)
        context.close()
    image = Image.open(BytesIO(png)).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    image.save(output, optimize=True)
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--run", type=Path, help="an existing run directory (default: train the tiny VL run)")
    parser.add_argument("--step", type=int, default=1, help="the step to show (default 1)")
    parser.add_argument(
        "--height", type=int, default=1100, help="at most this many pixels high (default 1100)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "view_vl.png")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    from mmrl.view import build_site

    work = Path(tempfile.mkdtemp(prefix="screenshot_view_"))
    try:
        run = args.run or train_tiny_vl_run(work / "tiny-vl-geometry")
        build_site([run], work / "site", progress=False)
        page = work / "site" / "steps" / f"step_{args.step}" / "index.html"
        shown = screenshot(page, args.output, args.height, args.chromium, work / "profile")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1000:.0f} KB): step {args.step}, {shown}")


if __name__ == "__main__":
    main()
