"""Resuming with another configuration (``mmrl.train.resume``): a change of trajectory stops with the
diff and the two ways forward; the budget, logging and eval schedule change freely; every start's
config is kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mmrl.cli import main
from mmrl.config import load_config, save_config
from mmrl.testing import save_tiny_text_model
from mmrl.train import fit
from mmrl.train.resume import config_changes

from .helpers import read_metrics, tiny_text_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step run with a checkpoint at step 2 (and the tiny model it trained)."""
    root = tmp_path_factory.mktemp("guard")
    model = save_tiny_text_model(root / "model")
    run = root / "run"
    fit(
        tiny_text_config(
            model, run, "trainer.max_steps=2", "trainer.save_every=2", "trainer.save_final=false"
        )
    )
    return model, run


def _config_file(model, run, path, *overrides):
    cfg = tiny_text_config(model, run, "trainer.save_every=2", "trainer.save_final=false", *overrides)
    return str(save_config(cfg, path))


def test_a_trajectory_change_stops_with_the_diff_and_the_ways_forward(trained, tmp_path, capsys):
    model, run = trained
    before = (run / "config.yaml").read_text()
    config = _config_file(
        model,
        run,
        tmp_path / "c.yaml",
        "trainer.max_steps=3",
        "algorithm.name=rloo",
        "trainer.learning_rate=0.1",
    )
    assert main(["train", config]) == 1
    err = capsys.readouterr().err
    assert "algorithm.name: grpo+a_grae -> rloo" in err
    assert "trainer.learning_rate: 0.001 -> 0.1" in err
    assert "trainer.max_steps" not in err  # free to change: not part of the diff
    assert f"trainer.output_dir={run}-2" in err and "trainer.resume=force" in err
    assert (run / "config.yaml").read_text() == before  # nothing overwritten, nothing trained
    assert [m["step"] for m in read_metrics(run)] == [1, 2]


def test_changed_data_stops_before_anything_loads(trained, tmp_path, capsys):
    model, run = trained
    config = _config_file(
        model, run, tmp_path / "c.yaml", "trainer.max_steps=3", "data.options={num_examples: 32}"
    )
    assert main(["train", config]) == 1
    err = capsys.readouterr().err
    assert "data.options.num_examples: 16 -> 32" in err and "Traceback" not in err


def test_budget_logging_and_eval_schedule_change_freely_and_each_start_config_is_kept(trained, tmp_path):
    model, original = trained
    run = Path(shutil.copytree(original, tmp_path / "run"))  # trainer.output_dir may change too
    cfg = load_config(
        _config_file(
            model,
            run,
            tmp_path / "c.yaml",
            "trainer.max_steps=3",
            "logging.log_rollouts=false",
            "eval.limit=8",
        )
    )
    result = fit(cfg)
    assert result.steps == 3 and [m["step"] for m in read_metrics(run)] == [1, 2, 3]
    first, second = (yaml.safe_load((run / f"config.step_{n}.yaml").read_text()) for n in (0, 2))
    assert (first["trainer"]["max_steps"], second["trainer"]["max_steps"]) == (2, 3)
    assert yaml.safe_load((run / "config.yaml").read_text()) == second


def test_force_resumes_under_the_new_settings(tmp_path):
    model = save_tiny_text_model(tmp_path / "model")
    run = tmp_path / "run"
    fit(
        tiny_text_config(
            model, run, "trainer.max_steps=2", "trainer.save_every=2", "trainer.save_final=false"
        )
    )
    cfg = tiny_text_config(
        model,
        run,
        "trainer.max_steps=3",
        "trainer.save_final=false",
        "trainer.learning_rate=0.01",
        "data.options={num_examples: 32}",
        "trainer.resume=force",
    )
    assert fit(cfg).steps == 3
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3]
    assert yaml.safe_load((run / "config.step_2.yaml").read_text())["trainer"]["learning_rate"] == 0.01


def test_config_changes_sorts_free_from_trajectory_fields():
    saved = {"trainer": {"max_steps": 10, "learning_rate": 1e-6}, "eval": {"every": 0}, "rollout": {"n": 8}}
    new = {
        "trainer": {"max_steps": 20, "learning_rate": 1e-4},
        "eval": {"every": 5},
        "rollout": {"n": 8, "x": 1},
    }
    assert config_changes(saved, new) == [
        ("trainer.max_steps", 10, 20, True),
        ("trainer.learning_rate", 1e-6, 1e-4, False),
        ("eval.every", 0, 5, True),
        ("rollout.x", "(absent)", 1, False),
    ]


def test_a_config_written_before_new_fields_and_defaults_is_the_same_run():
    # Written before reward.functions existed, when the reward blend defaulted to 0.9/0.1.
    from mmrl.config import Config, config_to_dict

    new = config_to_dict(Config())
    old = config_to_dict(Config())
    del old["reward"]["functions"]
    old["reward"].update(accuracy_weight=0.9, format_weight=0.1)
    assert config_changes(old, new, new) == []
    old["reward"]["format_weight"] = 0.2
    assert config_changes(old, new, new) == [("reward.format_weight", 0.2, None, False)]
