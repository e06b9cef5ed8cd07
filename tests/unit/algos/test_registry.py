"""The estimator registry and the checks of compute_advantages."""

from __future__ import annotations

import math

import pytest
import torch

from mmrl.algos import (
    ESTIMATORS,
    compute_advantages,
    get_estimator,
    grpo_advantages,
    list_estimators,
    register_estimator,
)

REWARDS = torch.tensor([1.0, 0.0, 0.5, 0.5])
GROUPS = torch.tensor([0, 0, 1, 1])


def test_builtins_are_registered():
    assert {"grpo", "dr_grpo", "rloo", "w_reinforce", "grpo+a_grae", "dr_grpo+a_grae"} <= set(
        list_estimators()
    )
    assert get_estimator("grpo") is grpo_advantages


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown advantage estimator 'gpro' .*; known: .*grpo.*rloo"):
        get_estimator("gpro")


def test_register_a_custom_estimator_and_pass_step_data():
    @register_estimator("test_doubled")
    def doubled(rewards, group_ids, *, correct=None, factor=2.0):
        return torch.nan_to_num(rewards * factor) + (0 if correct is None else correct)

    try:
        # batch_accuracy is step data the estimator does not take: silently not passed
        adv = compute_advantages("test_doubled", REWARDS, GROUPS, factor=3.0, batch_accuracy=0.5)
        assert adv.tolist() == [3.0, 0.0, 1.5, 1.5]
        adv = compute_advantages("test_doubled", REWARDS, GROUPS, correct=torch.tensor([1.0, 0, 0, 0]))
        assert adv.tolist() == [3.0, 0.0, 1.0, 1.0]
        with pytest.raises(TypeError, match=r"unexpected parameter\(s\) \['alpha'\].*accepts"):
            compute_advantages("test_doubled", REWARDS, GROUPS, alpha=1.0)
        with pytest.raises(ValueError, match="already registered"):
            register_estimator("test_doubled")(lambda rewards, group_ids: rewards)
    finally:
        ESTIMATORS.unregister("test_doubled")


def test_registration_checks_the_signature():
    with pytest.raises(TypeError, match="rewards, group_ids"):
        register_estimator("test_bad")(lambda scores, ids: scores)


def test_module_path_names_an_unregistered_function():
    adv = compute_advantages("mmrl.algos.grpo:grpo_advantages", REWARDS, GROUPS)
    assert adv.tolist() == compute_advantages("grpo", REWARDS, GROUPS).tolist()
    with pytest.raises(ValueError, match="cannot import"):
        get_estimator("mmrl.algos.grpo:nope")


def test_estimator_must_return_one_value_per_sample():
    register_estimator("test_short")(lambda rewards, group_ids: rewards[:1])
    try:
        with pytest.raises(TypeError, match="must return a tensor of shape"):
            compute_advantages("test_short", REWARDS, GROUPS)
    finally:
        ESTIMATORS.unregister("test_short")


@pytest.mark.parametrize(
    ("rewards", "groups", "kw", "match"),
    [
        (torch.tensor([1, 0]), torch.tensor([0, 0]), {}, "1-D float tensor"),
        (torch.tensor([1.0, 0.0]), torch.tensor([0]), {}, "group_ids must be a tensor of shape"),
        (torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), {}, "integers"),
        (torch.tensor([1.0, math.inf]), torch.tensor([0, 0]), {}, r"rewards\[1\]=inf"),
        (
            torch.tensor([1.0, 0.0]),
            torch.tensor([0, 0]),
            {"correct": torch.tensor([0.5, 1.0])},
            "1 \\(right\\)",
        ),
    ],
)
def test_malformed_inputs_raise(rewards, groups, kw, match):
    with pytest.raises(ValueError, match=match):
        compute_advantages("grpo", rewards, groups, **kw)


ONE_FILE_ALGORITHM = '''
"""A user's algorithm in one file: parameters, estimator, preset, paper."""
from typing import Annotated

from pydantic import Field

from mmrl.algos import Preset, grpo_advantages, register_estimator, register_preset
from mmrl.config import Section, opt, parameter_section


@parameter_section("scaled")
class ScaledParams(Section):
    """Scaled GRPO."""

    factor: Annotated[float, Field(gt=0)] = opt(2.0, "Multiplier of GRPO's advantages.")


@register_estimator("scaled_grpo", params=ScaledParams)
def scaled_grpo(rewards, group_ids, *, factor=2.0):
    return grpo_advantages(rewards, group_ids) * factor


SCALED = register_preset(Preset("scaled_grpo", "scaled_grpo", "token-mean", paper="nobody 2026"))
'''


def test_an_algorithm_is_one_file(tmp_path):
    from mmrl.algos import PRESETS, resolve_algorithm
    from mmrl.config import ConfigError, load_config

    path = tmp_path / "scaled.py"
    path.write_text(ONE_FILE_ALGORITHM)
    with ESTIMATORS.isolated(), PRESETS.isolated():
        # named by its file: the module registers its estimator and its parameter section
        cfg = load_config(None, [f"algorithm.name={path}:SCALED", "algorithm.scaled.factor=3"])
        settings = resolve_algorithm(cfg.algorithm, cfg.rollout)
        assert (settings.estimator, settings.estimator_params, settings.paper) == (
            "scaled_grpo",
            {"factor": 3.0},
            "nobody 2026",
        )
        assert settings.loss.agg_mode == "token-mean"
        adv, _ = settings.advantages(REWARDS, GROUPS, correct=None, batch_accuracy=0.5)
        assert adv.tolist() == pytest.approx(
            [3 * a for a in compute_advantages("grpo", REWARDS, GROUPS).tolist()]
        )
        # now registered, it is a name like the built-ins, with a validated section
        assert load_config(None, ["algorithm.name=scaled_grpo"]).algorithm.scaled.factor == 2.0
        with pytest.raises(ConfigError, match="algorithm.scaled.factor=0.0 must be > 0"):
            load_config(None, ["algorithm.name=scaled_grpo", "algorithm.scaled.factor=0"])
    with pytest.raises(ConfigError, match="unknown algorithm preset 'scaled_grpo'"):
        load_config(None, ["algorithm.name=scaled_grpo"])


def test_parameters_must_be_keywords_of_the_estimator():
    from mmrl.algos.a_grae import AGraeParams

    with pytest.raises(TypeError, match=r"does not take its parameters \['alpha', 'easy_divisor'\]"):
        register_estimator("test_bad_params", params=AGraeParams)(lambda rewards, group_ids: rewards)
    with pytest.raises(TypeError, match="parameter_section"):
        register_estimator("test_bad_params", params=dict)(lambda rewards, group_ids, **kw: rewards)
