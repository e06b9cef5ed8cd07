"""Crashes and bad numbers: deterministic resume, checkpoints killed mid-write, broken checkpoints,
non-finite steps skipped and counted, and K in a row aborting."""

from __future__ import annotations

import pytest
import torch

import mmrl.train.stages as stages
from mmrl.checkpoints import list_checkpoints
from mmrl.cli import main
from mmrl.config import save_config
from mmrl.errors import UserError
from mmrl.testing import save_tiny_text_model
from mmrl.train import CheckpointError, Trainer, fit

from .helpers import load_weights, read_metrics, read_rollouts, tiny_text_config


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


def test_a_broken_newest_checkpoint_is_reported_by_name(text_dir, tmp_path, capsys):
    run = tmp_path / "run"
    fit(_cfg(text_dir, run, "trainer.save_final=false"))
    weights = run / "checkpoints" / "step_4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="step_4 is broken: model.safetensors"):
        fit(_cfg(text_dir, run, "trainer.max_steps=6"))
    # the command line says the same, exit code 1, and nothing was trained or deleted
    config = save_config(_cfg(text_dir, run, "trainer.max_steps=6"), tmp_path / "config.yaml")
    assert main(["train", str(config)]) == 1
    err = capsys.readouterr().err
    assert "step_4 is broken" in err and "step_2" in err
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3, 4]
    assert [c.step for c in list_checkpoints(run / "checkpoints")] == [2, 4]


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


def test_k_non_finite_steps_in_a_row_abort(text_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    _poison_steps(monkeypatch, {2, 3})
    with pytest.raises(UserError, match=r"2 steps in a row \(steps 2-3\).*max_consecutive_nonfinite=2"):
        fit(tiny_text_config(text_dir, run, "trainer.max_consecutive_nonfinite=2"))
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3]  # the steps before the abort are logged
