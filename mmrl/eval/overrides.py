"""What each ``a.b=c`` override means to ``mmrl eval``, which reads only part of the config tree.

Every field an override names (a section given as a mapping, ``rollout={top_k: 20}``, names its
fields) is one of four kinds:

* **the field of a flag** (``FLAG_FIELDS``): ``eval.n`` is ``--n``, ``rollout.temperature`` and
  ``eval.temperature`` are ``--temperature``, ``reward.verifier`` is ``--verifier``. It sets that
  option as the flag would. The flag typed with another value, or two such overrides of one option
  with different values (``eval.temperature=0.5 rollout.temperature=1.0``), is an error naming both.
* **the held-out set** of in-training validation: ``eval.recipe``, ``eval.split`` and ``eval.path``
  name one benchmark (``held_out_benchmarks`` turns them into ``--benchmarks NAME:SPLIT`` and
  ``--path NAME=PATH``), and ``eval.options`` is ``data.options``.
* **a field no flag sets** (``data.options``, ``data.columns``, ``rollout.stop``, ``rollout.vllm.*``,
  ``reward.functions``, ``model.trust_remote_code``, ...): applied to the config tree as given.
* **a field an evaluation does not use** (``REFUSED``: ``trainer.*``, ``algorithm.*``, ``logging.*``,
  ``rollout.n``, ``eval.every``, ``model.lora``, ...): refused, with what to use instead, rather than
  silently ignored.

The refused ones are reported first (all of them, whatever their values); the others are then
validated as ``mmrl train`` validates them (``mmrl.config``: an unknown key gets a did-you-mean).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from mmrl.config import ConfigError

if TYPE_CHECKING:
    from mmrl.eval.suite import EvalOptions

__all__ = ["FLAG_FIELDS", "REFUSED", "Resolved", "flag_of", "held_out_benchmarks", "resolve_overrides"]

#: Config field -> the ``EvalOptions`` field (and so the ``mmrl eval`` flag) it sets.
FLAG_FIELDS: dict[str, str] = {
    "eval.n": "n",
    "eval.k": "ks",
    "eval.limit": "limit",
    "data.limit": "limit",
    "eval.temperature": "temperature",
    "rollout.temperature": "temperature",
    "eval.top_p": "top_p",
    "rollout.top_p": "top_p",
    "rollout.top_k": "top_k",
    "eval.max_new_tokens": "max_new_tokens",
    "rollout.max_new_tokens": "max_new_tokens",
    "eval.on_bad_row": "on_bad_row",
    "rollout.engine": "engine",
    "model.dtype": "dtype",
    "data.template": "template",
    "data.max_prompt_length": "max_prompt_length",
    "data.min_pixels": "min_pixels",
    "data.max_pixels": "max_pixels",
    "rollout.batch_size": "batch_size",
    "rollout.vllm.gpu_memory_utilization": "gpu_memory_utilization",
    "reward.verifier": "verifier",
    "reward.num_workers": "reward_workers",
    "reward.timeout_s": "reward_timeout",
}

#: ``eval.*`` fields that name a config field of ``mmrl eval`` by another name.
_ALIASES = {"eval.options": "data.options"}

#: ``eval.*`` fields whose ``None`` means "use the other field", which mmrl eval does anyway.
_NONE_MEANS_THE_OTHER = ("eval.max_new_tokens", "eval.options")

#: The held-out set of in-training validation: one benchmark (``held_out_benchmarks``).
_HELD_OUT = ("eval.recipe", "eval.split", "eval.path")

_NO_TRAINING = "mmrl eval trains nothing"
#: Config fields (or whole sections) that an evaluation does not read, and what to use instead.
REFUSED: dict[str, str] = {
    "trainer": f"{_NO_TRAINING}; its sampling seed is --seed and its output directory --output",
    "algorithm": f"{_NO_TRAINING}, and the algorithm's settings change no sample",
    "logging": "mmrl eval writes results.json, samples.jsonl, report.md and passk.png and logs to the "
    "terminal (--verbose adds the libraries' notices)",
    "model.path": "use --model (a model directory, a training run or an alias)",
    "model.lora": "mmrl eval evaluates the weights as saved, without new adapters",
    "model.gradient_checkpointing": f"{_NO_TRAINING} (no gradients)",
    "model.freeze_vision_tower": f"{_NO_TRAINING} (no gradients)",
    "model.logprob_chunk_size": "mmrl eval computes no log-probs",
    "data.recipe": "use --benchmarks NAME[,NAME...] (or eval.recipe=NAME)",
    "data.path": "use --path NAME=PATH or --data-dir DIR (or eval.path=PATH)",
    "data.split": "use --benchmarks NAME:SPLIT (or eval.split=SPLIT)",
    "data.shuffle": "mmrl eval evaluates the problems in order",
    "rollout.n": "it is training's group size; mmrl eval samples --n (eval.n) responses per problem",
    "rollout.sync_probe_threshold": "it checks training's weight syncs; mmrl eval syncs no weights",
    "rollout.vllm.enable_sleep_mode": "it frees vLLM's memory while training updates the weights",
    "rollout.vllm.weight_sync": "it is how training sends new weights to vLLM",
    "eval.every": "it schedules in-training validation; mmrl eval evaluates once",
    "eval.before_train": "it schedules in-training validation; mmrl eval evaluates once",
    "eval.entropy": "val/entropy is logged by in-training validation only",
}

#: Flags not spelled ``--`` + the field's name.
_FLAGS = {"ks": "--k", "on_bad_row": "--strict"}


def flag_of(field: str) -> str:
    """The ``mmrl eval`` flag of an ``EvalOptions`` field: ``flag_of("top_p") == "--top-p"``."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


@dataclass(frozen=True)
class Resolved:
    """``resolve_overrides``' answer.

    Attributes:
        opts: The options with every flag-field override folded in, and ``explicit`` filled.
        tree: ``(config field, value)`` of the overrides that no flag sets, to apply as given.
        origin: ``EvalOptions`` field -> the override that set it (for error messages).
    """

    opts: EvalOptions
    tree: list[tuple[str, Any]]
    origin: dict[str, str]


@dataclass(frozen=True)
class _Leaf:
    path: str  # the config field, e.g. "rollout.temperature"
    raw: Any  # the value as YAML read it
    value: Any  # as the typed config holds it
    text: str  # the override as typed


def _leaves(overrides: Sequence[str]) -> list[_Leaf]:
    """The fields the overrides set, in order. Raises ``ConfigError`` listing the refused ones,
    then (as ``mmrl train`` would) for a field that is unknown or a value that is invalid."""
    from mmrl.config import Config, apply_overrides

    if not overrides:
        return []
    found: list[tuple[str, Any, str]] = []

    def walk(path: str, raw: Any, node: Any, text: str) -> None:
        if dataclasses.is_dataclass(node) and isinstance(raw, dict):
            for key, value in raw.items():
                walk(f"{path}.{key}", value, getattr(node, key, None), text)
        else:
            found.append((path, raw, text))

    for text in overrides:
        key, _, raw = text.partition("=")
        node: Any = Config()
        for part in key.strip().split("."):
            node = getattr(node, part, None)
        walk(key.strip(), yaml.safe_load(raw) if raw.strip() else "", node, text)
    refused = [message for message in (_refusal(*leaf) for leaf in found) if message]
    if refused:  # before validating: a training setting is refused for what it is, not its value
        raise ConfigError(refused)
    typed = apply_overrides(Config(), list(overrides))
    return [_Leaf(path, raw, _typed_value(typed, path), text) for path, raw, text in found]


def _typed_value(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part, None)
    return cfg


def _refusal(path: str, raw: Any, text: str) -> str | None:
    for prefix, why in REFUSED.items():
        if path == prefix or path.startswith(prefix + "."):
            named = text if text.partition("=")[0].strip() == path else f"{text} ({path})"
            return f"{named} is not used by mmrl eval: {why}"
    return None


def _shown(field: str, value: Any) -> str:
    if field == "ks":
        return " " + ",".join(map(str, value))
    return "" if field == "on_bad_row" else f" {value}"


def resolve_overrides(opts: EvalOptions) -> Resolved:
    """``opts`` with its overrides sorted into the four kinds above (raises ``ConfigError``).

    A flag counts as typed when it is in ``opts.explicit``; with ``explicit=None``, when the
    field differs from ``EvalOptions``' default.
    """
    leaves = _leaves(opts.overrides)
    errors: list[str] = []
    explicit = opts.explicit if opts.explicit is not None else _non_default(opts)
    folded: dict[str, Any] = {}
    origin: dict[str, str] = {}
    by_target: dict[str, _Leaf] = {}  # an alias and its field, to catch two values for one thing
    tree: list[tuple[str, Any]] = []
    for leaf in leaves:
        if leaf.path in _NONE_MEANS_THE_OTHER and leaf.value is None:
            continue  # e.g. eval.max_new_tokens=null: "None uses rollout.max_new_tokens", as mmrl eval does
        path = _ALIASES.get(leaf.path, leaf.path)
        field = FLAG_FIELDS.get(path)
        other = by_target.get(field or path)
        if other is not None and other.path != leaf.path and other.value != leaf.value:
            errors.append(f"{other.text} and {leaf.text} set the same thing to different values; give one")
        by_target[field or path] = leaf
        if field is None:
            if path not in _HELD_OUT:
                tree.append((path, leaf.raw))
            continue
        value = tuple(leaf.value) if field == "ks" else leaf.value
        if field in explicit and getattr(opts, field) != value:
            typed = flag_of(field) + _shown(field, getattr(opts, field))
            errors.append(f"{typed} and {leaf.text} disagree; give one of them")
        folded[field], origin[field] = value, leaf.text
    errors += _held_out_errors(opts, leaves)
    if errors:
        raise ConfigError(errors)
    resolved = dataclasses.replace(opts, **{k: v for k, v in folded.items() if k not in explicit})
    return Resolved(dataclasses.replace(resolved, explicit=frozenset(explicit)), tree, origin)


def _non_default(opts: EvalOptions) -> frozenset[str]:
    default = type(opts)(model=opts.model, benchmarks=opts.benchmarks)
    return frozenset(f for f in set(FLAG_FIELDS.values()) if getattr(opts, f) != getattr(default, f))


def _held_out_errors(opts: EvalOptions, leaves: Sequence[_Leaf]) -> list[str]:
    """``eval.recipe``/``split``/``path`` must describe the one benchmark evaluated (the command and
    ``evaluate`` make them so with ``held_out_benchmarks``)."""
    errors = []
    for leaf in leaves:
        if leaf.path not in _HELD_OUT or leaf.value is None:
            continue
        spec = opts.benchmarks[0] if len(opts.benchmarks) == 1 else None
        actual = None if spec is None else getattr(spec, leaf.path.split(".")[1])
        if actual is None or str(actual) != str(leaf.value):
            labels = ",".join(s.label for s in opts.benchmarks) or "none"
            errors.append(
                f"{leaf.text} does not describe the benchmarks evaluated ({labels}); name one benchmark "
                "with --benchmarks NAME:SPLIT and --path NAME=PATH, or pass the override to mmrl.eval.evaluate"
            )
    return errors


def held_out_benchmarks(
    benchmarks: str | Sequence[str] | None, paths: Mapping[str, str], overrides: Sequence[str]
) -> tuple[str | Sequence[str] | None, dict[str, str]]:
    """``--benchmarks`` and ``--path`` with the held-out set of ``eval.recipe``, ``eval.split`` and
    ``eval.path`` filled in: ``eval.recipe=gsm8k eval.split=test`` is ``--benchmarks gsm8k:test``.
    They name one benchmark; another one listed, or another split or path, is an error naming both."""
    held = {
        leaf.path: leaf for leaf in _leaves(overrides) if leaf.path in _HELD_OUT and leaf.value is not None
    }
    paths = dict(paths)
    if not held:
        return benchmarks, paths
    items = [t.strip() for t in (benchmarks.split(",") if isinstance(benchmarks, str) else benchmarks or ())]
    items = [t for t in items if t]
    recipe = held.get("eval.recipe")
    if recipe is not None and not items:
        items = [str(recipe.value)]
    elif recipe is not None and [t.partition(":")[0] for t in items] != [str(recipe.value)]:
        raise ConfigError(f"--benchmarks {','.join(items)} and {recipe.text} disagree; give one of them")
    if len(items) != 1:
        leaf = next(iter(held.values()))
        listed = f"--benchmarks lists {len(items)}" if items else "no benchmark is named (--benchmarks NAME)"
        raise ConfigError(
            f"{leaf.text} describes the held-out set of one benchmark, and {listed}; write NAME:SPLIT "
            "for each in --benchmarks and use --path NAME=PATH"
        )
    name, _, split = items[0].partition(":")
    if "eval.split" in held:
        wanted = str(held["eval.split"].value)
        if split and split != wanted:
            raise ConfigError(
                f"--benchmarks {items[0]} and {held['eval.split'].text} disagree; give one of them"
            )
        split = wanted
    if "eval.path" in held:
        wanted, given = str(held["eval.path"].value), paths.get(items[0], paths.get(name))
        if given is not None and given != wanted:
            raise ConfigError(
                f"--path {name}={given} and {held['eval.path'].text} disagree; give one of them"
            )
        paths = {k: v for k, v in paths.items() if k != items[0]} | {name: wanted}
    return (f"{name}:{split}" if split else name), paths
