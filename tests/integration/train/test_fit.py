"""``fit`` end to end on tiny models: 3 steps each, outputs on disk, advantages per algorithm."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from mmrl.algos import grpo_a_grae_advantages, grpo_advantages
from mmrl.testing import save_tiny_text_model, save_tiny_vl_model
from mmrl.train import fit, verify_checkpoint

from .helpers import load_weights, read_metrics, read_rollouts, tiny_text_config, write_logging_engine


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny-text"))


@pytest.fixture(scope="module")
def vl_dir(tmp_path_factory):
    return save_tiny_vl_model(tmp_path_factory.mktemp("tiny-vl"), "qwen2_vl")


def _assert_trained(run, model_dir, steps):
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == list(range(1, steps + 1))
    for m in metrics:
        assert math.isfinite(m["loss"]) and math.isfinite(m["grad_norm"])
        assert m["optimizer/skipped_steps"] == 0
        for phase in ("generate", "score", "logprob", "update", "sync"):
            assert m[f"time/{phase}"] >= 0
    before, after = load_weights(model_dir), load_weights(run / "final")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no parameter changed in training"
    for step in range(1, steps + 1):
        rows = read_rollouts(run, step)
        assert rows and {"prompt", "images", "response", "status", "reward", "advantage"} <= set(rows[0])
    verify_checkpoint(run / "checkpoints" / f"step_{steps}")
    assert (run / "config.yaml").is_file()


def test_text_model_three_steps(text_dir, tmp_path):
    run = tmp_path / "run"
    result = fit(tiny_text_config(text_dir, run, "eval.every=3", "eval.limit=3", "eval.n=2", "eval.k=[1,2]"))
    assert result.steps == 3 and result.final_dir == run / "final"
    _assert_trained(run, text_dir, 3)
    # validation at the last step, through mmrl.eval, written next to the run
    assert set(result.validations) == {3}
    assert read_metrics(run)[-1]["val/problems"] == 3
    assert (run / "validation" / "step_3" / "results.json").is_file()
    report = (run / "validation" / "step_3" / "report.md").read_text()
    assert "- model: step 3\n" in report and "`None`" not in report
    # final/ is a plain Hugging Face checkpoint
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(run / "final")


def test_vision_model_three_steps(vl_dir, tmp_path):
    run = tmp_path / "run"
    cfg = tiny_text_config(
        vl_dir,
        run,
        "data.recipe=synthetic_geometry",
        "data.options={num_examples: 8, image_size: 112}",
        f"data.min_pixels={28 * 28 * 4}",
        f"data.max_pixels={28 * 28 * 4}",
    )
    fit(cfg)
    _assert_trained(run, vl_dir, 3)
    rows = read_rollouts(run, 1)
    ref = rows[0]["images"][0]  # a file named by its content, relative to rollouts/
    assert ref.startswith("images/") and (run / "rollouts" / ref).is_file()


def test_grpo_and_a_grae_advantages_follow_their_formulas(text_dir, tmp_path):
    """Same seed, same first step's rollouts; the advantages differ exactly as the estimators say."""
    alpha = 1.0  # the paper's text setting: positive advantages are scaled by min(1, ω/α) = ω
    runs = {}
    for name in ("grpo", "grpo+a_grae"):
        run = tmp_path / name.replace("+", "_")
        fit(
            tiny_text_config(
                text_dir,
                run,
                f"algorithm.name={name}",
                f"algorithm.a_grae.alpha={alpha}",
                "trainer.max_steps=1",
                "trainer.prompts_per_step=4",
            )
        )
        runs[name] = read_rollouts(run, 1)
    grpo, agrae = runs["grpo"], runs["grpo+a_grae"]
    assert [r["response"] for r in grpo] == [r["response"] for r in agrae]  # same samples
    rewards = torch.tensor([r["reward"] for r in grpo], dtype=torch.float32)
    group_ids = torch.tensor([int(r["example_id"].rsplit("/", 1)[1]) for r in grpo])
    assert 0 < rewards.mean() < 1, "the test needs mixed rewards"
    a_grpo = torch.tensor([r["advantage"] for r in grpo])
    a_agrae = torch.tensor([r["advantage"] for r in agrae])
    torch.testing.assert_close(a_grpo, grpo_advantages(rewards, group_ids), rtol=1e-5, atol=1e-6)
    omega = float(rewards.mean())
    expected = grpo_a_grae_advantages(rewards, group_ids, correct=rewards, batch_accuracy=omega, alpha=alpha)
    torch.testing.assert_close(a_agrae, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a_grpo, a_agrae)
    # GRPO's advantages cancel within each group; A-GRAE damps the positive side by ω/α < 1.
    for g in group_ids.unique():
        assert abs(float(a_grpo[group_ids == g].sum())) < 1e-5
    pos, neg = float(a_agrae.clamp(min=0).sum()), float((-a_agrae).clamp(min=0).sum())
    assert pos < neg - 1e-3


def test_omega_counts_every_generated_sample_before_filtering_and_shaping(text_dir, tmp_path, monkeypatch):
    """A-GRAE's ω reaching the estimator equals the mean reward of every sample the runner scored in
    the step (every dynamic-sampling round), not of the kept groups or the shaped rewards. The runner
    is scripted so that every other prompt's group is all-correct (dropped by the filter) and the
    rest are half right (kept): ω over everything generated is above 0.5, over the kept groups 0.5."""
    import mmrl.algos.settings as settings_module
    from mmrl.train import Trainer
    from mmrl.types import Score

    from .helpers import tiny_text_config

    cfg = tiny_text_config(
        text_dir,
        tmp_path / "run",
        "algorithm.name=dapo+a_grae",
        "algorithm.dynamic_sampling.max_rounds=3",
        "trainer.max_steps=1",
        "logging.log_rollouts=false",
    )
    trainer = Trainer(cfg)
    scored: list[float] = []
    order: dict[str, int] = {}

    class Scripted:
        def score(self, responses, examples, truncated, lengths=None):
            from rewards.runner import RunnerResult

            scores, seen = [], {}
            for ex in examples:
                index = order.setdefault(ex.id, len(order))
                position = seen[ex.id] = seen.get(ex.id, -1) + 1
                right = index % 2 == 0 or position % 2 == 0
                scores.append(Score(reward=float(right), correct=right))
            scored.extend(s.reward for s in scores)
            return RunnerResult(scores)

    trainer.ctx = dataclasses.replace(trainer.ctx, runner=Scripted())
    seen: list[float] = []
    original = settings_module.compute_advantages_with_metrics

    def spy(*args, batch_accuracy, **kwargs):
        seen.append(batch_accuracy)
        return original(*args, batch_accuracy=batch_accuracy, **kwargs)

    monkeypatch.setattr(settings_module, "compute_advantages_with_metrics", spy)
    try:
        trainer.start()
        metrics = trainer.train_step()
    finally:
        trainer.close()
    assert len(scored) >= 8 and metrics["rollout/rounds"] >= 1
    assert metrics["dynamic_sampling/seen_groups"] > metrics["dynamic_sampling/mixed_groups"] >= 1
    expected = sum(scored) / len(scored)
    assert expected > 0.5 + 1e-6  # the kept groups alone would give exactly 0.5
    assert seen == [pytest.approx(expected, abs=1e-12)]


def test_an_engine_of_ones_own_is_chosen_in_the_config(text_dir, tmp_path, caplog):
    engine = write_logging_engine(tmp_path)
    cfg = tiny_text_config(text_dir, tmp_path / "run", f"rollout.engine={engine}", "trainer.max_steps=2")
    with caplog.at_level("INFO", logger="mmrl.rollout.base"):
        assert fit(cfg).steps == 2
    assert f"rollout engine {engine} (set in the config)" in caplog.text
    assert (tmp_path / "generate_calls.txt").read_text().splitlines() == ["2 x 4", "2 x 4"]


def test_reward_functions_passed_to_fit_are_summed_and_logged_by_name(text_dir, tmp_path):
    from .helpers import COIN_VERIFIER

    def short(completions, **kwargs):  # TRL style, defined here: scored in this process
        return [1.0 if len(c) < 4 else 0.0 for c in completions]

    run = tmp_path / "run"
    cfg = tiny_text_config(
        text_dir,
        run,
        "reward.verifier=null",
        "reward.format_weight=null",
        "reward.accuracy_weight=null",
        f"reward.functions=[{{fn: '{COIN_VERIFIER}', weight: 0.5}}]",
        "trainer.max_steps=1",
        "trainer.save_final=false",
    )
    fit(cfg, reward_funcs=[{"fn": short, "weight": 0.25}])
    (metrics,) = read_metrics(run)
    assert {"reward/even_length", "reward/short"} <= set(metrics)
    assert metrics["reward/mean"] == pytest.approx(
        0.5 * metrics["reward/even_length"] + 0.25 * metrics["reward/short"]
    )
    for row in read_rollouts(run, 1):
        parts = row["reward_components"]
        assert row["verifier_reward"] == 0.5 * parts["even_length"] + 0.25 * parts["short"]


def test_fit_takes_a_datasets_dataset_and_callbacks_that_stop_it(text_dir, tmp_path):
    import datasets

    rows = datasets.Dataset.from_list(
        [{"problem": f"What is {a} + 1?", "solution": str(a + 1), "source": "mine"} for a in range(8)]
    )
    run = tmp_path / "run"
    cfg = tiny_text_config(
        text_dir, run, "data.columns={question: problem, answer: solution}", "trainer.max_steps=5"
    )
    seen = []

    def stop_after_two(step, metrics):
        seen.append((step, "reward/mean" in metrics))
        return step == 2

    result = fit(cfg, train_dataset=rows, callbacks=[stop_after_two])
    assert result.steps == 2 and seen == [(1, True), (2, True)]
    assert [m["step"] for m in read_metrics(run)] == [1, 2]
    assert (run / "final").is_dir()
    row = read_rollouts(run, 1)[0]
    assert row["example_id"].startswith("train_dataset/") and row["answer"] in {str(a + 1) for a in range(8)}


def test_fit_with_train_dataset_needs_a_named_held_out_set_to_validate(text_dir, tmp_path):
    from mmrl.config import ConfigError
    from mmrl.errors import UserError

    cfg = tiny_text_config(text_dir, tmp_path / "run", "eval.every=1")
    with pytest.raises(ConfigError, match="eval.recipe is unset"):
        fit(cfg, train_dataset=[{"question": "1+1?", "answer": "2"}])
    with pytest.raises(UserError, match="row 0 is a str"):
        fit(tiny_text_config(text_dir, tmp_path / "run2"), train_dataset=["1+1?"])
