"""One typed configuration tree for every mmrl command.

Every field below has its default and a one-line doc in exactly one place. A run's configuration
is built as: defaults -> a YAML file (optionally inheriting others through ``_base_``) ->
``a.b=c`` command-line overrides. Validation is loud and early: an unknown key names the nearest
valid key, a wrong type names the field, the expected type and the value, and cross-field checks
say what to change. The resolved tree is saved with the run and reloads to an equal object.

    >>> cfg = load_config(None, ["trainer.max_steps=3", "rollout.n=4"])
    >>> cfg.trainer.max_steps, cfg.rollout.n
    (3, 4)

Sections: ``model``, ``data``, ``rollout``, ``algorithm``, ``reward``, ``trainer``, ``eval``,
``logging``. Code reads fields directly (``cfg.rollout.n``); it never uses ``.get(key, default)``.
Values derived from several fields are computed by the function that needs them, from this tree.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

__all__ = [
    "Config",
    "ConfigError",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "config_to_yaml",
    "field_docs",
    "load_config",
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


def opt(default: Any, doc: str) -> Any:
    """A config field with its default and one-line doc (mutable defaults are copied per use)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: _deepcopy(d), metadata={"doc": doc})
    if dataclasses.is_dataclass(default):
        return field(default_factory=lambda d=default: dataclasses.replace(d), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


def section(cls: type, doc: str) -> Any:
    return field(default_factory=cls, metadata={"doc": doc})


def _deepcopy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deepcopy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoraConfig:
    rank: int = opt(0, "LoRA rank; 0 trains all weights (no LoRA).")
    alpha: int = opt(32, "LoRA scaling alpha.")
    dropout: float = opt(0.0, "Dropout on the LoRA branch.")
    target_modules: str | list[str] = opt("all-linear", "Modules that get adapters (peft syntax).")
    exclude_vision: bool = opt(True, "Never put adapters on the vision tower (vLLM cannot serve them).")


@dataclass(frozen=True)
class ModelConfig:
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
        "Attention kernel passed to transformers ('sdpa', 'eager', 'flash_attention_2'); None lets it choose.",
    )
    gradient_checkpointing: bool = opt(False, "Recompute activations in backward to save memory.")
    trust_remote_code: bool = opt(False, "Allow model code from the checkpoint (off unless you trust it).")
    freeze_vision_tower: bool = opt(False, "Do not train the vision encoder of a VLM.")
    lora: LoraConfig = section(LoraConfig, "Low-rank adapters (peft).")
    logprob_chunk_size: int = opt(
        256, "Response tokens projected to the vocabulary at once when computing log-probs (bounds memory)."
    )


@dataclass(frozen=True)
class DataConfig:
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
    limit: int | None = opt(None, "Use only the first N valid rows (reading stops there); None uses all.")
    shuffle: bool = opt(True, "Shuffle training prompts each epoch (seeded by trainer.seed).")
    max_prompt_length: int = opt(
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
    max_bad_fraction: float = opt(
        0.05, "With on_bad_row=skip, fail when more than this fraction of rows is bad."
    )
    allow_remote_images: bool = opt(False, "Allow http(s) image URLs in rows (refused by default).")


@dataclass(frozen=True)
class VllmConfig:
    gpu_memory_utilization: float = opt(
        0.5, "Fraction of GPU memory vLLM may take (it shares the GPU with training)."
    )
    tensor_parallel_size: int = opt(1, "vLLM tensor parallel degree within a node.")
    enable_sleep_mode: bool = opt(
        True, "Release vLLM memory during the update phase (sleep/wake) when supported."
    )
    max_model_len: int | None = opt(
        None, "vLLM context length; None uses max_prompt_length + max_new_tokens."
    )
    enforce_eager: bool | None = opt(
        None,
        "Run vLLM eagerly (no torch.compile / CUDA graphs: slower decoding, faster start); None: eager on "
        "a CPU (compiling takes about 2 minutes there for 18% faster decoding), compiled on a GPU.",
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


@dataclass(frozen=True)
class RolloutConfig:
    engine: Literal["auto", "hf", "vllm"] = opt(
        "auto",
        "Generation engine: 'vllm' (fast), 'hf' (transformers, any device), or 'auto': vllm where it is "
        "installed, else hf.",
    )
    n: int = opt(8, "Samples per prompt (the group size G).")
    temperature: float = opt(1.0, "Sampling temperature.")
    top_p: float = opt(1.0, "Nucleus sampling threshold; 1.0 disables it.")
    top_k: int = opt(0, "Top-k sampling; 0 disables it (top-k over a 150k vocabulary is slow).")
    max_new_tokens: int = opt(512, "Maximum response length in tokens.")
    stop: list[str] = opt([], "Extra stop strings (the end-of-sequence token always stops).")
    batch_size: int = opt(64, "Sequences per generation call of the 'hf' engine.")
    hf_cache: Literal["auto", "dynamic", "static"] = opt(
        "auto", "KV cache of the 'hf' engine; 'auto': static for text models on CUDA, else dynamic."
    )
    sync_probe_threshold: float = opt(
        0.1, "Warn when mean |engine logprob - trainer logprob| on sampled tokens exceeds this after a sync."
    )
    vllm: VllmConfig = section(VllmConfig, "Options of the vLLM engine.")


@dataclass(frozen=True)
class AGraeConfig:
    alpha: float = opt(
        1.0,
        "A-GRAE attenuation scale: positive advantages are multiplied by min(1, omega/alpha); alpha <= 1.",
    )
    easy_divisor: Literal["sqrt_one_minus_p", "one_minus_sqrt_p"] = opt(
        "sqrt_one_minus_p",
        "Easy-focus divisor: the paper's sqrt(1-p), or the released code's 1-sqrt(p).",
    )


@dataclass(frozen=True)
class DynamicSamplingConfig:
    enable: bool | None = opt(
        None,
        "Drop groups whose outcomes are all equal and generate more until the batch is full (DAPO); "
        "None follows the preset.",
    )
    max_rounds: int = opt(10, "Most generation rounds per step before training on what there is.")


@dataclass(frozen=True)
class OverlongConfig:
    enable: bool | None = opt(None, "Soft overlong punishment (DAPO); None follows the preset.")
    buffer_length: int = opt(128, "L_cache: the penalty ramps from 0 to -1 over the last this many tokens.")
    penalty_factor: float = opt(1.0, "Scale of the overlong penalty.")


@dataclass(frozen=True)
class AlgorithmConfig:
    name: Literal[
        "grpo", "dr_grpo", "dapo", "rloo", "w_reinforce", "grpo+a_grae", "dr_grpo+a_grae", "dapo+a_grae"
    ] = opt("grpo+a_grae", "Preset (estimator + loss + DAPO rules); docs/papers.md lists each one's paper.")
    estimator: str | None = opt(
        None, "Advantage estimator override: a registered name or 'pkg.module:fn'; None uses the preset's."
    )
    loss_agg_mode: (
        Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"] | None
    ) = opt(None, "Loss aggregation override; None uses the preset's.")
    loss_scale_factor: float | None = opt(
        None, "Constant divisor of 'seq-mean-token-sum-norm'; None uses rollout.max_new_tokens."
    )
    clip_ratio_low: float | None = opt(None, "PPO clip epsilon below 1; None uses the preset's (0.2).")
    clip_ratio_high: float | None = opt(
        None,
        "PPO clip epsilon above 1 (clip-higher); None uses the preset's: 0.28 for dapo*, else clip_ratio_low.",
    )
    clip_ratio_c: float | None = opt(None, "Dual-clip constant for negative advantages; None disables it.")
    kl_coef: float = opt(0.0, "Weight of the KL-to-reference term in the loss; 0 loads no reference model.")
    kl_estimator: Literal["k1", "k2", "k3", "low_var_kl"] = opt(
        "low_var_kl", "KL estimator (k3 = low_var_kl)."
    )
    entropy_coef: float = opt(0.0, "Entropy bonus weight (the loss subtracts entropy_coef * token entropy).")
    tis_cap: float | None = opt(
        None, "Truncated importance weight cap for engine/trainer logprob mismatch; None disables it."
    )
    w_reinforce_lambda: float = opt(
        0.1, "W-REINFORCE weight of correct samples (+lambda correct, -1 incorrect)."
    )
    a_grae: AGraeConfig = section(AGraeConfig, "A-GRAE parameters (used by the *+a_grae presets).")
    dynamic_sampling: DynamicSamplingConfig = section(DynamicSamplingConfig, "DAPO dynamic sampling.")
    overlong: OverlongConfig = section(OverlongConfig, "DAPO soft overlong punishment.")


@dataclass(frozen=True)
class RewardConfig:
    verifier: str | None = opt(
        None,
        "Verifier for every example: a registered name, 'pkg.module:fn' or 'file.py:fn'; None uses Example.task.",
    )
    accuracy_weight: float = opt(0.9, "Weight of accuracy in the combined reward.")
    format_weight: float = opt(0.1, "Weight of the <think>...</think> format check; 0 turns it off.")
    timeout_s: float = opt(5.0, "Hard per-response scoring timeout in seconds (the worker is killed).")
    num_workers: int = opt(
        2,
        "Scoring worker processes; 0 scores built-in verifiers in-process (they bound their own time) "
        "and still runs custom ones in one worker under the timeout.",
    )
    on_failure: Literal["mask", "zero", "raise"] = opt(
        "mask", "Timeouts and errors: mask (reward None, left out of the baseline), zero, or raise."
    )
    max_error_rate: float = opt(0.2, "Raise when more than this fraction of a batch errors or times out.")
    kwargs: dict[str, Any] = opt(
        {}, "Extra keyword arguments passed to every verifier call (use with one custom verifier)."
    )
    score_truncated: bool = opt(
        False,
        "Score responses cut at rollout.max_new_tokens like any other (verl and TRL do); by default a "
        "truncated response has no final answer and gets reward 0 (status unparsable_pred).",
    )


@dataclass(frozen=True)
class TrainerConfig:
    output_dir: str = opt("runs/mmrl", "Run directory: config, metrics, rollouts, checkpoints, final model.")
    max_steps: int = opt(100, "Number of RL steps (one rollout batch each).")
    prompts_per_step: int = opt(8, "Prompts sampled per step; each gets rollout.n responses.")
    mini_batch_prompts: int | None = opt(
        None,
        "Prompts per optimizer step; None makes one optimizer step per RL step. Must divide prompts_per_step.",
    )
    micro_batch_size: int = opt(
        4, "Sequences per forward/backward pass (gradient accumulation splits the rest)."
    )
    max_tokens_per_micro_batch: int | None = opt(
        None, "Also cap a micro-batch at this many prompt+response tokens; None caps by count only."
    )
    learning_rate: float = opt(1e-6, "AdamW learning rate.")
    weight_decay: float = opt(0.0, "AdamW weight decay.")
    adam_betas: list[float] = opt([0.9, 0.999], "AdamW betas.")
    warmup_steps: int = opt(0, "Linear warm-up, in RL steps (the learning rate ramps from 0).")
    lr_scheduler: Literal["constant", "linear", "cosine"] = opt("constant", "Schedule after warm-up.")
    max_grad_norm: float = opt(1.0, "Gradient clipping norm; 0 disables clipping.")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = opt(
        "auto",
        "accelerate mixed precision (autocast; weights stay float32); 'auto' is bf16 where bf16 matrix "
        "products are fast (CUDA, CPUs with AVX512-BF16/AMX), else 'no'.",
    )
    seed: int = opt(0, "Seed for data order, sampling and initialisation.")
    save_every: int = opt(0, "Checkpoint every N steps; 0 saves only at the end.")
    keep_last: int = opt(
        2, "Keep this many complete checkpoints; older ones are deleted after a new one completes."
    )
    resume: str = opt("auto", "'auto' (newest complete checkpoint), 'never', or a checkpoint directory.")
    max_consecutive_nonfinite: int = opt(
        3, "Abort after this many steps in a row with a non-finite loss or gradient."
    )
    save_final: bool = opt(True, "Write final/ as a plain Hugging Face checkpoint at the end.")
    merge_lora: bool = opt(True, "Merge LoRA adapters into final/ (otherwise save the adapter).")


@dataclass(frozen=True)
class EvalConfig:
    every: int = opt(0, "Validate every N training steps; 0 disables in-training validation.")
    before_train: bool = opt(False, "Also validate before the first step.")
    recipe: str | None = opt(None, "Held-out dataset; None uses data.recipe.")
    path: str | None = opt(
        None, "Local files for the eval recipe; None uses data.path when the recipe is the same."
    )
    options: dict[str, Any] | None = opt(
        None, "Recipe options of the held-out set; None uses data.options when the recipe is the same."
    )
    split: str = opt("test", "Held-out split.")
    limit: int | None = opt(64, "Evaluate at most this many problems; None uses all.")
    n: int = opt(1, "Samples per problem.")
    k: list[int] = opt([1], "pass@k values to report (each <= n).")
    temperature: float = opt(0.6, "Sampling temperature for evaluation.")
    top_p: float = opt(0.95, "Nucleus threshold for evaluation.")
    max_new_tokens: int | None = opt(
        None, "Response budget for evaluation; None uses rollout.max_new_tokens."
    )


@dataclass(frozen=True)
class LoggingConfig:
    tensorboard: bool = opt(True, "Write TensorBoard event files under the run directory.")
    wandb: bool = opt(False, "Log to Weights & Biases (needs `pip install wandb`).")
    wandb_project: str = opt("mmrl", "wandb project name.")
    run_name: str | None = opt(None, "Run name for trackers; None uses the output directory name.")
    log_rollouts: bool = opt(True, "Write every step's rollouts to rollouts/step_N.jsonl.")
    progress_bar: bool = opt(True, "Show a progress bar on a terminal.")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = opt("INFO", "Log level.")


@dataclass(frozen=True)
class Config:
    model: ModelConfig = section(ModelConfig, "Policy model and how it is loaded.")
    data: DataConfig = section(DataConfig, "Training data, prompt rendering and row validation.")
    rollout: RolloutConfig = section(RolloutConfig, "Sampling of responses during training.")
    algorithm: AlgorithmConfig = section(AlgorithmConfig, "Advantage estimator, policy loss, KL, DAPO rules.")
    reward: RewardConfig = section(RewardConfig, "Verifiers and the scoring runner.")
    trainer: TrainerConfig = section(TrainerConfig, "Optimisation, batching, checkpoints.")
    eval: EvalConfig = section(EvalConfig, "In-training validation.")
    logging: LoggingConfig = section(LoggingConfig, "Metrics, trackers and rollout files.")


# --------------------------------------------------------------------------------------------
# Cross-field checks: one function, each message says what to change.
# --------------------------------------------------------------------------------------------


def _cross_checks(cfg: Config) -> list[str]:
    errors: list[str] = []
    t, r, e, a, d = cfg.trainer, cfg.rollout, cfg.eval, cfg.algorithm, cfg.data
    positive = {
        "trainer.max_steps": t.max_steps,
        "trainer.prompts_per_step": t.prompts_per_step,
        "trainer.micro_batch_size": t.micro_batch_size,
        "rollout.n": r.n,
        "rollout.max_new_tokens": r.max_new_tokens,
        "rollout.batch_size": r.batch_size,
        "data.max_prompt_length": d.max_prompt_length,
        "eval.n": e.n,
    }
    for name, value in positive.items():
        if value < 1:
            errors.append(f"{name}={value} must be >= 1")
    if t.mini_batch_prompts is not None:
        if t.mini_batch_prompts < 1 or t.prompts_per_step % t.mini_batch_prompts != 0:
            errors.append(
                f"trainer.mini_batch_prompts={t.mini_batch_prompts} must divide trainer.prompts_per_step="
                f"{t.prompts_per_step}; set it to a divisor (e.g. {t.prompts_per_step}) or null"
            )
    if t.max_tokens_per_micro_batch is not None and t.max_tokens_per_micro_batch < 1:
        errors.append(
            f"trainer.max_tokens_per_micro_batch={t.max_tokens_per_micro_batch} must be >= 1 or null"
        )
    if t.keep_last < 1:
        errors.append(f"trainer.keep_last={t.keep_last} must be >= 1 (the newest checkpoint is always kept)")
    if t.save_every < 0 or e.every < 0:
        errors.append("trainer.save_every and eval.every must be >= 0 (0 turns them off)")
    if len(t.adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in t.adam_betas):
        errors.append(f"trainer.adam_betas={t.adam_betas} must be two numbers in [0, 1)")
    if t.learning_rate < 0:
        errors.append(f"trainer.learning_rate={t.learning_rate} must be >= 0")
    if t.max_consecutive_nonfinite < 1:
        errors.append(f"trainer.max_consecutive_nonfinite={t.max_consecutive_nonfinite} must be >= 1")
    for name, value in (
        ("trainer.warmup_steps", t.warmup_steps),
        ("trainer.max_grad_norm", t.max_grad_norm),
        ("trainer.weight_decay", t.weight_decay),
    ):
        if value < 0:
            errors.append(f"{name}={value} must be >= 0")
    if e.limit is not None and e.limit < 1:
        errors.append(f"eval.limit={e.limit} must be >= 1, or null to evaluate every problem")
    if e.max_new_tokens is not None and e.max_new_tokens < 1:
        errors.append(
            f"eval.max_new_tokens={e.max_new_tokens} must be >= 1, or null to use rollout.max_new_tokens"
        )
    if t.resume not in ("auto", "never") and not t.resume:
        errors.append("trainer.resume must be 'auto', 'never' or a checkpoint directory")
    if not e.k:
        errors.append("eval.k must list at least one k, e.g. [1]")
    bad_k = [k for k in e.k if k < 1 or k > e.n]
    if bad_k:
        errors.append(
            f"eval.k={e.k} has values outside 1..eval.n={e.n}: {bad_k}; raise eval.n to {max(e.k)} or drop them"
        )
    for name, value in (("rollout.temperature", r.temperature), ("eval.temperature", e.temperature)):
        if value < 0:
            errors.append(f"{name}={value} must be >= 0 (0 means greedy)")
    for name, value in (("rollout.top_p", r.top_p), ("eval.top_p", e.top_p)):
        if not 0.0 < value <= 1.0:
            errors.append(f"{name}={value} must be in (0, 1]")
    if r.top_k < 0:
        errors.append(f"rollout.top_k={r.top_k} must be >= 0 (0 disables it)")
    if d.min_pixels > d.max_pixels:
        errors.append(f"data.min_pixels={d.min_pixels} must be <= data.max_pixels={d.max_pixels}")
    if not 0.0 <= d.max_bad_fraction <= 1.0:
        errors.append(f"data.max_bad_fraction={d.max_bad_fraction} must be in [0, 1]")
    if d.limit is not None and d.limit < 1:
        errors.append(f"data.limit={d.limit} must be >= 1, or null to use every row")
    if not 0.0 < a.a_grae.alpha <= 1.0:
        errors.append(
            f"algorithm.a_grae.alpha={a.a_grae.alpha} must be in (0, 1] (the paper requires alpha <= 1)"
        )
    if a.kl_coef < 0:
        errors.append(f"algorithm.kl_coef={a.kl_coef} must be >= 0")
    for name, value in (
        ("algorithm.clip_ratio_low", a.clip_ratio_low),
        ("algorithm.clip_ratio_high", a.clip_ratio_high),
    ):
        if value is not None and value <= 0:
            errors.append(f"{name}={value} must be > 0")
    if a.clip_ratio_low is not None and a.clip_ratio_low >= 1.0:
        errors.append(
            f"algorithm.clip_ratio_low={a.clip_ratio_low} must be < 1 (the ratio is clipped at 1 - it)"
        )
    if a.loss_scale_factor is not None and a.loss_scale_factor <= 0:
        errors.append(f"algorithm.loss_scale_factor={a.loss_scale_factor} must be > 0 or null")
    if a.entropy_coef < 0:
        errors.append(f"algorithm.entropy_coef={a.entropy_coef} must be >= 0 (it is a bonus)")
    if a.w_reinforce_lambda <= 0:
        errors.append(f"algorithm.w_reinforce_lambda={a.w_reinforce_lambda} must be > 0 (the paper uses 0.1)")
    if a.overlong.penalty_factor < 0:
        errors.append(f"algorithm.overlong.penalty_factor={a.overlong.penalty_factor} must be >= 0")
    if a.clip_ratio_c is not None and a.clip_ratio_c <= 1.0:
        errors.append(f"algorithm.clip_ratio_c={a.clip_ratio_c} must be > 1 (verl uses 3.0) or null")
    if a.tis_cap is not None and a.tis_cap <= 0:
        errors.append(f"algorithm.tis_cap={a.tis_cap} must be > 0 or null")
    if a.overlong.buffer_length < 1 or a.overlong.buffer_length > r.max_new_tokens:
        errors.append(
            f"algorithm.overlong.buffer_length={a.overlong.buffer_length} must be in 1..rollout.max_new_tokens="
            f"{r.max_new_tokens}"
        )
    if a.dynamic_sampling.max_rounds < 1:
        errors.append(f"algorithm.dynamic_sampling.max_rounds={a.dynamic_sampling.max_rounds} must be >= 1")
    if cfg.reward.timeout_s <= 0:
        errors.append(f"reward.timeout_s={cfg.reward.timeout_s} must be > 0")
    if cfg.reward.num_workers < 0:
        errors.append(f"reward.num_workers={cfg.reward.num_workers} must be >= 0 (0 scores in-process)")
    if not 0.0 <= cfg.reward.max_error_rate <= 1.0:
        errors.append(f"reward.max_error_rate={cfg.reward.max_error_rate} must be in [0, 1]")
    if cfg.reward.accuracy_weight < 0 or cfg.reward.format_weight < 0:
        errors.append("reward.accuracy_weight and reward.format_weight must be >= 0")
    if r.vllm.tensor_parallel_size < 1:
        errors.append(f"rollout.vllm.tensor_parallel_size={r.vllm.tensor_parallel_size} must be >= 1")
    if cfg.model.logprob_chunk_size < 1:
        errors.append(f"model.logprob_chunk_size={cfg.model.logprob_chunk_size} must be >= 1 (e.g. 256)")
    if r.sync_probe_threshold <= 0:
        errors.append(f"rollout.sync_probe_threshold={r.sync_probe_threshold} must be > 0 (e.g. 0.1)")
    if not 0.0 < r.vllm.gpu_memory_utilization <= 1.0:
        errors.append(
            f"rollout.vllm.gpu_memory_utilization={r.vllm.gpu_memory_utilization} must be in (0, 1]"
        )
    if r.vllm.max_model_len is not None and r.vllm.max_model_len < d.max_prompt_length + r.max_new_tokens:
        errors.append(
            f"rollout.vllm.max_model_len={r.vllm.max_model_len} is below data.max_prompt_length + "
            f"rollout.max_new_tokens = {d.max_prompt_length + r.max_new_tokens}; raise it or set it to null"
        )
    return errors


# --------------------------------------------------------------------------------------------
# Building the tree from dicts, with type checks
# --------------------------------------------------------------------------------------------

_NONE_STRINGS = {"none", "null", "~"}


def _type_name(tp: Any) -> str:
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
    if dataclasses.is_dataclass(tp):
        return "section"
    return getattr(tp, "__name__", str(tp))


class _TypeMismatch(Exception):
    pass


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Return ``value`` as type ``tp`` or raise ``_TypeMismatch``/``ConfigError``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_STRINGS):
            if type(None) in args:
                return None
        members = [a for a in args if a is not type(None)]
        # A value that already has one of the member types keeps it ('all-linear' stays a str);
        # otherwise try coercions with strings last so '3' becomes an int where int is allowed.
        for member in members:
            base = typing.get_origin(member) or member
            if (
                isinstance(base, type)
                and isinstance(value, base)
                and not (base is int and isinstance(value, bool))
            ):
                try:
                    return _coerce(value, member, path)
                except _TypeMismatch:
                    pass
        members.sort(key=lambda a: a is str)
        for member in members:
            try:
                return _coerce(value, member, path)
            except _TypeMismatch:
                continue
        raise _TypeMismatch
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        if isinstance(value, str):
            near = difflib.get_close_matches(value, [str(c) for c in choices], n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
        else:
            hint = ""
        raise ConfigError(f"{path}={value!r} is not one of {', '.join(repr(c) for c in choices)}{hint}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _TypeMismatch
        return _build(tp, value, path)
    if origin in (list, tuple) or tp in (list, tuple):
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if value.strip() else []
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise _TypeMismatch
        if not args:
            return list(value)
        out = []
        for i, item in enumerate(value):
            try:
                out.append(_coerce(item, args[0], f"{path}[{i}]"))
            except _TypeMismatch:
                raise ConfigError(
                    f"{path}[{i}] expects {_type_name(args[0])}, got {item!r} ({type(item).__name__})"
                ) from None
        return out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _TypeMismatch
        args = typing.get_args(tp)
        if not args:
            return _deepcopy(value)
        return {str(k): _coerce(v, args[1], f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.strip().lower() in ("true", "yes", "on")
        raise _TypeMismatch
    if tp is int:
        if isinstance(value, bool):
            raise _TypeMismatch
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                raise _TypeMismatch from None
        raise _TypeMismatch
    if tp is float:
        if isinstance(value, bool):
            raise _TypeMismatch
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())  # YAML reads '1e-6' as a string
            except ValueError:
                raise _TypeMismatch from None
        raise _TypeMismatch
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _TypeMismatch
    raise ConfigError(f"{path}: unsupported field type {tp!r} (a bug in mmrl.config)")


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


def _all_paths(cls: type = None, prefix: str = "") -> list[str]:
    cls = cls or Config
    paths = []
    for name, (_, tp) in _fields(cls).items():
        full = f"{prefix}{name}"
        paths.append(full)
        if dataclasses.is_dataclass(tp):
            paths.extend(_all_paths(tp, full + "."))
    return paths


#: Names users bring from verl, TRL and EasyR1, mapped to ours.
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
}


def _section_fields(prefix: str) -> list[str] | None:
    cls: Any = Config
    for part in prefix.split(".") if prefix else []:
        fields = _fields(cls)
        if part not in fields or not dataclasses.is_dataclass(fields[part][1]):
            return None
        cls = fields[part][1]
    return list(_fields(cls))


def _unknown_key_message(path: str) -> str:
    prefix, _, leaf = path.rpartition(".")
    near: str | None = None
    siblings = _section_fields(prefix)
    if siblings:
        match = difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.6)
        if match:
            near = f"{prefix}.{match[0]}" if prefix else match[0]
    if near is None and leaf in _ALIASES:
        near = _ALIASES[leaf]
    if near is None:
        leaves = [p for p in _all_paths() if not dataclasses.is_dataclass(_type_at(p))]
        same_leaf = [p for p in leaves if p.rsplit(".", 1)[-1] == leaf]
        match = same_leaf[:1] or difflib.get_close_matches(path, leaves, n=1, cutoff=0.6)
        if not match:
            by_leaf = difflib.get_close_matches(leaf, [p.rsplit(".", 1)[-1] for p in leaves], n=1, cutoff=0.7)
            match = [p for p in leaves if by_leaf and p.rsplit(".", 1)[-1] == by_leaf[0]][:1]
        near = match[0] if match else None
    hint = f"; did you mean {near!r}?" if near else "; see `mmrl config show --docs` for every key"
    return f"unknown key {path!r}{hint}"


def _type_at(path: str) -> Any:
    cls: Any = Config
    tp: Any = Config
    for part in path.split("."):
        tp = _fields(cls)[part][1]
        cls = tp
    return tp


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    fields = _fields(cls)
    errors: list[str] = []
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            errors.append(_unknown_key_message(path))
            continue
        _, tp = fields[key]
        try:
            kwargs[key] = _coerce(value, tp, path)
        except _TypeMismatch:
            errors.append(f"{path} expects {_type_name(tp)}, got {value!r} ({type(value).__name__})")
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigError(errors)
    return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The tree as plain dicts/lists/scalars (what ``save_config`` writes)."""
    return dataclasses.asdict(cfg)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a ``Config`` from a (possibly partial) nested dict."""
    if not isinstance(data, dict):
        raise ConfigError(f"the configuration must be a mapping of sections, got {type(data).__name__}")
    cfg = _build(Config, data)
    errors = _cross_checks(cfg)
    if errors:
        raise ConfigError(errors)
    return cfg


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


def config_to_yaml(cfg: Config, docs: bool = False) -> str:
    """YAML text of the resolved tree; with ``docs=True`` each field is preceded by its doc."""
    if not docs:
        return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None, width=120)
    lines: list[str] = []

    def emit(obj: Any, indent: int) -> None:
        pad = "  " * indent
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            doc = f.metadata.get("doc", "")
            if doc:
                lines.append(f"{pad}# {doc}")
            if dataclasses.is_dataclass(value):
                lines.append(f"{pad}{f.name}:")
                emit(value, indent + 1)
            else:
                dumped = yaml.safe_dump({f.name: value}, default_flow_style=True, width=10_000).strip()
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
        for name, (f, tp) in _fields(cls).items():
            full = f"{prefix}{name}"
            out[full] = f.metadata.get("doc", "")
            if dataclasses.is_dataclass(tp):
                out.update(walk(tp, full + "."))
        return out

    return walk(Config, "")
