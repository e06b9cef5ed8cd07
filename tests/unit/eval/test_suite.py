"""run_eval's early checks: errors name the `mmrl eval` flag the user typed, not a config field."""

from __future__ import annotations

import pytest

from mmrl.config import ConfigError
from mmrl.data import load_examples
from mmrl.errors import UserError
from mmrl.eval.benchmarks import BenchmarkSpec
from mmrl.eval.overrides import resolve_overrides
from mmrl.eval.suite import EvalOptions, _config, _load_benchmark


def options(**kw) -> EvalOptions:
    base = {
        "model": "m",
        "benchmarks": (),
        "n": 2,
        "ks": (1, 2),
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 0,
        "max_new_tokens": 8,
        "seed": 0,
        "engine": "hf",
        "output": None,
        "limit": None,
    }
    return EvalOptions(**{**base, **kw})


def test_config_errors_name_the_flags():
    opts = options(batch_size=0, max_prompt_length=0, reward_workers=-1)
    with pytest.raises(ConfigError) as info:
        _config(resolve_overrides(opts), "some/model", "hf", "auto")
    text = str(info.value)
    assert "--batch-size=0 must be >= 1" in text
    assert "--max-prompt-length=0" in text and "--reward-workers=-1" in text
    assert "rollout.batch_size" not in text and "reward.num_workers" not in text
    valid = _config(resolve_overrides(options()), "some/model", "hf", "auto")
    assert valid.rollout.batch_size == 64  # valid flags pass


def test_a_field_an_override_set_keeps_its_name_in_config_errors():
    # the override is checked alone (it is valid); the pair fails when the tree is built
    opts = options(overrides=("data.min_pixels=5000",), max_pixels=4000)
    with pytest.raises(ConfigError) as info:
        _config(resolve_overrides(opts), "some/model", "hf", "auto")
    assert "data.min_pixels=5000 must be <= --max-pixels=4000" in str(info.value)


def test_unknown_benchmark_names_the_flag_and_the_known_recipes():
    with pytest.raises(UserError, match=r"--benchmarks 'gsm8kk'.*did you mean 'gsm8k'.*known: .*geometry3k"):
        _load_benchmark(load_examples, BenchmarkSpec("gsm8kk", "gsm8kk"), None)


def test_eval_overrides_are_split_from_flags_and_their_values():
    from mmrl.commands.eval import split_overrides

    argv = [
        "eval",
        "--model",
        "m",
        "data.template=x.jinja",
        "--restart",
        "reward.verifier=math",
        "--label",
        "a.b=c",
    ]
    words, overrides = split_overrides(argv)
    assert overrides == ["data.template=x.jinja", "reward.verifier=math"]
    assert words == ["eval", "--model", "m", "--restart", "--label", "a.b=c"]
    assert split_overrides(["eval", "--path", "gsm8k=/d/x.jsonl"]) == (
        ["eval", "--path", "gsm8k=/d/x.jsonl"],
        [],
    )


def test_the_switch_list_matches_the_parser():
    import argparse

    from mmrl.cli import build_parser
    from mmrl.commands.eval import SWITCHES

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["eval"]
    zero = {
        s
        for a in sub._actions
        if a.nargs == 0
        for s in a.option_strings
        if not isinstance(a, argparse._SubParsersAction)
    }
    assert zero == set(SWITCHES)


def test_caches_made_before_reward_functions_and_the_none_blend_stay_valid():
    import dataclasses

    from mmrl.config import RewardConfig
    from mmrl.eval.suite import _reward_fingerprint

    # What caches held when the blend defaulted to 0.9/0.1 and reward.functions did not exist.
    before = {
        "verifier": None,
        "accuracy_weight": 0.9,
        "format_weight": 0.1,
        "timeout_s": 5.0,
        "on_failure": "mask",
        "max_error_rate": 0.2,
        "kwargs": {},
        "score_truncated": False,
    }
    assert _reward_fingerprint(dataclasses.asdict(RewardConfig())) == before
    custom = _reward_fingerprint(dataclasses.asdict(RewardConfig(verifier="my.module:check")))
    assert (custom["accuracy_weight"], custom["format_weight"]) == (None, None)  # no blend: another reward
    listed = _reward_fingerprint(dataclasses.asdict(RewardConfig(functions=[{"fn": "math"}])))
    assert listed["functions"][0]["fn"] == "math"


def _eval_parser():
    import argparse

    from mmrl.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["eval"]


def test_untyped_flags_parse_as_none_and_the_help_gives_the_options_defaults():
    # flags have no argparse default, so that a typed flag is told from an untyped one; the
    # defaults are EvalOptions', and each help's "default X" must say the same
    import re

    from mmrl.commands.eval import _OPTION_FLAGS

    parser = _eval_parser()
    args = parser.parse_args([])
    assert {name: getattr(args, name) for name in _OPTION_FLAGS} == dict.fromkeys(_OPTION_FLAGS)
    defaults = EvalOptions("m", ())
    checked = 0
    for action in parser._actions:
        said = re.search(r"default (-?[\d.]+)", action.help or "")
        if action.dest in _OPTION_FLAGS and said:
            assert float(said.group(1)) == getattr(defaults, action.dest), action.dest
            checked += 1
    assert checked >= 10
