"""``mmrl demo``: SmolLM2-135M-Instruct learns arithmetic word problems with GRPO + A-GRAE, on a CPU.

The whole job of the toolkit in one command, offline: measure the base model's pass@k on held-out
problems, train a short run, measure again with the same problems and the same sampling seeds,
then print a before/after table and write a plot, a summary and every file of the run. The plan
and a time estimate are printed before anything heavy starts.

The settings (``FULL`` and ``QUICK`` below) were chosen by measurement on a 2-core CPU, see the
README; every number the demo prints says how many problems and samples it rests on.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mmrl.config import Config, load_config

log = logging.getLogger(__name__)

__all__ = ["FULL", "QUICK", "DemoPlan", "demo_config", "run_demo"]


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs. Times are the measured seconds of each phase on a 2-core CPU."""

    name: str
    eval_problems: int
    eval_n: int
    ks: tuple[int, ...]
    steps: int
    prompts_per_step: int
    group_size: int
    max_new_tokens: int
    learning_rate: float
    temperature: float
    difficulty: tuple[int, ...]
    budget_minutes: float
    #: Seconds per generated token at the engine's batch size, and per trained sequence (fwd+bwd),
    #: measured on the reference machine; used only for the estimate printed up front.
    seconds_per_token: float = 0.0
    seconds_per_sequence: float = 0.0
    tokens_per_response: float = 0.0

    def estimate_seconds(self, cfg: Config | None = None) -> dict[str, float]:
        """Seconds per phase for ``cfg`` (default: this plan's own config) at the measured rates."""
        cfg = cfg or demo_config(self, "runs/demo")
        per_response = min(self.tokens_per_response, cfg.rollout.max_new_tokens) * self.seconds_per_token
        evaluation = cfg.eval.limit * cfg.eval.n * per_response
        rollouts = cfg.trainer.max_steps * cfg.trainer.prompts_per_step * cfg.rollout.n
        training = rollouts * (per_response + self.seconds_per_sequence)
        return {"load": 15.0, "evaluate (x2)": 2 * evaluation, "train": training}


FULL = DemoPlan(
    name="full",
    eval_problems=64,
    eval_n=4,
    ks=(1, 2, 4),
    steps=12,
    prompts_per_step=4,
    group_size=8,
    max_new_tokens=48,
    learning_rate=1e-5,
    temperature=0.7,
    difficulty=(1, 2),
    budget_minutes=15,
    seconds_per_token=0.0022,
    seconds_per_sequence=0.27,
    tokens_per_response=30,
)

QUICK = replace(
    FULL,
    name="quick",
    eval_problems=8,
    eval_n=2,
    ks=(1, 2),
    steps=2,
    prompts_per_step=2,
    group_size=4,
    budget_minutes=3,
    tokens_per_response=36,
)

#: The demo's prompt: one worked example, then the problem. SmolLM2-135M copies the example's shape
#: ("... = 7 pencils. The answer is 7."), which the verifier's anchor reads; measured at temperature
#: 0.7 on 32 level-1/2 problems x 4 samples, base pass@1 is 0.133 with it and 0.047 with the
#: recipe's instruction-only template. Responses stop before the model invents a next "Question".
PROMPT_TEMPLATE = """\
Here is an example.
Question: Ana has 4 pencils. Ana buys 3 more pencils. How many pencils does Ana have now?
Answer: Ana has 4 + 3 = 7 pencils. The answer is 7.

Question: {{ question | trim }}
Answer:
"""
STOP = "\n\nQuestion"

#: A-GRAE's alpha: positive advantages are scaled by min(1, omega/alpha) while the batch accuracy
#: omega is below alpha. The paper uses alpha = 1 for Qwen2.5-Math-7B (base accuracy ~0.6) and 0.5 for
#: Qwen2.5-VL-3B (~0.3); SmolLM2 starts near 0.12, and with alpha = 1 its updates were almost only
#: negative (positive mass 0.7 vs negative 4.5 per step) and held-out pass@1 fell (0.117 -> 0.078 in
#: 12 steps); alpha = 0.2 keeps the attenuation in the paper's range (about 0.6 at the start).
ALPHA = 0.2


def demo_config(plan: DemoPlan, output_dir: str | Path, overrides: Sequence[str] = ()) -> Config:
    """The training configuration of a demo plan (``overrides`` are applied last).

    Its prompt template is ``<output_dir>/prompt.jinja``, which ``run_demo`` writes (so the run
    directory holds everything its ``config.yaml`` refers to).
    """
    template = Path(output_dir) / "prompt.jinja"
    difficulty = "[" + ", ".join(str(d) for d in plan.difficulty) + "]"
    ks = "[" + ", ".join(str(k) for k in plan.ks) + "]"
    return load_config(
        None,
        [
            "model.path=smollm2-135m-instruct",
            "data.recipe=synthetic_arithmetic",
            f"data.options={{difficulty: {difficulty}, num_examples: 1024}}",
            f"data.template={template}",
            f"rollout.n={plan.group_size}",
            f"rollout.temperature={plan.temperature}",
            "rollout.top_p=1.0",
            f"rollout.max_new_tokens={plan.max_new_tokens}",
            f"rollout.stop={json.dumps([STOP])}",
            "rollout.batch_size=64",
            "algorithm.name=grpo+a_grae",
            f"algorithm.a_grae.alpha={ALPHA}",
            # SmolLM2 writes no <think> tags: the reward is the verifier's accuracy alone.
            "reward.accuracy_weight=1.0",
            "reward.format_weight=0.0",
            "reward.num_workers=0",
            f"trainer.output_dir={output_dir}",
            f"trainer.max_steps={plan.steps}",
            f"trainer.prompts_per_step={plan.prompts_per_step}",
            "trainer.micro_batch_size=16",
            f"trainer.learning_rate={plan.learning_rate}",
            "trainer.save_every=0",
            "trainer.keep_last=1",
            "trainer.resume=never",
            "eval.before_train=true",
            f"eval.every={plan.steps}",
            "eval.split=test",
            f"eval.limit={plan.eval_problems}",
            f"eval.n={plan.eval_n}",
            f"eval.k={ks}",
            f"eval.temperature={plan.temperature}",
            "eval.top_p=1.0",
            "logging.tensorboard=true",
            *overrides,
        ],
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def print_plan(plan: DemoPlan, cfg: Config, out: Any) -> None:
    est = plan.estimate_seconds(cfg)
    total = sum(est.values())
    e, t, r = cfg.eval, cfg.trainer, cfg.rollout
    lines = [
        f"mmrl demo{' --quick' if plan.name == 'quick' else ''}: SmolLM2-135M-Instruct learns arithmetic word "
        f"problems with {cfg.algorithm.name} (alpha={cfg.algorithm.a_grae.alpha}), offline, on this CPU.",
        f"It finishes in at most {plan.budget_minutes:.0f} minutes on 2 CPU cores "
        f"(estimate: {_minutes(total)}); progress is shown as it goes.",
        "",
        "Plan:",
        "  1. load the model (converted from the embedded GGUF once, about 20 s the first time)",
        f"  2. base model: pass@k on {e.limit} held-out synthetic_arithmetic problems (levels "
        f"{', '.join(map(str, plan.difficulty))}), {e.n} samples each at temperature {e.temperature}  "
        f"[~{_minutes(est['evaluate (x2)'] / 2)}]",
        f"  3. train {t.max_steps} steps: {t.prompts_per_step} prompts x {r.n} samples per step, lr {t.learning_rate:g}, "
        f"responses up to {r.max_new_tokens} tokens  [~{_minutes(est['train'])}]",
        f"  4. the same {e.limit} problems, the same sampling seeds, with the trained model  "
        f"[~{_minutes(est['evaluate (x2)'] / 2)}]",
        "  5. a before/after table, a pass@k plot and a summary",
        f"Run directory: {t.output_dir}",
        "",
    ]
    print("\n".join(lines), file=out, flush=True)


def _level_table(before: Any, after: Any) -> list[tuple[str, int, float, float]]:
    rows = []
    for name in sorted(before.metrics()["by_category"]):
        b = before.metrics()["by_category"][name]
        a = after.metrics()["by_category"][name]
        rows.append((name, b["problems"], b["pass@k"][before.ks[0]], a["pass@k"][after.ks[0]]))
    return rows


def paired_change(before: Any, after: Any) -> tuple[float, float, float]:
    """Change of pass@1 and a normal 95% interval: ``d_i = c_i/n (after) - c_i/n (before)`` per problem,
    ``mean(d) +- 1.96 * std(d) / sqrt(P)`` (the same problems were measured twice)."""
    first = {p.id: p.c / p.n for p in before.problems if p.n}
    second = {p.id: p.c / p.n for p in after.problems if p.n}
    d = [second[i] - first[i] for i in first if i in second]
    if len(d) < 2:
        return (d[0] if d else math.nan), math.nan, math.nan
    mean = sum(d) / len(d)
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1) / len(d))
    return mean, mean - 1.96 * se, mean + 1.96 * se


def summarize(
    plan: DemoPlan, cfg: Config, before: Any, after: Any, history: list[dict[str, Any]], seconds: float
) -> str:
    """The Markdown summary: the numbers, what they rest on, and what to run next."""
    from mmrl.eval import curves_table

    ks = list(before.ks)
    label_before, label_after = "base model (step 0)", f"after {cfg.trainer.max_steps} steps"
    table = curves_table(
        {label_before: before.pass_at_k(), label_after: after.pass_at_k()}, ks, first="model"
    )
    levels = _level_table(before, after)
    level_lines = ["| level | problems | pass@1 before | pass@1 after |", "|---|---:|---:|---:|"]
    level_lines += [f"| {n} | {p} | {b:.3f} | {a:.3f} |" for n, p, b, a in levels]
    samples = len(before.problems) * before.n
    rewards = [h["reward/accuracy"] for h in history if "reward/accuracy" in h]
    run = Path(cfg.trainer.output_dir)
    delta, low, high = paired_change(before, after)
    b, a = before.metrics()["overall"], after.metrics()["overall"]
    lines = [
        "# mmrl demo",
        "",
        f"SmolLM2-135M-Instruct, {cfg.algorithm.name} (alpha={cfg.algorithm.a_grae.alpha}), "
        f"{cfg.trainer.max_steps} steps of {cfg.trainer.prompts_per_step} prompts x {cfg.rollout.n} samples, "
        f"learning rate {cfg.trainer.learning_rate:g}, {_minutes(seconds)} in all.",
        "",
        f"## pass@k on {len(before.problems)} held-out problems x {before.n} samples ({samples} responses per "
        f"measurement; temperature {cfg.eval.temperature}, the same problems and sampling seeds before and after)",
        "",
        table,
        "",
        f"pass@1 changed by {delta:+.3f} (95% interval {low:+.3f} to {high:+.3f}, from the spread of the "
        f"per-problem change over the {len(before.problems)} problems). Responses went from {b['mean_tokens']:.0f} "
        f"to {a['mean_tokens']:.0f} tokens on average, and {b['truncated']:.0%} -> {a['truncated']:.0%} of them "
        f"hit the {cfg.rollout.max_new_tokens}-token limit (a cut-off response has no final answer).",
        "",
        "## pass@1 by difficulty level",
        "",
        *level_lines,
        "",
        "## Training accuracy per step (fraction of sampled responses that were right)",
        "",
        " ".join(f"{r:.2f}" for r in rewards),
        "",
        *_next_steps(cfg, run),
    ]
    return "\n".join(lines)


def _next_steps(cfg: Config, run: Path) -> list[str]:
    """The summary's last sections: where the files are and what to run next."""
    return [
        "## Files",
        "",
        f"- `{run}/config.yaml`: the resolved configuration (rerun or extend it with `mmrl train`)",
        f"- `{run}/metrics.jsonl`, `{run}/tensorboard/`: per-step metrics and timings",
        f"- `{run}/rollouts/step_N.jsonl`: every sampled response with its verdict, reward and advantage",
        f"- `{run}/validation/step_0/`, `{run}/validation/step_{cfg.trainer.max_steps}/`: eval results and samples",
        f"- `{run}/passk.png`: the before/after plot; `{run}/final/`: the trained model",
        "",
        "## What to run next",
        "",
        f"- more steps on the same run: `mmrl train {run}/config.yaml trainer.max_steps=60 trainer.resume=auto`",
        f"- a larger evaluation of the result: `mmrl eval --model {run}/final --benchmarks synthetic_arithmetic "
        "--n 16 --k 1,4,16 --limit 128`",
        f"- the curves: `tensorboard --logdir {run}/tensorboard`",
        "- the paper's setups on GPUs: `scripts/configs/` (e.g. `mmrl train "
        "scripts/configs/math_qwen2_5_math_7b_grpo_agrae.yaml`)",
        "",
    ]


def plot_demo(before: Any, after: Any, history: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Two panels: pass@k before/after on a log2 k axis, and the training accuracy per step."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, result, style in (("base model", before, "o--"), ("after training", after, "o-")):
        curve = sorted(result.pass_at_k().items())
        left.plot([k for k, _ in curve], [v for _, v in curve], style, label=label)
    ks = sorted(before.pass_at_k())
    left.set_xscale("log", base=2)
    left.set_xticks(ks)
    left.set_xticklabels([str(k) for k in ks])
    left.set_xlabel("k")
    left.set_ylabel("pass@k")
    left.set_ylim(0, 1)
    left.set_title(f"held-out: {len(before.problems)} problems x {before.n} samples")
    left.grid(alpha=0.3)
    left.legend(loc="lower right")
    steps = [h["step"] for h in history if "reward/accuracy" in h]
    right.plot(
        steps,
        [h["reward/accuracy"] for h in history if "reward/accuracy" in h],
        "o-",
        label="training samples",
    )
    right.plot(
        [0, steps[-1] if steps else 0],
        [before.pass_at_k()[1], after.pass_at_k()[1]],
        "s--",
        label="held-out pass@1",
    )
    right.set_xlabel("step")
    right.set_ylabel("accuracy")
    right.set_ylim(0, 1)
    right.set_title("accuracy during training")
    right.grid(alpha=0.3)
    right.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_demo(
    plan: DemoPlan, output_dir: str | Path, overrides: Sequence[str] = (), out: Any = None
) -> dict[str, Any]:
    """Run the demo; print the plan, progress and the results; return the key numbers."""
    import sys

    from mmrl.models import prepare_smollm2
    from mmrl.train import fit

    out = out or sys.stdout
    cfg = demo_config(plan, output_dir, overrides)
    print_plan(plan, cfg, out)
    template = Path(cfg.trainer.output_dir) / "prompt.jinja"
    if cfg.data.template == str(template):
        template.parent.mkdir(parents=True, exist_ok=True)
        template.write_text(PROMPT_TEMPLATE)
    started = time.perf_counter()
    if cfg.model.path == "smollm2-135m-instruct":
        prepare_smollm2()
    result = fit(cfg)
    seconds = time.perf_counter() - started
    before, after = result.validations[0], result.validations[cfg.trainer.max_steps]
    run = Path(cfg.trainer.output_dir)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    history = [h for h in history if h["step"] > 0]
    plot = plot_demo(
        before, after, history, run / "passk.png", f"SmolLM2-135M-Instruct, {cfg.algorithm.name}"
    )
    summary = summarize(plan, cfg, before, after, history, seconds)
    (run / "summary.md").write_text(summary)
    print("\n" + summary, file=out, flush=True)
    print(
        f"Done in {_minutes(seconds)}. Everything is in {run}/ (summary.md, passk.png).", file=out, flush=True
    )
    print(f"See every rollout, curve and evaluation in a browser: mmrl view {run}", file=out, flush=True)
    pass1_before, pass1_after = before.pass_at_k()[1], after.pass_at_k()[1]
    return {
        "run_dir": run,
        "seconds": seconds,
        "before": before.pass_at_k(),
        "after": after.pass_at_k(),
        "delta_pass1": pass1_after - pass1_before if math.isfinite(pass1_before) else math.nan,
        "plot": plot,
    }
