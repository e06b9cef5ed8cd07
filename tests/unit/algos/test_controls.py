"""The A-GRAE paper's control estimators: hand-computed cases, their relation to A-GRAE, properties."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from mmrl.algos import (
    PRESETS,
    attenuate_positive,
    compute_advantages,
    difficulty_reweight,
    grpo_advantages,
    resolve_algorithm,
    success_rate,
)
from mmrl.config import ConfigError, load_config

NAN = math.nan
CONTROLS = ("positive_dominant", "negative_dominant", "easy_focused", "hard_focused")
# group 0: one of four correct (p = .25); group 1: three of four correct (p = .75)
REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
GROUPS = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
# GRPO of REWARDS: group 0 mean .25, Bessel std .5 -> [1.5, -.5, -.5, -.5];
#                  group 1 mean .75, std .5       -> [.5, .5, .5, -1.5]


def test_positive_dominant_hand_computed():
    # beta = 10 multiplies the positives: 1.5 -> 15, .5 -> 5; negatives unchanged
    expected = torch.tensor([15.0, -0.5, -0.5, -0.5, 5.0, 5.0, 5.0, -1.5])
    assert_close(compute_advantages("positive_dominant", REWARDS, GROUPS), expected, atol=1e-4, rtol=0)


def test_negative_dominant_hand_computed():
    # beta = 10 divides the positives: 1.5 -> .15, .5 -> .05; with beta = 4: .375 and .125
    expected = torch.tensor([0.15, -0.5, -0.5, -0.5, 0.05, 0.05, 0.05, -1.5])
    assert_close(compute_advantages("negative_dominant", REWARDS, GROUPS), expected, atol=1e-5, rtol=0)
    expected = torch.tensor([0.375, -0.5, -0.5, -0.5, 0.125, 0.125, 0.125, -1.5])
    assert_close(
        compute_advantages("negative_dominant", REWARDS, GROUPS, beta=4.0), expected, atol=1e-5, rtol=0
    )


def test_easy_focused_hand_computed():
    # gamma / sqrt(1 - p): p = .25 -> .5/.866025 = .577350; p = .75 -> .5/.5 = 1
    #   group 0: 1.5 * .577350 = .866025, -.5 * .577350 = -.288675; group 1 unchanged
    expected = torch.tensor([0.866025, -0.288675, -0.288675, -0.288675, 0.5, 0.5, 0.5, -1.5])
    assert_close(compute_advantages("easy_focused", REWARDS, GROUPS), expected, atol=1e-5, rtol=0)


def test_hard_focused_hand_computed():
    # gamma / sqrt(p): p = .25 -> .5/.5 = 1; p = .75 -> .5/.866025 = .577350
    #   group 0 unchanged; group 1: .5 * .577350 = .288675, -1.5 * .577350 = -.866025
    expected = torch.tensor([1.5, -0.5, -0.5, -0.5, 0.288675, 0.288675, 0.288675, -0.866025])
    assert_close(compute_advantages("hard_focused", REWARDS, GROUPS), expected, atol=1e-5, rtol=0)
    # gamma = 1: group 0 x 1/sqrt(.25) = 2 -> [3, -1, -1, -1]
    adv = compute_advantages("hard_focused", REWARDS[:4], GROUPS[:4], gamma=1.0)
    assert_close(adv, torch.tensor([3.0, -1.0, -1.0, -1.0]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["easy_focused", "hard_focused"])
def test_no_reweighting_when_p_is_0_or_1(name):
    # rewards 0.9*acc + 0.1*format: p from the indicator is 0 (or 1), yet the rewards differ,
    # so GRPO's advantages are not 0: mean .05, std .070711, A = +-.05/(.070711 + 1e-6) = +-.707097;
    # they pass unchanged
    rewards = torch.tensor([0.1, 0.0, 1.0, 0.9])
    correct = torch.tensor([0.0, 0.0, 1.0, 1.0])
    groups = torch.tensor([0, 0, 1, 1])
    adv = compute_advantages(name, rewards, groups, correct=correct)
    assert_close(adv, grpo_advantages(rewards, groups))
    assert_close(adv[:2], torch.tensor([0.707097, -0.707097]), atol=1e-6, rtol=0)


def test_p_reads_the_correct_indicator():
    # mean reward .325 but one of four correct: p = .25, factor .5/sqrt(.75)
    rewards = torch.tensor([1.0, 0.1, 0.1, 0.1])
    correct = torch.tensor([1.0, 0.0, 0.0, 0.0])
    adv = compute_advantages("easy_focused", rewards, GROUPS[:4], correct=correct)
    assert_close(adv, grpo_advantages(rewards, GROUPS[:4]) * (0.5 / math.sqrt(0.75)))


# ---------------------------------------------------------------- relations to A-GRAE


def binary_batch(seed: int):
    gen = torch.Generator().manual_seed(seed)
    rewards = (torch.rand(80, generator=gen) < 0.4).float()
    return rewards, torch.arange(10).repeat_interleave(8)


@pytest.mark.parametrize("seed", range(3))
def test_negative_dominant_is_a_grae_attenuation_at_omega_over_alpha_one_tenth(seed):
    rewards, groups = binary_batch(seed)
    expected = attenuate_positive(grpo_advantages(rewards, groups), omega=0.1, alpha=1.0)
    assert_close(compute_advantages("negative_dominant", rewards, groups), expected)


@pytest.mark.parametrize("seed", range(3))
def test_a_grae_step_2_mixes_hard_and_easy_focus_by_omega(seed):
    # (w/2) A/sqrt(p) + ((1-w)/2) A/sqrt(1-p) = w * hard_focused + (1 - w) * easy_focused at gamma = 1/2
    rewards, groups = binary_batch(seed)
    base, p = grpo_advantages(rewards, groups), success_rate(rewards, groups)
    easy = compute_advantages("easy_focused", rewards, groups)
    hard = compute_advantages("hard_focused", rewards, groups)
    assert_close(difficulty_reweight(base, p, omega=0.0), easy)
    assert_close(difficulty_reweight(base, p, omega=1.0), hard)
    assert_close(difficulty_reweight(base, p, omega=0.3), 0.3 * hard + 0.7 * easy)


@pytest.mark.parametrize(("name", "ratio"), [("positive_dominant", 10.0), ("negative_dominant", 0.1)])
def test_positive_mass_is_beta_times_negative_mass(name, ratio):
    rewards, groups = binary_batch(4)
    adv = compute_advantages(name, rewards, groups).double()
    positive, negative = adv.clamp(min=0).sum(), (-adv).clamp(min=0).sum()
    assert negative > 0
    assert_close(positive, ratio * negative, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "weight"), [("easy_focused", math.sqrt), ("hard_focused", lambda p: math.sqrt(1 - p))]
)
def test_per_prompt_weight_matches_the_closed_form(name, weight):
    # 0/1 rewards, G = 8, k = 1..7 correct: sum|A*| = 2 G gamma w(p), times sqrt((G-1)/G) for Bessel's std
    G = 8
    rewards = torch.cat([torch.tensor([1.0] * k + [0.0] * (G - k)) for k in range(1, G)])
    groups = torch.arange(G - 1).repeat_interleave(G)
    adv = compute_advantages(name, rewards, groups)
    weights = torch.zeros(G - 1, dtype=torch.float64).index_add(0, groups, adv.abs().double())
    expected = torch.tensor([2 * G * 0.5 * weight(k / G) * math.sqrt((G - 1) / G) for k in range(1, G)])
    assert_close(weights, expected.double(), atol=1e-4, rtol=1e-5)
    # easy-focused weights rise with the success rate, hard-focused ones fall
    assert (weights.diff() > 0).all() if name == "easy_focused" else (weights.diff() < 0).all()


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("name", CONTROLS)
def test_unscorable_rewards_get_zero_and_do_not_move_their_peers(name):
    rewards = torch.tensor([1.0, NAN, 0.0, 0.0, 1.0, NAN])
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    adv = compute_advantages(name, rewards, groups)
    assert adv[1] == 0 and adv[5] == 0
    keep = ~torch.isnan(rewards)
    assert_close(adv[keep], compute_advantages(name, rewards[keep], groups[keep]))


@pytest.mark.parametrize("name", CONTROLS)
def test_zero_variance_groups_get_exactly_zero(name):
    rewards = torch.tensor([0.1, 0.1, 0.1, 1.0, 1.0, 0.0, 0.0, 0.7, NAN, 0.7])
    groups = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    assert torch.all(compute_advantages(name, rewards, groups) == 0)


@pytest.mark.parametrize("name", CONTROLS)
def test_permuting_samples_permutes_the_output(name):
    rewards, groups = binary_batch(5)
    perm = torch.randperm(rewards.numel(), generator=torch.Generator().manual_seed(5))
    adv = compute_advantages(name, rewards, groups)
    assert_close(compute_advantages(name, rewards[perm], groups[perm]), adv[perm])


@pytest.mark.parametrize("name", ["positive_dominant", "negative_dominant"])
def test_shifting_rewards_leaves_the_dominance_controls_unchanged(name):
    # they rescale GRPO's z-scores by sign only (the focus controls read p, which a shift moves)
    gen = torch.Generator().manual_seed(1)
    rewards, groups = torch.rand(30, generator=gen), torch.arange(6).repeat_interleave(5)
    assert_close(
        compute_advantages(name, rewards + 2.5, groups),
        compute_advantages(name, rewards, groups),
        atol=1e-4,
        rtol=1e-4,
    )


def test_output_dtype_follows_rewards():
    for name in CONTROLS:
        assert compute_advantages(name, REWARDS.double(), GROUPS).dtype == torch.float64


# ---------------------------------------------------------------- presets and their parameters


@pytest.mark.parametrize("name", CONTROLS)
def test_presets_run_on_the_grpo_baseline(name):
    cfg = load_config(None, [f"algorithm.name={name}"])
    s, grpo = resolve_algorithm(cfg.algorithm, cfg.rollout), PRESETS["grpo"]
    assert s.estimator == name and "arXiv 2602.05548" in s.paper
    assert (s.loss.agg_mode, s.loss.clip_ratio_low, s.loss.clip_ratio_high) == (grpo.loss_agg_mode, 0.2, 0.2)
    assert not s.dynamic_sampling and not s.overlong and s.group_relative
    adv, metrics = s.advantages(REWARDS, GROUPS, correct=REWARDS, batch_accuracy=0.5)
    assert_close(adv, compute_advantages(name, REWARDS, GROUPS, **s.estimator_params))
    assert metrics["advantages/omega"] == 0.5


def test_config_sections_reach_the_estimators():
    cfg = load_config(None, ["algorithm.name=negative_dominant", "algorithm.dominance.beta=4"])
    assert cfg.algorithm.dominance.beta == 4.0
    assert resolve_algorithm(cfg.algorithm, cfg.rollout).estimator_params == {"beta": 4.0}
    cfg = load_config(None, ["algorithm.name=hard_focused", "algorithm.focus.gamma=1"])
    assert resolve_algorithm(cfg.algorithm, cfg.rollout).estimator_params == {"gamma": 1.0}


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        (
            "algorithm.dominance.beta=0.5",
            "algorithm.dominance.beta=0.5 must be >= 1 (the paper uses 10; 1 is GRPO)",
        ),
        ("algorithm.dominance.beta=nan", "algorithm.dominance.beta=nan must be a finite number"),
        ("algorithm.focus.gamma=0", "algorithm.focus.gamma=0.0 must be > 0"),
        ("algorithm.focus.gama=1", "did you mean 'algorithm.focus.gamma'?"),
    ],
)
def test_bad_parameters_fail_at_load(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["algorithm.name=easy_focused", override])
    assert fragment in str(err.value)
