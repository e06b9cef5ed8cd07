"""Prompts over data.max_prompt_length are left out once, before training, counted and named; no
step dies for lack of prompts while the dataset has usable ones."""

from __future__ import annotations

import json
import logging

import pytest

from mmrl.errors import UserError
from mmrl.testing import save_tiny_text_model
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


def test_a_dataset_with_no_prompt_within_the_budget_fails_before_training_naming_the_setting(
    model_dir, tmp_path
):
    data = _rows(tmp_path / "rows.jsonl", long=3, short=0)
    with pytest.raises(
        UserError, match=r"every one of the 3 training prompts is longer than data.max_prompt_length=48"
    ):
        fit(_cfg(model_dir, tmp_path / "run", data))
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
