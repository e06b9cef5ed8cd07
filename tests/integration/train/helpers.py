"""Shared pieces of the trainer tests: tiny-model configs and a verifier that gives a tiny random
model mixed rewards (so group-relative advantages are not all zero)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmrl.config import Config, load_config
from mmrl.types import Example, Score

#: Verifier for tiny random models, which are never right: a coin flip per response instead.
COIN_VERIFIER = "tests.integration.train.helpers:even_length"


def even_length(response: str, example: Example) -> Score:
    """1.0 when the response has an even number of characters, else 0.0.

    A tiny random model's responses have random lengths, so every group gets mixed rewards and the
    group-relative advantages are not all zero. Responses must end on a stop (the tiny configs stop on
    a space): a truncated response is scored as no answer before any verifier sees it.
    """
    hit = len(response) % 2 == 0
    return Score(float(hit), correct=hit, components={"accuracy": float(hit)})


def tiny_text_overrides(model_dir: str | Path, out: str | Path, *overrides: str) -> list[str]:
    """3 steps of 2 prompts x 4 samples of <= 6 tokens (stop at a space) on synthetic_arithmetic, as
    ``a.b=c`` overrides (what ``mmrl train`` takes); later overrides win."""
    return [
        f"model.path={model_dir}",
        f"trainer.output_dir={out}",
        "trainer.max_steps=3",
        "trainer.prompts_per_step=2",
        "trainer.micro_batch_size=4",
        "trainer.learning_rate=1e-3",
        "trainer.seed=0",
        # The trainer's stages are tested with the engine that needs no start-up; tests/vllm runs
        # fit() with vLLM (what rollout.engine=auto picks where it is installed).
        "rollout.engine=hf",
        "rollout.n=4",
        "rollout.max_new_tokens=6",
        "rollout.stop=[' ']",
        "algorithm.overlong.buffer_length=4",
        f"reward.verifier={COIN_VERIFIER}",
        "reward.num_workers=0",
        "reward.format_weight=0",
        "reward.accuracy_weight=1",
        "data.options={num_examples: 16}",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
        *overrides,
    ]


def tiny_text_config(model_dir: str | Path, out: str | Path, *overrides: str) -> Config:
    """``tiny_text_overrides`` resolved into a ``Config``."""
    return load_config(None, tiny_text_overrides(model_dir, out, *overrides))


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def read_rollouts(run_dir: str | Path, step: int) -> list[dict[str, Any]]:
    path = Path(run_dir) / "rollouts" / f"step_{step}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def load_weights(directory: str | Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(Path(directory) / "model.safetensors"))


def run_two_processes(args: list[str], log: Path, timeout: float = 300) -> tuple[int, str]:
    """``torch.distributed.run`` with 2 CPU processes (gloo) on ``args`` (a script, or ``-m module``),
    from the repository root; returns the exit code and the output (also in ``log``). A run that does
    not end within ``timeout`` seconds is killed with its workers and fails the test."""
    import os
    import signal
    import subprocess
    import sys

    import pytest

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
            proc.wait()
            pytest.fail(
                f"the 2-process run did not finish in {timeout:g} s (a collective mismatch or a hang?):\n"
                + log.read_text()[-6000:]
            )
    return returncode, log.read_text()


_LOGGING_ENGINE = """
from pathlib import Path

from mmrl.rollout import ENGINES


class Logged:
    def __init__(self, inner):
        self.inner = inner

    def generate(self, prompts, n, sampling):
        with Path(__file__).with_name("generate_calls.txt").open("a") as f:
            f.write(f"{len(prompts)} x {n}\\n")
        return self.inner.generate(prompts, n, sampling)

    def sync_weights(self, model):
        return self.inner.sync_weights(model)

    def close(self):
        self.inner.close()


def make(rollout_cfg, policy):
    return Logged(ENGINES.resolve("hf")(rollout_cfg, policy))
"""


def write_logging_engine(directory: Path) -> str:
    """An engine of one's own in ``directory/my_engine.py``: the hf engine, each ``generate`` call
    logged as "PROMPTS x N" in ``directory/generate_calls.txt``; returns its ``file.py:make`` spec."""
    path = Path(directory) / "my_engine.py"
    path.write_text(_LOGGING_ENGINE)
    return f"{path}:make"
