"""Non-finite numbers in the configuration: refused when the config is read, naming the field.

NaN passes every range check written as a comparison (``nan < 0`` is False), so each field below
once let NaN through: ``reward.timeout_s=nan`` switched off the hard kill of hung verifiers,
``reward.accuracy_weight=nan`` trained on NaN rewards, and a NaN learning rate or temperature
failed only after the model had loaded. Every other float field of the tree, the estimators'
parameter sections included, is held to the same rule.
"""

from __future__ import annotations

import dataclasses

import pytest

from mmrl.config import Config, ConfigError, load_config

NAN_FIELDS = ["reward.timeout_s", "reward.accuracy_weight", "trainer.learning_rate", "rollout.temperature"]


def float_fields() -> list[str]:
    """Every leaf of the tree typed float (or float | None), parameter sections included."""
    from mmrl.config import _all_paths, _annotation_at, _members

    return [path for path in _all_paths() if float in _members(_annotation_at(path))]


@pytest.mark.reliability(20)
@pytest.mark.parametrize("field", NAN_FIELDS)
@pytest.mark.parametrize("value", ["nan", ".nan", "inf", "-.inf"])
def test_nan_or_infinity_in_a_float_field_fails_at_load_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=rf"{field}=\S+ must be a finite number") as info:
        load_config(None, [f"{field}={value}"])
    assert len(info.value.errors) == 1


@pytest.mark.reliability(20)
@pytest.mark.parametrize("field", NAN_FIELDS)
def test_nan_in_a_yaml_file_fails_at_load_naming_the_field(field, tmp_path):
    section, name = field.split(".")
    path = tmp_path / "config.yaml"
    path.write_text(f"{section}:\n  {name}: .nan\n")
    with pytest.raises(ConfigError, match=rf"{field}=nan must be a finite number"):
        load_config(path)


@pytest.mark.reliability(20)
@pytest.mark.parametrize("field", NAN_FIELDS)
def test_nan_set_in_code_on_a_section_is_refused_too(field):
    section, name = field.split(".")
    with pytest.raises(ValueError, match="finite"):
        dataclasses.replace(getattr(Config(), section), **{name: float("nan")})


@pytest.mark.reliability(20)
def test_float_fields_are_found():
    paths = float_fields()
    assert {
        "reward.timeout_s",
        "reward.accuracy_weight",
        "trainer.learning_rate",
        "rollout.temperature",
    } <= set(paths)
    assert {"algorithm.a_grae.alpha", "algorithm.clip_ratio_low", "algorithm.dominance.beta"} <= set(paths)


@pytest.mark.reliability(20)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", ".nan"])
@pytest.mark.parametrize("path", float_fields())
def test_every_float_field_rejects_nan_and_inf(path, value):
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"{path}={value}"])
    assert len(err.value.errors) == 1
    assert err.value.errors[0].startswith(f"{path}=") and "must be a finite number" in err.value.errors[0]


@pytest.mark.reliability(20)
def test_nan_inside_a_list_of_floats_names_the_item():
    with pytest.raises(ConfigError, match=r"trainer.adam_betas\[1\]=nan must be a finite number"):
        load_config(None, ["trainer.adam_betas=[0.9, nan]"])
