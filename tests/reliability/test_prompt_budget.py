"""Prompts over data.max_prompt_length are left out once, before training, counted and named; no
step dies for lack of prompts while the dataset has usable ones. Image tokens count against the
budget: a prompt they push over it is left out whole, never cut through its image tokens."""

from __future__ import annotations

import json
import logging

import pytest

from mmrl.errors import UserError
from mmrl.testing import save_tiny_text_model, save_tiny_vl_model, tiny_image
from mmrl.train import fit
from tests.integration.train.helpers import read_metrics, read_rollouts, tiny_text_config


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny"))


def _rows(path, long: int, short: int = 6):
    rows = [
        {"id": f"long{i}", "question": "Add these numbers: " + " + ".join(["1"] * 60), "answer": "60"}
        for i in range(long)
    ]
    rows += [{"id": f"short{i}", "question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(short)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _cfg(model_dir, run, data, *overrides):
    return tiny_text_config(
        model_dir,
        run,
        "data.recipe=jsonl",
        f"data.path={data}",
        "data.options={}",
        "data.max_prompt_length=48",
        "trainer.save_final=false",
        *overrides,
    )


@pytest.mark.reliability(9)
def test_over_budget_prompts_are_left_out_at_load_named_and_never_drawn(model_dir, tmp_path, caplog):
    data = _rows(tmp_path / "rows.jsonl", long=4)
    run = tmp_path / "run"
    # prompts_per_step 4 of 10 rows: without the load-time filter, steps would draw long prompts
    with caplog.at_level(logging.WARNING, logger="mmrl.train.trainer"):
        fit(_cfg(model_dir, run, data, "trainer.prompts_per_step=4", "trainer.max_steps=3"))
    (warning,) = [r.getMessage() for r in caplog.records if "left out of training" in r.getMessage()]
    assert "4 of 10 training prompts are longer than data.max_prompt_length=48" in warning
    assert "jsonl/train/long0" in warning
    drawn = {r["example_id"] for step in (1, 2, 3) for r in read_rollouts(run, step)}
    assert drawn and all("short" in i for i in drawn)
    assert all(m["prompts/dropped"] == 0 for m in read_metrics(run))


@pytest.mark.reliability(9)
def test_a_dataset_with_no_prompt_within_the_budget_fails_before_training_naming_the_setting(
    model_dir, tmp_path
):
    data = _rows(tmp_path / "rows.jsonl", long=3, short=0)
    with pytest.raises(
        UserError, match=r"every one of the 3 training prompts is longer than data.max_prompt_length=48"
    ):
        fit(_cfg(model_dir, tmp_path / "run", data))
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


# -- image tokens ------------------------------------------------------------------------------

#: 4 to 64 merged 28x28 patches per image: a 56x56 image is 4 image tokens, a 448x448 one 64.
MIN_PIXELS, MAX_PIXELS = 28 * 28 * 4, 28 * 28 * 64


@pytest.fixture(scope="module")
def vl_dir(tmp_path_factory):
    return save_tiny_vl_model(tmp_path_factory.mktemp("tiny-vl"), "qwen2_vl")


@pytest.mark.reliability(9)
def test_a_prompt_whose_image_tokens_exceed_the_budget_is_left_out_at_load_not_cut_through(
    vl_dir, tmp_path, caplog
):
    from mmrl.data import load_from_config
    from mmrl.policy import load_policy

    (tmp_path / "img").mkdir()
    tiny_image(0, (56, 56)).save(tmp_path / "img" / "small.png")
    tiny_image(1, (448, 448)).save(tmp_path / "img" / "big.png")
    # the same question throughout: only the image's tokens decide whether a prompt fits
    rows = [
        {"id": f"{kind}{i}", "question": "<image>What is 1 + 1?", "answer": "2", "image": f"img/{kind}.png"}
        for kind, count in (("big", 2), ("small", 6))
        for i in range(count)
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    cfg = _cfg(
        vl_dir,
        run,
        data,
        "data.max_prompt_length=64",
        f"data.min_pixels={MIN_PIXELS}",
        f"data.max_pixels={MAX_PIXELS}",
        "trainer.prompts_per_step=4",
        "trainer.max_steps=2",
    )
    policy = load_policy(cfg.model, cfg.data, device="cpu")
    examples = {ex.id: ex for ex in load_from_config(cfg.data)}
    for kind, image_tokens in (("big", 64), ("small", 4)):
        prompt = policy.encode(examples[f"jsonl/train/{kind}0"])
        assert prompt.prompt_ids.count(policy.image_token_id) == image_tokens
        assert (prompt.num_tokens > 64) == (kind == "big")  # over the budget by its image tokens only
        assert prompt.num_tokens - image_tokens <= 64

    with caplog.at_level(logging.WARNING, logger="mmrl.train.trainer"):
        fit(cfg)
    (warning,) = [r.getMessage() for r in caplog.records if "left out of training" in r.getMessage()]
    assert "2 of 8 training prompts are longer than data.max_prompt_length=64" in warning
    assert "jsonl/train/big0, jsonl/train/big1" in warning and "data.max_pixels" in warning
    drawn = [r for step in (1, 2) for r in read_rollouts(run, step)]
    assert drawn and all("small" in r["example_id"] for r in drawn)
    # both steps trained on their image prompts: none was dropped later, or cut and then refused
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2] and all(m["prompts/dropped"] == 0 for m in metrics)
