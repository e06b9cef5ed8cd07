"""Reward functions as users write them: call styles told apart by signature, the weighted sum,
and the runner scoring with several (``rewards.functions``, ``reward.functions``)."""

from __future__ import annotations

import pytest

from mmrl.config import RewardConfig, load_config
from mmrl.errors import UserError
from mmrl.types import Example, Score
from rewards import RewardError, RewardRunner, score
from rewards.functions import RewardFunction, combine, detect_style, resolve_functions


def example(answer: str = "4", **meta) -> Example:
    return Example(id=f"ex{answer}", task="math", prompt="What is 2+2?", answer=answer, meta=meta)


# --- signatures ---------------------------------------------------------------------------------


def per_sample(response, example):
    return 1.0


def per_sample_with_options(response, example, *, strict=False):
    return 1.0


def trl_style(completions, **kwargs):
    return [1.0] * len(completions)


def trl_named_columns(prompts, completions, answer, source):
    return [float(a in c) for c, a in zip(completions, answer, strict=True)]


def easyr1_batch(reward_inputs, format_weight=0.1):
    return [{"overall": 1.0, "accuracy": 1.0} for _ in reward_inputs]


def easyr1_sequential(reward_input):
    return {"overall": 0.5, "accuracy": 0.0}


@pytest.mark.parametrize(
    "fn,style",
    [
        (per_sample, "sample"),
        (per_sample_with_options, "sample"),
        (trl_style, "batch"),
        (trl_named_columns, "batch"),
        (easyr1_batch, "easyr1"),
        (easyr1_sequential, "easyr1_sample"),
        (lambda response, example, **kwargs: 0.0, "sample"),
        (lambda *args: 0.0, "sample"),
    ],
)
def test_the_style_is_read_from_the_signature(fn, style):
    assert detect_style(fn, "f") == style


@pytest.mark.parametrize(
    "fn",
    [lambda response: 1.0, lambda: 1.0, lambda a, b, c: 1.0, lambda **kwargs: [1.0]],
    ids=["one-argument", "no-argument", "three-arguments", "only-kwargs"],
)
def test_a_signature_of_no_accepted_form_fails_naming_them(fn):
    with pytest.raises(UserError, match=r"signature f\(.*\).*Accepted: fn\(response, example\)"):
        detect_style(fn, "f")


def test_keyword_arguments_the_function_does_not_take_fail_at_start():
    assert detect_style(per_sample_with_options, "f", {"strict": True}) == "sample"
    with pytest.raises(UserError, match="with reward kwargs \\['strictness'\\]"):
        detect_style(per_sample_with_options, "f", {"strictness": True})


# --- resolution ---------------------------------------------------------------------------------


def test_names_specs_and_callables_resolve_through_the_registry(tmp_path):
    path = tmp_path / "my_rewards.py"
    path.write_text(
        "def length_penalty(completions, **kwargs):\n    return [-len(c) / 100 for c in completions]\n"
    )
    cfg = load_config(
        None,
        [
            f"reward.functions=[{{fn: math, weight: 0.9}}, format, {{fn: '{path}:length_penalty', weight: 0.5}}]"
        ],
    )
    functions = resolve_functions(
        [*cfg.reward.functions, trl_style, {"fn": per_sample, "name": "one", "weight": 2}]
    )
    assert [(f.name, f.style, f.weight) for f in functions] == [
        ("math", "sample", 0.9),
        ("format", "sample", 1.0),
        ("length_penalty", "batch", 0.5),
        ("trl_style", "batch", 1.0),
        ("one", "sample", 2.0),
    ]
    assert functions[2].spec == f"{path}:length_penalty" and functions[3].spec is None


@pytest.mark.parametrize(
    "entries,needle",
    [
        (["nope"], "unknown verifier 'nope'"),
        ([lambda response, example: 1.0], "name '<lambda>' must be a word"),
        (["math", "math"], "two reward functions are named 'math'"),
        ([{"fn": "math", "name": "accuracy"}], "taken by the metric reward/accuracy"),
        ([{"fn": "math", "wieght": 2}], "unknown: \\['wieght'\\]"),
    ],
)
def test_bad_entries_fail_with_the_fix(entries, needle):
    with pytest.raises(UserError, match=needle):
        resolve_functions(entries)


# --- the weighted sum ---------------------------------------------------------------------------

MATH = RewardFunction("math", per_sample, "sample", 0.9)
FORMAT = RewardFunction("format", per_sample, "sample", 0.1)
PENALTY = RewardFunction("penalty", per_sample, "sample", -0.5)


def test_the_total_is_exactly_the_weighted_sum():
    s = combine([MATH, FORMAT, PENALTY], [Score(1.0, True), Score(1.0, True), Score(0.2)])
    assert s.reward == 0.9 * 1.0 + 0.1 * 1.0 + -0.5 * 0.2  # 0.9
    assert s.components == {"math": 1.0, "format": 1.0, "penalty": 0.2}
    assert s.correct is True and s.status == "ok"


def test_a_function_returning_none_is_left_out_of_that_sum():
    # TRL's rule for a function that does not apply to a sample.
    s = combine([MATH, FORMAT], [Score(None, status="unparsable_gold"), Score(1.0, True)])
    assert s.reward == 0.1 and s.components == {"format": 1.0}


def test_every_function_returning_none_leaves_it_unscorable():
    none = Score(None, status="unparsable_gold", message="no gold")
    s = combine([MATH, FORMAT], [none, none])
    assert s.reward is None and s.status == "unparsable_gold" and "math: no gold" in s.message


def test_an_error_in_any_function_masks_the_response_never_zero():
    s = combine([MATH, FORMAT], [Score(1.0, True), Score(None, status="error", message="boom")])
    assert s.reward is None and s.status == "error" and "'format': boom" in s.message


def test_correct_and_status_come_from_the_first_function_that_scored():
    s = combine([MATH, FORMAT], [Score(0.0, False, "unparsable_pred", message="no answer"), Score(1.0, True)])
    assert (s.correct, s.status, s.message) == (False, "unparsable_pred", "no answer")


# --- the runner with several functions (in this process: built-ins inline, the rest in threads) --


def runner_for(*functions, **cfg) -> RewardRunner:
    return RewardRunner(RewardConfig(**{"num_workers": 0, "timeout_s": 5.0, **cfg}), functions)


GOOD = "<think>2+2=4</think> \\boxed{4}"
WRONG_NO_THINK = "\\boxed{5}"


def test_math_and_format_functions_give_the_weighted_sum_and_name_each_part():
    cfg = load_config(None, ["reward.functions=[{fn: math, weight: 0.9}, {fn: format, weight: 0.1}]"])
    with RewardRunner(RewardConfig(**{**vars_of(cfg.reward), "num_workers": 0})) as runner:
        result = runner.score([GOOD, WRONG_NO_THINK, "\\boxed{4}"], [example()] * 3)
        assert runner.component_names == ("math", "format")
    rewards = [s.reward for s in result.scores]
    assert rewards == [pytest.approx(1.0), 0.0, pytest.approx(0.9)]
    assert result.scores[2].components == {"math": 1.0, "format": 0.0}
    assert [s.correct for s in result.scores] == [True, False, True]


def vars_of(section) -> dict:
    import dataclasses

    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}


def test_a_custom_function_returning_one_gives_reward_one():
    with runner_for({"fn": lambda response, example: 1.0, "name": "always"}) as runner:
        result = runner.score(["anything"], [example()])
    assert result.scores[0].reward == 1.0 and result.scores[0].components == {"always": 1.0}


def test_trl_style_functions_get_completions_and_columns():
    seen = {}

    def contains_answer(completions, answer, source, **kwargs):
        seen.update(kwargs, answer=answer, source=source)
        return [float(a in c) for c, a in zip(completions, answer, strict=True)]

    with runner_for(contains_answer) as runner:
        runner.check_examples([example(source="gsm8k")])
        result = runner.score(
            ["it is 4", "it is 5"], [example("4", source="gsm8k"), example("6", source="x")]
        )
    assert [s.reward for s in result.scores] == [1.0, 0.0]
    assert seen["answer"] == ["4", "6"] and seen["source"] == ["gsm8k", "x"]
    assert seen["prompts"] == ["What is 2+2?"] * 2 and seen["id"] == ["ex4", "ex6"]


def test_a_trl_style_function_without_kwargs_gets_only_what_it_names():
    def exact(completions, answer):
        return [float(c == a) for c, a in zip(completions, answer, strict=True)]

    with runner_for(exact) as runner:
        assert [s.reward for s in runner.score(["4", "5"], [example("4")] * 2).scores] == [1.0, 0.0]


def test_a_column_the_data_lacks_fails_at_start_with_the_columns_it_has():
    with runner_for(trl_named_columns) as runner, pytest.raises(UserError, match="takes 'source'.*'answer'"):
        runner.check_examples([example()])


def test_a_trl_function_returning_the_wrong_length_is_an_error_for_each_response():
    with runner_for({"fn": lambda completions, **kw: [1.0], "name": "short"}, max_error_rate=1.0) as runner:
        result = runner.score(["a", "b"], [example()] * 2)
    assert [s.status for s in result.scores] == ["error", "error"]
    assert "must return a list of 2 values" in result.scores[0].message


def test_trl_none_values_are_left_out_of_the_sum():
    def only_long(completions, **kwargs):
        return [1.0 if len(c) > 3 else None for c in completions]

    with runner_for({"fn": only_long, "weight": 0.5}, {"fn": per_sample, "weight": 0.25}) as runner:
        result = runner.score(["long one", "s"], [example()] * 2)
    assert [s.reward for s in result.scores] == [0.5 + 0.25, 0.25]


def test_easyr1_functions_use_overall_and_log_their_parts():
    with runner_for(easyr1_batch, easyr1_sequential) as runner:
        result = runner.score(["a"], [example()], lengths=[7])
    s = result.scores[0]
    assert s.reward == 1.0 + 0.5
    assert s.components == {
        "easyr1_batch": 1.0,
        "easyr1_batch/accuracy": 1.0,
        "easyr1_sequential": 0.5,
        "easyr1_sequential/accuracy": 0.0,
    }


def test_easyr1_inputs_carry_response_length_and_ground_truth():
    seen = []

    def compute_score(reward_inputs):
        seen.extend(reward_inputs)
        return [0.0] * len(reward_inputs)

    with runner_for(compute_score) as runner:
        runner.score(["abc"], [example("4")], lengths=[3])
    assert seen == [{"response": "abc", "response_length": 3, "ground_truth": "4"}]


def test_a_truncated_response_scores_zero_in_every_function():
    with runner_for({"fn": "math", "weight": 0.9}, {"fn": trl_style, "weight": 0.1}) as runner:
        result = runner.score([GOOD], [example()], [True])
    s = result.scores[0]
    assert (
        s.reward == 0.0 and s.status == "unparsable_pred" and s.components == {"math": 0.0, "trl_style": 0.0}
    )


def test_a_function_that_hangs_in_this_process_times_out():
    import time

    def slow(completions, **kwargs):
        time.sleep(30)

    with runner_for(slow, timeout_s=0.2, max_error_rate=1.0) as runner:
        result = runner.score(["a"], [example()])
    assert result.scores[0].status == "timeout" and result.counters["timeout"] == 1


def test_the_single_verifier_accepts_the_other_styles_too():
    with RewardRunner(
        RewardConfig(num_workers=0, verifier="tests.unit.verifiers.test_reward_functions:trl_style")
    ) as r:
        assert r.score(["a"], [example()]).scores[0].reward == 1.0
    assert score("a", example(), verifier=easyr1_sequential).reward == 0.5


def test_reward_functions_and_the_single_verifier_settings_do_not_mix():
    from mmrl.config import ConfigError

    with pytest.raises(ConfigError, match="reward.verifier='math' and reward.functions"):
        load_config(None, ["reward.functions=[format]", "reward.verifier=math"])
    with pytest.raises(ConfigError, match="reward.format_weight=0.1 has no effect"):
        load_config(None, ["reward.functions=[math]", "reward.format_weight=0.1"])


# --- rewards the trainer's float32 tensors can hold ----------------------------------------------


@pytest.mark.parametrize("weight", [1e300, -1e39, float("inf"), float("nan")])
def test_a_weight_beyond_float32_fails_when_the_functions_are_resolved(weight):
    # A dict entry (fit(cfg, reward_funcs=[...]) or RewardRunner(cfg, [...])) skips the config's range.
    with pytest.raises(UserError, match=r"reward function 0 \('math'\): weight .* must be finite in float32"):
        resolve_functions([{"fn": "math", "weight": weight}])


def test_a_weighted_sum_beyond_float32_is_an_error_naming_each_term():
    big = RewardFunction("math", per_sample, "sample", 3e38)  # below FLOAT32_MAX = 3.4028e38
    s = combine([big, FORMAT], [Score(1.0, True), Score(1.0, True)])
    assert s.reward == pytest.approx(3e38) and s.status == "ok"  # 3e38 + 0.1 still fits
    twice = RewardFunction("math2", per_sample, "sample", 3e38)
    s = combine([big, twice], [Score(1.0, True), Score(1.0, True)])  # 6e38: inf in float32
    assert (s.reward, s.correct, s.status) == (None, None, "error")
    assert "3e+38 * math(1) + 3e+38 * math2(1) = 6e+38 is not finite in float32" in s.message


def test_a_sum_beyond_float32_is_counted_logged_and_follows_the_policy(caplog):
    functions = [{"fn": "math", "weight": 3e38}, {"fn": "math", "weight": 3e38, "name": "again"}]
    with runner_for(*functions, max_error_rate=1.0) as runner:
        result = runner.score([GOOD, WRONG_NO_THINK], [example()] * 2)
    # The right answer sums to 6e38: an error, counted; the wrong one sums to 0 and is kept.
    assert [s.reward for s in result.scores] == [None, 0.0]
    assert result.counters["error"] == 1 and result.counters["ok"] == 1
    assert "reward.functions" in caplog.text and "not finite in float32" in caplog.text
    with runner_for(*functions, on_failure="raise") as runner, pytest.raises(RewardError, match="6e\\+38"):
        runner.score([GOOD], [example()])
