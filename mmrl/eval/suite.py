"""``run_eval``: what ``mmrl eval`` does, as one function (load data, load the model, evaluate, write).

Order of work, so that mistakes fail before anything slow:

1. sort the ``a.b=c`` overrides (``mmrl.eval.overrides``: the fields of flags set those options, a
   flag and an override that disagree or a field an evaluation does not use are errors); check
   ``ks`` against ``n`` and the sampling settings;
2. resolve the model (alias, model directory, run directory) and fingerprint its weights;
3. load every benchmark's rows and open its sample cache in ``OUTPUT/cache/`` (a missing dataset,
   or a cache made with other settings, fails here, before the model loads);
4. load the policy, build the engine and the scoring workers;
5. per benchmark: encode prompts (over-budget ones are dropped and reported), then
   ``evaluate_examples``, which skips the problems already cached;
6. write ``results.json``, ``samples.jsonl``, ``report.md`` and ``passk.png`` into ``OUTPUT`` (the
   prompts' images are files in ``OUTPUT/images/``, written as the problems are scored).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmrl.data.image_store import IMAGES_DIR, ImageStore
from mmrl.errors import UserError
from mmrl.eval.benchmarks import BenchmarkSpec, ResolvedModel, eval_split, model_identity, resolve_model
from mmrl.eval.cache import SampleCache
from mmrl.eval.overrides import Resolved, flag_of, resolve_overrides
from mmrl.eval.report import write_outputs
from mmrl.eval.results import EvalResult, check_ks
from mmrl.eval.runner import evaluate_examples

__all__ = ["EvalOptions", "EvalRun", "default_ks", "evaluate", "run_eval"]

log = logging.getLogger("mmrl.eval")


def default_ks(n: int) -> list[int]:
    """Powers of two below ``n``, and ``n``: ``default_ks(16) == [1, 2, 4, 8, 16]``, ``default_ks(6) == [1, 2, 4, 6]``."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n]


def _default_max_new_tokens() -> int:
    from mmrl.config import EvalConfig, RolloutConfig

    value = EvalConfig().max_new_tokens
    return value if value is not None else RolloutConfig().max_new_tokens


@dataclass(frozen=True)
class EvalOptions:
    """Everything ``mmrl eval`` takes (each field is the command-line flag of the same name; ``ks``
    is ``--k``, ``on_bad_row="fail"`` is ``--strict``), with the command's defaults:
    ``EvalOptions(model, benchmarks)`` samples 16 per problem at temperature 0.6 and top-p 0.95
    (the A-GRAE paper's evaluation) and reports pass@1, 2, 4, 8, 16 (``ks=None``: ``default_ks(n)``)."""

    model: str
    benchmarks: tuple[BenchmarkSpec, ...]
    n: int = 16
    ks: tuple[int, ...] | None = None
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    max_new_tokens: int = field(default_factory=_default_max_new_tokens)
    seed: int | None = 0
    engine: str = "auto"
    output: str | None = None
    limit: int | None = None
    label: str | None = None
    template: str | None = None
    verifier: str | None = None
    dtype: str = "auto"
    max_prompt_length: int = 4096
    min_pixels: int = 3136
    max_pixels: int = 1003520
    batch_size: int = 64
    chunk_size: int = 32
    restart: bool = False
    on_bad_row: str = "skip"
    reward_workers: int = 2
    reward_timeout: float = 5.0
    gpu_memory_utilization: float = 0.9
    #: ``a.b=c`` config overrides (``mmrl.eval.overrides``): the fields of the flags above
    #: (``eval.n``, ``rollout.temperature``, ...) set them, the others (``data.options``,
    #: ``rollout.stop``, ``reward.functions``, ...) apply to the config tree.
    overrides: tuple[str, ...] = ()
    #: The fields above that the caller set (the flags typed): an override that gives one of them
    #: another value is an error. ``None``: the fields that differ from their defaults.
    explicit: frozenset[str] | None = None


@dataclass
class EvalRun:
    """What ``run_eval`` produced: the results, the output files and the header written with them.
    ``run["gsm8k"]`` is one benchmark's ``EvalResult``."""

    results: list[EvalResult]
    paths: dict[str, Path]
    header: dict[str, Any]

    def __getitem__(self, benchmark: str) -> EvalResult:
        for result in self.results:
            if result.name == benchmark:
                return result
        raise KeyError(f"no benchmark {benchmark!r} in this run; it has {[r.name for r in self.results]}")


def evaluate(
    model: str | Path,
    benchmarks: str | Sequence[str] | None = None,
    *,
    n: int | None = None,
    k: Sequence[int] | None = None,
    data_dir: str | None = None,
    paths: dict[str, str] | None = None,
    **options: Any,
) -> EvalRun:
    """``mmrl eval`` from Python: pass@k of ``model`` (a directory, a training run, an alias) on
    ``benchmarks`` (``"gsm8k,math500"`` or a list), ``n`` samples per problem (default 16), ``k``
    default ``default_ks(n)``. ``options`` are the other ``EvalOptions`` fields (``limit``, ``output``,
    ``max_new_tokens``, ``temperature``, ``engine``, ``overrides=["reward.verifier=..."]`` ...); an
    override that disagrees with a keyword given is an error. Writes the same four outputs as the
    command and returns the ``EvalRun``."""
    from mmrl.eval.benchmarks import parse_benchmarks
    from mmrl.eval.overrides import held_out_benchmarks

    overrides = tuple(options.pop("overrides", ()))
    benchmarks, paths = held_out_benchmarks(benchmarks, paths or {}, overrides)
    specs = parse_benchmarks(benchmarks or "", paths=paths, data_dir=data_dir)
    given = {"n": n, "ks": None if k is None else tuple(k)}
    options.update({name: value for name, value in given.items() if value is not None})
    return run_eval(
        EvalOptions(
            model=str(model),
            benchmarks=tuple(specs),
            overrides=overrides,
            explicit=frozenset(options),
            **options,
        )
    )


def _engine_and_dtype(opts: EvalOptions, device: str) -> tuple[str, str]:
    """``--engine`` and ``--dtype`` with ``auto`` resolved (``mmrl.hardware``), each choice logged:
    vLLM where installed, bfloat16 where this device runs it fast."""
    from mmrl.hardware import resolve_engine, resolve_inference_dtype

    engine, engine_why = resolve_engine(opts.engine)
    dtype, dtype_why = resolve_inference_dtype(opts.dtype, device)
    log.info("engine %s (%s); dtype %s (%s)", engine, engine_why, dtype, dtype_why)
    return engine, dtype


#: The config field each ``mmrl eval`` option sets (``EvalOptions`` field -> config field).
_FIELD_OF_OPTION = {
    "dtype": "model.dtype",
    "template": "data.template",
    "max_prompt_length": "data.max_prompt_length",
    "min_pixels": "data.min_pixels",
    "max_pixels": "data.max_pixels",
    "engine": "rollout.engine",
    "batch_size": "rollout.batch_size",
    "max_new_tokens": "rollout.max_new_tokens",
    "temperature": "rollout.temperature",
    "top_p": "rollout.top_p",
    "top_k": "rollout.top_k",
    "gpu_memory_utilization": "rollout.vllm.gpu_memory_utilization",
    "verifier": "reward.verifier",
    "reward_workers": "reward.num_workers",
    "reward_timeout": "reward.timeout_s",
}


def _config(resolved: Resolved, model_path: str, engine: str, dtype: str) -> Any:
    """The parts of the typed config tree that loading, generation and scoring read (validated).

    A ``ConfigError`` is raised again with each config field that a typed flag set replaced by
    that flag (a field an override set keeps its name).
    """
    from mmrl.config import ConfigError

    try:
        return _config_tree(resolved, model_path, engine, dtype)
    except ConfigError as exc:
        typed = resolved.opts.explicit or frozenset()
        renames = {_FIELD_OF_OPTION[f]: flag_of(f) for f in typed if f in _FIELD_OF_OPTION}
        errors = []
        for error in exc.errors:
            # longest field first, so that no field is replaced inside a longer one
            for name, flag in sorted(renames.items(), key=lambda kv: -len(kv[0])):
                error = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w.])", flag, error)
            errors.append(error)
        raise ConfigError(errors) from None


def _config_tree(resolved: Resolved, model_path: str, engine: str, dtype: str) -> Any:
    from mmrl.config import config_from_dict

    opts = resolved.opts
    values = {"model.path": model_path, "model.dtype": dtype, "rollout.engine": engine}
    values |= {path: getattr(opts, f) for f, path in _FIELD_OF_OPTION.items() if path not in values}
    values["rollout.vllm.enable_sleep_mode"] = False  # nothing else wants the GPU memory
    tree: dict[str, Any] = {}
    for path, value in [*values.items(), *resolved.tree]:
        *sections, name = path.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    return config_from_dict(tree)


def default_output(resolved: ResolvedModel) -> Path:
    """``RUN/eval`` for a training run (final/ or a checkpoint), else ``eval/<label>``."""
    spec = Path(resolved.spec).expanduser()
    if spec.is_dir() and Path(resolved.path).resolve() != spec.resolve():
        return spec / "eval"
    return Path("eval") / resolved.label.replace("/", "_")


def _checked_ks(resolved: Resolved) -> tuple[int, ...]:
    """``ks`` (default ``default_ks(n)``) checked against ``n``, after ``n``, ``limit`` and
    ``chunk_size``. Each error names the flag or the override that set the value."""
    opts, origin = resolved.opts, resolved.origin
    if opts.n < 1:
        raise UserError(f"{origin.get('n', f'--n {opts.n}')} must be >= 1")
    if opts.limit is not None and opts.limit < 1:
        raise UserError(f"{origin.get('limit', f'--limit {opts.limit}')} must be >= 1")
    if opts.chunk_size < 1:
        raise UserError(f"--chunk-size {opts.chunk_size} must be >= 1")
    ks = opts.ks if opts.ks is not None else tuple(default_ks(opts.n))
    try:
        return check_ks(ks, opts.n)
    except ValueError as exc:
        raise UserError(f"{origin.get('ks', '--k ' + ','.join(map(str, ks)))}: {exc}") from None


def _sampling(rollout: Any, seed: int | None) -> Any:
    from mmrl.rollout import Sampling

    try:
        return Sampling.from_rollout(rollout, seed, logprobs=False)
    except ValueError as exc:
        raise UserError(f"sampling flags: {exc}") from None


def _header(
    opts: EvalOptions, cfg: Any, identity: dict[str, Any], engine: str, device: str, sampling: Any, ks: Any
) -> dict[str, Any]:
    """What ``results.json`` records about the run (and, in part, what the sample caches are keyed by)."""
    from mmrl import __version__

    return {
        "mmrl_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": identity,
        "engine": engine,
        "device": device,
        "sampling": {
            "n": opts.n,
            "ks": list(ks),
            **{k: v for k, v in dataclasses.asdict(sampling).items() if k not in ("stop", "logprobs")},
            "stop": list(sampling.stop),
        },
        "data": {
            "options": dict(cfg.data.options),
            "template": cfg.data.template,
            "columns": dict(cfg.data.columns),
        },
        "overrides": list(opts.overrides),
        "prompt": {
            "max_prompt_length": cfg.data.max_prompt_length,
            "min_pixels": cfg.data.min_pixels,
            "max_pixels": cfg.data.max_pixels,
            "dtype": cfg.model.dtype,
        },
        "reward": dataclasses.asdict(cfg.reward),
        "chunk_size": opts.chunk_size,
    }


def run_eval(opts: EvalOptions) -> EvalRun:
    """Evaluate ``opts.model`` on every benchmark and write the four outputs (see the module doc)."""
    import torch

    from mmrl.data import load_examples
    from mmrl.policy import load_policy
    from mmrl.rollout import build_engine
    from rewards import RewardRunner

    resolved = resolve_overrides(opts)
    opts = resolved.opts
    ks = _checked_ks(resolved)
    model = resolve_model(opts.model, opts.label)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    engine_name, dtype = _engine_and_dtype(opts, device)
    cfg = _config(resolved, model.path, engine_name, dtype)
    sampling = _sampling(cfg.rollout, opts.seed)
    log.info("model: %s (%s)", model.path, model.source)
    out = Path(opts.output) if opts.output else default_output(model)
    header = _header(opts, cfg, model_identity(model), engine_name, device, sampling, ks)
    # Data and caches first: a missing dataset or a cache made with other settings fails here,
    # before the model loads.
    loaded = []
    for spec in opts.benchmarks:
        data = _load_benchmark(load_examples, spec, opts.limit, cfg.data, opts.on_bad_row)
        loaded.append((spec, data, _open_cache(spec, data, opts, out, header)))

    # vLLM loads its own copy of the weights from the checkpoint; the policy (tokenizer, prompt
    # encoding, dtype) then stays on the CPU instead of taking GPU memory from vLLM.
    policy = load_policy(cfg.model, cfg.data, device="cpu" if engine_name == "vllm" else device)
    engine = build_engine(dataclasses.replace(cfg.rollout, engine=opts.engine), policy)
    built = getattr(engine, "name", engine_name)  # an engine of one's own may not say
    if built != engine_name:  # --engine auto fell back to hf: its samples are cached as such
        log.info("engine %s after all; the sample caches are keyed by it", built)
        header["engine"] = built
        policy.model.to(device)
        loaded = [(spec, data, _open_cache(spec, data, opts, out, header)) for spec, data, _ in loaded]
    results: list[EvalResult] = []
    try:
        with RewardRunner(cfg.reward) as runner:
            for spec, data, cache in loaded:
                results.append(
                    _evaluate_one(spec, data, cache, policy, engine, runner, sampling, ks, opts, out)
                )
    finally:
        engine.close()
    paths = write_outputs(results, out, header)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return EvalRun(results, paths, header)


def _load_benchmark(
    load_examples: Any, spec: BenchmarkSpec, limit: int | None, data_cfg: Any = None, on_bad_row: str = "skip"
) -> Any:
    """One benchmark's rows; ``data_cfg`` (``cfg.data``, default: its defaults) gives the options,
    template and columns. ``on_bad_row="fail"`` (``--strict``) refuses a benchmark with a bad row."""
    from mmrl.config import DataConfig
    from mmrl.data import get_recipe

    data_cfg = data_cfg if data_cfg is not None else DataConfig()
    try:
        recipe = get_recipe(spec.recipe)
    except UserError as exc:
        raise UserError(f"--benchmarks {spec.label!r}: {exc}") from None
    split = spec.split or eval_split(recipe)
    if recipe.generate is not None and spec.path is not None:
        raise UserError(
            f"benchmark {spec.label!r}: recipe {recipe.name!r} generates its rows; give it no path"
        )
    try:
        data = load_examples(
            recipe,
            split=split,
            path=spec.path,
            limit=limit,
            options=data_cfg.options,
            template=data_cfg.template,
            columns=data_cfg.columns,
            on_bad_row=data_cfg.on_bad_row,
            max_bad_fraction=data_cfg.max_bad_fraction,
            allow_remote_images=data_cfg.allow_remote_images,
            image_root=data_cfg.image_root,
            allow_outside_paths=data_cfg.allow_outside_paths,
            max_image_bytes=data_cfg.max_image_bytes,
        )
    except UserError as exc:
        if spec.path is None and recipe.generate is None:
            raise UserError(
                f"benchmark {spec.label!r}: {exc}\nFor mmrl eval: pass --path {spec.recipe}=DIR, or --data-dir DIR "
                f"with the data in DIR/{spec.recipe}"
            ) from None
        raise
    if on_bad_row == "fail" and data.report.bad_rows:
        raise UserError(_strict_message(spec, data, []))
    return data


def _strict_message(spec: BenchmarkSpec, data: Any, dropped: Sequence[Any]) -> str:
    over = f"; {len(dropped)} prompts over the prompt budget (--max-prompt-length)" if dropped else ""
    return (
        f"benchmark {spec.label!r}: {data.report.bad_rows} bad rows{over}, and --strict (eval.on_bad_row=fail) "
        "evaluates every problem or none. Fix the data, or drop --strict to report pass@k without them.\n"
        + data.report.table(max_issues=20)
    )


def _open_cache(
    spec: BenchmarkSpec, data: Any, opts: EvalOptions, out: Path, header: dict[str, Any]
) -> SampleCache:
    """The benchmark's sample cache (``_cache``), emptied with ``--restart``, read."""
    cache = _cache(spec, data, opts, out, header)
    if opts.restart:
        cache.clear()
    cache.load()
    return cache


def _cache(
    spec: BenchmarkSpec, data: Any, opts: EvalOptions, out: Path, header: dict[str, Any]
) -> SampleCache:
    """The benchmark's sample cache, fingerprinted by everything that changes its samples or verdicts."""
    fingerprint = {
        "model": {k: header["model"][k] for k in ("path", "fingerprint")},
        "benchmark": {
            "recipe": data.recipe.name,
            "split": data.split,
            "path": None if spec.path is None else str(Path(spec.path).resolve()),
            "template": data.template,
            "options": header["data"]["options"],
            # only when set, so that the caches made before columns were keyed stay valid
            **({"columns": header["data"]["columns"]} if header["data"]["columns"] else {}),
        },
        "engine": header["engine"],
        "sampling": {k: v for k, v in header["sampling"].items() if k != "ks"},
        "prompt": header["prompt"],
        # Worker count changes no verdict; chunk size changes seeds but not the sampling distribution.
        "reward": _reward_fingerprint(header["reward"]),
    }
    return SampleCache(out / "cache" / f"{spec.slug}.jsonl", fingerprint)


def _reward_fingerprint(reward: dict[str, Any]) -> dict[str, Any]:
    """The reward settings that change verdicts, written as caches made before ``reward.functions``
    and the ``None`` blend defaults wrote them (so those caches stay valid): no ``functions`` key
    when there are none, and the built-in verifiers' blend as its numbers."""
    from rewards.registry import VERIFIERS, is_builtin
    from rewards.scoring import BUILTIN_BLEND

    out = {k: v for k, v in reward.items() if k != "num_workers"}
    if not out.get("functions"):
        out.pop("functions", None)
        verifier = out.get("verifier")
        entry = VERIFIERS.registered().get(verifier) if isinstance(verifier, str) else None
        if verifier is None or (entry is not None and is_builtin(entry)):
            for key, value in zip(("accuracy_weight", "format_weight"), BUILTIN_BLEND, strict=True):
                if out.get(key) is None:
                    out[key] = value
    return out


def _evaluate_one(
    spec: BenchmarkSpec,
    data: Any,
    cache: SampleCache,
    policy: Any,
    engine: Any,
    runner: Any,
    sampling: Any,
    ks: Sequence[int],
    opts: EvalOptions,
    out: Path,
) -> EvalResult:
    prompts, dropped = policy.prepare(list(data))
    if opts.on_bad_row == "fail" and dropped:
        raise UserError(_strict_message(spec, data, dropped))
    if not prompts:
        raise UserError(
            f"benchmark {spec.label!r}: every prompt is over --max-prompt-length {opts.max_prompt_length} "
            f"({len(dropped)} dropped); raise it or lower --max-pixels"
        )
    result = evaluate_examples(
        prompts,
        engine=engine,
        n=opts.n,
        sampling=sampling,
        ks=ks,
        reward_runner=runner,
        cache=cache,
        name=spec.label,
        chunk_size=opts.chunk_size,
        images=ImageStore(out / IMAGES_DIR),
        render=policy.render,
    )
    result.dropped = [{"id": d.id, "reason": d.reason, "message": d.message} for d in dropped]
    report = data.report.to_dict()
    result.info.update(
        {
            "recipe": data.recipe.name,
            "split": data.split,
            "path": spec.path,
            "source": report["source"],
            "template": data.template,
            "rows": {k: report[k] for k in ("rows_read", "filtered", "bad_rows", "kept")},
            "bad_rows_by_reason": report["counts_by_reason"],
        }
    )
    return result
