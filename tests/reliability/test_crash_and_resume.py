"""Crashes and bad numbers: saves killed at any point (12), deterministic resume (14), and
non-finite steps skipped, counted and aborting after K in a row, with the degenerate batches that
must never produce a NaN (15)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import mmrl.train.stages as stages
from mmrl.checkpoints import list_checkpoints, verify_checkpoint
from mmrl.errors import UserError
from mmrl.testing import save_tiny_text_model
from mmrl.train import Trainer, fit
from mmrl.train.checkpoint import find_resume_checkpoint
from tests.integration.train.helpers import load_weights, read_metrics, read_rollouts, tiny_text_config

from .kill_during_save import POINTS, build, train_a_bit

ROOT = Path(__file__).resolve().parents[2]


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it, no final checkpoint is written."""


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny-text"))


def _cfg(text_dir, run, *overrides):
    return tiny_text_config(text_dir, run, "trainer.max_steps=4", "trainer.save_every=2", *overrides)


def _kill_at_step(monkeypatch, step):
    real = Trainer.train_step

    def train_step(self):
        if self.step + 1 == step:
            raise Killed
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", train_step)


@pytest.mark.reliability(14)
def test_resume_equals_a_straight_run(text_dir, tmp_path, monkeypatch):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    fit(_cfg(text_dir, straight))
    with monkeypatch.context() as m:
        _kill_at_step(m, 3)
        with pytest.raises(Killed):
            fit(_cfg(text_dir, resumed))
    assert [c.step for c in list_checkpoints(resumed / "checkpoints")] == [2]
    result = fit(_cfg(text_dir, resumed))  # trainer.resume=auto
    assert result.steps == 4
    a, b = read_metrics(straight), read_metrics(resumed)
    assert [m["step"] for m in b] == [1, 2, 3, 4]  # each step logged once
    for step in (3, 4):
        ra, rb = read_rollouts(straight, step), read_rollouts(resumed, step)
        assert [(r["example_id"], r["response"]) for r in ra] == [
            (r["example_id"], r["response"]) for r in rb
        ]
        for key in ("loss", "grad_norm", "reward/mean", "actor/entropy_mean"):
            assert b[step - 1][key] == pytest.approx(a[step - 1][key], rel=1e-4, abs=1e-6), key
    final_a, final_b = load_weights(straight / "final"), load_weights(resumed / "final")
    for name in final_a:
        torch.testing.assert_close(final_a[name], final_b[name], rtol=1e-5, atol=1e-6)


@pytest.mark.reliability(12)
def test_a_checkpoint_killed_mid_write_leaves_the_previous_one(text_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        from accelerate import Accelerator

        real_save = Accelerator.save_state

        def save_state(self, output_dir=None, **kwargs):
            if output_dir.endswith("step_4"):
                real_save(self, output_dir, **kwargs)
                weights = f"{output_dir}/model.safetensors"
                with open(weights, "r+b") as f:
                    f.truncate(100)  # the kill came while the weights were being written
                raise Killed
            return real_save(self, output_dir, **kwargs)

        m.setattr(Accelerator, "save_state", save_state)
        with pytest.raises(Killed):
            fit(_cfg(text_dir, run))
    assert (run / "checkpoints" / ".tmp-step_4").is_dir()
    assert [(c.step, c.complete) for c in list_checkpoints(run / "checkpoints")] == [(2, True)]
    result = fit(_cfg(text_dir, run, "trainer.max_steps=5"))
    assert result.steps == 5
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3, 4, 5]  # resumed from step 2
    assert not (run / "checkpoints" / ".tmp-step_4").exists()


def _poison_steps(monkeypatch, steps):
    """Make policy_loss return NaN during the given steps; record parameters after every step."""
    state = {"step": 0}
    snapshots = {}
    real_loss = stages.policy_loss

    def policy_loss(*args, **kwargs):
        loss, metrics = real_loss(*args, **kwargs)
        return (loss * float("nan") if state["step"] in steps else loss), metrics

    real_step = Trainer.train_step

    def train_step(self):
        state["step"] = self.step + 1
        try:
            return real_step(self)
        finally:
            model = self.accelerator.unwrap_model(self.policy.model)
            snapshots[self.step] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    monkeypatch.setattr(stages, "policy_loss", policy_loss)
    monkeypatch.setattr(Trainer, "train_step", train_step)
    return snapshots


@pytest.mark.reliability(15)
def test_a_nan_step_is_skipped_and_counted(text_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    snapshots = _poison_steps(monkeypatch, {2})
    fit(tiny_text_config(text_dir, run))
    metrics = read_metrics(run)
    assert [m["optimizer/skipped_steps"] for m in metrics] == [0, 1, 0]
    assert [m["nonfinite/steps_total"] for m in metrics] == [0, 1, 1]
    assert metrics[1]["loss"] == "nan" and metrics[1]["grad_norm"] == "nan"
    unchanged = all(torch.equal(snapshots[1][k], snapshots[2][k]) for k in snapshots[1])
    changed = any(not torch.equal(snapshots[2][k], snapshots[3][k]) for k in snapshots[2])
    assert unchanged and changed


@pytest.mark.reliability(15)
def test_k_non_finite_steps_in_a_row_abort(text_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    _poison_steps(monkeypatch, {2, 3})
    with pytest.raises(UserError, match=r"2 steps in a row \(steps 2-3\).*max_consecutive_nonfinite=2"):
        fit(tiny_text_config(text_dir, run, "trainer.max_consecutive_nonfinite=2"))
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3]  # the steps before the abort are logged


# -- 12: kill -9 during a save ----------------------------------------------------------------------


@pytest.mark.reliability(12)
@pytest.mark.parametrize("keep_last", [1, 3])
@pytest.mark.parametrize("point", POINTS)
def test_kill_9_at_any_point_of_a_save_leaves_the_newest_complete_checkpoint_to_resume(
    tmp_path, point, keep_last
):
    root = tmp_path / "checkpoints"
    root.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.kill_during_save", str(root), point, str(keep_last)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    marked = point in ("before_prune", "during_prune")  # the kill came after step 4's marker
    expected = 4 if marked else 3
    # Every directory that looks complete is whole: the tracker never points at a broken one.
    for info in list_checkpoints(root):
        if info.complete:
            verify_checkpoint(info.path, contents=True)
    chosen = find_resume_checkpoint(root, "auto")
    assert chosen == root / f"step_{expected}"
    manager, model, opt, sched = build(root, keep_last)
    assert manager.load(chosen, verified=True) == {"step": expected}
    saved = load_file(str(tmp_path / f"weights_step_{expected}.safetensors"))
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert sched.last_epoch == expected
    # The next save completes and clears what the kill left behind.
    train_a_bit(model, opt, sched)
    manager.save(5, {"step": 5})
    left = list_checkpoints(root)
    assert all(c.complete for c in left) and left[-1].step == 5 and len(left) <= keep_last
    assert not list(root.glob(".tmp-*"))


# -- 15: an infinite gradient, and batches that must not produce a NaN ---------------------------


def always_right(response, example):
    """Every response right: every group has zero variance, so every advantage is 0."""
    from mmrl.types import Score

    return Score(1.0, correct=True, components={"accuracy": 1.0})


def _non_finite(metrics, keys=("loss", "grad_norm", "reward/mean")):
    return [(m["step"], k, m[k]) for m in metrics for k in keys if k in m and m[k] in ("nan", "inf", "-inf")]


@pytest.mark.reliability(15)
def test_an_infinite_gradient_skips_the_optimizer_step_and_is_counted(text_dir, tmp_path, monkeypatch):
    snapshots = {}
    real_step = Trainer.train_step

    def train_step(self):
        model = self.accelerator.unwrap_model(self.policy.model)
        first = next(p for p in model.parameters() if p.requires_grad)
        hook = first.register_hook(lambda g: g * float("inf")) if self.step + 1 == 2 else None
        try:
            return real_step(self)
        finally:
            if hook is not None:
                hook.remove()
            snapshots[self.step] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    monkeypatch.setattr(Trainer, "train_step", train_step)
    run = tmp_path / "run"
    fit(tiny_text_config(text_dir, run))
    metrics = read_metrics(run)
    assert [m["optimizer/skipped_steps"] for m in metrics] == [0, 1, 0]
    assert [m["nonfinite/steps_total"] for m in metrics] == [0, 1, 1]
    assert all(torch.equal(snapshots[1][k], snapshots[2][k]) for k in snapshots[1])


@pytest.mark.reliability(15)
def test_groups_with_equal_rewards_give_zero_advantages_not_nan(text_dir, tmp_path):
    run = tmp_path / "run"
    fit(
        tiny_text_config(
            text_dir,
            run,
            "reward.verifier=tests.reliability.test_crash_and_resume:always_right",
            "reward.score_truncated=true",
        )
    )
    metrics = read_metrics(run)
    assert not _non_finite(metrics)
    assert all(m["reward/mean"] == 1.0 and m["optimizer/skipped_steps"] == 0 for m in metrics)
    assert all(m["update/skipped_zero_advantage_frac"] == 1.0 for m in metrics)
    assert load_weights(run / "final").keys()


@pytest.mark.reliability(15)
def test_a_step_whose_responses_are_all_masked_trains_nothing_and_gives_no_nan(
    text_dir, tmp_path, monkeypatch
):
    import dataclasses

    from mmrl.rollout.hf_engine import HFEngine

    real_generate = HFEngine.generate

    def generate(self, examples, n, sampling):  # every response cut off at the token budget
        return [
            dataclasses.replace(r, finish_reason="length") for r in real_generate(self, examples, n, sampling)
        ]

    monkeypatch.setattr(HFEngine, "generate", generate)
    run = tmp_path / "run"
    fit(tiny_text_config(text_dir, run, "algorithm.mask_truncated=true"))
    metrics = read_metrics(run)
    assert not _non_finite(metrics)
    assert all(m["response/truncated_frac"] == 1.0 for m in metrics)
    before, after = load_weights(text_dir), load_weights(run / "final")
    assert all(torch.equal(before[k], after[k]) for k in after)


@pytest.mark.reliability(15)
def test_a_micro_batch_larger_than_the_share_of_a_rank_trains_like_one_micro_batch(text_dir, tmp_path):
    # 2 prompts x 4 samples = 8 sequences per step: a micro-batch of 64 is one pass over all 8.
    one, large = tmp_path / "one", tmp_path / "large"
    fit(tiny_text_config(text_dir, one, "trainer.micro_batch_size=8"))
    fit(tiny_text_config(text_dir, large, "trainer.micro_batch_size=64"))
    assert not _non_finite(read_metrics(large))
    a, b = load_weights(one / "final"), load_weights(large / "final")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
