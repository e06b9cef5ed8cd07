"""`mmrl eval`: pass@k of a model on benchmarks, and `mmrl eval compare` of several such runs.

    mmrl eval --model runs/geo3k --benchmarks geometry3k,mathverse --n 16 --k 1,2,4,8,16 \\
              --data-dir /data/benchmarks --output eval/geo3k
    mmrl eval --model runs/demo --benchmarks synthetic_arithmetic --template prompt.jinja \\
              'data.options={difficulty: [2, 3]}' 'rollout.stop=["\\n\\nQuestion"]'
    mmrl eval compare eval/base eval/grpo eval/a_grae --labels base,GRPO,A-GRAE

Config overrides (`a.b=c`, as for `mmrl train`) may appear anywhere after `mmrl eval`:
- the fields of the flags: `eval.n` (--n), `eval.k` (--k), `eval.limit` or `data.limit` (--limit),
  `eval.temperature` or `rollout.temperature` (--temperature), `eval.top_p` or `rollout.top_p`,
  `rollout.top_k`, `eval.max_new_tokens` or `rollout.max_new_tokens`, `eval.on_bad_row` (--strict),
  `rollout.engine`, `rollout.batch_size`, `model.dtype`, `data.template` (--template),
  `data.max_prompt_length`, `data.min_pixels`, `data.max_pixels`, `reward.verifier` (--verifier),
  `reward.num_workers`, `reward.timeout_s`, `rollout.vllm.gpu_memory_utilization`; a flag and an
  override that give one of them different values are an error;
- `eval.recipe`, `eval.split`, `eval.path`: one benchmark (--benchmarks NAME:SPLIT, --path NAME=PATH);
- the rest of `data.*` (options, columns, row checks: for every benchmark listed; `eval.options` is
  `data.options`), `rollout.*` (stop strings, hf_cache, vllm.*), `reward.*` (functions, the blend,
  kwargs, ...) and `model.*` (tokenizer_path, attn_implementation, trust_remote_code);
- refused, saying what to use instead: `trainer.*`, `algorithm.*`, `logging.*` and the training-only
  fields (`model.path`: --model, `data.recipe`/`path`/`split`: --benchmarks, `rollout.n`: --n,
  `model.lora`, `eval.every`, ...).

Per benchmark, `n` responses are sampled for every problem (temperature 0.6, top-p 0.95 by
default, as in the A-GRAE paper's evaluation), scored by the recipe's verifier, and reduced to
pass@k (unbiased), mean@k and maj@k, overall, per task and per category (`meta["category"]`:
MathVerse version, MathVista task, MATH subject, synthetic difficulty level, ...).

Outputs in `--output` (default `RUN/eval` for a training run, else `eval/<model name>`):
`results.json` (every number, the model identity and the sampling), `samples.jsonl` (every
response and verdict, with the prompt and the text the model saw, `rendered_prompt`), `report.md`
(tables) and `passk.png` (curves, log-scale k). A progress bar shows the problems done and the
running pass@1 (one log line per chunk off a terminal); `--verbose` adds the libraries' notices
(model-loading bars, accelerate's INFO lines). `--tasks` is `--benchmarks`. Finished
problems are cached in `OUTPUT/cache/`: rerunning the same command after an interruption
generates only what is missing (`--restart` discards the cache).

The Hugging Face Hub may be unreachable: point benchmarks at local copies with `--data-dir DIR`
(`DIR/NAME` as downloaded by `huggingface-cli download --repo-type dataset ID --local-dir
DIR/NAME`, or `DIR/NAME.jsonl`/`.parquet`) or `--path NAME=PATH`. Synthetic recipes
(`synthetic_arithmetic`, `synthetic_geometry`, `synthetic_charts`) need no data.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def _ks(text: str) -> list[int]:
    try:
        return [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--k {text!r} must be comma-separated integers, e.g. 1,2,4,8"
        ) from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from mmrl.config import EvalConfig, RolloutConfig

    defaults = EvalConfig()
    max_new = (
        defaults.max_new_tokens if defaults.max_new_tokens is not None else RolloutConfig().max_new_tokens
    )
    parser = subparsers.add_parser(
        "eval",
        usage="mmrl eval --model MODEL --benchmarks NAME[,NAME...] [options] [a.b=c ...]\n"
        "       mmrl eval compare DIR DIR [DIR ...] [options]",
        help="pass@k / mean@k / maj@k of a model on benchmarks, with reports and plots; `eval compare` for several",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _what_arguments(parser)
    _sampling_arguments(parser, defaults.temperature, defaults.top_p, max_new)
    _engine_arguments(parser)
    _output_arguments(parser)
    parser.set_defaults(func=run_eval_command, eval_parser=parser, overrides=[])
    _compare_parser(parser)


def _what_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to evaluate")
    what.add_argument(
        "--model",
        help="a model directory, a training run directory (its final/, else its newest complete checkpoint), "
        "or the offline alias smollm2-135m-instruct",
    )
    what.add_argument(
        "--benchmarks",
        "--tasks",
        dest="benchmarks",
        help="(--tasks, as lmms-eval calls it) comma-separated recipes (`mmrl data list`), each NAME or NAME:SPLIT; without a split the test split "
        "(testmini for MathVista/MathVerse)",
    )
    what.add_argument(
        "--limit", type=int, default=None, help="evaluate only the first N problems of each benchmark"
    )
    what.add_argument("--data-dir", default=None, help="directory holding local benchmark copies as DIR/NAME")
    what.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="local data of one benchmark (a directory, .jsonl or .parquet); repeatable",
    )
    what.add_argument(
        "--template",
        default=None,
        help="prompt template for every benchmark: a name in data_recipes/templates or a .jinja file",
    )
    what.add_argument(
        "--verifier",
        default=None,
        help="score with this verifier instead of each recipe's (a name, pkg.module:fn or file.py:fn)",
    )
    what.add_argument(
        "--label", default=None, help="the model's name in reports and comparisons (default: from its path)"
    )


def _sampling_arguments(
    parser: argparse.ArgumentParser, temperature: float, top_p: float, max_new: int
) -> None:
    # No flag has a default here: EvalOptions holds them (the help repeats them, a test checks it),
    # so that a typed flag is told from an untyped one when an override sets the same field.
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--n", type=int, help="samples per problem (default 16)")
    sampling.add_argument(
        "--k",
        type=_ks,
        dest="ks",
        metavar="K,K,...",
        help="k values, each <= n (default: powers of two below n, and n)",
    )
    sampling.add_argument("--temperature", type=float, help=f"default {temperature}")
    sampling.add_argument("--top-p", type=float, help=f"default {top_p}")
    sampling.add_argument("--top-k", type=int, help="default 0 (off)")
    sampling.add_argument("--max-new-tokens", type=int, help=f"response budget (default {max_new})")
    sampling.add_argument("--seed", type=int, help="sampling seed (default 0); -1 for an unseeded run")


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    engine = parser.add_argument_group("model and engine")
    engine.add_argument(
        "--engine",
        metavar="ENGINE",
        help="generation engine: auto (the default: vllm where it is installed, else hf), hf, vllm, or "
        "one of your own (a registered name, pkg.module:factory or file.py:factory)",
    )
    engine.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="weight dtype (default auto: bfloat16 where this machine runs it fast, else float32)",
    )
    engine.add_argument(
        "--max-prompt-length",
        type=int,
        help="prompt budget in tokens, image tokens included; longer prompts are skipped and reported (default 4096)",
    )
    engine.add_argument("--min-pixels", type=int, help="image resize lower bound (default 3136)")
    engine.add_argument("--max-pixels", type=int, help="image resize upper bound (default 1003520)")
    engine.add_argument(
        "--batch-size", type=int, help="sequences per generate call of the hf engine (default 64)"
    )
    engine.add_argument(
        "--gpu-memory-utilization", type=float, help="fraction of GPU memory vLLM may take (default 0.9)"
    )
    engine.add_argument(
        "--chunk-size", type=int, help="problems per generation call and per cache write (default 32)"
    )
    engine.add_argument("--reward-workers", type=int, help="scoring worker processes (default 2)")
    engine.add_argument(
        "--reward-timeout", type=float, help="per-response scoring timeout in seconds (default 5.0)"
    )


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output", "-o", default=None, help="output directory (default RUN/eval or eval/<model name>)"
    )
    out.add_argument(
        "--restart",
        action="store_const",
        const=True,
        help="discard cached samples in OUTPUT/cache and start over",
    )
    out.add_argument(
        "--strict",
        action="store_const",
        const="fail",
        dest="on_bad_row",
        help="fail when any problem cannot be evaluated (a bad row, a prompt over the budget) instead of "
        "reporting pass@k without it (eval.on_bad_row=fail)",
    )
    out.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also show the libraries' notices (model-loading progress bars, accelerate's INFO lines)",
    )


def _compare_parser(parser: argparse.ArgumentParser) -> None:
    nested = parser.add_subparsers(dest="eval_command", metavar="compare")
    compare = nested.add_parser(
        "compare",
        prog="mmrl eval compare",  # not the usage of `mmrl eval` followed by "compare"
        help="overlay the pass@k curves of several `mmrl eval` outputs in one PNG and one table",
        description="Overlay several models' curves on the same benchmarks: one PNG (a panel per benchmark) "
        "and one Markdown table per benchmark, printed and written to OUTPUT/compare.md.",
    )
    compare.add_argument("dirs", nargs="+", metavar="DIR", help="`mmrl eval` output directories (2 or more)")
    compare.add_argument(
        "--labels", default=None, help="comma-separated labels, one per DIR (default: model labels)"
    )
    compare.add_argument(
        "--metric", choices=("pass@k", "mean@k", "maj@k"), default="pass@k", help="default pass@k"
    )
    compare.add_argument(
        "--output",
        "-o",
        default="eval/compare",
        help="writes compare.png and compare.md here (default eval/compare)",
    )
    compare.set_defaults(func=run_compare_command)


#: ``a.b=c``: a config override (the first word is a config section, so flags and paths never match).
_OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.\w+)+=")
#: The flags of ``mmrl eval`` that take no value (a test keeps this in step with the parser).
SWITCHES = frozenset({"-h", "--help", "--restart", "--strict", "--verbose", "-v"})


def split_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(other words, overrides)`` of ``mmrl eval``'s arguments: ``a.b=c`` words anywhere after
    ``eval`` are config overrides (argparse alone would read them as the ``compare`` subcommand).
    A word right after a flag that takes a value stays that flag's value."""
    words, overrides = [], []
    for i, word in enumerate(argv):
        prev = argv[i - 1] if i else ""
        takes_value = prev.startswith("-") and "=" not in prev and prev not in SWITCHES
        if _OVERRIDE.match(word) and not takes_value:
            overrides.append(word)
        else:
            words.append(word)
    return words, overrides


def _paths(items: list[str]) -> dict[str, str]:
    from mmrl.errors import UserError

    out: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"--path {item!r} must look like NAME=PATH (e.g. --path gsm8k=/data/gsm8k)")
        out[name.strip()] = path.strip()
    return out


#: The ``EvalOptions`` fields that flags of the same name set (``--k`` is ``ks``, ``--strict``
#: ``on_bad_row``, ``--seed -1`` is ``seed=None``).
_OPTION_FLAGS = (
    "n", "ks", "temperature", "top_p", "top_k", "max_new_tokens", "engine", "output", "limit", "label",
    "template", "verifier", "dtype", "max_prompt_length", "min_pixels", "max_pixels", "batch_size",
    "chunk_size", "restart", "on_bad_row", "reward_workers", "reward_timeout", "gpu_memory_utilization",
)  # fmt: skip


def run_eval_command(args: argparse.Namespace) -> int:
    from mmrl.commands.train import cpu_thread_policy, quiet_libraries

    cpu_thread_policy()
    quiet_libraries(args.verbose)
    from mmrl.errors import UserError
    from mmrl.eval.benchmarks import parse_benchmarks
    from mmrl.eval.overrides import held_out_benchmarks
    from mmrl.eval.suite import EvalOptions, run_eval

    overrides = tuple(args.overrides)
    benchmarks, paths = held_out_benchmarks(args.benchmarks, _paths(args.path), overrides)
    if not args.model or not benchmarks:
        missing = [
            flag for flag, value in (("--model", args.model), ("--benchmarks", benchmarks)) if not value
        ]
        raise UserError(f"mmrl eval needs {' and '.join(missing)} (or use `mmrl eval compare DIR ...`)")
    specs = parse_benchmarks(benchmarks, paths=paths, data_dir=args.data_dir)
    typed = {name: getattr(args, name) for name in _OPTION_FLAGS if getattr(args, name) is not None}
    if args.seed is not None:
        typed["seed"] = None if args.seed < 0 else args.seed
    if "ks" in typed:
        typed["ks"] = tuple(typed["ks"])
    opts = EvalOptions(
        model=args.model,
        benchmarks=tuple(specs),
        overrides=overrides,
        explicit=frozenset(typed),
        **typed,
    )
    run = run_eval(opts)
    print(Path(run.paths["report"]).read_text())
    return 0


def run_compare_command(args: argparse.Namespace) -> int:
    from mmrl.eval.compare import compare_runs

    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    out = Path(args.output)
    comparison = compare_runs(args.dirs, labels=labels, metric=args.metric, plot=out / "compare.png")
    (out / "compare.md").write_text(comparison.markdown + "\n")
    print(comparison.markdown)
    print(f"wrote {out / 'compare.png'} and {out / 'compare.md'}", file=sys.stderr)
    return 0
