"""``rewards.score``: typed verdicts from any return value, exceptions, threads; ``check_gold``."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mmrl.types import Score
from rewards import check_gold, score
from rewards.scoring import to_score
from tests.unit.verifiers.conftest import make_example


class CustomAbort(BaseException):
    """Like Math-Verify's TimeoutException: not an Exception subclass."""


@pytest.mark.parametrize(
    "value,reward,correct,status",
    [
        (1.0, 1.0, True, "ok"),
        (0, 0.0, False, "ok"),
        (True, 1.0, True, "ok"),
        (0.25, 0.25, None, "ok"),
        (None, None, None, "unparsable_gold"),
        (math.nan, None, None, "error"),
        (math.inf, None, None, "error"),
        ("1.0", None, None, "error"),
        (Score(0.0, False, "unparsable_pred"), 0.0, False, "unparsable_pred"),
    ],
)
def test_to_score(value, reward, correct, status):
    result = to_score(value)
    assert (result.reward, result.correct, result.status) == (reward, correct, status)


@pytest.mark.parametrize("exc", [ValueError("bad"), CustomAbort("gone"), SystemExit(3), RecursionError()])
def test_a_raising_verifier_is_an_error_not_a_zero(exc):
    def boom(response, example):
        raise exc

    result = score("x", make_example("math", "1"), verifier=boom)
    assert result.status == "error" and result.reward is None and result.correct is None
    assert type(exc).__name__ in result.message


def test_keyboard_interrupt_is_not_swallowed():
    def interrupt(response, example):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score("x", make_example("math", "1"), verifier=interrupt)


def test_none_from_a_verifier_is_masked_with_a_status():
    result = score("x", make_example("math", "1"), verifier=lambda r, e: None)
    assert result.reward is None and result.status == "unparsable_gold"


def test_custom_score_is_kept_as_returned_and_blended_only_when_asked():
    def custom(response, example):
        return Score(0.5, True, "ok", {"accuracy": 1.0, "length": 3.0}, "42", "fine")

    result = score("no think tags 42", make_example("custom", "42"), verifier=custom)
    assert result.reward == 0.5  # its own reward: no 0.9 x accuracy + 0.1 x format
    assert result.components == {"accuracy": 1.0, "length": 3.0}
    assert (result.extracted, result.message) == ("42", "fine")
    blended = score("no think tags 42", make_example("custom", "42"), verifier=custom, format_weight=0.1)
    assert blended.reward == pytest.approx(0.9 * 1.0 + 0.1 * 0.0)
    assert blended.components == {"accuracy": 1.0, "length": 3.0, "format": 0.0}


def test_a_custom_verifier_returning_one_gives_reward_one():
    assert score("anything", make_example("custom", "1"), verifier=lambda r, e: 1.0).reward == 1.0


def test_builtin_verifiers_keep_the_format_blend():
    ex = make_example("math", "4")
    assert score("\\boxed{4}", ex).reward == pytest.approx(0.9)  # right, but no <think>
    assert score("<think>t</think> \\boxed{4}", ex).reward == pytest.approx(1.0)


MIXED = [
    ("\\boxed{\\frac{1}{2}}", make_example("math", "0.5")),
    ("\\boxed{8√3}", make_example("geometry", "8\\sqrt{3}")),
    ("(B)", make_example("choice", "B", choices=("1", "2"))),
    ("45%", make_example("chart", "45")),
    ("\\boxed{(x+1)^2}", make_example("math", "x^2+2x+1")),
    ("\\boxed{2\\sqrt5}", make_example("math", "\\sqrt{20}")),
    ("\\boxed{3} or \\boxed{5}", make_example("math", "5")),
]


def test_scores_from_threads_equal_main_thread():
    # No signal-based timeout, so threads give the same verdicts.
    expected = [score(r, ex) for r, ex in MIXED]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda pair: score(*pair), MIXED))
            assert got == expected
    box = []
    thread = threading.Thread(target=lambda: box.append([score(r, ex) for r, ex in MIXED]))
    thread.start()
    thread.join()
    assert box[0] == expected


@pytest.mark.parametrize(
    "example",
    [
        make_example("math", "\\frac{1}{2}"),
        make_example("math", "(-\\infty, 3]"),
        make_example("math", "x^2+2x+1"),
        make_example("geometry", "12 \\pi", choices=("6\\pi", "12\\pi")),
        make_example("geometry", "B", choices=("6\\pi", "12\\pi")),
        make_example("chart", "Democratic Party"),
        make_example("choice", "140°", choices=("40°", "140°")),
        make_example("choice", "B, D", choices=("1", "2", "3", "4")),
    ],
)
def test_check_gold_accepts_readable_golds(example):
    assert check_gold(example) is None


@pytest.mark.parametrize(
    "example,needle",
    [
        (make_example("math", ""), "empty gold answer"),
        (make_example("math", "9^{9^{9}}"), "cannot be evaluated"),
        (make_example("math", "1/0"), "undefined"),
        (make_example("choice", "Z", choices=("1", "2")), "neither a letter"),
        (make_example("mth", "1"), "did you mean 'math'"),
        (make_example("math", "1", precision="two"), "decimal places"),
    ],
)
def test_check_gold_explains_unreadable_golds(example, needle):
    reason = check_gold(example)
    assert reason is not None and needle in reason


def test_check_gold_is_bounded_for_custom_verifiers(monkeypatch):
    import rewards.scoring as scoring

    monkeypatch.setattr(scoring, "CHECK_GOLD_TIMEOUT_S", 0.2)
    stop = threading.Event()

    def never_finishes(response, example):
        stop.wait(30)
        return 1.0

    try:
        assert "did not finish" in check_gold(make_example("x", "1"), verifier=never_finishes)
    finally:
        stop.set()
    assert (
        check_gold(make_example("x", "1"), verifier=lambda r, e: None)
        == "the verifier returned None (could not score)"
    )


@pytest.mark.parametrize(
    "value",
    [
        1e300,
        -1e7,
        1e6 + 1,
        math.nan,
        -math.inf,
        Score(1e300, None, "ok"),
        Score(1.0, True, "ok", {"accuracy": 1e9}),
    ],
)
def test_absurd_or_non_finite_custom_rewards_are_errors(value):
    # 1e300 is finite in float64 but inf in float32: it would crash the advantage stage.
    result = score("x", make_example("custom", "1"), verifier=lambda r, e: value)
    assert result.status == "error" and result.reward is None
    assert "absurd" in result.message or "non-finite" in result.message


def test_absurd_custom_rewards_are_counted_errors_through_the_runner():
    from mmrl.config import RewardConfig
    from rewards import RewardRunner

    spec = "tests.unit.verifiers.test_scoring:huge_reward"
    with RewardRunner(RewardConfig(num_workers=1, verifier=spec, max_error_rate=1.0)) as runner:
        result = runner.score(["a", "b"], [make_example("custom", "1")] * 2)
    assert result.counters["error"] == 2 and result.counters["ok"] == 0
    assert all(s.reward is None for s in result.scores)


def huge_reward(response, example):
    return 1e300


def test_the_largest_allowed_reward_is_ok():
    assert score("x", make_example("custom", "1"), verifier=lambda r, e: 1e6).status == "ok"


def test_a_verifier_format_component_is_kept():
    result = score(
        "no think tags", make_example("c", "1"), verifier=lambda r, e: Score(1.0, True, "ok", {"format": 1.0})
    )
    assert result.components["format"] == 1.0 and result.reward == pytest.approx(1.0)


@pytest.mark.parametrize(
    "gold,needle",
    [
        ("\\frac{", "neither a mathematical expression nor words"),
        ("\\sqrt{2", "neither a mathematical expression nor words"),
        ("inf", "serialised missing or float value"),
        ("None", "serialised missing or float value"),
        ("nan", "serialised missing or float value"),
        ("1e999999999", "neither a mathematical expression nor words"),
    ],
)
def test_check_gold_rejects_golds_that_are_not_answers(gold, needle):
    # Each of these matched itself as text before, so the row looked valid.
    for task in ("math", "geometry"):
        reason = check_gold(make_example(task, gold))
        assert reason is not None and needle in reason, (task, reason)


@pytest.mark.parametrize("gold", ["\\text{(C)}", "Monday", "\\infty", "(-\\infty, 3]", "2 pairs"])
def test_check_gold_keeps_word_and_infinity_golds(gold):
    assert check_gold(make_example("math", gold)) is None


@pytest.mark.parametrize("weights", [{"accuracy_weight": 1e300}, {"format_weight": 1e39}])
def test_a_blended_reward_beyond_float32_is_an_error_naming_the_weights(weights):
    # The config bounds both weights; a direct call does not go through it. 1e300 is inf in float32.
    good = "<think>2+2=4</think> \\boxed{4}"
    result = score(good, make_example("math", "4"), **weights)
    assert (result.reward, result.correct, result.status) == (None, None, "error")
    assert "reward.accuracy_weight=" in result.message and "is not finite in float32" in result.message
