"""Presets resolve to concrete settings; a value the user set always wins."""

from __future__ import annotations

import pytest
import torch

from mmrl.algos import PRESETS, compute_advantages, list_estimators, resolve_algorithm
from mmrl.config import ConfigError, load_config


def resolve(*overrides: str):
    cfg = load_config(None, list(overrides))
    return resolve_algorithm(cfg.algorithm, cfg.rollout)


def test_config_offers_exactly_the_presets():
    # algorithm.name takes every registered preset and nothing else (with the nearest name)
    for name in PRESETS:
        assert load_config(None, [f"algorithm.name={name}"]).algorithm.name == name
    with pytest.raises(
        ConfigError,
        match=r"algorithm.name: unknown algorithm preset 'grpo\+agrae' \(did you mean 'grpo\+a_grae'",
    ):
        load_config(None, ["algorithm.name=grpo+agrae"])
    assert {PRESETS[name].estimator for name in PRESETS} <= set(list_estimators())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_its_estimator_runs(name):
    s = resolve(f"algorithm.name={name}", "rollout.max_new_tokens=300")
    assert s.preset == name and s.estimator == PRESETS[name].estimator and s.paper == PRESETS[name].paper
    assert s.loss.agg_mode == PRESETS[name].loss_agg_mode and s.max_response_length == 300
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    adv = compute_advantages(
        s.estimator,
        rewards,
        torch.tensor([0, 0, 1, 1]),
        correct=rewards,
        batch_accuracy=0.5,
        **s.estimator_params,
    )
    assert adv.shape == (4,) and torch.isfinite(adv).all()


def test_papers_defaults():
    dapo = resolve("algorithm.name=dapo")
    assert (dapo.loss.clip_ratio_low, dapo.loss.clip_ratio_high) == (0.2, 0.28)
    assert dapo.loss.agg_mode == "token-mean" and dapo.dynamic_sampling and dapo.overlong
    assert dapo.estimator == "grpo"
    dapo_a = resolve("algorithm.name=dapo+a_grae", "algorithm.a_grae.alpha=0.5")
    assert (
        dapo_a.estimator == "grpo+a_grae" and dapo_a.dynamic_sampling and dapo_a.loss.clip_ratio_high == 0.28
    )
    assert dapo_a.estimator_params == {"alpha": 0.5, "easy_divisor": "sqrt_one_minus_p"}
    dr = resolve("algorithm.name=dr_grpo", "rollout.max_new_tokens=3000")
    assert dr.estimator == "dr_grpo" and dr.loss.agg_mode == "seq-mean-token-sum-norm"
    assert dr.loss.loss_scale_factor == 3000  # the Dr.GRPO code divides by the generation budget
    grpo = resolve("algorithm.name=grpo")
    assert grpo.loss.agg_mode == "seq-mean-token-mean" and not grpo.dynamic_sampling and not grpo.overlong
    assert (grpo.loss.clip_ratio_low, grpo.loss.clip_ratio_high) == (0.2, 0.2)
    assert resolve("algorithm.name=w_reinforce").estimator_params == {"lam": 0.1}
    assert resolve("algorithm.name=rloo").estimator_params == {}


def test_user_values_win_over_the_preset():
    s = resolve(
        "algorithm.name=dapo",
        "algorithm.clip_ratio_high=0.3",
        "algorithm.loss_agg_mode=seq-mean-token-mean",
        "algorithm.dynamic_sampling.enable=false",
        "algorithm.overlong.enable=false",
        "algorithm.estimator=rloo",
        "algorithm.loss_scale_factor=100",
    )
    assert s.loss.clip_ratio_high == 0.3 and s.loss.agg_mode == "seq-mean-token-mean"
    assert not s.dynamic_sampling and not s.overlong and s.estimator == "rloo"
    assert s.loss.loss_scale_factor == 100
    # symmetric presets follow the user's clip_ratio_low on both sides
    g = resolve("algorithm.name=grpo", "algorithm.clip_ratio_low=0.1")
    assert (g.loss.clip_ratio_low, g.loss.clip_ratio_high) == (0.1, 0.1)
    # ... and a preset never rewrites a field the user set, even to the preset's own value
    g = resolve("algorithm.name=grpo", "algorithm.dynamic_sampling.enable=true")
    assert g.dynamic_sampling


def test_loss_and_reference_flags():
    s = resolve(
        "algorithm.kl_coef=0.04",
        "algorithm.kl_estimator=k2",
        "algorithm.entropy_coef=0.001",
        "algorithm.clip_ratio_c=3.0",
        "algorithm.tis_cap=2.0",
    )
    assert s.needs_reference and s.needs_entropy
    assert (s.loss.kl_coef, s.loss.kl_estimator, s.loss.clip_ratio_c, s.loss.tis_cap) == (
        0.04,
        "k2",
        3.0,
        2.0,
    )
    assert not resolve().needs_reference


def test_errors_name_the_field():
    with pytest.raises(ConfigError, match="algorithm.estimator.*unknown advantage estimator 'gpro'.*grpo"):
        resolve("algorithm.estimator=gpro")
    with pytest.raises(ConfigError, match="rollout.n=1"):
        resolve("algorithm.name=grpo", "rollout.n=1")
    with pytest.raises(ConfigError, match="algorithm.name"):
        load_config(None, ["algorithm.name=ppo"])
    with pytest.raises(ConfigError, match="clip_ratio_low"):
        load_config(None, ["algorithm.clip_ratio_low=1.5"])
    # one sample per prompt is fine without a group baseline
    assert resolve("algorithm.name=w_reinforce", "rollout.n=1").estimator == "w_reinforce"


def test_docs_papers_has_a_row_for_every_preset_with_its_paper():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "papers.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", text, flags=re.M)}
    for name in PRESETS:
        preset = PRESETS[name]
        arxiv = re.search(r"arXiv \d{4}\.\d{5}", preset.paper)
        assert arxiv, f"preset {name!r} names no arXiv paper: {preset.paper!r}"
        assert name in rows, f"docs/papers.md has no row for preset {name!r}"
        assert arxiv.group(0).replace("arXiv ", "") in rows[name], (
            f"the {name!r} row does not cite {arxiv.group(0)}"
        )
