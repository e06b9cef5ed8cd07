"""Evaluation: the unbiased pass@k estimator and friends, the benchmark runner and its reports.

The core the trainer's validation and ``mmrl eval`` share::

    from mmrl.eval import evaluate_examples, plot_passk_curves, write_outputs

    result = evaluate_examples(prompts, engine=engine, n=16, ks=[1, 4, 16], sampling=sampling,
                               reward_runner=runner, name="geometry3k")   # -> EvalResult
    result.pass_at_k()                  # {1: 0.41, 4: 0.63, 16: 0.78}, mean over problems
    result.metrics()                    # overall / by_task / by_category: pass@k, mean@k, maj@k
    result.flat_metrics("val/")         # {"val/pass@1": ..., "val/task/math/pass@1": ...}
    evaluate("runs/demo/final", "gsm8k", n=16, k=[1, 4, 16])   # mmrl eval, from Python
    plot_passk_curves({"before": before.pass_at_k(), "after": after.pass_at_k()}, "passk.png")
    write_outputs([result], "eval_out", header)   # results.json, samples.jsonl, report.md, passk.png

Modules: ``passk`` (the estimators, pure functions), ``results`` (records, metrics, JSON),
``runner`` (``evaluate_examples``), ``cache`` (resume an interrupted evaluation), ``report``
(tables and plots), ``benchmarks`` (benchmark specs, model resolution and identity for
``mmrl eval``), ``overrides`` (what each ``a.b=c`` override means to ``mmrl eval``), ``compare``
(``mmrl eval compare``).
"""

from mmrl.eval.cache import CacheMismatch, SampleCache
from mmrl.eval.passk import maj_at_k, mean_at_k, pass_at_k, pass_at_k_curve
from mmrl.eval.report import (
    curves_table,
    plot_passk_curves,
    plot_passk_panels,
    read_samples,
    report_markdown,
    write_outputs,
    write_samples,
)
from mmrl.eval.results import METRICS, EvalResult, ProblemRecord, SampleRecord, check_ks, group_metrics
from mmrl.eval.runner import evaluate_examples, example_category
from mmrl.eval.suite import EvalOptions, EvalRun, evaluate

__all__ = [
    "METRICS",
    "CacheMismatch",
    "EvalOptions",
    "EvalResult",
    "EvalRun",
    "ProblemRecord",
    "SampleCache",
    "SampleRecord",
    "check_ks",
    "curves_table",
    "evaluate",
    "evaluate_examples",
    "example_category",
    "group_metrics",
    "maj_at_k",
    "mean_at_k",
    "pass_at_k",
    "pass_at_k_curve",
    "plot_passk_curves",
    "plot_passk_panels",
    "read_samples",
    "report_markdown",
    "write_outputs",
    "write_samples",
]
