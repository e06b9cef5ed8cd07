"""One typed configuration tree for every mmrl command.

Every field below has its default, its type with its range, and a one-line doc in exactly one place.
A run's configuration is built as: defaults -> a YAML file (optionally inheriting others through
``_base_``) -> ``a.b=c`` command-line overrides. Validation is loud and early: an unknown key
names the nearest valid key (or the mmrl name of a verl/TRL key), a wrong type or a value out of
range names the field, the value and what is allowed, and cross-field checks say what to change.
The resolved tree is saved with the run and reloads to an equal object.

    >>> cfg = load_config(None, ["trainer.max_steps=3", "rollout.n=4"])
    >>> cfg.trainer.max_steps, cfg.rollout.n
    (3, 4)

Sections: ``model``, ``data``, ``rollout``, ``algorithm``, ``reward``, ``trainer``, ``eval``,
``logging``. Code reads fields directly (``cfg.rollout.n``); it never uses ``.get(key, default)``.
Values derived from several fields are computed by the function that needs them, from this tree.

Each section is a frozen pydantic dataclass (``config_section``): ``dataclasses.fields``,
``dataclasses.replace`` (which validates again) and the field metadata (``doc``) work as for any
dataclass, and pydantic does the type coercion (YAML's ``'1e-6'`` becomes a float) and the range
checks declared in the annotations (``Annotated[int, Field(ge=1)]``). No float field accepts NaN or
infinity. The parameters of an algorithm are sections too, declared next to its estimator
(``mmrl.algos``) and found through the estimator registry: ``algorithm.a_grae.alpha``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import PydanticCustomError

__all__ = [
    "Config",
    "ConfigError",
    "Section",
    "apply_overrides",
    "config_from_dict",
    "config_section",
    "config_to_dict",
    "config_to_yaml",
    "field_docs",
    "load_config",
    "opt",
    "parameter_section",
    "save_config",
]


class ConfigError(ValueError):
    """A configuration problem; the message names the field, the value and the fix."""

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        if len(self.errors) == 1:
            msg = f"invalid configuration: {self.errors[0]}"
        else:
            msg = "invalid configuration:\n" + "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(msg)


# --------------------------------------------------------------------------------------------
# How a section is declared
# --------------------------------------------------------------------------------------------

#: Every section: unknown keys are errors, floats must be finite, numbers may be given for text.
_PYDANTIC = ConfigDict(extra="forbid", allow_inf_nan=False, coerce_numbers_to_str=True)

S = TypeVar("S")


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types a field admits: the members of a union, each without its ``Annotated`` extras."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (Union, types.UnionType) else ()
    out = []
    for member in args or (annotation,):
        while typing.get_origin(member) is Annotated:
            member = typing.get_args(member)[0]
        out.append(member)
    return tuple(out)


class Section:
    """Base of every config section: what a value typed on a command line may mean beyond
    pydantic's own coercion (``none`` is null in an optional field, ``a,b,c`` is a list), and a
    boolean is never taken for a number (``trainer.max_steps=true`` is a mistake, not 1)."""

    @field_validator("*", mode="before")
    @classmethod
    def _command_line_values(cls, value: Any, info: ValidationInfo) -> Any:
        members = _members(cls.__pydantic_fields__[info.field_name].annotation)  # type: ignore[attr-defined]
        if isinstance(value, str):
            if value.strip().lower() == "none" and type(None) in members:
                return None
            if str not in members and any(typing.get_origin(m) is list for m in members):
                return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, bool) and bool not in members:
            # YAML reads a bare no/off/yes/on as a boolean: trainer.mixed_precision=no means 'no'
            words = {w for m in members if typing.get_origin(m) is Literal for w in typing.get_args(m)}
            for word in ("no", "off") if value is False else ("yes", "on"):
                if word in words:
                    return word
            if any(m in (int, float) for m in members):
                raise PydanticCustomError("bool_is_not_a_number", "a boolean is not a number")
        return value


def config_section(cls: type[S]) -> type[S]:
    """Make ``cls`` (a ``Section`` subclass with ``opt`` fields) a frozen, validating dataclass."""
    if not issubclass(cls, Section):
        raise TypeError(f"{cls.__name__} must subclass mmrl.config.Section")
    return pydantic_dataclass(frozen=True, config=_PYDANTIC)(cls)


def parameter_section(name: str) -> Callable[[type[S]], type[S]]:
    """Declare ``cls`` as the config section ``algorithm.<name>``: an estimator's parameters.

    Used next to the estimator (``register_estimator(..., params=cls)``), e.g.::

        @parameter_section("a_grae")
        class AGraeParams(Section):
            \"\"\"A-GRAE's parameters.\"\"\"
            alpha: Annotated[float, Field(gt=0, le=1)] = opt(1.0, "Attenuation scale.")
    """

    def decorate(cls: type[S]) -> type[S]:
        section = config_section(cls)
        section.section_name = name  # type: ignore[attr-defined]
        return section

    return decorate


def opt(default: Any, doc: str, *, hint: str | None = None) -> Any:
    """A config field with its default and one-line doc; ``hint`` is added to its range errors.

    Mutable defaults (lists, dicts, sections) are copied per use. The field's type and range are
    its annotation, e.g. ``n: Annotated[int, Field(ge=1)] = opt(8, "Samples per prompt.")``.
    """
    metadata = {"doc": doc, "hint": hint}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: _deepcopy(d), metadata=metadata)
    if dataclasses.is_dataclass(default):
        return field(default_factory=lambda d=default: dataclasses.replace(d), metadata=metadata)
    return field(default=default, metadata=metadata)


def subsection(cls: type, doc: str) -> Any:
    """A nested section with its defaults."""
    return field(default_factory=cls, metadata={"doc": doc, "hint": None})


def _deepcopy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deepcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy(v) for v in value]
    return value


# Ranges used by many fields.
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Probability = Annotated[float, Field(gt=0, le=1)]  # top_p: 0 would mean nothing
#: A reward weight: rewards are float32 in the advantage stage, so 1e300 * reward would be inf there.
RewardWeight = Annotated[float, Field(ge=-1e6, le=1e6)]
_DEFAULT_PRESET = "grpo+a_grae"

# --------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------


@config_section
class LoraConfig(Section):
    rank: NonNegativeInt = opt(0, "LoRA rank; 0 trains all weights (no LoRA).")
    alpha: int = opt(32, "LoRA scaling alpha.")
    dropout: float = opt(0.0, "Dropout on the LoRA branch.")
    target_modules: str | list[str] = opt("all-linear", "Modules that get adapters (peft syntax).")
    exclude_vision: bool = opt(True, "Never put adapters on the vision tower (vLLM cannot serve them).")


@config_section
class ModelConfig(Section):
    path: str = opt(
        "smollm2-135m-instruct",
        "Model to train or evaluate: a local directory, a Hub id, or the offline alias "
        "'smollm2-135m-instruct' (prepared by `mmrl models prepare smollm2`).",
    )
    tokenizer_path: str | None = opt(None, "Tokenizer/processor location when it differs from `path`.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = opt(
        "auto",
        "Weight dtype; 'auto': float32 master weights when training under mixed precision, bfloat16 for a "
        "model that only generates where bf16 is fast (CUDA, CPUs with AVX512-BF16/AMX), else float32 "
        "(bfloat16 on a bf16-capable GPU).",
    )
    attn_implementation: str | None = opt(
        None,
        "Attention kernel passed to transformers ('sdpa', 'eager', 'flash_attention_2'); None lets it choose. "
        "Under 'sdpa' (transformers' usual choice), text training forwards on a CPU with at most 4M attention "
        "scores per layer run as float32 products instead of the flash kernel (faster there): grouped-query "
        "attention without repeated keys for Llama/Qwen2/Qwen3 decoders, PyTorch's math backend for others.",
    )
    gradient_checkpointing: bool = opt(False, "Recompute activations in backward to save memory.")
    trust_remote_code: bool = opt(False, "Allow model code from the checkpoint (off unless you trust it).")
    freeze_vision_tower: bool = opt(False, "Do not train the vision encoder of a VLM.")
    lora: LoraConfig = subsection(LoraConfig, "Low-rank adapters (peft).")
    logprob_chunk_size: PositiveInt = opt(
        256,
        "Response tokens projected to the vocabulary at once when computing log-probs (bounds memory).",
        hint="e.g. 256",
    )


@config_section
class DataConfig(Section):
    recipe: str = opt(
        "synthetic_arithmetic",
        "Training dataset: a recipe name (`mmrl data list`), or 'pkg.module:NAME' / 'path/to/file.py:NAME' "
        "naming a Recipe or a rows function fn(split, options).",
    )
    path: str | None = opt(
        None,
        "Local directory (e.g. a Hub snapshot), parquet or jsonl file with the recipe's schema; None loads "
        "from the Hub (synthetic recipes generate their rows).",
    )
    split: str = opt("train", "Split used for training.")
    template: str | None = opt(
        None,
        "Prompt template: a name in data_recipes/templates or a .jinja file; None uses the recipe's own.",
    )
    columns: dict[str, str] = opt(
        {},
        "Generic recipes: map mmrl fields (question, answer, image, images, choices, task, id) to your columns.",
    )
    options: dict[str, Any] = opt(
        {}, "Recipe options (unknown keys are errors), e.g. {num_examples: 512, difficulty: [1, 2], seed: 0}."
    )
    limit: PositiveInt | None = opt(
        None,
        "Use only the first N valid rows (reading stops there); None uses all.",
        hint="or null to use every row",
    )
    shuffle: bool = opt(True, "Shuffle training prompts each epoch (seeded by trainer.seed).")
    max_prompt_length: PositiveInt = opt(
        512,
        "Prompt budget in tokens, image tokens included; longer examples are dropped at load, never truncated.",
    )
    min_pixels: int = opt(3136, "Images are resized once so that width*height >= this (multiple of 28x28).")
    max_pixels: int = opt(
        1003520, "... and width*height <= this; both engines and the trainer see the same pixels."
    )
    on_bad_row: Literal["skip", "fail"] = opt(
        "skip", "A row that fails validation: skip it (counted and reported) or fail the whole load."
    )
    max_bad_fraction: Fraction = opt(
        0.05, "With on_bad_row=skip, fail when more than this fraction of rows is bad."
    )
    allow_remote_images: bool = opt(
        False,
        "Allow http(s) image URLs in rows (refused by default); downloads go to public addresses only, "
        "within max_image_bytes and 20 s.",
    )
    image_root: str | None = opt(
        None,
        "Directory that image paths in rows must resolve under; None: the dataset's own (data.path when it "
        "is a directory, else the file's directory).",
    )
    allow_outside_paths: bool = opt(
        False,
        "Read image paths that lead outside the image root (absolute, '..', '~', symlinks out); by default "
        "they are bad rows (image_outside_root).",
    )
    max_image_bytes: PositiveInt = opt(
        64 << 20, "Largest image file, value or download read, in bytes; larger ones are bad rows."
    )


@config_section
class VllmConfig(Section):
    gpu_memory_utilization: Annotated[float, Field(gt=0, lt=1)] = opt(
        0.5,
        "Fraction of GPU memory vLLM may take (it shares the GPU with training).",
        hint="the policy's weights are on the GPU when vLLM starts, and vLLM refuses a share it cannot get; "
        "e.g. 0.5",
    )
    tensor_parallel_size: PositiveInt = opt(1, "vLLM tensor parallel degree within a node.")
    enable_sleep_mode: bool = opt(
        True, "Release vLLM memory during the update phase (sleep/wake) when supported."
    )
    max_model_len: PositiveInt | None = opt(
        None, "vLLM context length; None uses max_prompt_length + max_new_tokens."
    )
    enforce_eager: bool | None = opt(
        None,
        "Run vLLM eagerly (no torch.compile / CUDA graphs: slower decoding, faster start); None: eager on "
        "a CPU (measured on a 2-core AMX CPU: compiling added 41-51 s to the start and decoded no "
        "faster), compiled on a GPU.",
    )
    dtype: str | None = opt(
        None,
        "vLLM weight dtype; None uses the trainer's compute dtype (bfloat16 under bf16 mixed precision, "
        "else the weights' dtype).",
    )
    weight_sync: Literal["auto", "load_weights", "reload_weights"] = opt(
        "auto",
        "How weights reach vLLM: 'load_weights' (in place, GPU), 'reload_weights' (vLLM's in-place reload, "
        "needed on CPU), 'auto' picks by device.",
    )


@config_section
class RolloutConfig(Section):
    engine: Annotated[str, Field(min_length=1)] = opt(
        "auto",
        "Generation engine: 'vllm' (fast), 'hf' (transformers, any device), 'auto' (vllm where it is "
        "installed, else hf), or an engine of your own: a registered name, 'pkg.module:factory' or "
        "'file.py:factory' (factory(rollout_cfg, policy) -> engine).",
        hint="auto, hf, vllm or pkg.module:factory",
    )
    n: PositiveInt = opt(8, "Samples per prompt (the group size G).")
    temperature: NonNegativeFloat = opt(1.0, "Sampling temperature.", hint="0 means greedy")
    top_p: Probability = opt(1.0, "Nucleus sampling threshold; 1.0 disables it.")
    top_k: NonNegativeInt = opt(
        0, "Top-k sampling; 0 disables it (top-k over a 150k vocabulary is slow).", hint="0 disables it"
    )
    max_new_tokens: PositiveInt = opt(512, "Maximum response length in tokens.")
    stop: list[str] = opt([], "Extra stop strings (the end-of-sequence token always stops).")
    batch_size: PositiveInt = opt(64, "Sequences per generation call of the 'hf' engine.")
    hf_cache: Literal["auto", "dynamic", "static"] = opt(
        "auto",
        "KV cache of the 'hf' engine; 'auto': static for text models on CUDA, else dynamic. Never static under "
        "mixed precision (autocast over float32 weights), where transformers' static cache fails.",
    )
    sync_probe_threshold: PositiveFloat = opt(
        0.1,
        "Warn when mean |engine logprob - trainer logprob| on sampled tokens exceeds this after a sync.",
        hint="e.g. 0.1",
    )
    vllm: VllmConfig = subsection(VllmConfig, "Options of the vLLM engine.")


@config_section
class DynamicSamplingConfig(Section):
    enable: bool | None = opt(
        None,
        "Drop groups whose outcomes are all equal and generate more until the batch is full (DAPO); "
        "None follows the preset.",
    )
    max_rounds: PositiveInt = opt(10, "Most generation rounds per step before training on what there is.")


@config_section
class OverlongConfig(Section):
    enable: bool | None = opt(None, "Soft overlong punishment (DAPO); None follows the preset.")
    buffer_length: PositiveInt = opt(
        128, "L_cache: the penalty ramps from 0 to -1 over the last this many tokens."
    )
    penalty_factor: NonNegativeFloat = opt(1.0, "Scale of the overlong penalty.")


def _default_parameters() -> dict[str, Any]:
    from mmrl.algos.registry import parameter_sections

    return {name: cls() for name, cls in parameter_sections().items()}


@config_section
class AlgorithmConfig(Section):
    """The ``algorithm`` section. Besides the fields below it holds one subsection per parameter
    declaration of the registered estimators (``algorithm.a_grae``, ``algorithm.w_reinforce``, ...;
    ``mmrl.algos.registry.parameter_sections``), read as attributes: ``cfg.algorithm.a_grae.alpha``."""

    name: str = opt(
        _DEFAULT_PRESET,
        "Preset (estimator + loss + DAPO rules): a registered name (docs/papers.md lists each with its "
        "paper) or 'pkg.module:PRESET'.",
    )
    estimator: str | None = opt(
        None, "Advantage estimator override: a registered name or 'pkg.module:fn'; None uses the preset's."
    )
    loss_agg_mode: (
        Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"] | None
    ) = opt(None, "Loss aggregation override; None uses the preset's.")
    loss_scale_factor: PositiveFloat | None = opt(
        None,
        "Constant divisor of 'seq-mean-token-sum-norm'; None uses rollout.max_new_tokens.",
        hint="or null",
    )
    clip_ratio_low: Annotated[float, Field(gt=0, lt=1)] | None = opt(
        None,
        "PPO clip epsilon below 1; None uses the preset's (0.2).",
        hint="the ratio is clipped at 1 - it",
    )
    clip_ratio_high: PositiveFloat | None = opt(
        None,
        "PPO clip epsilon above 1 (clip-higher); None uses the preset's: 0.28 for dapo*, else clip_ratio_low.",
    )
    clip_ratio_c: Annotated[float, Field(gt=1)] | None = opt(
        None, "Dual-clip constant for negative advantages; None disables it.", hint="verl uses 3.0; or null"
    )
    kl_coef: NonNegativeFloat = opt(
        0.0, "Weight of the KL-to-reference term in the loss; 0 loads no reference model."
    )
    kl_estimator: Literal["k1", "k2", "k3", "low_var_kl"] = opt(
        "low_var_kl", "KL estimator (k3 = low_var_kl)."
    )
    entropy_coef: NonNegativeFloat = opt(
        0.0, "Entropy bonus weight (the loss subtracts entropy_coef * token entropy).", hint="it is a bonus"
    )
    tis_cap: PositiveFloat | None = opt(
        None, "Truncated importance weight cap for engine/trainer logprob mismatch; None disables it."
    )
    mask_truncated: bool = opt(
        False,
        "Leave responses cut off at rollout.max_new_tokens out of the loss (DAPO's overlong filtering, TRL's "
        "mask_truncated_completions); they still count in their group's baseline.",
    )
    dynamic_sampling: DynamicSamplingConfig = subsection(DynamicSamplingConfig, "DAPO dynamic sampling.")
    overlong: OverlongConfig = subsection(OverlongConfig, "DAPO soft overlong punishment.")
    params: dict[str, Any] = field(
        default_factory=_default_parameters,
        metadata={
            "doc": "The estimators' parameter sections by name (written as algorithm.<name>).",
            "hint": None,
        },
    )

    def __getattr__(self, name: str) -> Any:
        # Only called when ordinary lookup fails: the parameter sections (cfg.algorithm.a_grae).
        params = self.__dict__.get("params") or {}
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def parameters(self, section: type[S]) -> S:
        """The values of the parameter section ``section`` (its defaults if the config has none)."""
        value = self.params.get(section.section_name)  # type: ignore[attr-defined]
        return value if isinstance(value, section) else section()


@config_section
class RewardFunctionConfig(Section):
    """One term of ``reward.functions``: a reward function and its weight in the sum."""

    fn: Annotated[str, Field(min_length=1)] = field(
        metadata={
            "doc": "The function: a registered verifier name (`math`, `format`, ...), 'pkg.module:fn' or "
            "'file.py:fn'; per-sample fn(response, example), TRL-style fn(completions, **columns) or "
            "EasyR1-style fn(reward_inputs).",
            "hint": "e.g. math, or my_rewards.py:length_penalty",
        }
    )
    weight: RewardWeight = opt(
        1.0,
        "Its weight: the reward is the sum of weight * value over the functions.",
        hint="rewards are float32: rescale the function instead",
    )
    name: Annotated[str, Field(min_length=1)] | None = opt(
        None, "Its name in the logs (reward/<name>); None: the registered name, or the part after ':'."
    )
    kwargs: dict[str, Any] = opt({}, "Extra keyword arguments passed to this function.")


@config_section
class RewardConfig(Section):
    verifier: str | None = opt(
        None,
        "Verifier for every example: a registered name, 'pkg.module:fn' or 'file.py:fn'; None uses Example.task.",
    )
    functions: list[RewardFunctionConfig] = opt(
        [],
        "Weighted reward functions, e.g. [{fn: math, weight: 0.9}, {fn: format, weight: 0.1}]: the reward is "
        "exactly sum(weight * value), each value logged as reward/<name>. Empty: one verifier "
        "(reward.verifier, else Example.task) with the accuracy/format blend below.",
    )
    accuracy_weight: Annotated[NonNegativeFloat, Field(le=1e6)] | None = opt(
        None,
        "Weight of the verifier's accuracy in its reward (without reward.functions); None: 0.9 for the "
        "built-in verifiers, and a custom verifier's reward is taken as it returns it unless a weight is set.",
    )
    format_weight: Annotated[NonNegativeFloat, Field(le=1e6)] | None = opt(
        None,
        "Weight of the <think>...</think> format check (without reward.functions); None: 0.1 for the "
        "built-in verifiers (EasyR1's math reward, the A-GRAE runs), no format part for a custom verifier "
        "unless a weight is set; 0 turns it off.",
    )
    timeout_s: PositiveFloat = opt(
        5.0,
        "Hard per-response scoring timeout in seconds (the worker is killed); a batched reward function "
        "gets this per response of its batch.",
    )
    num_workers: NonNegativeInt = opt(
        2,
        "Scoring worker processes; 0 scores built-in verifiers in-process (they bound their own time) "
        "and still runs custom ones in one worker under the timeout.",
        hint="0 scores in-process",
    )
    on_failure: Literal["mask", "zero", "raise"] = opt(
        "mask", "Timeouts and errors: mask (reward None, left out of the baseline), zero, or raise."
    )
    max_error_rate: Fraction = opt(0.2, "Raise when more than this fraction of a batch errors or times out.")
    kwargs: dict[str, Any] = opt(
        {}, "Extra keyword arguments passed to every verifier call (use with one custom verifier)."
    )
    score_truncated: bool = opt(
        False,
        "Score responses cut at rollout.max_new_tokens like any other (verl and TRL do); by default a "
        "truncated response has no final answer and gets reward 0 (status unparsable_pred).",
    )

    @field_validator("functions", mode="before")
    @classmethod
    def _function_names(cls, value: Any) -> Any:
        # `reward.functions=math,format` and `[math, {fn: format, weight: 0.1}]`: a bare name is {fn: name}
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [{"fn": v} if isinstance(v, str) else v for v in value]
        return value


@config_section
class TrainerConfig(Section):
    output_dir: str = opt("runs/mmrl", "Run directory: config, metrics, rollouts, checkpoints, final model.")
    max_steps: PositiveInt = opt(100, "Number of RL steps (one rollout batch each).")
    prompts_per_step: PositiveInt = opt(8, "Prompts sampled per step; each gets rollout.n responses.")
    mini_batch_prompts: PositiveInt | None = opt(
        None,
        "Prompts per optimizer step; None makes one optimizer step per RL step. Must divide prompts_per_step.",
        hint="or null",
    )
    micro_batch_size: PositiveInt | Literal["auto"] = opt(
        "auto",
        "Sequences per forward/backward pass (gradient accumulation splits the rest); 'auto': 16 on a "
        "CPU, where every pass pays fixed costs (4 x 4 sequences trained 1.7x slower than 1 x 16), 4 on a GPU.",
        hint="a positive integer or 'auto'",
    )
    max_tokens_per_micro_batch: PositiveInt | None = opt(
        None,
        "Also cap a micro-batch at this many prompt+response tokens; None caps by count only.",
        hint="or null",
    )
    learning_rate: NonNegativeFloat = opt(1e-6, "AdamW learning rate.")
    weight_decay: NonNegativeFloat = opt(0.0, "AdamW weight decay.")
    adam_betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] = opt(
        [0.9, 0.999], "AdamW betas.", hint="two numbers in [0, 1)"
    )
    warmup_steps: NonNegativeInt = opt(0, "Linear warm-up, in RL steps (the learning rate ramps from 0).")
    lr_scheduler: Literal["constant", "linear", "cosine"] = opt("constant", "Schedule after warm-up.")
    max_grad_norm: NonNegativeFloat = opt(1.0, "Gradient clipping norm; 0 disables clipping.")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = opt(
        "auto",
        "accelerate mixed precision (autocast; weights stay float32); 'auto' is bf16 where bf16 matrix "
        "products are fast (CUDA, CPUs with AVX512-BF16/AMX), else 'no'.",
    )
    retain_cpu_memory: bool = opt(
        True,
        "On a CPU under glibc (Linux), keep the memory a step frees in the process for the next step "
        "(mallopt: no trimming, no mmap) instead of faulting it back in from the OS every "
        "step; the process then holds its peak memory between steps. No effect on GPUs or elsewhere.",
    )
    seed: int = opt(0, "Seed for data order, sampling and initialisation.")
    save_every: NonNegativeInt = opt(
        0, "Checkpoint every N steps; 0 saves only at the end.", hint="0 turns it off"
    )
    keep_last: PositiveInt = opt(
        2,
        "Keep this many complete checkpoints; older ones are deleted after a new one completes.",
        hint="the newest checkpoint is always kept",
    )
    resume: Annotated[str, Field(min_length=1)] = opt(
        "auto",
        "'auto' (newest complete checkpoint; stops when the config changed in a way that changes the "
        "training trajectory), 'force' (the same, without that check), 'never', or a checkpoint directory.",
        hint="'auto', 'force', 'never' or a checkpoint directory",
    )
    stall_timeout_s: NonNegativeFloat = opt(
        3600.0,
        "A stage (generate, score, update, sync, validate, checkpoint) without progress for half of this "
        "logs a WARNING naming it, the step and the pending examples; at the full time the run ends with "
        "an error (exit code 1). 0 disables the watchdog.",
        hint="0 disables it",
    )
    max_consecutive_nonfinite: PositiveInt = opt(
        3, "Abort after this many steps in a row with a non-finite loss or gradient."
    )
    preflight: bool = opt(
        True,
        "On CUDA, run one forward/backward at the worst-case micro-batch (micro_batch_size rows of "
        "max_prompt_length + max_new_tokens tokens) before step 1: an out-of-memory there is an error naming "
        "the settings that lower the peak, instead of a crash in a later step. Off CUDA it does nothing.",
    )
    save_final: bool = opt(True, "Write final/ as a plain Hugging Face checkpoint at the end.")
    merge_lora: bool = opt(True, "Merge LoRA adapters into final/ (otherwise save the adapter).")


@config_section
class EvalConfig(Section):
    every: NonNegativeInt = opt(
        0, "Validate every N training steps; 0 disables in-training validation.", hint="0 turns it off"
    )
    before_train: bool = opt(False, "Also validate before the first step.")
    recipe: str | None = opt(None, "Held-out dataset; None uses data.recipe.")
    path: str | None = opt(
        None, "Local files for the eval recipe; None uses data.path when the recipe is the same."
    )
    options: dict[str, Any] | None = opt(
        None, "Recipe options of the held-out set; None uses data.options when the recipe is the same."
    )
    split: str = opt("test", "Held-out split.")
    limit: PositiveInt | None = opt(
        64, "Evaluate at most this many problems; None uses all.", hint="or null to evaluate every problem"
    )
    n: PositiveInt = opt(1, "Samples per problem.")
    k: Annotated[list[PositiveInt], Field(min_length=1)] = opt(
        [1], "pass@k values to report (each <= n).", hint="list at least one k, e.g. [1]"
    )
    temperature: NonNegativeFloat = opt(0.6, "Sampling temperature for evaluation.", hint="0 means greedy")
    top_p: Probability = opt(0.95, "Nucleus threshold for evaluation.")
    max_new_tokens: PositiveInt | None = opt(
        None,
        "Response budget for evaluation; None uses rollout.max_new_tokens.",
        hint="or null to use rollout.max_new_tokens",
    )
    entropy: bool = opt(
        True,
        "Also log val/entropy: the policy's mean token entropy on its own held-out responses "
        "(one extra forward pass over them).",
    )
    on_bad_row: Literal["skip", "fail"] = opt(
        "skip",
        "A held-out problem that cannot be evaluated (a bad row, a prompt over the budget): skip it (reported "
        "in report.md and results.json) or fail (`mmrl eval --strict`), so that pass@k is over every problem.",
    )


@config_section
class LoggingConfig(Section):
    tensorboard: bool = opt(True, "Write TensorBoard event files under the run directory.")
    wandb: bool = opt(False, "Log to Weights & Biases (needs `pip install wandb`).")
    wandb_project: str = opt("mmrl", "wandb project name.")
    run_name: str | None = opt(None, "Run name for trackers; None uses the output directory name.")
    log_rollouts: bool = opt(True, "Write every step's rollouts to rollouts/step_N.jsonl.")
    progress_bar: bool = opt(True, "Show a progress bar on a terminal.")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = opt("INFO", "Log level.")


@config_section
class Config(Section):
    model: ModelConfig = subsection(ModelConfig, "Policy model and how it is loaded.")
    data: DataConfig = subsection(DataConfig, "Training data, prompt rendering and row validation.")
    rollout: RolloutConfig = subsection(RolloutConfig, "Sampling of responses during training.")
    algorithm: AlgorithmConfig = subsection(
        AlgorithmConfig, "Advantage estimator, policy loss, KL, DAPO rules, the estimators' parameters."
    )
    reward: RewardConfig = subsection(RewardConfig, "Verifiers and the scoring runner.")
    trainer: TrainerConfig = subsection(TrainerConfig, "Optimisation, batching, checkpoints.")
    eval: EvalConfig = subsection(EvalConfig, "In-training validation.")
    logging: LoggingConfig = subsection(LoggingConfig, "Metrics, trackers and rollout files.")


# --------------------------------------------------------------------------------------------
# Cross-field checks: one function, each message says what to change. Only features that are on
# are checked (a run without overlong shaping does not care about algorithm.overlong.*).
# --------------------------------------------------------------------------------------------


def _cross_checks(cfg: Config) -> list[str]:
    errors: list[str] = []
    t, r, e, d = cfg.trainer, cfg.rollout, cfg.eval, cfg.data
    if t.mini_batch_prompts is not None and t.prompts_per_step % t.mini_batch_prompts != 0:
        errors.append(
            f"trainer.mini_batch_prompts={t.mini_batch_prompts} must divide trainer.prompts_per_step="
            f"{t.prompts_per_step}; set it to a divisor (e.g. {t.prompts_per_step}) or null"
        )
    bad_k = [k for k in e.k if k > e.n]
    if bad_k and e.every > 0:  # eval.* is in-training validation: unused while it is off
        errors.append(
            f"eval.k={e.k} has values outside 1..eval.n={e.n}: {bad_k}; raise eval.n to {max(e.k)} or drop them"
        )
    if d.min_pixels > d.max_pixels:
        errors.append(f"data.min_pixels={d.min_pixels} must be <= data.max_pixels={d.max_pixels}")
    needed = d.max_prompt_length + r.max_new_tokens
    if r.engine in ("auto", "vllm") and r.vllm.max_model_len is not None and r.vllm.max_model_len < needed:
        errors.append(
            f"rollout.vllm.max_model_len={r.vllm.max_model_len} is below data.max_prompt_length + "
            f"rollout.max_new_tokens = {needed}; raise it or set it to null"
        )
    errors += _engine_checks(r.engine)
    errors += _reward_checks(cfg.reward)
    from mmrl.algos.settings import resolve_algorithm  # the registries import torch: only when checking

    try:
        settings = resolve_algorithm(cfg.algorithm, cfg.rollout)
    except ConfigError as exc:
        return errors + exc.errors
    if r.n < 2 and (settings.group_relative or settings.dynamic_sampling):
        why = (
            "dynamic sampling drops every group"
            if settings.dynamic_sampling
            else (f"{settings.estimator} gives every advantage 0")
        )
        errors.append(
            f"rollout.n={r.n}: with one sample per prompt {why}; set rollout.n >= 2 "
            "(e.g. 8) or use algorithm.name=w_reinforce without dynamic sampling"
        )
    if settings.overlong and settings.overlong_buffer_length > r.max_new_tokens:
        errors.append(
            f"algorithm.overlong.buffer_length={settings.overlong_buffer_length} must be in "
            f"1..rollout.max_new_tokens={r.max_new_tokens} when overlong shaping is on ({settings.preset}); "
            "lower it, or set algorithm.overlong.enable=false"
        )
    return errors


def _engine_checks(engine: str) -> list[str]:
    """A named engine must resolve now, not when the first rollout starts (``auto`` always does)."""
    if engine == "auto":
        return []
    from mmrl.plugins import PluginError
    from mmrl.rollout.base import ENGINES

    try:
        ENGINES.resolve(engine)
    except PluginError as exc:
        return [f"rollout.engine={engine!r}: {exc}"]
    return []


def _reward_checks(w: RewardConfig) -> list[str]:
    """With ``reward.functions`` the reward is the weighted sum the user wrote: the single-verifier
    settings (``verifier``, the accuracy/format blend, ``kwargs``) would be silently ignored."""
    if not w.functions:
        return []
    errors = []
    if w.verifier is not None:
        errors.append(
            f"reward.verifier={w.verifier!r} and reward.functions are both set; list the verifier in "
            f"reward.functions (e.g. {{fn: {w.verifier}, weight: 1.0}}) and set reward.verifier=null"
        )
    for key, value in (("accuracy_weight", w.accuracy_weight), ("format_weight", w.format_weight)):
        if value is not None:
            errors.append(
                f"reward.{key}={value} has no effect with reward.functions (the reward is their weighted sum); "
                "give each function its weight, e.g. [{fn: math, weight: 0.9}, {fn: format, weight: 0.1}], "
                f"and set reward.{key}=null"
            )
    if w.kwargs:
        errors.append(
            f"reward.kwargs={w.kwargs} with reward.functions: give each function its own, "
            "reward.functions[i].kwargs, and set reward.kwargs={}"
        )
    return errors


# --------------------------------------------------------------------------------------------
# The schema as the error messages and docs see it
# --------------------------------------------------------------------------------------------


def _parameter_sections(chosen: tuple[Any, ...] = ()) -> dict[str, type]:
    from mmrl.algos.registry import parameter_sections

    return parameter_sections(*chosen)


def _fields(cls: type) -> dict[str, tuple[dict[str, Any], Any]]:
    """``name -> (metadata, annotation with its extras)`` of a section; for ``algorithm``, its
    parameter sections take the place of the ``params`` field."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {f.name: (dict(f.metadata), hints[f.name]) for f in dataclasses.fields(cls)}
    if cls is AlgorithmConfig:
        del out["params"]
        for name, section_cls in _parameter_sections().items():
            out[name] = ({"doc": _first_line(section_cls.__doc__), "hint": None}, section_cls)
    return out


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _all_paths(cls: type | None = None, prefix: str = "") -> list[str]:
    cls = cls or Config
    paths = []
    for name, (_, tp) in _fields(cls).items():
        full = f"{prefix}{name}"
        paths.append(full)
        if _is_section(tp):
            paths.extend(_all_paths(tp, full + "."))
    return paths


#: Names users bring from verl, TRL and EasyR1 (and our own former names), mapped to ours.
_ALIASES = {
    "lr": "trainer.learning_rate",
    "learning_rate": "trainer.learning_rate",
    "train_batch_size": "trainer.prompts_per_step",
    "rollout_batch_size": "trainer.prompts_per_step",
    "ppo_mini_batch_size": "trainer.mini_batch_prompts",
    "micro_batch_size_per_gpu": "trainer.micro_batch_size",
    "total_training_steps": "trainer.max_steps",
    "num_generations": "rollout.n",
    "group_size": "rollout.n",
    "max_response_length": "rollout.max_new_tokens",
    "max_completion_length": "rollout.max_new_tokens",
    "max_tokens": "rollout.max_new_tokens",
    "clip_ratio": "algorithm.clip_ratio_low",
    "epsilon": "algorithm.clip_ratio_low",
    "epsilon_high": "algorithm.clip_ratio_high",
    "beta": "algorithm.kl_coef",
    "kl_loss_coef": "algorithm.kl_coef",
    "kl_loss_type": "algorithm.kl_estimator",
    "entropy_coeff": "algorithm.entropy_coef",
    "adv_estimator": "algorithm.estimator",
    "loss_type": "algorithm.loss_agg_mode",
    "grad_clip": "trainer.max_grad_norm",
    "save_freq": "trainer.save_every",
    "test_freq": "eval.every",
    "val_freq": "eval.every",
    "w_reinforce_lambda": "algorithm.w_reinforce.lam",
}


def _section_at(prefix: str) -> type | None:
    """The section at ``prefix``; ``reward.functions[0]`` is an item of a list of sections."""
    cls: Any = Config
    for part in prefix.split(".") if prefix else []:
        name, _, index = part.partition("[")
        fields = _fields(cls)
        if name not in fields:
            return None
        tp = fields[name][1]
        if index and typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        if not _is_section(tp):
            return None
        cls = tp
    return cls


def _unknown_key_message(path: str) -> str:
    prefix, _, leaf = path.rpartition(".")
    near: str | None = _ALIASES.get(leaf)
    section = _section_at(prefix)
    if near is None and section is not None:
        match = difflib.get_close_matches(leaf, list(_fields(section)), n=1, cutoff=0.6)
        if match:
            near = f"{prefix}.{match[0]}" if prefix else match[0]
    if near is None:
        leaves = [p for p in _all_paths() if not _is_section(_annotation_at(p))]
        same_leaf = [p for p in leaves if p.rsplit(".", 1)[-1] == leaf]
        match = same_leaf[:1] or difflib.get_close_matches(path, leaves, n=1, cutoff=0.6)
        if not match:
            by_leaf = difflib.get_close_matches(leaf, [p.rsplit(".", 1)[-1] for p in leaves], n=1, cutoff=0.7)
            match = [p for p in leaves if by_leaf and p.rsplit(".", 1)[-1] == by_leaf[0]][:1]
        near = match[0] if match else None
    hint = f"; did you mean {near!r}?" if near else "; see `mmrl config show --docs` for every key"
    return f"unknown key {path!r}{hint}"


def _annotation_at(path: str) -> Any:
    tp: Any = Config
    for part in path.split("."):
        tp = _fields(tp)[part][1]
    return tp


def _type_name(tp: Any) -> str:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin is dict:
        args = typing.get_args(tp)
        return f"dict[{_type_name(args[0])}, {_type_name(args[1])}]" if args else "dict"
    if tp is Any:
        return "any"
    if _is_section(tp):
        return "section"
    return getattr(tp, "__name__", str(tp))


# --------------------------------------------------------------------------------------------
# pydantic's errors as ours: field, value, what is allowed
# --------------------------------------------------------------------------------------------

_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_LENGTH_ERRORS = {"too_short", "too_long", "string_too_short"}


def _bounds(tp: Any) -> dict[str, Any]:
    """The ``ge``/``gt``/``le``/``lt``/``min_length``/``max_length`` constraints on an annotation
    (on the non-null member of an optional one)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        found = [_bounds(member) for member in typing.get_args(tp) if member is not type(None)]
        return found[0] if len(found) == 1 else {}
    out: dict[str, Any] = {}
    while typing.get_origin(tp) is Annotated:
        tp, *extras = typing.get_args(tp)
        for extra in extras:
            for item in getattr(extra, "metadata", [extra]):
                for key in ("ge", "gt", "le", "lt", "min_length", "max_length"):
                    if getattr(item, key, None) is not None:
                        out[key] = getattr(item, key)
    return out


def _range_text(bounds: dict[str, Any]) -> str:
    low = ("[", bounds["ge"]) if "ge" in bounds else ("(", bounds["gt"]) if "gt" in bounds else None
    high = ("]", bounds["le"]) if "le" in bounds else (")", bounds["lt"]) if "lt" in bounds else None
    if low and high:
        return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low:
        return f"{'>=' if low[0] == '[' else '>'} {low[1]}"
    assert high is not None
    return f"{'<=' if high[0] == ']' else '<'} {high[1]}"


def _locate(loc: tuple[Any, ...], prefix: str, root: type) -> tuple[str, Any, dict[str, Any]]:
    """The config path of an error location, the annotation there and its field's metadata.

    Union member tags and validator names in ``loc`` end the walk (they are not config keys).
    """
    path, tp, meta = prefix, root, {}
    for part in loc:
        inner = _members(tp)
        base = next((m for m in inner if m is not type(None)), tp)
        if _is_section(base) and isinstance(part, str) and part in _fields(base):
            meta, tp = _fields(base)[part]
            path = f"{path}.{part}" if path else part
        elif typing.get_origin(base) is list and isinstance(part, int):
            tp, meta = typing.get_args(base)[0], {**meta}
            path = f"{path}[{part}]"
        elif typing.get_origin(base) is dict and isinstance(part, str):
            tp, meta = typing.get_args(base)[1], {}
            path = f"{path}.{part}"
        else:
            break
    return path, tp, meta


def _show(value: Any, tp: Any) -> str:
    """A value as the field holds it: ``0`` or YAML's string ``'1e-6'`` given for a float reads back
    as ``0.0`` and ``1e-06``."""
    if float in _members(tp) and not isinstance(value, bool):
        try:
            return str(float(value))
        except (TypeError, ValueError):
            pass
    return repr(value) if isinstance(value, str) else str(value)


def _messages(exc: ValidationError, prefix: str = "", root: type = Config) -> list[str]:
    out: list[str] = []
    reported: set[str] = set()
    for error in exc.errors():
        path, tp, meta = _locate(tuple(error["loc"]), prefix, root)
        kind, value = error["type"], error.get("input")
        hint = f" ({meta['hint']})" if meta.get("hint") else ""
        if kind == "unexpected_keyword_argument":
            parent = _locate(tuple(error["loc"])[:-1], prefix, root)[0]
            path = f"{parent}.{error['loc'][-1]}" if parent else str(error["loc"][-1])
            message = _unknown_key_message(path)
        elif kind == "literal_error":
            choices = [a for m in _members(tp) if typing.get_origin(m) is Literal for a in typing.get_args(m)]
            by_lower = {str(c).lower(): c for c in choices}
            near = difflib.get_close_matches(str(value).lower(), list(by_lower), n=1)
            did_you_mean = f"; did you mean {by_lower[near[0]]!r}?" if near and isinstance(value, str) else ""
            message = f"{path}={value!r} is not one of {', '.join(repr(c) for c in choices)}{did_you_mean}"
        elif kind == "missing":
            message = f"{path} is required{hint}"
        elif kind == "finite_number":
            message = f"{path}={value} must be a finite number (NaN and infinity are not allowed)"
        elif kind in _RANGE_ERRORS:
            bounds = _bounds(tp) or {key: error["ctx"][key] for key in error.get("ctx", {})}
            message = f"{path}={_show(value, tp)} must be {_range_text(bounds)}{hint}"
        elif kind in _LENGTH_ERRORS:
            bounds = _bounds(tp)
            low, high = bounds.get("min_length"), bounds.get("max_length")
            size = (
                f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low}..{high}"
            )
            noun = "character" if kind == "string_too_short" else "item"
            plural = "" if size.endswith(" 1") else "s"
            message = f"{path}={value!r} must have {size} {noun}{plural}{hint}"
        elif kind == "bool_is_not_a_number" or kind.endswith(("_parsing", "_type", "_from_float")):
            message = f"{path} expects {_type_name(tp)}, got {value!r} ({type(value).__name__})"
        else:
            message = f"{path}: {error['msg']} (got {value!r})"
        if path not in reported:  # a union reports each member's failure; one message per field
            reported.add(path)
            out.append(message)
    return out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

_ADAPTERS: dict[type, TypeAdapter] = {}


def _validate(cls: type[S], data: dict[str, Any], prefix: str = "") -> tuple[S | None, list[str]]:
    adapter = _ADAPTERS.setdefault(cls, TypeAdapter(cls))
    try:
        return adapter.validate_python(data), []
    except ValidationError as exc:
        return None, _messages(exc, prefix, cls)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The tree as plain dicts/lists/scalars (what ``save_config`` writes); the algorithm's
    parameter sections are written as ``algorithm.<name>``."""
    data = dataclasses.asdict(cfg)
    algorithm = (
        data["algorithm"] if isinstance(cfg, Config) else data if isinstance(cfg, AlgorithmConfig) else None
    )
    if algorithm is not None:
        algorithm.update(algorithm.pop("params"))
    return data


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a ``Config`` from a (possibly partial) nested dict."""
    if not isinstance(data, dict):
        raise ConfigError(f"the configuration must be a mapping of sections, got {type(data).__name__}")
    data = _deepcopy(data)
    errors: list[str] = []
    algorithm = data.get("algorithm")
    given: dict[str, Any] = {}
    if isinstance(algorithm, dict):
        # the parameter sections: those of every registered estimator, and of the chosen one
        sections = _parameter_sections((algorithm.get("name"), algorithm.get("estimator")))
        given = {key: algorithm.pop(key) for key in list(algorithm) if key in sections}
        if "params" in algorithm:
            del algorithm["params"]
            errors.append("unknown key 'algorithm.params'; write parameters as algorithm.<section>.<name>")
    cfg, tree_errors = _validate(Config, data)
    errors += tree_errors
    params: dict[str, Any] = {}
    for key, value in given.items():
        params[key], section_errors = _validate(sections[key], value, f"algorithm.{key}")
        if section_errors and key != _chosen_section(algorithm):
            note = f"algorithm.{key} is not used by algorithm.name={algorithm.get('name', _DEFAULT_PRESET)!r}"
            section_errors = [f"{e} ({note}: fix the value or drop it)" for e in section_errors]
        errors += section_errors
    if errors or cfg is None:
        raise ConfigError(errors)
    if params:
        algorithm_cfg = dataclasses.replace(cfg.algorithm, params={**cfg.algorithm.params, **params})
        cfg = dataclasses.replace(cfg, algorithm=algorithm_cfg)
    errors = _cross_checks(cfg)
    if errors:
        raise ConfigError(errors)
    return cfg


def _chosen_section(algorithm: dict[str, Any]) -> str | None:
    """The parameter section the chosen preset or estimator reads, if it resolves (else ``None``:
    the cross-field checks report the unknown name)."""
    from mmrl.algos.registry import PRESETS, get_estimator_spec

    try:
        estimator = (
            algorithm.get("estimator") or PRESETS.resolve(algorithm.get("name", _DEFAULT_PRESET)).estimator
        )
        params = get_estimator_spec(estimator).params
    except Exception:  # an unknown name is reported by resolve_algorithm with its own message
        return None
    return None if params is None else params.section_name


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"_base_ cycle: {chain}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of sections (model:, data:, ...), got {type(data).__name__}"
        )
    bases = data.pop("_base_", None)
    if bases is None:
        return data
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else list(bases):
        merged = _merge(merged, _read_yaml(path.parent / base, (*seen, path)))
    return _merge(merged, data)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value (e.g. trainer.max_steps=10)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key; write it as section.field=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- YAML file (with ``_base_`` inheritance) <- ``a.b=c`` overrides, validated."""
    data: dict[str, Any] = config_to_dict(Config())
    if path is not None:
        data = _merge(data, _read_yaml(Path(path)))
    for text in overrides:
        parts, value = _parse_override(text)
        _set_path(data, parts, value)
    return config_from_dict(data)


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """A new config with ``a.b=c`` overrides applied (the original is unchanged)."""
    data = config_to_dict(cfg)
    for text in overrides:
        parts, value = _parse_override(text)
        _set_path(data, parts, value)
    return config_from_dict(data)


def _children(obj: Any) -> list[tuple[str, str, Any]]:
    """``(name, doc, value)`` of a section instance, parameter sections included."""
    docs = _fields(type(obj))
    out = [(f.name, f.metadata.get("doc", ""), getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    if isinstance(obj, AlgorithmConfig):
        out = [c for c in out if c[0] != "params"]
        out += [
            (name, docs[name][0]["doc"] if name in docs else "", value) for name, value in obj.params.items()
        ]
    return out


def config_to_yaml(cfg: Config, docs: bool = False) -> str:
    """YAML text of the resolved tree; with ``docs=True`` each field is preceded by its doc."""
    if not docs:
        return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None, width=120)
    lines: list[str] = []

    def emit(obj: Any, indent: int) -> None:
        pad = "  " * indent
        for name, doc, value in _children(obj):
            if doc:
                lines.append(f"{pad}# {doc}")
            if dataclasses.is_dataclass(value):
                lines.append(f"{pad}{name}:")
                emit(value, indent + 1)
            else:
                if isinstance(value, list):  # reward.functions: sections in a list
                    value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
                dumped = yaml.safe_dump({name: value}, default_flow_style=True, width=10_000).strip()
                lines.append(f"{pad}{dumped[1:-1] if dumped.startswith('{') else dumped}")

    emit(cfg, 0)
    return "\n".join(lines) + "\n"


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved tree as YAML; ``load_config(path)`` gives back an equal ``Config``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_to_yaml(cfg))
    return path


def field_docs() -> dict[str, str]:
    """``{"trainer.max_steps": "Number of RL steps ...", ...}`` for every field of the tree."""

    def walk(cls: type, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (meta, tp) in _fields(cls).items():
            full = f"{prefix}{name}"
            out[full] = meta.get("doc", "")
            if _is_section(tp):
                out.update(walk(tp, full + "."))
        return out

    return walk(Config, "")
