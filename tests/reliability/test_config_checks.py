"""Settings that cannot work fail before any weight is read, each naming what to change.

Batch shapes (``trainer.mini_batch_prompts`` must divide ``trainer.prompts_per_step``, which the
number of processes must divide; micro-batches need not divide anything: the last one of a rank
is smaller and the loss is normalised over the whole mini-batch), the vLLM context length, vLLM's
memory share, and reward functions that cannot be imported, sent to the scoring workers or score
anything. The trainer tests stop ``load_policy``: an error after it would mean the model loaded.

Non-finite numbers in the configuration are ``test_config_values``.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import threading
from types import SimpleNamespace

import pytest

from mmrl.config import ConfigError, RewardConfig, load_config
from mmrl.errors import UserError
from mmrl.types import Example
from rewards import RewardRunner

HERE = "tests.reliability.test_config_checks"


def nan_reward(response, example):
    return math.nan


def infinite_reward(response, example):
    return -math.inf


def text_reward(response, example):
    return "1.0"


def raising_reward(response, example):
    return example.meta["difficulty"] / 10  # the rows have no such column


def empty_batch_reward(completions, **columns):
    return []


def undecided_reward(response, example):
    return None  # "cannot score this one": masked, not an error


def length_reward(response, example, *, lock=None):
    return min(1.0, len(response) / 100)


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the trainer gets as far as loading the policy's weights."""

    def load_policy(*args, **kwargs):
        raise AssertionError("the model was loaded before the error")

    monkeypatch.setattr("mmrl.policy.load_policy", load_policy)


def trainer(tmp_path, *overrides, processes=1, reward_funcs=()):
    import torch

    from mmrl.train.trainer import Trainer

    cfg = load_config(
        None,
        [
            f"trainer.output_dir={tmp_path / 'run'}",
            "trainer.prompts_per_step=2",
            "data.options={num_examples: 4}",
            "rollout.engine=hf",
            "reward.num_workers=1",
            *overrides,
        ],
    )
    accelerator = SimpleNamespace(
        device=torch.device("cpu"), num_processes=processes, process_index=0, mixed_precision="no"
    )
    return Trainer(cfg, accelerator=accelerator, reward_funcs=reward_funcs)


def example() -> Example:
    return Example(id="row-0", task="math", prompt="What is 2+2?", answer="4")


# --- batch shapes, lengths, memory --------------------------------------------------------------


@pytest.mark.reliability(20)
def test_mini_batch_prompts_that_do_not_divide_prompts_per_step_fail_at_load():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["trainer.prompts_per_step=8", "trainer.mini_batch_prompts=3"])
    assert "must divide trainer.prompts_per_step=8" in str(err.value)


@pytest.mark.reliability(20)
def test_prompts_per_step_not_divisible_by_the_processes_fails_before_the_model_loads(
    tmp_path, no_model_load
):
    with pytest.raises(
        ConfigError, match=r"trainer.prompts_per_step=2 must be divisible by the number of processes \(3\)"
    ):
        trainer(tmp_path, processes=3)


@pytest.mark.reliability(20)
def test_a_vllm_context_shorter_than_prompt_plus_response_fails_at_load_when_vllm_may_generate():
    # vLLM's context length only matters when vLLM may generate (rollout.engine vllm or auto)
    cfg = load_config(None, ["rollout.engine=hf", "rollout.vllm.max_model_len=16"])
    assert cfg.rollout.vllm.max_model_len == 16
    for engine in ("vllm", "auto"):
        with pytest.raises(ConfigError, match="rollout.vllm.max_model_len=16 is below"):
            load_config(None, [f"rollout.engine={engine}", "rollout.vllm.max_model_len=16"])


@pytest.mark.reliability(20)
def test_a_vllm_memory_share_that_leaves_nothing_to_the_trainer_fails_at_load():
    # vLLM starts after the policy is on the GPU and asks for its share of the whole device: with
    # 1.0 it could never get it, and would say so only after the model had loaded.
    with pytest.raises(ConfigError) as err:
        load_config(None, ["rollout.vllm.gpu_memory_utilization=1.0"])
    assert err.value.errors[0].startswith("rollout.vllm.gpu_memory_utilization=1.0 must be in (0, 1)")
    assert "e.g. 0.5" in err.value.errors[0]
    assert (
        load_config(None, ["rollout.vllm.gpu_memory_utilization=0.9"]).rollout.vllm.gpu_memory_utilization
        == 0.9
    )


# --- reward functions ---------------------------------------------------------------------------


@pytest.mark.reliability(20)
@pytest.mark.parametrize(
    "override,needle",
    [
        ("reward.verifier=no_such_module:score", "no_such_module"),
        ("reward.functions=[{fn: 'missing_rewards.py:score'}]", "missing_rewards.py"),
        (
            "reward.functions=[{fn: 'tests.reliability.test_config_checks:no_such_function'}]",
            "no_such_function",
        ),
    ],
)
def test_an_unimportable_reward_function_fails_before_the_model_loads(
    tmp_path, no_model_load, override, needle
):
    with pytest.raises(UserError, match=needle):
        trainer(tmp_path, override)


@pytest.mark.reliability(20)
def test_a_reward_function_the_workers_cannot_import_fails_before_the_model_loads(
    tmp_path, monkeypatch, no_model_load
):
    # Importable here only (a module found through a path the run added by hand): the workers,
    # started with today's sys.path, cannot load it. That shows on the probe, not at step 1.
    (tmp_path / "parent_only_rewards.py").write_text("def exact(response, example):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import parent_only_rewards

    monkeypatch.setitem(sys.modules, "parent_only_rewards", parent_only_rewards)
    sys.path.remove(str(tmp_path))
    with pytest.raises(
        UserError, match=r"cannot score example .*cannot load the verifier.*parent_only_rewards"
    ):
        trainer(tmp_path, reward_funcs=[parent_only_rewards.exact])


@pytest.mark.reliability(20)
def test_a_reward_function_returning_nan_fails_before_the_model_loads(tmp_path, no_model_load):
    with pytest.raises(UserError, match=r"cannot score example .*non-finite value nan"):
        trainer(tmp_path, f"reward.verifier={HERE}:nan_reward")


@pytest.mark.reliability(20)
@pytest.mark.parametrize(
    "fn,needle",
    [
        (nan_reward, "the non-finite value nan"),
        (infinite_reward, "the non-finite value -inf"),
        (text_reward, "the verifier returned str"),
        (raising_reward, "KeyError: 'difficulty'"),
        (empty_batch_reward, "must return a list of 1 values"),
    ],
    ids=["nan", "infinity", "text", "raises", "wrong_length"],
)
def test_a_reward_function_that_cannot_score_its_own_gold_fails_the_check_before_training(fn, needle):
    with RewardRunner(RewardConfig(num_workers=1), [fn]) as runner, pytest.raises(UserError) as info:
        runner.check_examples([example()])
    message = str(info.value)
    assert needle in message and f"reward function {fn.__name__!r}" in message
    assert "'row-0'" in message and "'\\\\boxed{4}'" in message


@pytest.mark.reliability(20)
def test_the_check_before_training_passes_a_function_that_scores_or_declines():
    for fn in (undecided_reward, length_reward):
        with RewardRunner(RewardConfig(num_workers=1), [fn]) as runner:
            runner.check_examples([example()])


@pytest.mark.reliability(20)
def test_an_unpicklable_reward_function_is_found_when_the_runner_starts(caplog):
    # A function holding a lock cannot be pickled to a worker: it is told at start, before the
    # model loads, and scores in this process instead of failing the first batch.
    locked = functools.partial(length_reward, lock=threading.Lock())
    with caplog.at_level(logging.WARNING, logger="rewards.runner"):
        runner = RewardRunner(RewardConfig(num_workers=1), [{"fn": locked, "name": "locked_length"}])
    with runner:
        assert "cannot be imported by the scoring workers: it runs in this process" in caplog.text
        runner.check_examples([example()])
        (scored,) = runner.score(["x" * 50], [example()]).scores
    assert scored.status == "ok" and scored.reward == 0.5
