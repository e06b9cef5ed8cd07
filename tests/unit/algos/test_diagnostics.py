"""Group diagnostics: ω, attenuation, zero-variance fraction, advantage mass by sign and by bucket."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from mmrl.algos import compute_advantages_with_metrics, group_diagnostics, score_tensors

NAN = math.nan
# groups: p = .25 | p = .75 | all wrong (zero variance) | one unscorable, rest 1/0 (p = .5)
REWARDS = torch.tensor([1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, NAN, 1, 1, 0])
GROUPS = torch.arange(4).repeat_interleave(4)


def test_grpo_diagnostics_hand_computed():
    adv, m = compute_advantages_with_metrics("grpo", REWARDS, GROUPS)
    # GRPO is zero-sum: positive mass = negative mass. Group 0: 1.5 + 3*.5 = 3; group 1: 3;
    # group 3 ([1, 1, 0] after the NaN): mean 2/3, std sqrt(1/3): A = .57735, .57735, -1.1547 -> 2.3094
    assert m["advantages/pos_mass"] == pytest.approx(m["advantages/neg_mass"], abs=1e-5)
    assert m["advantages/pos_mass"] == pytest.approx(1.5 + 1.5 + 1.1547, abs=1e-4)
    assert m["advantages/zero_variance_frac"] == pytest.approx(1 / 4)
    assert m["advantages/unscorable_frac"] == pytest.approx(1 / 16)
    assert m["advantages/omega"] == pytest.approx(6 / 15)  # six 1s among 15 scorable rewards
    assert "advantages/attenuation" not in m
    assert m["advantages/abs_sum/p=(0,0.25]"] == pytest.approx(3.0, abs=1e-4)
    assert m["advantages/abs_sum/p=(0.5,0.75]"] == pytest.approx(3.0 + 2.3094, abs=1e-3)  # p = .75 and 2/3
    assert m["advantages/groups/p=(0.5,0.75]"] == 2
    assert m["advantages/abs_sum/p=0"] == 0 and m["advantages/groups/p=0"] == 1


def test_a_grae_diagnostics_report_the_attenuation():
    _, m = compute_advantages_with_metrics("grpo+a_grae", REWARDS, GROUPS, batch_accuracy=0.25, alpha=0.5)
    assert m["advantages/omega"] == 0.25 and m["advantages/attenuation"] == 0.5
    assert m["advantages/pos_mass"] == pytest.approx(0.5 * m["advantages/neg_mass"], rel=1e-5)


def test_empty_and_unscorable_batches_do_not_divide_by_zero():
    m = group_diagnostics(torch.zeros(2), torch.tensor([NAN, NAN]), torch.tensor([0, 0]))
    assert m["advantages/zero_variance_frac"] == 0.0 and m["advantages/unscorable_frac"] == 1.0
    assert math.isnan(m["advantages/omega"])


def test_score_tensors_turns_none_into_nan():
    from mmrl.types import Score

    rewards, correct = score_tensors([Score(1.0, True), Score(0.1, False), Score(None, status="error")])
    assert rewards[:2].tolist() == pytest.approx([1.0, 0.1]) and math.isnan(rewards[2])
    assert correct[:2].tolist() == [1.0, 0.0] and math.isnan(correct[2])


def test_plot_script_writes_a_png(tmp_path: Path):
    path = Path(__file__).resolve().parents[3] / "scripts" / "plot_advantage_weights.py"
    spec = importlib.util.spec_from_file_location("plot_advantage_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "weights.png"
    assert module.main(["--out", str(out), "--group-size", "4"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = module.group_masses("grpo", 8)
    assert [round(a + b, 2) for _, a, b in rows[1:-1]] == [4.95, 6.48, 7.25, 7.48, 7.25, 6.48, 4.95]
