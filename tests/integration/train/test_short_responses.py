"""Short responses (``rollout.max_new_tokens`` below the overlong buffer's 128 tokens) under presets
without overlong shaping: the buffer's options are checked only where shaping is on."""

from __future__ import annotations

import pytest

from mmrl.algos.registry import PRESETS
from mmrl.cli import main
from mmrl.config import save_config
from mmrl.testing import save_tiny_text_model

from .helpers import read_metrics, tiny_text_config

WITHOUT_SHAPING = sorted(name for name, preset in PRESETS.registered().items() if not preset.overlong)
WITH_SHAPING = sorted(name for name, preset in PRESETS.registered().items() if preset.overlong)


@pytest.mark.parametrize("preset", WITHOUT_SHAPING)
def test_short_responses_need_no_overlong_setting_without_shaping(preset, capsys):
    assert main(["config", "show", "rollout.max_new_tokens=64", f"algorithm.name={preset}"]) == 0


@pytest.mark.parametrize("preset", WITH_SHAPING)
def test_with_shaping_the_buffer_is_checked_and_the_fix_named(preset, capsys):
    assert main(["config", "show", "rollout.max_new_tokens=64", f"algorithm.name={preset}"]) == 2
    err = capsys.readouterr().err
    assert "algorithm.overlong.buffer_length=128 must be in 1..rollout.max_new_tokens=64" in err
    assert "algorithm.overlong.enable=false" in err
    args = ["rollout.max_new_tokens=64", f"algorithm.name={preset}", "algorithm.overlong.enable=false"]
    assert main(["config", "show", *args]) == 0


def test_mmrl_train_with_short_responses_under_the_default_preset(tmp_path):
    model = save_tiny_text_model(tmp_path / "model")
    run = tmp_path / "run"
    cfg = tiny_text_config(
        model,
        run,
        "algorithm.overlong.buffer_length=128",  # the default, above rollout.max_new_tokens=6
        "trainer.max_steps=1",
        "trainer.save_final=false",
    )
    assert cfg.algorithm.name == "grpo+a_grae" and cfg.rollout.max_new_tokens == 6
    assert main(["train", str(save_config(cfg, tmp_path / "short.yaml"))]) == 0
    assert [m["step"] for m in read_metrics(run)] == [1]
