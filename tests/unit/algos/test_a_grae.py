"""A-GRAE: hand-computed cases, the paper's closed forms, and its asymmetry."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from mmrl.algos import (
    a_grae_advantages,
    a_grae_weight,
    attenuate_positive,
    compute_advantages,
    difficulty_reweight,
    grpo_advantages,
    peak_success_rate,
)

NAN = math.nan
# group 0: one of four correct (p = 0.25); group 1: three of four correct (p = 0.75)
REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
GROUPS = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])


def test_grpo_a_grae_hand_computed():
    # GRPO: group 0 mean .25, Bessel std .5 -> [1.5, -.5, -.5, -.5]; group 1 -> [.5, .5, .5, -1.5]
    # step 2 with w = .5: scale = (.25)/sqrt(p) + (.25)/sqrt(1-p) = .5 + .288675 = .788675 for both p
    #   group 0 -> [1.183013, -.394338 x3]; group 1 -> [.394338 x3, -1.183013]
    # step 3 with c = min(1, .5/1) = .5 on positives: 1.183013 -> .591506, .394338 -> .197169
    expected = torch.tensor(
        [0.591506, -0.394338, -0.394338, -0.394338, 0.197169, 0.197169, 0.197169, -1.183013]
    )
    adv = compute_advantages("grpo+a_grae", REWARDS, GROUPS, batch_accuracy=0.5, alpha=1.0)
    assert_close(adv, expected, atol=2e-5, rtol=0)


def test_released_code_divisor_hand_computed():
    # easy divisor 1 - sqrt(p): p = .25 -> .5, scale = .25/.5 + .25/.5 = 1.0
    #                           p = .75 -> .133975, scale = .25/.866025 + .25/.133975 = 2.154701
    # alpha = .5 makes c = min(1, .5/.5) = 1 (no attenuation)
    expected = torch.tensor([1.5, -0.5, -0.5, -0.5, 1.077350, 1.077350, 1.077350, -3.232051])
    adv = compute_advantages(
        "grpo+a_grae", REWARDS, GROUPS, batch_accuracy=0.5, alpha=0.5, easy_divisor="one_minus_sqrt_p"
    )
    assert_close(adv, expected, atol=2e-5, rtol=0)


def test_dr_grpo_a_grae_hand_computed():
    # Dr.GRPO: group 0 -> [.75, -.25 x3]; w = .2: scale(p=.25) = .1/.5 + .4/.866025 = .661880
    #   -> [.496410, -.165470 x3]; c = .2 on positives -> .099282
    adv = compute_advantages("dr_grpo+a_grae", REWARDS[:4], GROUPS[:4], batch_accuracy=0.2)
    assert_close(adv, torch.tensor([0.099282, -0.165470, -0.165470, -0.165470]), atol=1e-5, rtol=0)


def test_omega_defaults_to_the_mean_reward():
    # mean of the 8 rewards is .5, so the default equals batch_accuracy=.5
    assert_close(
        compute_advantages("grpo+a_grae", REWARDS, GROUPS),
        compute_advantages("grpo+a_grae", REWARDS, GROUPS, batch_accuracy=0.5),
    )


def test_success_rate_reads_the_correct_indicator():
    # rewards 0.9*acc + 0.1*format: group mean reward .325 but one of four is correct (p = .25)
    rewards = torch.tensor([1.0, 0.1, 0.1, 0.1])
    correct = torch.tensor([1.0, 0.0, 0.0, 0.0])
    base = grpo_advantages(rewards, GROUPS[:4])
    adv = a_grae_advantages(base, rewards, GROUPS[:4], correct=correct, batch_accuracy=0.5, alpha=0.5)
    scale = 0.25 / math.sqrt(0.25) + 0.25 / math.sqrt(0.75)
    assert_close(adv, base * scale)


def test_groups_with_p_0_or_1_are_not_rescaled():
    # p from the indicator is 1 but format bonuses differ: the base advantages pass unchanged
    rewards = torch.tensor([1.0, 0.9, 1.0, 0.9])
    correct = torch.ones(4)
    base = grpo_advantages(rewards, GROUPS[:4])
    adv = a_grae_advantages(base, rewards, GROUPS[:4], correct=correct, batch_accuracy=1.0, alpha=1.0)
    assert_close(adv, base)
    p = torch.tensor([0.0, 1.0, NAN])
    assert_close(difficulty_reweight(torch.tensor([0.3, -0.2, 0.5]), p, 0.4), torch.tensor([0.3, -0.2, 0.5]))


def test_attenuation_touches_positives_only():
    adv = torch.tensor([2.0, -1.0, 0.0, 0.5])
    assert_close(attenuate_positive(adv, omega=0.3, alpha=0.6), torch.tensor([1.0, -1.0, 0.0, 0.25]))
    assert_close(attenuate_positive(adv, omega=0.9, alpha=0.6), adv)  # omega >= alpha: c = 1


@pytest.mark.parametrize(("omega", "alpha"), [(0.2, 1.0), (0.5, 1.0), (0.3, 0.5), (0.8, 0.5)])
def test_positive_mass_is_attenuation_times_negative_mass(omega, alpha):
    gen = torch.Generator().manual_seed(3)
    rewards = (torch.rand(80, generator=gen) < 0.4).float()
    groups = torch.arange(10).repeat_interleave(8)
    adv = compute_advantages("grpo+a_grae", rewards, groups, batch_accuracy=omega, alpha=alpha).double()
    positive, negative = adv.clamp(min=0).sum(), (-adv).clamp(min=0).sum()
    assert negative > 0
    assert_close(positive, min(1.0, omega / alpha) * negative, atol=1e-5, rtol=1e-5)
    assert adv.sum() < 0 or omega >= alpha  # negative-dominant while the model is weak


@pytest.mark.parametrize("omega", [0.2, 0.5, 0.8])
def test_per_prompt_weight_matches_the_closed_form(omega):
    # alpha = omega switches step 3 off (c = 1), so sum|A| is step 2's per-prompt weight:
    # W(p) = G [w sqrt(1-p) + (1-w) sqrt(p)] for population std, times sqrt((G-1)/G) for Bessel's
    G = 8
    rewards = torch.cat([torch.tensor([1.0] * k + [0.0] * (G - k)) for k in range(1, G)])
    groups = torch.arange(G - 1).repeat_interleave(G)
    adv = compute_advantages("grpo+a_grae", rewards, groups, batch_accuracy=omega, alpha=omega)
    weights = torch.zeros(G - 1, dtype=torch.float64).index_add(0, groups, adv.abs().double())
    expected = torch.tensor([a_grae_weight(k / G, omega, G) * math.sqrt((G - 1) / G) for k in range(1, G)])
    assert_close(weights, expected.double(), atol=1e-4, rtol=1e-5)


def test_closed_form_values_at_g8():
    # by hand: at w = .2 the weights rise 3.76 -> 6.55 with k; at w = .8 they fall 6.55 -> 3.76
    assert a_grae_weight(1 / 8, 0.2, 8) == pytest.approx(3.76, abs=0.01)
    assert a_grae_weight(7 / 8, 0.2, 8) == pytest.approx(6.55, abs=0.01)
    assert a_grae_weight(1 / 8, 0.8, 8) == pytest.approx(6.55, abs=0.01)


@pytest.mark.parametrize("omega", [0.2, 0.3, 0.5, 0.8])
def test_weight_peaks_at_p_star(omega):
    p_star = peak_success_rate(omega)  # (1-w)^2 / ((1-w)^2 + w^2)
    grid = [i / 10_000 for i in range(1, 10_000)]
    assert max(grid, key=lambda p: a_grae_weight(p, omega, 1)) == pytest.approx(p_star, abs=1e-4)
    # and the estimator itself: with G = 200 the heaviest prompt has k/G within 1/G of p*
    G = 200
    rewards = torch.cat([torch.tensor([1.0] * k + [0.0] * (G - k)) for k in range(1, G)])
    groups = torch.arange(G - 1).repeat_interleave(G)
    adv = compute_advantages("grpo+a_grae", rewards, groups, batch_accuracy=omega, alpha=omega)
    weights = torch.zeros(G - 1, dtype=torch.float64).index_add(0, groups, adv.abs().double())
    k_best = int(weights.argmax()) + 1
    assert abs(k_best / G - p_star) <= 1 / G


def test_a_grae_is_not_zero_sum_but_grpo_is():
    grpo = compute_advantages("grpo", REWARDS, GROUPS)
    a_grae = compute_advantages("grpo+a_grae", REWARDS, GROUPS, batch_accuracy=0.3)
    assert abs(float(grpo.sum())) < 1e-5
    assert float(a_grae.sum()) < -0.5


def test_invalid_parameters_raise():
    with pytest.raises(ValueError, match="alpha"):
        compute_advantages("grpo+a_grae", REWARDS, GROUPS, alpha=1.5)
    with pytest.raises(ValueError, match="batch_accuracy"):
        compute_advantages("grpo+a_grae", REWARDS, GROUPS, batch_accuracy=-0.2)
    with pytest.raises(ValueError, match="easy_divisor"):
        compute_advantages("grpo+a_grae", REWARDS, GROUPS, easy_divisor="sqrt_p")


def test_all_unscorable_batch_gives_zeros():
    rewards = torch.full((4,), NAN)
    assert torch.all(compute_advantages("grpo+a_grae", rewards, GROUPS[:4]) == 0)
