"""Config: defaults, YAML + overrides, round-trip, and loud validation.

The checks that keep a bad run from loading a model (non-finite numbers, batch divisibility,
context length, memory share) are item 20 of the reliability plan: ``tests/reliability/
test_config_values.py`` and ``test_config_checks.py``.
"""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from mmrl.config import (
    Config,
    ConfigError,
    apply_overrides,
    config_to_yaml,
    field_docs,
    load_config,
    save_config,
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_defaults_validate_and_every_field_has_a_doc():
    cfg = load_config()
    assert cfg == Config()
    docs = field_docs()
    assert "trainer.max_steps" in docs and "algorithm.a_grae.alpha" in docs
    missing = [key for key, doc in docs.items() if not doc.strip()]
    assert missing == []


def test_yaml_then_overrides(tmp_path):
    path = write(
        tmp_path,
        "run.yaml",
        """
        trainer:
          max_steps: 20
          learning_rate: 1e-6      # YAML reads this as a string; it must still be a float
        rollout: {n: 4, stop: ["</answer>"]}
        algorithm: {name: dapo, a_grae: {alpha: 0.5}}
        """,
    )
    cfg = load_config(
        path, ["trainer.max_steps=3", "eval.n=4", "eval.k=[1,2,4]", "data.options.num_examples=5"]
    )
    assert cfg.trainer.max_steps == 3
    assert cfg.trainer.learning_rate == pytest.approx(1e-6) and isinstance(cfg.trainer.learning_rate, float)
    assert cfg.rollout.n == 4 and cfg.rollout.stop == ["</answer>"]
    assert cfg.algorithm.name == "dapo" and cfg.algorithm.a_grae.alpha == 0.5
    assert cfg.eval.k == [1, 2, 4]
    assert cfg.data.options == {"num_examples": 5}
    # untouched fields keep their defaults
    assert cfg.rollout.temperature == Config().rollout.temperature


def test_base_inheritance(tmp_path):
    write(tmp_path, "base.yaml", "trainer: {max_steps: 7, seed: 3}\nrollout: {n: 2}\n")
    child = write(tmp_path, "child.yaml", "_base_: base.yaml\ntrainer: {max_steps: 9}\n")
    cfg = load_config(child)
    assert (cfg.trainer.max_steps, cfg.trainer.seed, cfg.rollout.n) == (9, 3, 2)


def test_base_cycle_is_reported(tmp_path):
    write(tmp_path, "a.yaml", "_base_: b.yaml\n")
    write(tmp_path, "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


def test_round_trip_is_identical(tmp_path):
    cfg = load_config(
        None, ["trainer.learning_rate=3e-6", "model.lora.target_modules=[q_proj,v_proj]", "eval.limit=null"]
    )
    path = save_config(cfg, tmp_path / "config.yaml")
    again = load_config(path)
    assert again == cfg
    assert config_to_yaml(again) == config_to_yaml(cfg)


def test_unknown_key_names_the_nearest_valid_key():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["trainer.max_stepz=3"])
    assert "trainer.max_stepz" in str(err.value) and "'trainer.max_steps'" in str(err.value)


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [
        ("trainer.lr=1e-5", "trainer.learning_rate"),  # a verl/TRL name
        ("max_steps=3", "trainer.max_steps"),  # missing section
        ("rollout.temprature=0.7", "rollout.temperature"),
        ("algorithm.kl_loss_coef=0.1", "algorithm.kl_coef"),
    ],
)
def test_unknown_key_suggestions(override, suggestion):
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'"):
        load_config(None, [override])


def test_wrong_type_names_field_type_and_value():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["trainer.max_steps=abc"])
    msg = str(err.value)
    assert "trainer.max_steps" in msg and "int" in msg and "'abc'" in msg


def test_bool_is_not_an_int_and_literals_suggest():
    with pytest.raises(ConfigError, match="trainer.max_steps expects int"):
        load_config(None, ["trainer.max_steps=true"])
    with pytest.raises(ConfigError, match="did you mean 'token-mean'"):
        load_config(None, ["algorithm.loss_agg_mode=token_mean"])


def test_all_errors_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["trainer.max_stepz=1", "rollout.n=x"])
    assert len(err.value.errors) == 2


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["eval.k=[1,8]", "eval.n=4", "eval.every=10"], "raise eval.n to 8"),
        (["data.min_pixels=100", "data.max_pixels=50"], "data.min_pixels=100 must be <= data.max_pixels=50"),
        (["algorithm.a_grae.alpha=1.5"], "alpha <= 1"),
        (["rollout.n=0"], "rollout.n=0 must be >= 1"),
        (["rollout.top_p=0"], "rollout.top_p=0.0 must be in (0, 1]"),
    ],
)
def test_cross_field_checks_say_what_to_change(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert fragment in str(err.value)


def test_configs_are_immutable_and_apply_overrides_copies():
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.trainer.max_steps = 5  # type: ignore[misc]
    new = apply_overrides(cfg, ["trainer.max_steps=5"])
    assert new.trainer.max_steps == 5 and cfg.trainer.max_steps == Config().trainer.max_steps


def test_bad_yaml_file_messages(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "list.yaml", "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "bad.yaml", "trainer: {max_steps: 3\n"))
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["trainer.max_steps"])


def test_docs_yaml_lists_every_field():
    text = config_to_yaml(load_config(), docs=True)
    assert "# Number of RL steps" in text and "max_steps: 100" in text


def test_range_errors_name_the_field_the_value_and_the_range():
    cases = {
        "reward.timeout_s=0": "reward.timeout_s=0.0 must be > 0",
        "trainer.learning_rate=-1e-6": "trainer.learning_rate=-1e-06 must be >= 0",
        "rollout.temperature=-1": "rollout.temperature=-1.0 must be >= 0 (0 means greedy)",
        "algorithm.clip_ratio_low=1.5": "algorithm.clip_ratio_low=1.5 must be in (0, 1) (the ratio is clipped at 1 - it)",
        "trainer.adam_betas=[0.9]": "trainer.adam_betas=[0.9] must have exactly 2 items",
        "eval.k=[]": "eval.k=[] must have at least 1 item",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError) as err:
            load_config(None, [override])
        assert err.value.errors == [message] or err.value.errors[0].startswith(message), override


def test_cross_field_checks_skip_features_that_are_off():
    # overlong shaping is off for grpo+a_grae: a buffer longer than the response budget is harmless
    cfg = load_config(None, ["rollout.max_new_tokens=48", "algorithm.overlong.buffer_length=128"])
    assert cfg.algorithm.overlong.buffer_length == 128
    for on in (["algorithm.name=dapo"], ["algorithm.overlong.enable=true"]):
        with pytest.raises(ConfigError, match="buffer_length=128 must be in 1..rollout.max_new_tokens=48"):
            load_config(None, ["rollout.max_new_tokens=48", "algorithm.overlong.buffer_length=128", *on])
    assert load_config(
        None, ["algorithm.name=dapo", "algorithm.overlong.enable=false", "rollout.max_new_tokens=48"]
    )
    # in-training validation is off by default: its k and n are not checked until it is on
    assert load_config(None, ["eval.k=[1,8]", "eval.n=4"]).eval.k == [1, 8]
    # a parameter section the chosen algorithm does not read: a bad value is still wrong, and the
    # message says that the section is unused, so dropping it is a fix
    with pytest.raises(ConfigError) as err:
        load_config(None, ["algorithm.name=grpo", "algorithm.a_grae.alpha=5"])
    assert "algorithm.a_grae is not used by algorithm.name='grpo': fix the value or drop it" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(None, ["algorithm.a_grae.alpha=5"])  # the default preset reads it
    assert "not used" not in str(err.value)
    # (vLLM's context length, checked only when vLLM may generate: tests/reliability/test_config_checks.py)


def test_the_engine_is_any_registered_or_importable_one(tmp_path):
    assert load_config(None, ["rollout.engine=hf"]).rollout.engine == "hf"
    engine = write(
        tmp_path, "my_engine.py", "def make(rollout_cfg, policy):\n    raise NotImplementedError\n"
    )
    assert load_config(None, [f"rollout.engine={engine}:make"]).rollout.engine == f"{engine}:make"
    assert load_config(None, ["rollout.engine=mmrl.rollout.hf_engine:HFEngine"])
    with pytest.raises(
        ConfigError, match=r"rollout.engine='vlm': unknown rollout engine 'vlm' \(did you mean 'vllm'\?\)"
    ):
        load_config(None, ["rollout.engine=vlm"])
    with pytest.raises(ConfigError, match="rollout.engine="):
        load_config(None, [f"rollout.engine={engine}:missing"])


def test_reward_weights_stay_representable_in_float32():
    with pytest.raises(ConfigError, match=r"reward.functions\[0\].weight=1e\+300 must be in"):
        load_config(None, ["reward.functions=[{fn: math, weight: 1e300}]"])
    with pytest.raises(ConfigError, match="reward.format_weight=1e\\+30 must be"):
        load_config(None, ["reward.format_weight=1e30"])
    assert (
        load_config(None, ["reward.functions=[{fn: math, weight: -2.5}]"]).reward.functions[0].weight == -2.5
    )


def test_command_line_spellings():
    cfg = load_config(
        None, ["rollout.stop=</answer>,STOP", "model.tokenizer_path=None", "eval.k=1,2", "eval.n=2"]
    )
    assert (
        cfg.rollout.stop == ["</answer>", "STOP"]
        and cfg.model.tokenizer_path is None
        and cfg.eval.k == [1, 2]
    )
    with pytest.raises(ConfigError, match="rollout.temperature expects float, got True"):
        load_config(None, ["rollout.temperature=true"])


def test_replace_validates_the_field():
    from pydantic import ValidationError

    cfg = load_config()
    assert dataclasses.replace(cfg.rollout, n=4).n == 4
    with pytest.raises(ValidationError):
        dataclasses.replace(cfg.rollout, n=0)


def test_parameter_sections_round_trip_and_the_old_key_points_to_the_new(tmp_path):
    cfg = load_config(None, ["algorithm.name=w_reinforce", "algorithm.w_reinforce.lam=0.3"])
    assert cfg.algorithm.w_reinforce.lam == 0.3
    assert load_config(save_config(cfg, tmp_path / "c.yaml")) == cfg
    with pytest.raises(ConfigError, match="did you mean 'algorithm.w_reinforce.lam'"):
        load_config(None, ["algorithm.w_reinforce_lambda=0.3"])
    with pytest.raises(ConfigError, match="algorithm.a_grae expects section, got 5"):
        load_config(None, ["algorithm.a_grae=5"])
