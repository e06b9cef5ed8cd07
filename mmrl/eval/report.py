"""Evaluation outputs: ``results.json``, ``samples.jsonl``, ``report.md`` and ``passk.png``.

``write_outputs(results, out_dir, header)`` writes all four for a list of ``EvalResult``s (one per
benchmark). The pieces are public so that other reports (the demo's before/after, ``mmrl eval
compare``) draw the same tables and plots:

* ``curves_table({label: {k: value}}, ks)``: a Markdown table, one row per label;
* ``plot_passk_curves({label: {k: value}}, path, title=...)``: one panel of curves on a log2 k axis;
* ``plot_passk_panels({panel: {label: {k: value}}}, path)``: several panels (one per benchmark);
* ``write_samples`` / ``read_samples``: every response with its verdict and its problem's prompt and
  images, one JSON line per sample.

Values in tables are fractions in [0, 1] with three decimals; ``-`` marks a value no problem could
estimate.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mmrl.eval.results import METRICS, EvalResult, ProblemRecord, SampleRecord, json_ready

__all__ = [
    "RESULTS_FILE",
    "SAMPLES_FILE",
    "REPORT_FILE",
    "PLOT_FILE",
    "curves_table",
    "plot_passk_curves",
    "plot_passk_panels",
    "read_samples",
    "report_markdown",
    "write_outputs",
    "write_samples",
]

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
REPORT_FILE = "report.md"
PLOT_FILE = "passk.png"

Curve = Mapping[int, float]


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}"


def _k_value(curve: Mapping[Any, Any], k: int) -> Any:
    return curve.get(k, curve.get(str(k)))


def curves_table(
    curves: Mapping[str, Curve], ks: Sequence[int], *, metric: str = "pass@k", first: str = "model"
) -> str:
    """A Markdown table: one row per label, one column per ``k`` (``pass@1 | pass@4 ...``).

    >>> print(curves_table({"base": {1: 0.25, 4: 0.5}, "a_grae": {1: 0.3, 4: 0.625}}, [1, 4]))
    | model | pass@1 | pass@4 |
    |---|---:|---:|
    | base | 0.250 | 0.500 |
    | a_grae | 0.300 | 0.625 |
    """
    heads = [metric.replace("@k", f"@{k}") for k in ks]
    lines = [f"| {first} | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(ks)]
    for label, curve in curves.items():
        lines.append(f"| {label} | " + " | ".join(_fmt(_k_value(curve, k)) for k in ks) + " |")
    return "\n".join(lines)


def _group_table(groups: Mapping[str, Mapping[str, Any]], ks: Sequence[int], first: str) -> str:
    heads = [f"pass@{k}" for k in ks] + [f"maj@{ks[-1]}", "mean@n"]
    lines = [f"| {first} | problems | " + " | ".join(heads) + " |", "|---|---:|" + "---:|" * len(heads)]
    for name, g in groups.items():
        cells = [_fmt(_k_value(g["pass@k"], k)) for k in ks]
        cells += [_fmt(_k_value(g["maj@k"], ks[-1])), _fmt(_k_value(g["mean@k"], ks[0]))]
        lines.append(f"| {name} | {g['problems']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _metric_table(group: Mapping[str, Any], ks: Sequence[int]) -> str:
    lines = ["| metric | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---:|" * len(ks)]
    for name in METRICS:
        lines.append(f"| {name} | " + " | ".join(_fmt(_k_value(group[name], k)) for k in ks) + " |")
    return "\n".join(lines)


def report_markdown(results: Sequence[EvalResult], header: Mapping[str, Any] | None = None) -> str:
    """The ``report.md`` text: what was evaluated, a summary table, then each benchmark's detail."""
    header = dict(header or {})
    out = ["# mmrl eval report", ""]
    model = header.get("model") or {}
    if model.get("path"):
        out.append(f"- model: `{model['path']}` ({model.get('label')})")
    elif model.get("label"):
        out.append(f"- model: {model['label']}")
    if model.get("source"):
        out.append(f"- resolved from: {model['source']}")
    if model.get("fingerprint"):
        out.append(
            f"- weights fingerprint: `{model['fingerprint'][:16]}` ({model.get('weights_bytes', 0)} bytes)"
        )
    sampling = header.get("sampling") or {}
    if sampling:
        out.append("- sampling: " + ", ".join(f"{k}={v}" for k, v in sampling.items()))
    for key in ("engine", "mmrl_version", "created"):
        if header.get(key) is not None:
            out.append(f"- {key.replace('_', ' ')}: {header[key]}")
    out.append("")
    if not results:
        out.append("No benchmark was evaluated.")
        return "\n".join(out) + "\n"
    ks = list(results[0].ks)
    metrics = {r.name: r.metrics() for r in results}
    out += [
        "## Summary",
        "",
        _group_table({name: m["overall"] for name, m in metrics.items()}, ks, "benchmark"),
        "",
    ]
    out.append(
        "pass@k is the unbiased estimator 1 - C(n-c, k)/C(n, k) averaged over problems; mean@n is the mean "
        "accuracy c/n; maj@k the majority vote over k samples. Values are fractions."
    )
    out.append("")
    for result in results:
        m = metrics[result.name]
        overall = m["overall"]
        info = result.info
        where = ", ".join(f"{k} {info[k]}" for k in ("recipe", "split", "path") if info.get(k))
        out += [f"## {result.name}", ""]
        if where:
            out += [where, ""]
        out.append(
            f"{overall['problems']} problems x n={result.n} samples; mean response {overall['mean_tokens']:.1f} "
            f"tokens, {100 * overall['truncated']:.1f}% truncated."
        )
        if "generated_problems" in info:
            out.append(
                f"Generated {info['generated_problems']} problems in {info.get('seconds', 0):.1f} s; "
                f"{info.get('cached_problems', 0)} came from the sample cache."
            )
        if overall["unscored"]:
            out.append(
                f"**{overall['unscored']} samples could not be scored** (timeout, error or unparsable gold); "
                "they are left out of the estimates."
            )
        excluded = {k: v for k, v in overall["excluded"].items() if v}
        if excluded:
            out.append(f"Problems with fewer than k scored samples, left out per k: {excluded}.")
        bad = info.get("rows", {}).get("bad_rows", 0)
        if bad:
            out.append(
                f"**{bad} rows of the benchmark were bad and not evaluated**: {info.get('bad_rows_by_reason', {})} "
                "(`mmrl data validate` lists them by row; `--strict` fails instead)."
            )
        if result.dropped:
            reasons: dict[str, int] = {}
            for d in result.dropped:
                reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
            out.append(
                f"**{len(result.dropped)} problems were not evaluated**: {reasons} (ids in results.json)."
            )
        out += ["", _metric_table(overall, ks), ""]
        if len(m["by_task"]) > 1:
            out += ["### By task", "", _group_table(m["by_task"], ks, "task"), ""]
        if m["by_category"]:
            out += ["### By category", "", _group_table(m["by_category"], ks, "category"), ""]
    return "\n".join(out) + "\n"


def _pyplot() -> Any:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


#: (marker, line style) of the curves in order, so that curves stay told apart in black and white.
_STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("P", "--"), ("X", "-."), ("*", ":"))


def _draw(ax: Any, curves: Mapping[str, Curve], title: str, ylabel: str) -> None:
    """One panel. Each curve gets its own marker and dashes; a curve equal to one drawn before it
    is shifted a little along k (3% per copy, on the log axis) and its legend names the twin, so
    that no curve hides another."""
    all_ks: set[int] = set()
    drawn: list[tuple[str, list[tuple[int, float]]]] = []
    for index, (label, curve) in enumerate(curves.items()):
        points = sorted((int(k), v) for k, v in curve.items() if v is not None and not math.isnan(v))
        if not points:
            continue
        ks, values = zip(*points, strict=True)
        all_ks.update(ks)
        twins = [name for name, other in drawn if other == points]
        drawn.append((label, points))
        shift = 1.03 ** len(twins)
        marker, dashes = _STYLES[index % len(_STYLES)]
        ax.plot(
            [k * shift for k in ks],
            values,
            marker=marker,
            linestyle=dashes,
            linewidth=1.8,
            markersize=5,
            label=f"{label} (= {twins[0]})" if twins else label,
        )
    ax.set_xscale("log", base=2)
    if all_ks:
        ticks = sorted(all_ks)
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(k) for k in ticks])
        if len(ticks) == 1:
            ax.set_xlim(ticks[0] / 1.5, ticks[0] * 1.5)
    ax.set_xlabel("k (log scale)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    if curves:
        ax.legend(fontsize=8, loc="best")


def plot_passk_panels(
    panels: Mapping[str, Mapping[str, Curve]],
    path: str | Path,
    *,
    title: str | None = None,
    ylabel: str = "pass@k",
) -> Path:
    """One PNG with a panel per key of ``panels`` (e.g. per benchmark), each ``{label: {k: value}}``.

    The k axis is log2-scaled with a tick at every k; NaN values are skipped.
    """
    if not panels:
        raise ValueError("plot_passk_panels needs at least one panel")
    plt = _pyplot()
    count = len(panels)
    cols = min(count, 3)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax, (name, curves) in zip(axes.flat, panels.items(), strict=False):
        _draw(ax, curves, name, ylabel)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_passk_curves(
    curves: Mapping[str, Curve], path: str | Path, *, title: str = "pass@k", ylabel: str = "pass@k"
) -> Path:
    """One panel of curves ``{label: {k: value}}`` (e.g. before/after training) on a log2 k axis."""
    return plot_passk_panels({title: curves}, path, ylabel=ylabel)


def write_samples(results: Sequence[EvalResult], path: str | Path) -> Path:
    """One JSON line per sample: benchmark, problem id/task/category/answer/prompt (as the data gave
    it, and ``rendered_prompt``, the text the model saw)/images, sample index and verdict. Image paths are relative to the file's directory (``images/<digest>.png``)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as handle:
        for result in results:
            for problem in result.problems:
                for index, sample in enumerate(problem.samples):
                    row = {
                        "benchmark": result.name,
                        "id": problem.id,
                        "task": problem.task,
                        "category": problem.category,
                        "answer": problem.answer,
                        "prompt": problem.prompt,
                        "rendered_prompt": problem.rendered_prompt,
                        "images": list(problem.images),
                        "sample_index": index,
                        **asdict(sample),
                    }
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def read_samples(path: str | Path) -> dict[str, list[ProblemRecord]]:
    """``samples.jsonl`` back as ``{benchmark: [ProblemRecord, ...]}`` in file order."""
    fields = set(SampleRecord.__dataclass_fields__)
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                problems = grouped.setdefault(row["benchmark"], {})
                entry = problems.setdefault(
                    row["id"],
                    {
                        "id": row["id"],
                        "task": row["task"],
                        "category": row["category"],
                        "answer": row["answer"],
                        "prompt": row.get("prompt"),
                        "rendered_prompt": row.get("rendered_prompt"),
                        "images": row.get("images") or [],
                    },
                )
                entry.setdefault("samples", []).append((row["sample_index"], {k: row[k] for k in fields}))
            except (json.JSONDecodeError, KeyError) as exc:
                raise ValueError(f"{path} line {number} is not a sample row ({exc})") from None
    return {
        bench: [
            ProblemRecord.from_dict(
                {**p, "samples": [s for _, s in sorted(p["samples"], key=lambda x: x[0])]}
            )
            for p in problems.values()
        ]
        for bench, problems in grouped.items()
    }


def write_outputs(
    results: Sequence[EvalResult], out_dir: str | Path, header: Mapping[str, Any]
) -> dict[str, Path]:
    """Write ``results.json``, ``samples.jsonl``, ``report.md`` and ``passk.png`` into ``out_dir``.

    ``header`` (model identity, sampling, engine, command line, ...) goes to the top of
    ``results.json`` and ``report.md``. ``results.json`` holds every metric overall, per task and
    per category, each problem's ``n`` and ``c``, and what was dropped; ``samples.jsonl`` every
    response and verdict. Files are written to a temporary name and renamed into place.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        **json_ready(dict(header)),
        "benchmarks": {r.name: r.to_dict(with_samples=False) for r in results},
    }
    paths = {
        "results": out / RESULTS_FILE,
        "samples": out / SAMPLES_FILE,
        "report": out / REPORT_FILE,
        "plot": out / PLOT_FILE,
    }
    _atomic_text(paths["results"], json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
    tmp = paths["samples"].with_name(paths["samples"].name + ".tmp")
    write_samples(results, tmp)
    os.replace(tmp, paths["samples"])
    _atomic_text(paths["report"], report_markdown(results, header))
    label = (header.get("model") or {}).get("label", "model")
    panels = {r.name: {label: r.pass_at_k()} for r in results}
    tmp_png = paths["plot"].with_name("passk.tmp.png")
    plot_passk_panels(panels, tmp_png, title=f"pass@k: {label}")
    os.replace(tmp_png, paths["plot"])
    return paths


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
