"""``mmrl train [CONFIG] [a.b=c ...]``: train a policy with RL from verifiable rewards.

The configuration is the defaults, then CONFIG (YAML, may inherit others with ``_base_``), then the
``a.b=c`` overrides; ``mmrl config show CONFIG ...`` prints what it resolves to. The run writes to
``trainer.output_dir``: ``config.yaml``, ``metrics.jsonl``, TensorBoard events, ``rollouts/``,
``validation/``, ``checkpoints/step_N/`` and ``final/``. Running the same command again resumes from
the newest complete checkpoint (``trainer.resume=auto``). It logs the plan (model, data, steps,
samples per step, where it writes), one line per step, and after the first step the time the rest
will take; ``--verbose`` adds the libraries' notices. Several GPUs or nodes:

    accelerate launch --config_file scripts/accelerate/fsdp_8gpu.yaml -m mmrl train CONFIG
"""

from __future__ import annotations

import argparse
import logging
import os

from mmrl.commands.config import split_config_and_overrides


def cpu_thread_policy() -> None:
    """Choose how idle OpenMP threads wait (spin on idle cores, sleep on busy ones) before torch
    loads; an explicit ``OMP_WAIT_POLICY`` wins (``mmrl.openmp``)."""
    from mmrl.openmp import apply_wait_policy

    apply_wait_policy()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        usage="mmrl train [-h] [--verbose] [CONFIG] [a.b=c ...]",
        help="train with GRPO / Dr.GRPO / DAPO / RLOO / W-REINFORCE / A-GRAE (resumes automatically)",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("items", nargs="*", metavar="[CONFIG] [a.b=c ...]", help="YAML file, then overrides")
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also show the libraries' notices (accelerate's INFO lines, model-loading progress bars)",
    )
    parser.set_defaults(func=run_train)


class _DropMessages(logging.Filter):
    """Drops the records whose message holds one of ``texts`` (accelerate prefixes ``[RANK n]``)."""

    def __init__(self, texts: tuple[str, ...]):
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in str(record.msg) for text in self.texts)


#: Notices that say nothing a user can act on, by the logger that emits them. accelerate warns on
#: every save of a model with tied weights (SmolLM2, Qwen2.5) that it "removed shared tensor
#: lm_head.weight", which is how tied weights are saved.
_NOTICES = {"accelerate.utils.other": ("Removed shared tensor",)}


def quiet_libraries(verbose: bool) -> None:
    """One line per step and the warnings that matter: accelerate's INFO lines (loading and saving
    states), its tied-weights notice and transformers' model-loading bars are hidden unless
    ``verbose``, and vLLM logs warnings only. Applies to this process (the settings are global to
    ``logging``); ``VLLM_LOGGING_LEVEL`` set by the user wins."""
    logging.getLogger("accelerate").setLevel(logging.NOTSET if verbose else logging.WARNING)
    # vLLM configures its loggers from this variable when it is first imported (at engine start)
    if verbose:
        os.environ["VLLM_LOGGING_LEVEL"] = "INFO"
    else:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    for name, texts in _NOTICES.items():
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, _DropMessages)]:
            logger.removeFilter(f)
        if not verbose:
            logger.addFilter(_DropMessages(texts))
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    if verbose:
        hf_logging.enable_progress_bar()
    else:
        hf_logging.disable_progress_bar()


def run_train(args: argparse.Namespace) -> int:
    cpu_thread_policy()
    from mmrl.config import load_config
    from mmrl.train import fit

    path, overrides = split_config_and_overrides(args.items)
    cfg = load_config(path, overrides)
    logging.getLogger().setLevel(cfg.logging.level)
    quiet_libraries(args.verbose)
    result = fit(cfg)
    if result.final_dir is not None:
        print(f"done: {result.steps} steps; run directory {result.run_dir}; final model {result.final_dir}")
    return 0
