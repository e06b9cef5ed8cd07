"""Sampling settings, the sync probe's arithmetic and warning, and the engine registry."""

import logging
from types import SimpleNamespace

import pytest
import torch

from mmrl.config import load_config
from mmrl.rollout import ENGINES, HFEngine, Sampling, SyncProbe, build_engine, logprob_diff, register_engine


def test_sampling_from_config_sections():
    cfg = load_config(
        None, ["rollout.temperature=0.7", "rollout.top_k=5", "rollout.stop=</answer>", "eval.n=1"]
    )
    s = Sampling.from_rollout(cfg.rollout, seed=3)
    assert (s.temperature, s.top_k, s.stop, s.seed, s.max_new_tokens) == (0.7, 5, ("</answer>",), 3, 512)
    e = Sampling.from_eval(cfg.eval, cfg.rollout)
    assert (e.temperature, e.top_p, e.top_k, e.max_new_tokens) == (0.6, 0.95, 0, 512)
    assert Sampling(temperature=0.0).logprob_temperature == 1.0
    assert Sampling(temperature=0.5).logprob_temperature == 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"stop": ("",)}, "stop strings"),
    ],
)
def test_sampling_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Sampling(**kwargs)


def test_logprob_diff_by_hand():
    engine = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, 0.0, 0.0]])
    trainer = torch.tensor([[-1.5, -2.0, -1.0], [-0.25, 9.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # |gaps| on the mask: 0.5, 0.0, 0.25 -> mean 0.25, max 0.5 (the 2.0 and 9.0 gaps are masked)
    assert logprob_diff(engine, trainer, mask) == (0.25, 0.5)
    assert logprob_diff(engine, trainer, torch.zeros_like(mask)) == (0.0, 0.0)


def test_probe_warns_loudly_above_threshold(caplog):
    probe = SyncProbe(threshold=0.1)
    mask = torch.ones(1, 2)
    with caplog.at_level(logging.WARNING):
        quiet = probe.check(torch.tensor([[-1.0, -1.0]]), torch.tensor([[-1.05, -1.0]]), mask)
    assert quiet["rollout/logprob_diff"] == pytest.approx(0.025) and probe.num_alarms == 0
    assert "WEIGHT SYNC PROBE" not in caplog.text
    with caplog.at_level(logging.WARNING):
        loud = probe.check(torch.tensor([[-1.0, -1.0]]), torch.tensor([[-2.0, -1.0]]), mask)
    assert loud == {"rollout/logprob_diff": 0.5, "rollout/logprob_diff_max": 1.0}
    assert probe.num_alarms == 1 and "WEIGHT SYNC PROBE" in caplog.text and "stale" in caplog.text
    with pytest.raises(ValueError, match="logprobs"):
        probe.check(None, torch.zeros(1, 2), mask)
    with pytest.raises(ValueError, match="threshold"):
        SyncProbe(threshold=0.0)


def test_registry_builds_hf_and_rejects_unknown_and_duplicates():
    policy = SimpleNamespace()
    cfg = load_config(None, ["rollout.batch_size=16"]).rollout
    engine = build_engine(cfg, policy)
    assert isinstance(engine, HFEngine) and engine.batch_size == 16 and engine.name == "hf"
    assert {"hf", "vllm"} <= set(ENGINES)
    with pytest.raises(
        ValueError, match="rollout.engine=.sglang.: unknown rollout engine .sglang.; known: hf, vllm"
    ):
        build_engine(SimpleNamespace(engine="sglang"), policy)
    with pytest.raises(ValueError, match="already registered"):
        register_engine("hf")(lambda cfg, policy: None)


def test_training_sampling_asks_for_logprobs_and_evaluation_does_not():
    from mmrl.config import load_config
    from mmrl.rollout import Sampling

    cfg = load_config(None, [])
    assert Sampling.from_rollout(cfg.rollout, seed=1).logprobs is True  # the sync probe reads them
    assert Sampling.from_eval(cfg.eval, cfg.rollout, seed=1).logprobs is False
    assert Sampling().logprobs is True
