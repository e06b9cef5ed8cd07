"""``build_site``: the pages of ``mmrl view`` for run and evaluation directories.

Site layout (all links relative)::

    index.html                      the run, the evaluation, or (several inputs) a list of them
    run/index.html                  a run: curves of every metric, its steps, its evaluations
    run/steps/step_N/index.html     a step's groups (+ p2.html, ...; index.js, search.js)
    evals/<slug>/index.html         an evaluation: pass@k curves, tables by task and category
    evals/<slug>/<benchmark>/       its problems with their samples (category/<name>/: one category)
    compare/<a>--<b>/index.html     two evaluations problem by problem (+ <benchmark>/ side by side)
    images/                         every image once, by content
    assets/view.css, view.js        the only style sheet and script; nothing is fetched from elsewhere

A run's evaluations are its validations (``validation/step_N``) and its ``eval/`` directory; the
first validation is compared with the last. Of several evaluation directories given, the first is
compared with each of the others.

Step pages are rebuilt only when their rollouts file changed since the last build into the same
folder (its size and modification time are kept in ``.source`` beside the pages), so running
``mmrl view`` again during training renders only the new steps.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmrl import __version__
from mmrl.view.charts import line_chart
from mmrl.view.render import fmt
from mmrl.view.site import (
    SAMPLES_PER_PAGE,
    Entry,
    Item,
    Listing,
    Site,
    entries_of,
    group_text,
    group_view,
    sample_text,
    slug,
)
from mmrl.view.sources import (
    EvalSource,
    Group,
    RunSource,
    add_a_grae_factors,
    load_source,
    read_step,
)

log = logging.getLogger(__name__)

__all__ = ["BuildReport", "build_site"]

ROLLOUT_FACETS = ("verdict", "status", "advantage", "length", "task")
EVAL_FACETS = ("verdict", "status", "length", "task", "category")
PAIR_FACETS = ("change", "task", "category")

#: Curves drawn first, in this order (a pattern matches a metric key or a family of keys);
#: every other key of metrics.jsonl follows, by section.
KEY_CURVES: tuple[str, ...] = (
    r"^reward/mean$",
    r"^reward/accuracy$",
    r"^advantages/omega$",
    r"^actor/entropy",
    r"^response/length_mean$",
    r"^response/truncated_frac$",
    r"^advantages/abs_sum/",
    r"^advantages/(pos|neg)_mass$",
    r"kl",
    r"^grad_norm$",
    r"^time/",
)

#: Numbers in a step's summary table, when the step logged them.
STEP_SUMMARY: tuple[tuple[str, str], ...] = (
    ("reward/mean", "reward"),
    ("reward/accuracy", "accuracy"),
    ("advantages/omega", "ω (batch accuracy)"),
    ("advantages/attenuation", "min(1, ω/α)"),
    ("advantages/pos_mass", "Σ A⁺"),
    ("advantages/neg_mass", "Σ |A⁻|"),
    ("advantages/zero_variance_frac", "groups without signal"),
    ("response/length_mean", "length (tokens)"),
    ("response/truncated_frac", "truncated"),
    ("loss", "loss"),
    ("grad_norm", "gradient norm"),
    ("time/step", "seconds"),
)

#: Columns of the run's step table.
STEP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reward/mean", "reward"),
    ("reward/accuracy", "accuracy"),
    ("advantages/omega", "ω"),
    ("response/length_mean", "length"),
    ("response/truncated_frac", "truncated"),
)


@dataclass
class BuildReport:
    """What ``build_site`` wrote."""

    output: Path
    index: Path
    pages: int
    steps: int
    steps_reused: int
    evaluations: int
    seconds: float


def build_site(
    dirs: Sequence[str | Path],
    output: str | Path,
    *,
    progress: bool = True,
    samples_per_page: int = SAMPLES_PER_PAGE,
) -> BuildReport:
    """Build the site for ``dirs`` (run and evaluation directories) into ``output``.

    ``progress`` shows a bar over the steps on a terminal; ``samples_per_page`` bounds each static
    page of a listing (``scripts/bench_view.py`` compares it with one page for everything).
    """
    from mmrl.errors import UserError

    started = time.perf_counter()
    if not dirs:
        raise UserError("mmrl view needs at least one run or evaluation directory")
    sources = [load_source(d) for d in dirs]
    site = Site(Path(output), [str(Path(d)) for d in dirs])
    site.prepare()
    builder = _Builder(site, progress, samples_per_page)
    single = len(sources) == 1
    runs = [s for s in sources if isinstance(s, RunSource)]
    evals = [s for s in sources if isinstance(s, EvalSource)]
    labels = [e.label for e in evals]
    for e in evals:  # two evaluations of one model: tell them apart by their directories
        if labels.count(e.label) > 1:
            e.label = f"{e.label} ({e.path.name})"
    run_pages = []
    for i, run in enumerate(runs):
        base = "" if single else (f"run-{i + 1}" if len(runs) > 1 else "run")
        run_pages.append((run.path.name, builder.run(run, base)))
    eval_rows = []
    for source in evals:
        eval_rows.extend(builder.evaluation(source, home=single))
    comparisons = [builder.compare(evals[0], other) for other in evals[1:]]
    if not single:
        site.write(
            "index.html",
            "home.html",
            title="mmrl view",
            crumbs=[],
            runs=run_pages,
            evaluations=eval_rows,
            eval_ks=_ks_of(eval_rows),
            comparisons=comparisons,
        )
    return BuildReport(
        output=site.root,
        index=site.root / "index.html",
        pages=site.pages_written,
        steps=builder.steps_built,
        steps_reused=builder.steps_reused,
        evaluations=builder.evaluations,
        seconds=time.perf_counter() - started,
    )


def _ks_of(rows: Sequence[dict[str, Any]]) -> list[int]:
    ks = sorted({k for row in rows for k in row["ks"]})
    for row in rows:
        row["cells"] = [fmt(row["pass"].get(k)) for k in ks]
    return ks


def _join(base: str, path: str) -> str:
    return f"{base}/{path}" if base else path


#: Folders of the site itself, which a benchmark's folder must not replace.
_RESERVED = {"assets", "images", "steps", "evals", "compare", "run"}


def _benchmark_dir(name: str) -> str:
    """A benchmark's folder: its slug, prefixed when that is one of the site's own folders."""
    name = slug(name)
    return f"benchmark-{name}" if name in _RESERVED or name.startswith("run-") else name


def _read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


class _Builder:
    def __init__(self, site: Site, progress: bool, samples_per_page: int):
        self.site = site
        self.progress = progress
        self.per_page = samples_per_page
        self.steps_built = 0
        self.steps_reused = 0
        self.evaluations = 0
        self._eval_pages: dict[int, str] = {}  # id(EvalSource) -> its page
        self._used_slugs: set[str] = set()

    # -- runs -------------------------------------------------------------------------------------

    def run(self, run: RunSource, base: str) -> str:
        page = _join(base, "index.html")
        title = f"run {run.path.name}"
        crumbs = [] if not base else [(title, None)]
        steps_dir = _join(base, "steps")
        counts = self._steps(run, steps_dir, title, page)
        eval_rows = []
        for source in run.evaluations:
            eval_rows.extend(self.evaluation(source, parent=(title, page)))
        comparisons = []
        validations = [e for e in run.evaluations if e.step is not None]
        if len(validations) >= 2:
            comparisons.append(self.compare(validations[0], validations[-1], parent=(title, page)))
        columns = [(k, label) for k, label in STEP_COLUMNS if any(k in m for m in run.metrics)]
        rows = []
        logged = {s.step: s for s in run.steps}
        for step in sorted({m["step"] for m in run.metrics if m["step"] > 0} | set(logged)):
            m = run.metrics_at(step)
            groups, samples = counts.get(step, (0, 0))
            rows.append(
                {
                    "step": step,
                    "cells": [fmt(m.get(k)) for k, _ in columns],
                    "href": f"{steps_dir}/step_{step}/index.html" if step in logged else None,
                    "groups": groups,
                    "samples": samples,
                }
            )
        sections, constants = chart_sections(run.metrics)
        self.site.write(
            page,
            "run.html",
            title=title,
            crumbs=crumbs,
            facts=_run_facts(run),
            chart_sections=sections,
            constants=constants,
            step_columns=[label for _, label in columns],
            step_rows=rows,
            evaluations=eval_rows,
            eval_ks=_ks_of(eval_rows),
            comparisons=comparisons,
            config_text=run.config_text,
        )
        return page

    def _steps(self, run: RunSource, steps_dir: str, title: str, run_page: str) -> dict[int, tuple[int, int]]:
        """Write every step's listing (reusing unchanged ones); ``{step: (groups, samples)}``."""
        counts: dict[int, tuple[int, int]] = {}
        wanted = {f"step_{s.step}" for s in run.steps}
        root = self.site.root / steps_dir
        if root.is_dir():
            for old in root.iterdir():
                if old.is_dir() and old.name not in wanted:
                    shutil.rmtree(old)  # a step the run no longer has (dropped on resume)
        a_grae = run.a_grae()
        bar = _progress(len(run.steps), "view: steps", self.progress)
        for i, step_file in enumerate(run.steps):
            base = f"{steps_dir}/step_{step_file.step}"
            metrics = run.metrics_at(step_file.step)
            prev_step = run.steps[i - 1].step if i > 0 else None
            next_step = run.steps[i + 1].step if i + 1 < len(run.steps) else None
            # What the pages show besides the rollouts: a page is reused only if none of it changed.
            stat = step_file.path.stat()
            stamp = {
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "mmrl": __version__,
                "metrics": json.dumps(metrics, sort_keys=True),
                "a_grae": list(a_grae) if a_grae else None,
                "neighbours": [prev_step, next_step],
            }
            kept = _read_stamp(self.site.root / base / ".source")
            if kept is not None and {k: kept.get(k) for k in stamp} == stamp:
                counts[step_file.step] = (kept["groups"], kept["samples"])
                self.steps_reused += 1
                bar.update(1)
                continue
            groups = read_step(step_file.path)
            if a_grae is not None and "advantages/omega" in metrics:
                add_a_grae_factors(groups, metrics["advantages/omega"], *a_grae)
            sizes = sorted({len(g.samples) for g in groups})

            def link(step: int | None) -> tuple[int, str] | None:
                return None if step is None else (step, f"{steps_dir}/step_{step}/index.html")

            Listing(
                base,
                "step.html",
                ROLLOUT_FACETS,
                "sample",
                "prompt",
                {
                    "title": f"step {step_file.step}",
                    "crumbs": [(title, run_page), (f"step {step_file.step}", None)],
                    "step": step_file.step,
                    "with_advantage": True,
                    "prev_step": link(prev_step),
                    "next_step": link(next_step),
                    "summary": _step_summary(metrics, groups),
                    "all_metrics": [(k, fmt(v, 4)) for k, v in sorted(metrics.items()) if k != "step"],
                    "group_size_text": "/".join(map(str, sizes)) or "0",
                    "a_grae": a_grae is not None,
                },
            ).write(self.site, entries_of(groups, self.site, ROLLOUT_FACETS), self.per_page)
            samples = sum(len(g.samples) for g in groups)
            counts[step_file.step] = (len(groups), samples)
            self.site.write_text(
                f"{base}/.source", json.dumps({**stamp, "groups": len(groups), "samples": samples})
            )
            self.steps_built += 1
            bar.update(1)
        bar.close()
        return counts

    # -- evaluations ------------------------------------------------------------------------------

    def _slug(self, text: str) -> str:
        name, i = slug(text), 1
        while name in self._used_slugs:
            i += 1
            name = f"{slug(text)}-{i}"
        self._used_slugs.add(name)
        return name

    def evaluation(
        self, source: EvalSource, *, home: bool = False, parent: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Write an evaluation's pages; its rows for an evaluations table (one per benchmark)."""
        base = "" if home else f"evals/{self._slug(source.label)}"
        page = _join(base, "index.html")
        self._eval_pages[id(source)] = page
        crumbs = ([parent] if parent else []) + ([] if home else [(source.label, None)])
        title = source.label
        benchmarks, rows = [], []
        for name, result in source.results.items():
            bench_dir = _join(base, _benchmark_dir(name))
            metrics = result.metrics()
            overall = metrics["overall"]
            groups = source.groups(name)
            listing_crumbs = [*crumbs[:-1], (source.label, page)] if crumbs else [(source.label, page)]
            self._problems(
                groups, bench_dir, f"{name}: every problem", [*listing_crumbs, (name, None)], result
            )
            by_category = {}
            for category in metrics["by_category"]:
                members = [g for g in groups if g.category == category]
                target = f"{bench_dir}/category/{slug(category)}"
                self._problems(
                    members,
                    target,
                    f"{name}: {category}",
                    [*listing_crumbs, (name, f"{bench_dir}/index.html"), (category, None)],
                    result,
                )
                by_category[category] = f"{target}/index.html"
            benchmarks.append(
                {
                    "name": name,
                    "anchor": f"b-{slug(name)}",
                    "href": f"{bench_dir}/index.html",
                    "description": _eval_description(result, overall),
                    "ks": list(result.ks),
                    "charts": _eval_charts(result, metrics),
                    "metric_rows": [
                        (m, [fmt(overall[m].get(k)) for k in result.ks])
                        for m in ("pass@k", "mean@k", "maj@k")
                    ],
                    "group_tables": _group_tables(result, metrics, by_category),
                }
            )
            rows.append(
                {
                    "label": source.label,
                    "href": page,
                    "benchmark": name,
                    "bench_href": f"{page}#b-{slug(name)}",
                    "problems": overall["problems"],
                    "n": result.n,
                    "ks": list(result.ks),
                    "pass": dict(overall["pass@k"]),
                }
            )
        self.site.write(
            page, "eval.html", title=title, crumbs=crumbs, facts=_eval_facts(source), benchmarks=benchmarks
        )
        self.evaluations += 1
        return rows

    def _problems(
        self, groups: Sequence[Group], base: str, title: str, crumbs: list[Any], result: Any
    ) -> None:
        Listing(
            base,
            "problems.html",
            EVAL_FACETS,
            "sample",
            "problem",
            {
                "title": title,
                "crumbs": crumbs,
                "with_advantage": False,
                "description": f"{len(groups)} problems x n={result.n} samples. p is the problem's share of "
                "correct samples among its scored ones (c/n).",
            },
        ).write(self.site, entries_of(groups, self.site, EVAL_FACETS), self.per_page)

    # -- comparisons ------------------------------------------------------------------------------

    def compare(self, a: EvalSource, b: EvalSource, parent: tuple[str, str] | None = None) -> tuple[str, str]:
        """Write ``a`` vs ``b``, problem by problem; ``(label, page)``."""
        label = f"{a.label} vs {b.label}"
        base = f"compare/{self._slug(f'{a.label}--{b.label}')}"
        page = f"{base}/index.html"
        crumbs = ([parent] if parent else []) + [(label, None)]
        benchmarks = []
        for name in [n for n in a.results if n in b.results]:
            bench_dir = f"{base}/{slug(name)}"
            entries = _pair_entries(_pairs(a.groups(name), b.groups(name)), self.site)
            page_of = Listing(
                bench_dir,
                "pairs.html",
                PAIR_FACETS,
                "problem",
                "problem",
                {
                    "title": f"{label}: {name}",
                    "crumbs": [*crumbs[:-1], (label, page), (name, None)],
                    "with_advantage": False,
                    "a_label": a.label,
                    "b_label": b.label,
                    "benchmark": name,
                },
            ).write(self.site, entries, self.per_page)
            benchmarks.append(
                {
                    "name": name,
                    "anchor": f"b-{slug(name)}",
                    "href": f"{bench_dir}/index.html",
                    **_compare_numbers(name, a.results[name], b.results[name]),
                    "counts": _change_counts(entries),
                    "rows": _change_rows(entries, page_of),
                }
            )
        self.site.write(
            page,
            "compare.html",
            title=label,
            crumbs=crumbs,
            a_label=a.label,
            b_label=b.label,
            a_href=self._eval_pages.get(id(a), "index.html"),
            b_href=self._eval_pages.get(id(b), "index.html"),
            benchmarks=benchmarks,
        )
        return label, page


# -- pieces ---------------------------------------------------------------------------------------


def _pairs(a: Sequence[Group], b: Sequence[Group]) -> list[tuple[Group | None, Group | None]]:
    """Problems of two evaluations matched by id, in ``a``'s order, then those only in ``b``."""
    in_b = {g.example_id: g for g in b}
    out: list[tuple[Group | None, Group | None]] = [(g, in_b.pop(g.example_id, None)) for g in a]
    out.extend((None, g) for g in b if g.example_id in in_b)
    return out


def _pair_entries(pairs: Sequence[tuple[Group | None, Group | None]], site: Site) -> list[Entry]:
    """One listing entry per problem pair; its one item (the pair itself) carries the facets."""
    entries = []
    for i, (a, b) in enumerate(pairs):
        key = f"g{i}"
        view = _pair_view(key, a, b, site)
        facets = {"change": view["change"], "task": view["task"], "category": view["category"] or "(none)"}
        shown = a or b
        assert shown is not None
        text = "\n".join([group_text(shown), *(sample_text(s) for g in (a, b) if g for s in g.samples)])
        size = max(len(a.samples) if a else 0, len(b.samples) if b else 0, 1)
        entries.append(Entry(view, size, "", [Item(key, facets, text)]))
    return entries


def _compare_numbers(name: str, a: Any, b: Any) -> dict[str, Any]:
    """The two results' curves in one chart per metric, and their metrics side by side."""
    ks = [k for k in a.ks if k in b.ks]
    ma, mb = a.metrics()["overall"], b.metrics()["overall"]
    charts = [
        line_chart(
            {
                f"A {metric}": [(k, ma[metric].get(k)) for k in a.ks],
                f"B {metric}": [(k, mb[metric].get(k)) for k in b.ks],
            },
            title=f"{name}: {metric}",
            xlabel="k",
            log2_x=True,
            y_range=(0.0, 1.0),
        )
        for metric in ("pass@k", "maj@k")
    ]
    rows = [
        (f"{side} {m}", [fmt(r[m].get(k)) for k in ks])
        for m in ("pass@k", "mean@k", "maj@k")
        for side, r in (("A", ma), ("B", mb))
    ]
    return {"ks": ks, "charts": charts, "metric_rows": rows}


_CHANGE_LABELS = (
    ("better", "better in B"),
    ("worse", "worse in B"),
    ("same", "the same"),
    ("only in A", "only in A"),
    ("only in B", "only in B"),
)


def _change_counts(entries: Sequence[Entry]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.view["change"]] = counts.get(e.view["change"], 0) + 1
    return [(label, counts[change]) for change, label in _CHANGE_LABELS if change in counts]


def _change_rows(entries: Sequence[Entry], page_of: dict[str, str]) -> list[dict[str, Any]]:
    """One table row per problem, the largest improvement first (problems in one only, last)."""
    rows = [
        {
            "id": e.view["example_id"],
            "category": e.view["category"] or "",
            "a": e.view["a_rate"],
            "b": e.view["b_rate"],
            "delta": e.view["delta"],
            "change": e.view["change"],
            "href": f"{page_of[e.view['key']]}#{e.view['key']}",
            "order": e.view["delta_value"],
        }
        for e in entries
    ]
    return sorted(rows, key=lambda r: (-r["order"] if math.isfinite(r["order"]) else math.inf, r["id"]))


def _pair_view(key: str, a: Group | None, b: Group | None, site: Site) -> dict[str, Any]:
    shown = a or b
    assert shown is not None
    pa = a.success_rate if a else math.nan
    pb = b.success_rate if b else math.nan
    if a is None:
        change = "only in B"
    elif b is None:
        change = "only in A"
    elif math.isnan(pa) or math.isnan(pb) or pa == pb:
        change = "same"
    else:
        change = "better" if pb > pa else "worse"
    delta = pb - pa
    return {
        "key": key,
        "example_id": shown.example_id,
        "task": shown.task,
        "category": shown.category,
        "answer": shown.answer,
        "shown": group_view(shown, site, key=f"{key}p"),
        "a": group_view(a, site, key=f"{key}a") if a else None,
        "b": group_view(b, site, key=f"{key}b") if b else None,
        "a_rate": _rate(a),
        "b_rate": _rate(b),
        "delta": fmt(delta) if math.isfinite(delta) else "-",
        "delta_value": delta,
        "change": change,
    }


def _rate(group: Group | None) -> str:
    if group is None:
        return "-"
    scored = [s for s in group.samples if s.verdict in ("correct", "wrong")]
    return f"{sum(1 for s in scored if s.correct)}/{len(scored)}"


def _progress(total: int, desc: str, enabled: bool) -> Any:
    if enabled and sys.stderr.isatty() and total > 1:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True)

    class _Quiet:
        def update(self, n: int) -> None:
            pass

        def close(self) -> None:
            pass

    return _Quiet()


def _run_facts(run: RunSource) -> list[tuple[str, str]]:
    facts = [("directory", str(run.path))]
    cfg = run.config
    if cfg is not None:
        facts += [
            ("model", str(cfg.model.path)),
            ("algorithm", cfg.algorithm.name),
            ("data", f"{cfg.data.recipe} ({cfg.data.split})"),
            ("prompts per step × n", f"{cfg.trainer.prompts_per_step} × {cfg.rollout.n}"),
            ("max steps", str(cfg.trainer.max_steps)),
        ]
    logged = [m["step"] for m in run.metrics if m["step"] > 0]
    facts.append(("steps logged", f"{len(logged)}" + (f" (last: {logged[-1]})" if logged else "")))
    facts.append(("rollout files", str(len(run.steps))))
    return facts


def _eval_facts(source: EvalSource) -> list[tuple[str, str]]:
    header = source.header
    model = header.get("model") if isinstance(header.get("model"), dict) else {}
    facts = [("directory", str(source.path))]
    if model.get("path"):
        facts.append(("model", str(model["path"])))
    if source.step is not None:
        facts.append(("training step", str(source.step)))
    sampling = header.get("sampling")
    if isinstance(sampling, dict):
        facts.append(("sampling", ", ".join(f"{k}={v}" for k, v in sampling.items() if v is not None)))
    for key in ("engine", "created", "mmrl_version"):
        if header.get(key):
            facts.append((key.replace("_", " "), str(header[key])))
    return facts


def _eval_description(result: Any, overall: dict[str, Any]) -> str:
    text = (
        f"{overall['problems']} problems × n={result.n} samples; mean response {overall['mean_tokens']:.1f} tokens, "
        f"{100 * overall['truncated']:.1f}% truncated."
    )
    if overall["unscored"]:
        text += f" {overall['unscored']} samples could not be scored and are left out."
    if result.dropped:
        text += f" {len(result.dropped)} problems were not evaluated (over the prompt budget)."
    return text


def _eval_charts(result: Any, metrics: dict[str, Any]) -> list[str]:
    overall = metrics["overall"]
    charts = [
        line_chart(
            {m: [(k, overall[m].get(k)) for k in result.ks] for m in ("pass@k", "maj@k", "mean@k")},
            title=f"{result.name}: overall",
            xlabel="k",
            log2_x=True,
            y_range=(0.0, 1.0),
        )
    ]
    for title, groups in (("by category", metrics["by_category"]), ("by task", metrics["by_task"])):
        if len(groups) > 1:
            charts.append(
                line_chart(
                    {
                        name: [(k, g["pass@k"].get(k)) for k in result.ks]
                        for name, g in list(groups.items())[:9]
                    },
                    title=f"pass@k {title}" + (" (first 9)" if len(groups) > 9 else ""),
                    xlabel="k",
                    log2_x=True,
                    y_range=(0.0, 1.0),
                )
            )
    return charts


def _group_tables(result: Any, metrics: dict[str, Any], by_category: dict[str, str]) -> list[tuple[str, Any]]:
    ks = list(result.ks)
    heads = [f"pass@{k}" for k in ks] + [f"maj@{ks[-1]}", "mean@n"]
    tables = []
    for title, key, links in (("By task", "by_task", {}), ("By category", "by_category", by_category)):
        groups = metrics[key]
        if not groups or (key == "by_task" and len(groups) < 2):
            continue
        rows = [
            {
                "name": name,
                "href": links.get(name),
                "problems": g["problems"],
                "cells": [fmt(g["pass@k"].get(k)) for k in ks]
                + [fmt(g["maj@k"].get(ks[-1])), fmt(g["mean@k"].get(ks[0]))],
            }
            for name, g in groups.items()
        ]
        tables.append((title, {"first": key.removeprefix("by_"), "heads": heads, "rows": rows}))
    return tables


def _step_summary(metrics: dict[str, float], groups: Sequence[Group]) -> list[tuple[str, str]]:
    samples = [s for g in groups for s in g.samples]
    rows = [("prompts × samples", f"{len(groups)} groups, {len(samples)} samples")]
    rows += [(label, fmt(metrics[key])) for key, label in STEP_SUMMARY if key in metrics]
    return rows


# -- curves -----------------------------------------------------------------------------------------

_AT_K = re.compile(r"^(.*)@(\d+)$")


def _family(key: str) -> tuple[str, str]:
    """``(chart, series)`` of a metric key: ``time/<phase>`` share one chart, so do the buckets of
    ``name/p=<bucket>`` and the ``k`` of ``.../pass@<k>``; every other key is its own chart."""
    if key.startswith("time/"):
        return "time/<phase> (seconds)", key.removeprefix("time/")
    head, _, last = key.rpartition("/")
    if head and "=" in last:
        return f"{head}/{last.split('=', 1)[0]}=<bucket>", last
    match = _AT_K.match(last)
    if match:
        return f"{head}/{match.group(1)}@k" if head else f"{match.group(1)}@k", f"k={match.group(2)}"
    return key, key


def chart_sections(
    metrics: Sequence[dict[str, float]],
) -> tuple[list[tuple[str, list[str]]], list[tuple[str, str]]]:
    """Charts of every numeric key of ``metrics.jsonl`` over steps: the key curves first
    (``KEY_CURVES``), then one section per first path segment (``actor``, ``reward``, ``val``, ...).

    A key that is not a key curve and has the same value at every step it was logged (a zero
    error count, a fixed learning rate) gets no chart but a row of the second list, ``(key, value)``.
    """
    families: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for row in metrics:
        for key, value in row.items():
            if key == "step":
                continue
            chart, series = _family(key)
            families.setdefault(chart, {}).setdefault(series, []).append((row["step"], value))
    for chart in families:
        families[chart] = dict(sorted(families[chart].items(), key=lambda kv: _series_order(kv[0])))
    used: set[str] = set()
    key_charts = []
    for pattern in KEY_CURVES:
        for chart in sorted(families):
            if chart in used:
                continue
            if re.search(pattern, chart) or any(re.search(pattern, f"{chart}/{s}") for s in families[chart]):
                if chart.startswith("val/") or "/category/" in chart or "/task/" in chart:
                    continue
                used.add(chart)
                key_charts.append(chart)
    sections: list[tuple[str, list[str]]] = []
    if key_charts:
        sections.append(("Key curves", [line_chart(families[c], title=c) for c in key_charts]))
    rest: dict[str, list[str]] = {}
    constants: list[tuple[str, str]] = []
    for chart in sorted(families):
        if chart in used:
            continue
        series = families[chart]
        values = {y for y in (v for pts in series.values() for _, v in pts) if math.isfinite(y)}
        if list(series) == [chart] and len(values) <= 1:
            constants.append((chart, fmt(values.pop()) if values else "never finite"))
            continue
        section = chart.split("/", 1)[0] if "/" in chart else "update"
        rest.setdefault(section, []).append(chart)
    for section in sorted(rest, key=lambda s: (s == "val", s)):
        sections.append((section, [line_chart(families[c], title=c) for c in rest[section]]))
    return sections, constants


def _series_order(label: str) -> tuple[float, int, str]:
    """Series by the first number in the label (``k=2`` before ``k=16``; bucket ``p=0`` before
    ``p=(0,0.25]`` before ``p=1``), then by name."""
    match = re.search(r"=\s*([(\[]?)(-?[0-9.]+)", label)
    if match:
        return (float(match.group(2)), 1 if match.group(1) else 0, label)
    return (math.inf, 0, label)
