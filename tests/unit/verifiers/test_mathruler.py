"""The ``mathruler`` verifier reproduces verl ``utils/reward_score/geo3k.py`` (the A-GRAE paper's
Geometry3K reward): ``0.9 * grade_answer(extract_boxed_content(r), gold) + 0.1 * format(r)``."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from mathruler.grader import extract_boxed_content, grade_answer

from mmrl.config import RewardConfig, load_config
from rewards import RewardRunner, check_gold, score
from rewards.mathruler_verifier import mathruler, verl_format
from tests.unit.verifiers.conftest import make_example
from tests.unit.verifiers.corpus import CASES

ROOT = Path(__file__).resolve().parents[3]
# verl's format pattern, verbatim: the reference for the linear scan.
VERL_PATTERN = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)


def verl_geo3k(response: str, gold: str, format_score: float = 0.1) -> float:
    """verl geo3k.compute_score, written out from its three functions."""
    acc = 1.0 if grade_answer(extract_boxed_content(response), gold) else 0.0
    fmt = 1.0 if VERL_PATTERN.fullmatch(response) else 0.0
    return (1.0 - format_score) * acc + format_score * fmt


def _mix():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_verifiers", ROOT / "scripts" / "bench_verifiers.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.make_mix(400, seed=3)


def test_reward_equals_verl_on_the_corpus_and_the_bench_mix():
    pairs = [(c.response, c.gold) for c in CASES if c.task in ("math", "geometry")]
    responses, examples = _mix()
    pairs += [
        (r, e.answer) for r, e in zip(responses, examples, strict=True) if e.task in ("math", "geometry")
    ]
    assert len(pairs) > 150
    for response, gold in pairs:
        ours = score(response, make_example("geometry", gold), verifier="mathruler")
        if ours.status == "unparsable_gold":
            continue  # a gold mmrl refuses to read (documented difference)
        assert ours.reward == pytest.approx(verl_geo3k(response, gold), abs=1e-12), (response, gold, ours)


@pytest.mark.parametrize(
    "response,gold,reward",
    [
        ("<think>x</think> so \\boxed{2\\sqrt{3}}", "2 \\sqrt { 3 }", 1.0),  # 0.9 + 0.1
        ("\\boxed{2\\sqrt{3}}", "2 \\sqrt { 3 }", 0.9),  # no <think>: no format part
        ("<think>x</think> \\boxed{3.46}", "2 \\sqrt { 3 }", 0.1),  # wrong, formatted
        ("<think>x</think> 12", "12", 0.0),  # no box: mathruler reads "None"
        ("<think>x</think> \\boxed{5 \\text{ or } 10}", "5", 1.0),  # mathruler's known false positive, kept
        ("<think>x</think> \\boxed{3} or \\boxed{5}", "5", 1.0),  # the last box wins, as in verl
    ],
)
def test_hand_checked_rewards(response, gold, reward):
    assert score(response, make_example("geometry", gold), verifier="mathruler").reward == pytest.approx(
        reward
    )
    assert verl_geo3k(response, gold) == pytest.approx(reward)


def test_format_scan_equals_verl_regex_on_random_strings():
    rng = random.Random(0)
    atoms = ["<think>", "</think>", "\\boxed{", "}", "{", "x", " ", "\n", "<", "think>", "\\boxed"]
    for _ in range(20_000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 9)))
        assert verl_format(text) == (1.0 if VERL_PATTERN.fullmatch(text) else 0.0), repr(text)


@pytest.mark.parametrize("answer", ["100000000!", "9**9**9", "1e999999999", "9" * 200, "1+" * 200 + "1"])
def test_sympy_hazards_are_refused_before_mathruler(answer):
    result = mathruler(f"<think>t</think> \\boxed{{{answer}}}", make_example("geometry", "2\\sqrt{3}"))
    assert result.reward == 0.0 and result.status == "unparsable_pred" and "mathruler" in result.message
    assert result.components["format"] == 1.0


@pytest.mark.parametrize("gold", ["\\frac{", "None", "", "5!"])
def test_unreadable_golds_are_masked(gold):
    result = mathruler("\\boxed{5}", make_example("geometry", gold))
    assert result.status == "unparsable_gold" and result.reward is None
    assert check_gold(make_example("geometry", gold), verifier="mathruler") is not None


def test_check_gold_accepts_geometry3k_golds():
    for gold in ("2 \\sqrt { 221 }", "12 \\pi", "374.1", "\\frac { 40 } { 3 }", "60"):
        assert check_gold(make_example("geometry", gold), verifier="mathruler") is None, gold


def test_the_runner_scores_it_in_a_worker_even_in_process():
    # sympy has no time bound: the hard timeout must hold with reward.num_workers=0 too.
    with RewardRunner(RewardConfig(num_workers=0, verifier="mathruler")) as runner:
        result = runner.score(["<think>t</think> \\boxed{12\\pi}"], [make_example("geometry", "12 \\pi")])
        assert runner.worker_pids, "mathruler must not run in the caller's process"
    assert result.scores[0].reward == pytest.approx(1.0)


@pytest.mark.parametrize(
    "config", sorted((ROOT / "scripts" / "configs").glob("geo3k_*.yaml")), ids=lambda p: p.stem
)
def test_geometry3k_paper_configs_select_it(config):
    cfg = load_config(config)
    assert cfg.reward.verifier == "mathruler"
    assert (cfg.reward.accuracy_weight, cfg.reward.format_weight) == (0.9, 0.1)  # verl: (1 - 0.1), 0.1
