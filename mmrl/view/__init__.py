"""``mmrl view``: a static, offline site to read what a policy did.

From a training run: per step, every prompt with its image, the group's samples (response with
the reasoning folded, extracted answer, verdict and status, reward, advantage), the group's
success rate and its weight in the update, with filters and a search; per run, the curves of
every metric in ``metrics.jsonl``. From an evaluation: pass@k curves, tables by task and by
category linking to their problems, and two evaluations side by side, problem by problem::

    from mmrl.view import build_site
    report = build_site(["runs/geo3k"], "runs/geo3k/view")    # then open report.index

Modules: ``sources`` (reading runs and evaluations), ``charts`` (SVG curves), ``render`` (text
helpers), ``site`` (pages, listings, images) and ``build`` (the pages of each kind).
"""

from mmrl.view.build import BuildReport, build_site
from mmrl.view.sources import EvalSource, Group, RunSource, Sample, load_source

__all__ = ["BuildReport", "EvalSource", "Group", "RunSource", "Sample", "build_site", "load_source"]
