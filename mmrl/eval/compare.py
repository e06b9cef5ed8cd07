"""``mmrl eval compare DIR_A DIR_B ...``: several models' pass@k curves on the same benchmarks.

Each directory is an ``mmrl eval`` output (its ``results.json``). The comparison is one PNG with a
panel per benchmark, each model a curve (log2 k axis), and one Markdown table per benchmark with a
row per model. Labels come from each result's model identity (``--labels`` overrides them; equal
labels get their directory name appended). Benchmarks missing from some runs are shown for the
runs that have them, and the table says which runs lack them. Runs sampled differently (``n``,
temperature, top-p, max new tokens, engine) are compared anyway, with a warning line naming the
differences, since their curves are not like for like.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmrl.errors import UserError
from mmrl.eval.report import RESULTS_FILE, curves_table, plot_passk_panels
from mmrl.eval.results import METRICS

__all__ = ["Comparison", "compare_runs", "load_results"]

_SAMPLING_KEYS = ("n", "temperature", "top_p", "top_k", "max_new_tokens")


def load_results(directory: str | Path) -> dict[str, Any]:
    """The parsed ``results.json`` of an ``mmrl eval`` output directory (or the file itself)."""
    path = Path(directory).expanduser()
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"{directory}: no {RESULTS_FILE} (is it an `mmrl eval --output` directory?)")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), dict):
        raise UserError(f"{path} has no 'benchmarks' section; it was not written by `mmrl eval`")
    return doc


@dataclass
class Comparison:
    """The curves by benchmark and label, the Markdown text, and the labels in order."""

    curves: dict[str, dict[str, dict[int, float]]]
    labels: list[str]
    markdown: str


def _labels(docs: Sequence[Mapping[str, Any]], dirs: Sequence[str], given: Sequence[str] | None) -> list[str]:
    if given is not None:
        if len(given) != len(docs):
            raise UserError(f"--labels has {len(given)} labels for {len(docs)} result directories")
        if len(set(given)) != len(given):
            raise UserError(f"--labels {list(given)} repeats a label")
        return list(given)
    labels = [
        str((d.get("model") or {}).get("label") or Path(p).name) for d, p in zip(docs, dirs, strict=True)
    ]
    return [
        f"{label} ({Path(p).name})" if labels.count(label) > 1 else label
        for label, p in zip(labels, dirs, strict=True)
    ]


def compare_runs(
    dirs: Sequence[str | Path],
    *,
    labels: Sequence[str] | None = None,
    metric: str = "pass@k",
    plot: str | Path | None = None,
) -> Comparison:
    """Compare ``mmrl eval`` outputs; with ``plot``, also write the PNG there."""
    if len(dirs) < 2:
        raise UserError("compare needs at least two result directories")
    if metric not in METRICS:
        raise UserError(f"--metric {metric!r} must be one of {', '.join(METRICS)}")
    docs = [load_results(d) for d in dirs]
    names = _labels(docs, [str(d) for d in dirs], labels)

    benchmarks: list[str] = []
    for doc in docs:
        benchmarks += [b for b in doc["benchmarks"] if b not in benchmarks]
    curves: dict[str, dict[str, dict[int, float]]] = {}
    ks_of: dict[str, list[int]] = {}
    for bench in benchmarks:
        curves[bench] = {}
        ks: set[int] = set()
        for label, doc in zip(names, docs, strict=True):
            entry = doc["benchmarks"].get(bench)
            if entry is None:
                continue
            values = entry["metrics"]["overall"][metric]
            curve = {int(k): (float("nan") if v is None else float(v)) for k, v in values.items()}
            curves[bench][label] = curve
            ks.update(curve)
        ks_of[bench] = sorted(ks)

    lines = [f"# {metric} comparison", ""]
    for label, d, doc in zip(names, dirs, docs, strict=True):
        model = doc.get("model") or {}
        fp = str(model.get("fingerprint") or "")[:12]
        lines.append(f"- **{label}**: `{d}` (model `{model.get('path')}`{', weights ' + fp if fp else ''})")
    lines.append("")
    sampled = [
        {**{k: (doc.get("sampling") or {}).get(k) for k in _SAMPLING_KEYS}, "engine": doc.get("engine")}
        for doc in docs
    ]
    differing = [k for k in (*_SAMPLING_KEYS, "engine") if len({json.dumps(s[k]) for s in sampled}) > 1]
    if differing:
        detail = "; ".join(
            f"{k}: " + ", ".join(f"{n}={s[k]}" for n, s in zip(names, sampled, strict=True))
            for k in differing
        )
        lines += [
            f"**Warning: the runs were sampled differently** ({detail}); the curves are not like for like.",
            "",
        ]
    for bench in benchmarks:
        lines += [f"## {bench}", "", curves_table(curves[bench], ks_of[bench], metric=metric), ""]
        missing = [label for label in names if label not in curves[bench]]
        if missing:
            lines += [f"Not evaluated on {bench}: {', '.join(missing)}.", ""]
    markdown = "\n".join(lines)
    if plot is not None:
        plot_passk_panels(curves, plot, title=f"{metric}: " + " vs ".join(names), ylabel=metric)
    return Comparison(curves=curves, labels=names, markdown=markdown)
