"""Steps whose rewards cannot be trusted must say so."""

from __future__ import annotations

import logging

import pytest

from mmrl.algos import resolve_algorithm
from mmrl.config import load_config
from mmrl.policy import TextPolicy
from mmrl.rollout import HFEngine, Sampling
from mmrl.testing import tiny_text_model
from mmrl.train.stages import StepContext, collect_batch
from mmrl.types import Example, Score


class TimingOutRunner:
    """Every response times out (reward None), as a hung verifier killed at reward.timeout_s."""

    def score(self, responses, examples, truncated, lengths=None):
        from rewards import RunnerResult

        scores = [Score(None, status="timeout") for _ in responses]
        return RunnerResult(scores, {"total": len(scores), "timeout": len(scores)})


class HalfScoredRunner:
    def score(self, responses, examples, truncated, lengths=None):
        from rewards import RunnerResult

        scores = [Score(None, status="timeout") if i % 2 else Score(1.0, True) for i in range(len(responses))]
        return RunnerResult(scores, {"total": len(scores)})


def _collect(runner):
    from mmrl.train.trainer import _accelerator

    cfg = load_config(None, ["rollout.max_new_tokens=4"])
    settings = resolve_algorithm(cfg.algorithm, cfg.rollout)
    model, tok = tiny_text_model(0)
    policy = TextPolicy(model, tok)
    ctx = StepContext(policy, HFEngine(policy), runner, settings, _accelerator("no"))
    examples = [Example(f"q{i}", "math", f"What is {i} plus {i}?", str(2 * i)) for i in range(2)]
    return collect_batch(ctx, lambda: examples, 2, lambda r: Sampling(max_new_tokens=4, seed=r))


def test_a_step_where_no_sample_could_be_scored_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="mmrl.train.stages"):
        batch = _collect(TimingOutRunner())
    assert batch.metrics["reward/unscorable_frac"] == 1.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "none of the 4 responses of this step could be scored (timeouts 4" in warnings[0]
    assert "reward.verifier" in warnings[0]


def test_a_step_with_some_scored_samples_does_not_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="mmrl.train.stages"):
        batch = _collect(HalfScoredRunner())
    assert batch.metrics["reward/unscorable_frac"] == pytest.approx(0.5)
    assert not [r for r in caplog.records if "could be scored" in r.getMessage()]
