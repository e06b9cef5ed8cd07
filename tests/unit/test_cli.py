"""The `mmrl` command line: help, version, `config show` and its exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from mmrl import __version__
from mmrl.cli import COMMANDS, build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_config_show_resolves_yaml_and_overrides(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("trainer: {max_steps: 20}\nrollout: {n: 4}\n")
    assert main(["config", "show", str(path), "trainer.max_steps=3", "algorithm.name=dapo"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["trainer"]["max_steps"] == 3
    assert shown["rollout"]["n"] == 4
    assert shown["algorithm"]["name"] == "dapo"


def test_config_show_without_file(capsys):
    assert main(["config", "show", "rollout.n=2"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["rollout"]["n"] == 2


def test_config_show_errors_exit_2(capsys):
    assert main(["config", "show", "trainer.max_stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "trainer.max_steps" in err
    assert main(["config", "show", "trainer.max_steps=abc"]) == 2
    err = capsys.readouterr().err
    assert "trainer.max_steps expects int" in err and "'abc'" in err


def test_config_show_docs(capsys):
    assert main(["config", "show", "--docs"]) == 0
    assert "# Samples per prompt" in capsys.readouterr().out


def test_every_command_has_help():
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"][0]
    assert set(actions.choices) == set(COMMANDS)
    for name, sub in actions.choices.items():
        assert sub.format_help(), name


def test_console_entry_point_runs():
    # `python -m mmrl` is what `accelerate launch -m mmrl` uses.
    out = subprocess.run(
        [sys.executable, "-m", "mmrl", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in out.stdout


def test_core_imports_without_heavy_backends():
    code = (
        "import sys, mmrl, mmrl.config, mmrl.types, mmrl.cli; "
        "bad = [m for m in ('vllm', 'torch', 'transformers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
