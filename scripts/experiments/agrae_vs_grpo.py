#!/usr/bin/env python
"""A-GRAE vs GRPO on this machine: pass@k up to k = 128, from the same start, prompts and seeds.

    python scripts/experiments/agrae_vs_grpo.py                      # the whole experiment
    python scripts/experiments/agrae_vs_grpo.py --seeds 0 --methods grpo+a_grae   # one run
    python scripts/experiments/agrae_vs_grpo.py --report-only        # tables and figures again

What it runs, each stage a plain ``mmrl`` command (printed, and logged under ``OUT/logs/``):

1. ``mmrl eval`` of the base model (SmolLM2-135M-Instruct, embedded): ``--eval-problems`` held-out
   ``synthetic_arithmetic`` problems x ``--eval-n`` samples, unbiased pass@k for k = 1, 2, ..., n;
2. per method and seed, ``mmrl train`` from the base model (the same prompts, steps and seed for
   every method), validating every ``--val-every`` steps on 32 held-out problems (pass@1 and the
   policy's entropy on its own responses);
3. ``mmrl eval`` of every trained model with the same problems, samples and sampling seeds;
4. the report: pass@k per method with paired bootstrap intervals over problems and seeds, the
   differences between methods, curves over training, and the control experiments
   (``--controls``: positive/negative-dominant and easy/hard-focused advantages).

Everything is resumable: a finished run (``final/``) is not trained again, an interrupted one
resumes from its last checkpoint, and ``mmrl eval`` reuses its sample cache. The prompt, the
A-GRAE alpha and the sampling are those of ``mmrl demo`` (``mmrl/train/demo.py`` says why).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_METHODS = ("grpo", "grpo+a_grae")
CONTROLS = ("positive_dominant", "negative_dominant", "easy_focused", "hard_focused")
LABELS = {
    "base": "base model",
    "grpo": "GRPO",
    "grpo+a_grae": "GRPO + A-GRAE",
    "dr_grpo": "Dr.GRPO",
    "dr_grpo+a_grae": "Dr.GRPO + A-GRAE",
    "dapo": "DAPO",
    "dapo+a_grae": "DAPO + A-GRAE",
    "positive_dominant": "Positive-Dominant (x10)",
    "negative_dominant": "Negative-Dominant (/10)",
    "easy_focused": "Easy-Focused",
    "hard_focused": "Hard-Focused",
}
#: One colour per method in every figure.
COLORS = {
    "base": "tab:gray", "grpo": "tab:blue", "grpo+a_grae": "tab:orange", "dr_grpo": "tab:cyan",
    "dr_grpo+a_grae": "tab:olive", "dapo": "tab:pink", "dapo+a_grae": "tab:brown",
    "positive_dominant": "tab:green", "negative_dominant": "tab:red", "easy_focused": "tab:purple",
    "hard_focused": "black",
}  # fmt: skip
EVAL_SEED = 0
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Setup:
    """The experiment's shape (the command-line flags)."""

    out: Path
    model: str
    engine: str
    methods: tuple[str, ...]
    controls: tuple[str, ...]
    seeds: tuple[int, ...]
    control_seeds: tuple[int, ...]
    steps: int
    prompts_per_step: int
    group_size: int
    learning_rate: float
    difficulty: tuple[int, ...]
    eval_problems: int
    eval_n: int
    val_every: int
    val_problems: int
    val_n: int
    max_new_tokens: int

    @property
    def ks(self) -> list[int]:
        from mmrl.eval.suite import default_ks

        return default_ks(self.eval_n)

    def runs(self) -> list[tuple[str, int]]:
        """(method, seed) of every training run, the main comparison first."""
        main = [(m, s) for s in self.seeds for m in self.methods]
        return main + [(c, s) for s in self.control_seeds for c in self.controls]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", default="runs/agrae_vs_grpo", help="experiment directory (default runs/agrae_vs_grpo)"
    )
    p.add_argument("--report", default="docs/experiments", help="where the report, figures and JSON go")
    p.add_argument(
        "--model", default="smollm2-135m-instruct", help="base model (default: the embedded SmolLM2)"
    )
    p.add_argument(
        "--engine", default="auto", choices=("auto", "hf", "vllm"), help="rollout engine (default auto)"
    )
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated presets")
    p.add_argument("--controls", action="store_true", help="also run the four control presets")
    p.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    p.add_argument("--control-seeds", default="0", help="seeds of the control runs (default 0)")
    p.add_argument("--steps", type=int, default=30, help="RL steps per run (default 30)")
    p.add_argument("--prompts-per-step", type=int, default=8, help="default 8")
    p.add_argument("--group-size", type=int, default=8, help="samples per prompt (default 8)")
    p.add_argument("--learning-rate", type=float, default=1e-5, help="default 1e-5")
    p.add_argument(
        "--difficulty", default="2,3", help="synthetic_arithmetic levels, comma-separated (default 2,3)"
    )
    p.add_argument("--eval-problems", type=int, default=64, help="held-out problems (default 64)")
    p.add_argument("--eval-n", type=int, default=128, help="samples per held-out problem (default 128)")
    p.add_argument("--val-every", type=int, default=10, help="validate every N steps (default 10)")
    p.add_argument("--val-problems", type=int, default=32, help="problems per validation (default 32)")
    p.add_argument("--val-n", type=int, default=4, help="samples per validation problem (default 4)")
    p.add_argument("--max-new-tokens", type=int, default=48, help="response budget (default 48)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from what exists")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return p.parse_args(argv)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def setup_from(args: argparse.Namespace) -> Setup:
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    return Setup(
        out=Path(args.out),
        model=args.model,
        engine=args.engine,
        methods=methods,
        controls=CONTROLS if args.controls else (),
        seeds=_ints(args.seeds),
        control_seeds=_ints(args.control_seeds),
        steps=args.steps,
        prompts_per_step=args.prompts_per_step,
        group_size=args.group_size,
        learning_rate=args.learning_rate,
        difficulty=_ints(args.difficulty),
        eval_problems=args.eval_problems,
        eval_n=args.eval_n,
        val_every=args.val_every,
        val_problems=args.val_problems,
        val_n=args.val_n,
        max_new_tokens=args.max_new_tokens,
    )


# -- the commands -----------------------------------------------------------------------------------


def _data_options(s: Setup) -> str:
    return "data.options={difficulty: [" + ", ".join(map(str, s.difficulty)) + "], num_examples: 1024}"


def eval_command(s: Setup, model: str, name: str) -> list[str]:
    """``mmrl eval`` of one model on the held-out problems (the same seeds for every model)."""
    from mmrl.train.demo import FULL, STOP

    return [
        "mmrl", "eval", "--model", model, "--benchmarks", "synthetic_arithmetic", "--label", name,
        "--limit", str(s.eval_problems), "--n", str(s.eval_n), "--k", ",".join(map(str, s.ks)),
        "--temperature", str(FULL.temperature), "--top-p", "1.0", "--max-new-tokens", str(s.max_new_tokens),
        "--seed", str(EVAL_SEED), "--engine", s.engine, "--batch-size", "256", "--chunk-size", "16",
        "--reward-workers", "0", "--template", str(s.out / "prompt.jinja"), "--output", str(s.out / "eval" / name),
        _data_options(s), f"rollout.stop={json.dumps([STOP])}",
    ]  # fmt: skip


def run_name(method: str, seed: int) -> str:
    return f"{method.replace('+', '_')}-seed{seed}"


def train_config(s: Setup, method: str, seed: int) -> Any:
    """The run's config: the demo's settings, with this method, seed and shape."""
    from mmrl.train.demo import FULL, demo_config

    plan = replace(
        FULL,
        steps=s.steps,
        prompts_per_step=s.prompts_per_step,
        group_size=s.group_size,
        learning_rate=s.learning_rate,
        difficulty=s.difficulty,
        eval_problems=s.val_problems,
        eval_n=s.val_n,
        ks=(1,),
        max_new_tokens=s.max_new_tokens,
    )
    run_dir = s.out / "runs" / run_name(method, seed)
    return demo_config(
        plan,
        run_dir,
        [
            f"model.path={s.model}",
            f"rollout.engine={s.engine}",
            f"data.template={s.out / 'prompt.jinja'}",
            f"algorithm.name={method}",
            f"trainer.seed={seed}",
            f"eval.every={s.val_every}",
            f"trainer.save_every={s.val_every}",
            "trainer.resume=auto",
            "trainer.keep_last=1",
        ],
    )


def run_command(cmd: list[str], log_path: Path, dry_run: bool) -> float:
    """Run one ``mmrl`` command with its output in ``log_path``; seconds taken; a failure stops here."""
    shown = " ".join(shlex.quote(c) for c in cmd)
    print(f"$ {shown}", flush=True)
    if dry_run:
        return 0.0
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_path.open("a") as log:
        log.write(f"\n$ {shown}\n")
        log.flush()
        code = subprocess.call([sys.executable, "-m", "mmrl", *cmd[1:]], stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if code != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-25:])
        raise SystemExit(
            f"command failed (exit {code}) after {seconds:.0f} s; the end of {log_path}:\n{tail}"
        )
    print(f"  done in {seconds / 60:.1f} min (log: {log_path})", flush=True)
    return seconds


def _evaluated(s: Setup, name: str, model_dir: Path | None) -> bool:
    """Whether ``OUT/eval/NAME`` holds a finished evaluation of this shape, newer than the model."""
    path = s.out / "eval" / name / "results.json"
    if not path.exists() or (model_dir is not None and not model_dir.is_dir()):
        return False
    doc = json.loads(path.read_text())
    (bench,) = doc["benchmarks"].values()
    same = doc["sampling"]["n"] == s.eval_n and len(bench["problems"]) == s.eval_problems
    return same and (model_dir is None or path.stat().st_mtime > model_dir.stat().st_mtime)


def run_experiment(
    s: Setup, dry_run: bool = False, reported: frozenset[str] = frozenset()
) -> dict[str, float]:
    """Every stage not already done; returns the seconds of what ran now, by stage name. Models in
    ``reported`` (names whose counts the report's results JSON already holds) are neither trained
    nor evaluated again."""
    from mmrl.config import save_config
    from mmrl.models import SMOLLM2_ALIAS, prepare_smollm2
    from mmrl.train.demo import PROMPT_TEMPLATE

    s.out.mkdir(parents=True, exist_ok=True)
    (s.out / "prompt.jinja").write_text(PROMPT_TEMPLATE)
    if s.model == SMOLLM2_ALIAS and not dry_run:
        prepare_smollm2()
    timings_path = s.out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    done = "base" in reported or _evaluated(s, "base", None)
    stages = [] if done else [("eval/base", eval_command(s, s.model, "base"))]
    for method, seed in s.runs():
        name = run_name(method, seed)
        if name in reported and not (s.out / "eval" / name).exists():
            print(f"{name}: in the report already (its counts are in the results JSON); not run again")
            continue
        cfg = train_config(s, method, seed)
        run_dir = Path(cfg.trainer.output_dir)
        if not (run_dir / "final").is_dir():
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, run_dir / "experiment_config.yaml")
            stages.append((f"train/{name}", ["mmrl", "train", str(run_dir / "experiment_config.yaml")]))
        if not _evaluated(s, name, run_dir / "final"):
            stages.append((f"eval/{name}", eval_command(s, str(run_dir / "final"), name)))
    for i, (stage, cmd) in enumerate(stages, 1):
        print(f"[{i}/{len(stages)}] {stage}", flush=True)
        seconds = run_command(cmd, s.out / "logs" / f"{stage.replace('/', '_')}.log", dry_run)
        if not dry_run:
            timings[stage] = timings.get(stage, 0.0) + seconds
            timings_path.write_text(json.dumps(timings, indent=1) + "\n")
    return timings


# -- the analysis -----------------------------------------------------------------------------------


def load_counts(eval_dir: Path) -> dict[str, tuple[int, int]]:
    """``{problem id: (n, c)}`` from one ``mmrl eval`` output directory."""
    doc = json.loads((eval_dir / "results.json").read_text())
    (bench,) = doc["benchmarks"].values()
    return {p["id"]: (int(p["n"]), int(p["c"])) for p in bench["problems"] if p["n"]}


def per_problem_passk(counts: dict[str, tuple[int, int]], ks: list[int]) -> dict[int, dict[str, float]]:
    from mmrl.eval.passk import pass_at_k

    return {k: {pid: pass_at_k(n, c, k) for pid, (n, c) in counts.items() if n >= k} for k in ks}


def bootstrap_mean(
    tables: list[dict[str, float]], problems: list[str], rng: random.Random, draws: int = BOOTSTRAP
) -> tuple[float, float, float]:
    """Mean over seeds and problems of ``tables[seed][problem]``, and a 95% percentile interval
    from resampling seeds and problems with replacement (the same problem draw for every seed)."""
    mean = sum(t[p] for t in tables for p in problems) / (len(tables) * len(problems))
    stats = []
    for _ in range(draws):
        ps = [rng.choice(problems) for _ in problems]
        ts = [rng.choice(tables) for _ in tables]
        stats.append(sum(t[p] for t in ts for p in ps) / (len(ts) * len(ps)))
    stats.sort()
    return mean, stats[int(0.025 * draws)], stats[int(0.975 * draws) - 1]


def paired_difference(
    a: dict[str, dict[str, float]], b: dict[str, dict[str, float]], problems: list[str], rng: random.Random
) -> tuple[float, float, float]:
    """Mean of ``a - b`` with a paired bootstrap: problems are resampled once for both sides, seeds
    in pairs (the same training seed on both sides; the base model, keyed ``"base"``, pairs with
    every seed of the other). Seeds only one side has are left out."""
    if set(b) == {"base"}:
        pairs = [(s, "base") for s in a]
    elif set(a) == {"base"}:
        pairs = [("base", s) for s in b]
    else:
        pairs = [(s, s) for s in sorted(set(a) & set(b))]
    if not pairs:
        return (math.nan, math.nan, math.nan)
    tables = [{p: a[sa][p] - b[sb][p] for p in problems} for sa, sb in pairs]
    return bootstrap_mean(tables, problems, rng)


def analyse(s: Setup, saved: dict[str, dict[str, list[int]]] | None = None) -> dict[str, Any]:
    """pass@k per method (mean and interval over problems and seeds) and the differences. Each
    model's per-problem ``(n, c)`` comes from its eval directory, else from ``saved`` (the counts an
    earlier report kept, so that a fresh checkout can add seeds to a committed report)."""
    rng = random.Random(0)
    saved = saved or {}
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    runs: dict[str, dict[str, Path]] = {"base": {"base": s.out / "eval" / "base"}}
    for method, seed in s.runs():
        runs.setdefault(method, {})[str(seed)] = s.out / "eval" / run_name(method, seed)
    # tables[method][seed][k][problem]: the unbiased pass@k of every evaluated model
    tables: dict[str, dict[str, dict[int, dict[str, float]]]] = {}
    for method, by_seed in runs.items():
        for d in by_seed.values():
            if (d / "results.json").exists():
                counts[d.name] = load_counts(d)
            elif d.name in saved:
                counts[d.name] = {pid: (int(n), int(c)) for pid, (n, c) in saved[d.name].items()}
        done = {seed: d.name for seed, d in by_seed.items() if d.name in counts}
        if done:
            tables[method] = {seed: per_problem_passk(counts[name], s.ks) for seed, name in done.items()}
    if "base" not in tables:
        raise SystemExit(
            f"no base evaluation in {s.out / 'eval' / 'base'} nor in the report's results JSON; run the experiment first"
        )
    problems = sorted(set.intersection(*(set(t[1]) for ts in tables.values() for t in ts.values())))

    def at(method: str, k: int) -> dict[str, dict[str, float]]:
        return {seed: t[k] for seed, t in tables[method].items()}

    passk = {m: {k: bootstrap_mean(list(at(m, k).values()), problems, rng) for k in s.ks} for m in tables}
    pairs = [(m, "base") for m in tables if m != "base"]
    pairs += [
        (f"{m}+a_grae", m) for m in ("grpo", "dr_grpo", "dapo") if m in tables and f"{m}+a_grae" in tables
    ]
    diffs = {
        f"{a} - {b}": {k: paired_difference(at(a, k), at(b, k), problems, rng) for k in s.ks}
        for a, b in pairs
    }
    seeds = {m: len(ts) for m, ts in tables.items()}
    return {"problems": len(problems), "seeds": seeds, "passk": passk, "differences": diffs, "counts": counts}


WANTED = ("reward/accuracy", "advantages/omega", "val/entropy", "val/pass@1", "actor/entropy_mean")


def run_series(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Each wanted metric of one run's ``metrics.jsonl`` as (step, value) pairs."""
    out: dict[str, list[tuple[int, float]]] = {w: [] for w in WANTED}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        for w in WANTED:
            if isinstance(row.get(w), (int, float)) and math.isfinite(row[w]):
                out[w].append((int(row["step"]), float(row[w])))
    return out


def training_curves(
    s: Setup, saved: dict[str, Any] | None = None
) -> tuple[dict[str, dict[str, list[tuple[int, float]]]], dict[str, Any]]:
    """Per method: each metric's mean over seeds at each step; and each run's own series (from its
    ``metrics.jsonl``, else from ``saved``, the series an earlier report kept)."""
    saved = saved or {}
    by_run: dict[str, Any] = {}
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for method in dict.fromkeys(m for m, _ in s.runs()):
        per_step: dict[str, dict[int, list[float]]] = {w: {} for w in WANTED}
        for seed in s.seeds if method in s.methods else s.control_seeds:
            name = run_name(method, seed)
            path = s.out / "runs" / name / "metrics.jsonl"
            series = run_series(path) if path.exists() else saved.get(name)
            if not series:
                continue
            by_run[name] = series
            for w in WANTED:
                for step, value in series.get(w, []):
                    per_step[w].setdefault(int(step), []).append(float(value))
        out[method] = {w: sorted((st, sum(v) / len(v)) for st, v in d.items()) for w, d in per_step.items()}
    return out, by_run


# -- the report -------------------------------------------------------------------------------------


def _cell(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def _signed(v: tuple[float, float, float]) -> str:
    return f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]"


def passk_table(result: dict[str, Any], ks: list[int], methods: list[str]) -> str:
    lines = [
        "| method | seeds | " + " | ".join(f"pass@{k}" for k in ks) + " |",
        "|---|---:|" + "---:|" * len(ks),
    ]
    for m in methods:
        if m in result["passk"]:
            row = " | ".join(_cell(result["passk"][m][k]) for k in ks)
            lines.append(f"| {LABELS.get(m, m)} | {result['seeds'][m]} | {row} |")
    return "\n".join(lines)


def difference_table(result: dict[str, Any], ks: list[int]) -> str:
    lines = ["| difference | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---:|" * len(ks)]
    for name, by_k in result["differences"].items():
        a, b = name.split(" - ")
        label = f"{LABELS.get(a, a)} - {LABELS.get(b, b)}"
        lines.append(f"| {label} | " + " | ".join(_signed(by_k[k]) for k in ks) + " |")
    return "\n".join(lines)


def plot_passk(result: dict[str, Any], ks: list[int], methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for m in methods:
        if m not in result["passk"]:
            continue
        mean = [result["passk"][m][k][0] for k in ks]
        color = COLORS.get(m)
        left.plot(ks, mean, "o-" if m != "base" else "s--", label=LABELS.get(m, m), ms=3, color=color)
        low, high = [result["passk"][m][k][1] for k in ks], [result["passk"][m][k][2] for k in ks]
        left.fill_between(ks, low, high, alpha=0.15, color=color)
        if m != "base":
            d = [result["passk"][m][k][0] - result["passk"]["base"][k][0] for k in ks]
            right.plot(ks, d, "o-", label=LABELS.get(m, m), ms=3, color=color)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_xlabel("k")
        ax.grid(alpha=0.3)
    left.set_ylabel("pass@k")
    left.set_title(f"held-out pass@k ({result['problems']} problems)")
    left.legend(fontsize=8, loc="lower right")
    right.axhline(0, color="black", lw=0.8)
    right.set_ylabel("pass@k minus the base model's")
    right.set_title("change from the base model")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training(curves: dict[str, Any], methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    panels = [
        ("reward/accuracy", "training accuracy (per step)"),
        ("advantages/omega", "batch accuracy omega"),
        ("val/pass@1", "held-out pass@1 (validation)"),
        ("val/entropy", "policy entropy on held-out responses"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 3.6))
    for ax, (metric, title) in zip(axes, panels, strict=True):
        for m in methods:
            points = curves.get(m, {}).get(metric, [])
            if points:
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    "o-" if metric.startswith("val") else "-",
                    label=LABELS.get(m, m),
                    ms=3,
                    lw=1.2,
                    color=COLORS.get(m),
                )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curve_line(curves: dict[str, Any], method: str, metric: str) -> str:
    points = curves.get(method, {}).get(metric, [])
    return ", ".join(f"{st}: {v:.3f}" for st, v in points) or "(none)"


def write_report(s: Setup, report_dir: Path) -> Path:
    """The Markdown report, the two figures and the results JSON in ``report_dir``."""
    stem = "agrae_vs_grpo"
    saved = _saved_results(s, report_dir / f"{stem}_results.json")
    result = analyse(s, saved.get("counts"))
    curves, by_run = training_curves(s, saved.get("runs"))
    report_dir.mkdir(parents=True, exist_ok=True)
    main = ["base", *s.methods]
    controls = ["base", "grpo", *s.controls] if s.controls else []
    plot_passk(result, s.ks, main, report_dir / f"{stem}_passk.png")
    plot_training(curves, list(s.methods), report_dir / f"{stem}_training.png")
    if controls:
        plot_passk(result, s.ks, controls, report_dir / f"{stem}_controls_passk.png")
        plot_training(curves, ["grpo", *s.controls], report_dir / f"{stem}_controls_training.png")
    timings_path = s.out / "timings.json"
    timings = dict(saved.get("seconds", {}))
    timings.update(json.loads(timings_path.read_text()) if timings_path.exists() else {})
    doc = {
        "setup": _setup_dict(s),
        **result,
        "curves": curves,
        "runs": by_run,
        "seconds": timings,
    }
    (report_dir / f"{stem}_results.json").write_text(json.dumps(doc, indent=1) + "\n")
    text = report_markdown(s, result, curves, timings, stem)
    path = report_dir / f"{stem}.md"
    path.write_text(text)
    return path


#: The setup fields that make two reports' numbers comparable (the seeds and methods may differ).
_SAME = ("model", "steps", "prompts_per_step", "group_size", "learning_rate", "difficulty", "eval_problems",
         "eval_n", "val_every", "val_problems", "val_n", "max_new_tokens")  # fmt: skip


def _setup_dict(s: Setup) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
        for k, v in s.__dict__.items()
    }


def _saved_results(s: Setup, path: Path) -> dict[str, Any]:
    """An earlier report's results JSON when it was made with the same setup, else nothing."""
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    mine = _setup_dict(s)
    if any(doc.get("setup", {}).get(k) != mine[k] for k in _SAME):
        print(f"note: {path} was made with another setup; it is replaced, not extended", file=sys.stderr)
        return {}
    return doc


def report_markdown(
    s: Setup, result: dict[str, Any], curves: dict[str, Any], timings: dict[str, float], stem: str
) -> str:
    ks = s.ks
    show = [k for k in ks if k in (1, 2, 4, 8, 16, 32, 64, 128) or k == ks[-1]]
    total = sum(timings.values())
    train_s = [v for k, v in timings.items() if k.startswith("train/")]
    eval_s = [v for k, v in timings.items() if k.startswith("eval/")]
    lines = [
        "# A-GRAE vs GRPO: pass@k up to k = " + str(ks[-1]),
        "",
        "Made by `scripts/experiments/agrae_vs_grpo.py` (this file, its figures and "
        f"`{stem}_results.json` are its output; rerun it to reproduce them).",
        "",
        "## Setup",
        "",
        f"- Base model: SmolLM2-135M-Instruct (embedded, `{s.model}`), bf16 autocast, on 2 CPU cores.",
        f"- Data: `synthetic_arithmetic` level(s) {', '.join(map(str, s.difficulty))}; training on the train split, "
        f"evaluation on {result['problems']} held-out problems of the test split (no overlap).",
        f"- Training: {s.steps} steps of {s.prompts_per_step} prompts x {s.group_size} samples, learning rate "
        f"{s.learning_rate:g}, responses up to {s.max_new_tokens} tokens, the `mmrl demo` prompt (one worked example) "
        "and A-GRAE alpha 0.2 (`mmrl demo`'s, for a model that starts near 0.1 accuracy).",
        f"- Methods: {', '.join(LABELS.get(m, m) for m in s.methods)}; seeds planned "
        f"{', '.join(map(str, s.seeds))}, evaluated so far: "
        + ", ".join(f"{LABELS.get(m, m)} {result['seeds'].get(m, 0)}" for m in s.methods)
        + ". For a given seed every method sees the same prompts in the same order.",
        f"- Evaluation: {s.eval_n} samples per problem at temperature 0.7 (top-p 1), the same sampling seeds for "
        "every model; unbiased pass@k; intervals are 95% paired-bootstrap percentiles over problems and seeds "
        f"({BOOTSTRAP} draws).",
        f"- Wall time on this machine: {total / 3600:.1f} h in all ({sum(train_s) / 60:.0f} min training "
        f"{len(train_s)} runs, {sum(eval_s) / 60:.0f} min for {len(eval_s)} evaluations).",
        "",
        "## pass@k",
        "",
        passk_table(result, show, ["base", *s.methods]),
        "",
        f"![pass@k curves]({stem}_passk.png)",
        "",
        "Paired differences (mean [95% interval]); an interval that excludes 0 is a measured effect:",
        "",
        difference_table(
            {
                "differences": {
                    n: v for n, v in result["differences"].items() if n.split(" - ")[0] in s.methods
                }
            },
            show,
        ),
        "",
        "## Over training",
        "",
        f"![training curves]({stem}_training.png)",
        "",
    ]
    for m in s.methods:
        lines.append(
            f"- {LABELS.get(m, m)}: held-out entropy by step {_curve_line(curves, m, 'val/entropy')}; "
            f"held-out pass@1 {_curve_line(curves, m, 'val/pass@1')}"
        )
    lines += ["", *control_section(s, result, curves, show, stem), *conclusion(s, result), "", *commands(s)]
    return "\n".join(lines) + "\n"


def control_section(
    s: Setup, result: dict[str, Any], curves: dict[str, Any], ks: list[int], stem: str
) -> list[str]:
    if not s.controls:
        return [
            "## The control experiments",
            "",
            "Not in this report: `--controls` adds the paper's two controls (Positive-/Negative-Dominant, "
            "Easy-/Hard-Focused; the presets `positive_dominant`, `negative_dominant`, `easy_focused`, "
            "`hard_focused`), one seed each by default.",
            "",
        ]
    done = [c for c in s.controls if c in result["passk"]]
    lines = [
        "## The control experiments",
        "",
        "The paper's two controls, each from the same start and seed as GRPO: positive advantages multiplied "
        "(Positive-Dominant) or divided (Negative-Dominant) by beta = 10, and advantages reweighted by "
        "gamma/sqrt(1-p) (Easy-Focused) or gamma/sqrt(p) (Hard-Focused), gamma = 0.5, p the group's success rate.",
        "",
        passk_table(result, ks, ["base", "grpo", *done]),
        "",
        f"![controls: pass@k]({stem}_controls_passk.png)",
        "",
        f"![controls: training]({stem}_controls_training.png)",
        "",
    ]
    for c in done:
        lines.append(
            f"- {LABELS[c]}: held-out entropy {_curve_line(curves, c, 'val/entropy')}; "
            f"held-out pass@1 {_curve_line(curves, c, 'val/pass@1')}"
        )
    findings = control_findings(result, curves, early_steps=max(1, s.steps // 3))
    if findings:
        seeds = ", ".join(map(str, s.control_seeds))
        lines += [
            "",
            f"Against the paper's account (seed(s) {seeds} of each control: single runs, so these are "
            "observations, not measured effects):",
            "",
            *findings,
        ]
    return [*lines, ""]


def _last(curves: dict[str, Any], method: str, metric: str) -> float | None:
    points = curves.get(method, {}).get(metric, [])
    return float(points[-1][1]) if points else None


def _early_mean(curves: dict[str, Any], method: str, metric: str, steps: int) -> float | None:
    values = [float(v) for st, v in curves.get(method, {}).get(metric, []) if 1 <= st <= steps]
    return sum(values) / len(values) if values else None


def control_findings(result: dict[str, Any], curves: dict[str, Any], early_steps: int) -> list[str]:
    """The paper's three claims about its controls, each checked on what this run measured:
    Negative-Dominant ends with a higher held-out entropy than Positive-Dominant; Easy-Focused
    learns faster early (mean training accuracy over steps 1..``early_steps``) than Hard-Focused;
    Hard-Focused ends higher (held-out pass@1 of the final models) than Easy-Focused. A claim whose
    runs are missing is left out.

    >>> curves = {"negative_dominant": {"val/entropy": [(0, 0.6), (30, 0.4)]},
    ...           "positive_dominant": {"val/entropy": [(0, 0.6), (30, 0.1)]}}
    >>> control_findings({"passk": {}}, curves, 10)[0].startswith("- Negative-Dominant (/10) ends with")
    True
    """
    out = []
    nd, pd = (
        _last(curves, "negative_dominant", "val/entropy"),
        _last(curves, "positive_dominant", "val/entropy"),
    )
    if nd is not None and pd is not None:
        agrees = "as the paper reports" if nd > pd else "unlike the paper, which reports it raises entropy"
        out.append(
            f"- {LABELS['negative_dominant']} ends with held-out entropy {nd:.3f}, {LABELS['positive_dominant']} "
            f"with {pd:.3f}: {'higher' if nd > pd else 'not higher'}, {agrees}."
        )
    ef = _early_mean(curves, "easy_focused", "reward/accuracy", early_steps)
    hf = _early_mean(curves, "hard_focused", "reward/accuracy", early_steps)
    if ef is not None and hf is not None:
        agrees = (
            "as the paper reports" if ef > hf else "unlike the paper, where Easy-Focused learns fastest early"
        )
        out.append(
            f"- Training accuracy over steps 1-{early_steps}: Easy-Focused {ef:.3f}, Hard-Focused {hf:.3f}; {agrees}."
        )
    passk = result.get("passk", {})
    if "easy_focused" in passk and "hard_focused" in passk:
        e, h = passk["easy_focused"][1][0], passk["hard_focused"][1][0]
        agrees = "as the paper reports" if h > e else "unlike the paper, where Hard-Focused ends highest"
        out.append(f"- Final held-out pass@1: Hard-Focused {h:.3f}, Easy-Focused {e:.3f}; {agrees}.")
    return out


def conclusion(s: Setup, result: dict[str, Any]) -> list[str]:
    """The measured conclusion, in words generated from the numbers (whichever way they fall)."""
    lines = ["## Conclusion (as measured)", ""]
    big, small = s.ks[-1], 1
    for name, by_k in result["differences"].items():
        a, b = name.split(" - ")
        if a not in s.methods:
            continue
        for k in (small, big):
            mean, lo, hi = by_k[k]
            verdict = "higher than" if lo > 0 else "lower than" if hi < 0 else "not distinguishable from"
            lines.append(
                f"- pass@{k}: {LABELS.get(a, a)} is {verdict} {_the(b)} "
                f"({mean:+.3f}, 95% interval {lo:+.3f} to {hi:+.3f})."
            )
    by_k = result["differences"].get("grpo+a_grae - grpo")
    if by_k:
        above = [k for k in s.ks if by_k[k][1] > 0]
        below = [k for k in s.ks if by_k[k][2] < 0]
        lines.append(
            f"- Over every k: GRPO + A-GRAE minus GRPO has a mean of {min(v[0] for v in by_k.values()):+.3f} to "
            f"{max(v[0] for v in by_k.values()):+.3f}; its interval excludes 0 at k = {', '.join(map(str, above)) or 'none'}"
            + (f" (below GRPO at k = {', '.join(map(str, below))})" if below else "")
            + "."
        )
    return lines


def _the(method: str) -> str:
    return "the base model" if method == "base" else LABELS.get(method, method)


def commands(s: Setup) -> list[str]:
    first = run_name(s.methods[-1], s.seeds[0])
    return [
        "## Reproduce",
        "",
        "```bash",
        "python scripts/experiments/agrae_vs_grpo.py"
        + (" --controls" if s.controls else "")
        + "   # everything, resumable",
        f"python scripts/experiments/agrae_vs_grpo.py --seeds {s.seeds[0]} --methods {s.methods[-1]} --out runs/one_seed",
        f"mmrl eval compare {s.out}/eval/base {s.out}/eval/{first} runs/one_seed/eval/{first} "
        "--labels base,report,yours --output runs/one_seed/compare",
        "```",
        "",
        "Every sampling call is seeded (training from `trainer.seed`, evaluation from `--seed 0`), so the "
        "one-seed command repeats that seed's run; `mmrl eval compare` overlays its curve on the report's. "
        "Other hardware or another engine can sample differently (bf16 reductions differ by kernel).",
    ]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the mmrl train/eval stages choose their OpenMP wait policy
    args = _args(argv)
    s = setup_from(args)
    started = time.perf_counter()
    if not args.report_only:
        saved = _saved_results(s, Path(args.report) / "agrae_vs_grpo_results.json")
        run_experiment(s, dry_run=args.dry_run, reported=frozenset(saved.get("counts", {})))
    if args.dry_run:
        return 0
    path = write_report(s, Path(args.report))
    print(f"report: {path} ({(time.perf_counter() - started) / 60:.1f} min this time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
