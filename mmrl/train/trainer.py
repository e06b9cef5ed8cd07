"""The RL loop: ``fit(cfg)`` and the ``Trainer`` whose ``train_step`` runs the named stages in order.

::

    trainer = Trainer(cfg)           # resolve the algorithm, find the checkpoint, load data and models
    trainer.start()                  # resume (or start fresh), validate before training if asked
    while trainer.step < cfg.trainer.max_steps:
        trainer.train_step()         # sample prompts -> generate -> score -> DAPO -> advantages ->
                                     # update -> sync -> log -> validate -> checkpoint
    trainer.finish()                 # last checkpoint, final/ (a plain Hugging Face model)

Placement and precision come from ``accelerate`` (``accelerate launch`` for several processes,
``trainer.mixed_precision``); the reference model is loaded only when ``algorithm.kl_coef > 0``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mmrl import openmp
from mmrl.algos import DynamicSampler, resolve_algorithm
from mmrl.config import Config, ConfigError, config_to_dict, save_config
from mmrl.errors import UserError
from mmrl.eval import EvalResult, write_outputs
from mmrl.hardware import resolve_micro_batch_size, resolve_mixed_precision, retain_freed_memory
from mmrl.rollout import Sampling, SyncProbe, build_engine
from mmrl.train.checkpoint import (
    CheckpointManager,
    find_resume_checkpoint,
    save_final_model,
)
from mmrl.train.metrics import (
    MetricsLogger,
    PhaseTimer,
    ProgressReporter,
    rollout_images,
    rollout_records,
    write_rollouts,
)
from mmrl.train.preflight import memory_preflight, worst_case
from mmrl.train.resume import check_resume_config, save_start_config
from mmrl.train.sampler import PromptSampler, shard_for_rank
from mmrl.train.stages import (
    NonFiniteGuard,
    StepBatch,
    StepContext,
    TruncationAlarm,
    collect_batch,
    compute_old_and_reference_logprobs,
    plan_update,
    shape_rewards,
    step_advantages,
    update_policy,
)
from mmrl.train.validation import load_eval_examples, validate, validation_images
from mmrl.train.watchdog import Watchdog, collective
from mmrl.types import Example

log = logging.getLogger(__name__)

__all__ = ["Callback", "FitResult", "Trainer", "fit", "prompts_within_budget", "rollout_seed"]

#: ``fn(step, metrics)`` called after each training step; returning ``True`` ends training there.
Callback = Callable[[int, dict[str, float]], Any]

#: Seed offset of validation sampling (the same for every validation of a run).
EVAL_SEED_OFFSET = 7_919


def rollout_seed(seed: int, step: int, round_index: int, rank: int) -> int:
    """The sampling seed of one generation round: a function of the run's seed and position only,
    so a resumed run samples exactly what an uninterrupted one would have.

    >>> rollout_seed(0, 3, 0, 0), rollout_seed(0, 3, 1, 0) != rollout_seed(0, 3, 0, 1)
    (3000000, True)
    """
    return (seed * 1_000_003 + step * 1_000_000 + round_index * 1_000 + rank) % (2**31 - 1)


def prompts_within_budget(policy: Any, examples: Sequence[Example], accelerator: Any = None) -> list[Example]:
    """The examples whose prompt fits ``data.max_prompt_length``, checked once before training.

    Each process encodes a share of the examples and the over-budget ids are gathered, so every
    rank leaves out the same ones and no step later finds a rank without prompts. The ones left out
    are counted and named in one warning; none fitting is an error naming the setting.
    """
    world, rank = (1, 0) if accelerator is None else (accelerator.num_processes, accelerator.process_index)
    budget = policy.max_prompt_length
    over = [ex.id for ex in examples[rank::world] if policy.encode(ex).num_tokens > budget]
    if world > 1:
        from accelerate.utils import gather_object

        with collective("the gather of the over-budget prompt ids", rank):
            over = gather_object(over)
    if not over:
        return list(examples)
    dropped = set(over)
    kept = [ex for ex in examples if ex.id not in dropped]
    if not kept:
        raise UserError(
            f"every one of the {len(examples)} training prompts is longer than data.max_prompt_length={budget} "
            "tokens (image tokens included); raise data.max_prompt_length, or lower data.max_pixels for images"
        )
    shown = ", ".join([ex.id for ex in examples if ex.id in dropped][:5])
    log.warning(
        "%d of %d training prompts are longer than data.max_prompt_length=%d tokens and are left out of "
        "training (%s%s); raise data.max_prompt_length (or lower data.max_pixels) to keep them",
        len(dropped),
        len(examples),
        budget,
        shown,
        ", ..." if len(dropped) > 5 else "",
    )
    return kept


@dataclass
class FitResult:
    """What ``fit`` leaves behind: where, how far, and the validations (main process)."""

    run_dir: Path
    steps: int
    final_dir: Path | None
    validations: dict[int, EvalResult] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)


def _make_scheduler(optimizer: Any, cfg: Config, optimizer_steps_per_rl_step: int) -> Any:
    from transformers import get_scheduler

    name = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[
        cfg.trainer.lr_scheduler
    ]
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=cfg.trainer.warmup_steps * optimizer_steps_per_rl_step,
        num_training_steps=cfg.trainer.max_steps * optimizer_steps_per_rl_step,
    )


class Trainer:
    """Everything a run holds, built from a ``Config``; ``train_step`` is one RL step.

    Args:
        cfg: The resolved configuration.
        accelerator: An ``accelerate.Accelerator``; ``None`` builds one from ``trainer.mixed_precision``.
        reward_funcs: Reward functions added to ``reward.functions``: callables (weight 1), names or
            specs, or dicts ``{"fn": ..., "weight": ..., "name": ..., "kwargs": ...}``
            (``rewards.functions``).
        train_dataset: Training rows instead of ``data.recipe``: a list of dicts or a
            ``datasets.Dataset`` in the generic schema (``question``, ``answer``, optional ``task``
            (default ``math``), ``image``/``images``, ``choices``, ``id``; ``data.columns`` maps
            other names; other columns reach the verifiers in ``Example.meta``).
        callbacks: ``fn(step, metrics)`` called after each step (on every process) with the
            step's metrics, validation included; one that returns ``True`` ends training there
            (``finish`` then saves as usual).
    """

    def __init__(
        self,
        cfg: Config,
        accelerator: Any = None,
        reward_funcs: Sequence[Any] = (),
        train_dataset: Iterable[Mapping[str, Any]] | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        from accelerate.utils import set_seed

        from rewards import RewardRunner

        self.cfg = cfg
        t = cfg.trainer
        self.settings = resolve_algorithm(cfg.algorithm, cfg.rollout)  # config errors before any loading
        if accelerator is None:
            precision, why = resolve_mixed_precision(t.mixed_precision, _default_device())
            accelerator = _accelerator(precision)
            log.info("mixed precision %s (%s)", precision, why)
        self.accelerator = accelerator
        acc = self.accelerator
        _cpu_process_settings(t.retain_cpu_memory, acc.device)
        self.micro_batch_size, why = resolve_micro_batch_size(t.micro_batch_size, acc.device)
        if t.micro_batch_size == "auto":
            log.info("micro-batch size %d (%s)", self.micro_batch_size, why)
        self.world, self.rank = acc.num_processes, acc.process_index
        self.watchdog = Watchdog(t.stall_timeout_s, rank=self.rank, world_size=self.world)
        if t.prompts_per_step % self.world:
            raise ConfigError(
                f"trainer.prompts_per_step={t.prompts_per_step} must be divisible by the number of processes "
                f"({self.world}); each process trains on an equal share of the prompts"
            )
        self.num_mini_batches = t.prompts_per_step // (t.mini_batch_prompts or t.prompts_per_step)
        self.run_dir = Path(t.output_dir)
        self.resume_from = find_resume_checkpoint(self.run_dir / "checkpoints", t.resume)
        check_resume_config(self.resume_from, cfg, t.resume)  # another trajectory stops here, before loading
        set_seed(t.seed)

        self._load_data(train_dataset)
        self.runner = RewardRunner(cfg.reward, reward_funcs)  # its workers start while the models load
        self.runner.check_examples(self.train_data.examples)  # an unusable reward fails before loading
        self._build_models()
        self.engine = build_engine(cfg.rollout, self.policy)
        self.probe = SyncProbe(cfg.rollout.sync_probe_threshold)
        self.ctx = self._step_context()

        train_examples = prompts_within_budget(self.policy, self.train_data.examples, acc)
        self.sampler = PromptSampler(train_examples, t.seed, cfg.data.shuffle)
        prompts_per_rank = t.prompts_per_step // self.world
        self.dynamic = (
            DynamicSampler(prompts_per_rank, self.settings.max_rounds)
            if self.settings.dynamic_sampling
            else None
        )
        self.guard = NonFiniteGuard(t.max_consecutive_nonfinite)
        self.truncation = TruncationAlarm(
            cfg.rollout.max_new_tokens, self.settings.mask_truncated, cfg.reward.score_truncated
        )
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", acc, t.keep_last, self.scheduler)
        self._init_run_state(callbacks)

    def _init_run_state(self, callbacks: Sequence[Callback]) -> None:
        """The counters and logs of the run (``start`` fills them in from a checkpoint)."""
        self.step = 0
        self.start_step = 0  # the step this start began at
        self.prompts_dropped = 0.0
        self.validations: dict[int, EvalResult] = {}  # on the main process
        self.validated_steps: set[int] = set()  # on every process (validation is collective)
        self.last_metrics: dict[str, float] = {}
        self.metrics: MetricsLogger | None = None
        self.progress: ProgressReporter | None = None
        self.callbacks = list(callbacks)
        self.stop_requested = False  # a callback asked to end training

    def _load_data(self, train_dataset: Iterable[Mapping[str, Any]] | None) -> None:
        """The training examples (``data.*``, or the rows given to ``fit``) and the held-out ones."""
        from mmrl.data import load_from_config

        cfg = self.cfg
        self.train_data = (
            load_from_config(cfg.data) if train_dataset is None else rows_dataset(train_dataset, cfg)
        )
        validating = cfg.eval.every > 0 or cfg.eval.before_train
        if train_dataset is not None and validating and cfg.eval.recipe is None:
            raise ConfigError(
                "eval.recipe is unset, so validation would use data.recipe, which train_dataset replaces; "
                "name the held-out recipe (eval.recipe=..., eval.path=...) or set eval.every=0"
            )
        self.eval_data = load_eval_examples(cfg) if validating else None

    def _build_models(self) -> None:
        """The policy (float32 master weights under mixed precision), the reference model when the
        loss has a KL term, the optimizer and the schedule, placed by accelerate."""
        from mmrl.policy import load_policy

        cfg, acc, t = self.cfg, self.accelerator, self.cfg.trainer
        model_cfg = cfg.model
        if model_cfg.dtype == "auto" and acc.mixed_precision != "no":
            # The optimizer updates float32 master weights; autocast runs the products in bf16/fp16.
            model_cfg = dataclasses.replace(model_cfg, dtype="float32")
        self.policy = load_policy(model_cfg, cfg.data, device=acc.device)
        self.policy.compute_dtype = _compute_dtype(acc.mixed_precision, self.policy)
        self.ref_policy = None
        if self.settings.needs_reference:
            ref_model_cfg = dataclasses.replace(
                cfg.model, lora=dataclasses.replace(cfg.model.lora, rank=0), gradient_checkpointing=False
            )
            self.ref_policy = load_policy(ref_model_cfg, cfg.data, device=acc.device)
            self.ref_policy.model.eval().requires_grad_(False)
        trainable = [p for p in self.policy.model.parameters() if p.requires_grad]
        optimizer = make_optimizer(trainable, t, fused=acc.distributed_type != "FSDP")
        self.scheduler = _make_scheduler(optimizer, cfg, self.num_mini_batches)
        self.policy.model, self.optimizer = acc.prepare(self.policy.model, optimizer)
        # the scheduler is saved by CheckpointManager as JSON: accelerate would pickle it

    def _step_context(self) -> StepContext:
        """What the stages of every step use (``mmrl.train.stages.StepContext``)."""
        return StepContext(
            policy=self.policy,
            engine=self.engine,
            runner=self.runner,
            algorithm=self.settings,
            accelerator=self.accelerator,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            ref_policy=self.ref_policy,
            probe=self.probe,
            temperature=Sampling.from_rollout(self.cfg.rollout).logprob_temperature,
            max_grad_norm=self.cfg.trainer.max_grad_norm,
            reward_components=self.runner.component_names,
            timer=PhaseTimer(self.watchdog),
        )

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def is_main(self) -> bool:
        return bool(self.accelerator.is_main_process)

    def start(self) -> None:
        """Resume from the selected checkpoint or start fresh; write config.yaml and
        config.step_N.yaml (``mmrl.train.resume``); validate if asked."""
        cfg = self.cfg
        self.watchdog.start()
        if cfg.trainer.preflight:
            with self.watchdog.stage("preflight"):
                self.preflight()
        if self.resume_from is not None:
            state = self.checkpoints.load(self.resume_from, verified=True)
            self.load_state_dict(state)
            log.info("resumed from %s at step %d", self.resume_from, self.step)
        elif cfg.trainer.resume == "never":
            self.checkpoints.move_aside()
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_start_config(cfg, self.run_dir, self.step)  # config.yaml and config.step_N.yaml
        self.metrics = MetricsLogger(
            self.run_dir,
            cfg.logging,
            config_to_dict(cfg),
            enabled=self.is_main,
            resume_step=self.step if self.resume_from is not None else None,
        )
        self.progress = ProgressReporter(
            cfg.trainer.max_steps, self.step, cfg.logging.progress_bar and self.is_main
        )
        self.start_step = self.step
        if self.is_main:
            log.info("%s", self.plan())
        if cfg.eval.before_train and self.step == 0:
            self.metrics.log(0, self.run_validation(0))

    def preflight(self, force: bool = False) -> int | None:
        """The memory pre-flight (``mmrl.train.preflight``) at this run's worst case; peak bytes on CUDA."""
        t = self.cfg.trainer
        case = worst_case(
            self.micro_batch_size,
            t.max_tokens_per_micro_batch,
            self.policy.max_prompt_length,
            self.cfg.rollout.max_new_tokens,
        )
        return memory_preflight(
            self.policy,
            self.accelerator,
            case,
            micro_batch_size=self.micro_batch_size,
            gradient_checkpointing=self.cfg.model.gradient_checkpointing,
            colocated=getattr(self.engine, "name", "") == "vllm",
            force=force,
        )

    def plan(self) -> str:
        """What this run will do: model, algorithm, data, steps, samples per step, where it writes."""
        cfg, t, r = self.cfg, self.cfg.trainer, self.cfg.rollout
        data = self.train_data
        steps = (
            f"{t.max_steps} step{'' if t.max_steps == 1 else 's'}"
            if self.step == 0
            else f"steps {self.step + 1}..{t.max_steps} (resumed at step {self.step})"
        )
        validation = (
            f", validating every {'step' if cfg.eval.every == 1 else f'{cfg.eval.every} steps'}"
            if cfg.eval.every > 0
            else ""
        )
        return "\n".join(
            [
                f"plan: {self.settings.preset} on {cfg.model.path}",
                f"  data: {data.recipe.name} [{data.split}], {len(self.sampler.items)} prompts",
                f"  {steps}{validation}",
                f"  per step: {t.prompts_per_step} prompts x {r.n} samples = {t.prompts_per_step * r.n} "
                f"responses of up to {r.max_new_tokens} tokens",
                f"  writes to: {self.run_dir}",
            ]
        )

    def finish(self) -> FitResult:
        """Validate at the end if the schedule missed it, save the last checkpoint and ``final/``."""
        cfg = self.cfg
        final_dir = None
        if cfg.eval.every > 0 and self.step not in self.validated_steps and self.step > 0:
            assert self.metrics is not None
            self.metrics.log(self.step, self.run_validation(self.step))
        if not self._saved_at(self.step) and self.step > 0:
            self.save_checkpoint()
        if cfg.trainer.save_final:
            final_dir = save_final_model(
                self.policy, self.accelerator, self.run_dir / "final", cfg.trainer.merge_lora
            )
            if final_dir is not None:
                log.info("final model written to %s", final_dir)
        return FitResult(self.run_dir, self.step, final_dir, dict(self.validations), dict(self.last_metrics))

    def close(self) -> None:
        for closer in (self.watchdog, self.progress, self.metrics, self.engine, self.runner):
            if closer is not None:
                try:
                    closer.close()
                except Exception as exc:  # closing must not hide the error that ended the run
                    log.warning("closing %s failed: %s", type(closer).__name__, exc)

    # -- state ------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Trainer state beyond model/optimizer/scheduler/RNG (which accelerate saves)."""
        return {
            "step": self.step,
            "sampler": self.sampler.state_dict(),
            "nonfinite": self.guard.state_dict(),
            "dynamic_sampling_short_steps": self.dynamic.short_steps if self.dynamic is not None else 0,
            "sync_probe_alarms": self.probe.num_alarms,
            "prompts_dropped": self.prompts_dropped,
            "world_size": self.world,
            "algorithm": self.settings.preset,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["world_size"] != self.world:
            log.warning(
                "the checkpoint was written by %d processes and this run has %d: the data order stays the same, "
                "but sampling seeds per process differ from the original run",
                state["world_size"],
                self.world,
            )
        self.step = int(state["step"])
        try:
            self.sampler.load_state_dict(state["sampler"])
        except ValueError as exc:  # another dataset or seed
            if self.cfg.trainer.resume != "force":
                raise UserError(str(exc)) from None
            log.warning("%s; with trainer.resume=force the data order starts over", exc)
        self.guard.load_state_dict(state["nonfinite"])
        if self.dynamic is not None:
            self.dynamic.short_steps = int(state["dynamic_sampling_short_steps"])
        self.probe.num_alarms = int(state["sync_probe_alarms"])
        self.prompts_dropped = float(state["prompts_dropped"])

    def _saved_at(self, step: int) -> bool:
        return (self.checkpoints.root / f"step_{step}" / "COMPLETE").is_file()

    def save_checkpoint(self) -> Path:
        with self.watchdog.stage("checkpoint"):
            return self.checkpoints.save(self.step, self.state_dict(), write_extra=self._write_model_files)

    def _write_model_files(self, directory: Path) -> None:
        """Config, tokenizer/processor and the run config next to accelerate's state. accelerate's
        model file has Hugging Face names, so with these the checkpoint loads with ``from_pretrained``
        (and ``mmrl eval --model RUN_DIR`` evaluates it)."""
        model = self.accelerator.unwrap_model(self.policy.model)
        if (directory / "model.safetensors").is_file() and hasattr(model, "config"):
            model.config.save_pretrained(directory)
            if getattr(model, "generation_config", None) is not None:
                model.generation_config.save_pretrained(directory)
            getattr(self.policy, "processor", self.policy.tokenizer).save_pretrained(directory)
        save_config(self.cfg, directory / "config.yaml")

    # -- one step ---------------------------------------------------------------------------------

    def _draw_prompts(self) -> list[Any]:
        batch = self.sampler.next_batch(self.cfg.trainer.prompts_per_step)
        return shard_for_rank(batch, self.rank, self.world)

    def train_step(self) -> dict[str, float]:
        """One RL step: the stages of ``mmrl.train.stages`` in order; returns the step's metrics."""
        cfg, step = self.cfg, self.step + 1
        self.watchdog.step = step
        ctx = self.ctx.for_step()
        started = time.perf_counter()

        def sampling(round_index: int) -> Sampling:
            return Sampling.from_rollout(
                cfg.rollout, seed=rollout_seed(cfg.trainer.seed, step, round_index, self.rank)
            )

        batch = collect_batch(ctx, self._draw_prompts, cfg.rollout.n, sampling, self.dynamic)
        rewards = shape_rewards(batch, ctx.algorithm)
        advantages, advantage_metrics = step_advantages(ctx, batch, rewards)
        plan = plan_update(
            batch,
            advantages,
            ctx.algorithm,
            self.num_mini_batches,
            self.micro_batch_size,
            cfg.trainer.max_tokens_per_micro_batch,
        )
        with ctx.timer("logprob"):
            compute_old_and_reference_logprobs(ctx, plan, batch, needs_old=self.num_mini_batches > 1)
        with ctx.timer("update"):
            update_metrics = update_policy(ctx, plan, batch, advantages)
        with ctx.timer("sync"):
            if update_metrics["optimizer/steps"] > 0:  # the same on every rank (all-reduced loss and norm)
                self.engine.sync_weights(self.policy.model)
            elif update_metrics["update/skipped_zero_advantage_frac"] == 1.0:
                log.info("step %d: every advantage is 0, so there was nothing to update", step)
        self.step = step
        metrics = self._step_metrics(ctx, batch, {**advantage_metrics, **update_metrics}, started)
        if cfg.logging.log_rollouts:
            self._write_rollouts(step, batch, rewards, advantages)
        self._end_step(step, metrics)
        return metrics

    def _step_metrics(
        self, ctx: StepContext, batch: StepBatch, metrics: dict[str, float], started: float
    ) -> dict[str, float]:
        """The step's metrics: the stages', the phase times and the run's running counters."""
        self.prompts_dropped += batch.metrics["prompts/dropped"]
        self.guard.record(self.step, int(metrics["optimizer/skipped_steps"]))
        out = {**batch.metrics, **metrics, **ctx.timer.metrics()}
        out["time/step"] = time.perf_counter() - started
        if ctx.timer.seconds.get("generate"):
            generated = sum(len(r.response_ids) for r in batch.rollouts)
            out["throughput/generated_tokens_per_s"] = generated / ctx.timer.seconds["generate"]
        out["nonfinite/steps_total"] = float(self.guard.total)
        out["nonfinite/consecutive"] = float(self.guard.consecutive)
        out["prompts/dropped_total"] = self.prompts_dropped
        out["rollout/sync_probe_alarms"] = float(self.probe.num_alarms)
        return out

    def _end_step(self, step: int, metrics: dict[str, float]) -> None:
        """Validate on schedule, log, check the non-finite guard, checkpoint on schedule."""
        cfg = self.cfg
        if cfg.eval.every > 0 and step % cfg.eval.every == 0:
            metrics.update(self.run_validation(step))
        assert self.metrics is not None and self.progress is not None
        self.metrics.log(step, metrics)
        self.progress.update(step, cfg.trainer.max_steps, metrics)
        left = cfg.trainer.max_steps - step
        if step == self.start_step + 1 and left > 0 and self.is_main:
            log.info(
                "step %d took %s: about %s more for %s at this pace%s",
                step,
                duration(metrics["time/step"]),
                duration(metrics["time/step"] * left),
                "the last step" if left == 1 else f"the other {left} steps",
                " (validation comes on top)" if cfg.eval.every > 0 else "",
            )
        self.last_metrics = metrics
        if self.is_main:  # the fraction is over every rank's responses
            self.truncation.check(step, metrics["response/truncated_frac"])
        self.guard.check(step)  # aborts after trainer.max_consecutive_nonfinite non-finite steps in a row
        for callback in self.callbacks:
            if callback(step, metrics) is True:
                log.info(
                    "step %d: %s asked to stop training", step, getattr(callback, "__name__", "a callback")
                )
                self.stop_requested = True
        if cfg.trainer.save_every > 0 and step % cfg.trainer.save_every == 0:
            self.save_checkpoint()

    def _write_rollouts(self, step: int, batch: Any, rewards: torch.Tensor, advantages: torch.Tensor) -> None:
        """``rollouts/step_N.jsonl`` with every process's trajectories (gathered to the main process)."""
        records = rollout_records(
            batch.rollouts,
            batch.scores,
            rewards.tolist(),
            advantages.tolist(),
            step,
            images=rollout_images(self.run_dir),  # every rank writes its own examples' images
        )
        if self.world > 1:
            from accelerate.utils import gather_object

            for record in records:
                record["rank"] = self.rank
            with collective("the gather of the rollouts to write", self.rank):
                records = gather_object(records)
        if self.is_main:
            write_rollouts(self.run_dir, step, records)

    # -- validation -------------------------------------------------------------------------------

    def run_validation(self, step: int) -> dict[str, float]:
        """Validate at ``step`` (0 = before training); keep and write the result; ``val/*`` metrics."""
        assert self.eval_data is not None
        started = time.perf_counter()
        with self.watchdog.stage("validate", [e.id for e in self.eval_data.examples]):
            result = self._validate(step)
        seconds = time.perf_counter() - started
        self.validated_steps.add(step)
        return self._validation_metrics(step, result, seconds)

    def _validate(self, step: int) -> EvalResult | None:
        assert self.eval_data is not None
        return validate(
            self.policy,
            self.engine,
            self.runner,
            self.eval_data.examples,
            self.cfg.eval,
            self.cfg.rollout,
            seed=self.cfg.trainer.seed + EVAL_SEED_OFFSET,
            accelerator=self.accelerator,
            progress=self.cfg.logging.progress_bar,
            images=validation_images(self.run_dir, step),
        )

    def _validation_metrics(self, step: int, result: EvalResult | None, seconds: float) -> dict[str, float]:
        """Keep and write a validation's result; its ``val/*`` metrics (none off the main process)."""
        assert self.eval_data is not None
        if result is None:
            return {}
        self.validations[step] = result
        result.info["step"] = step
        write_outputs(
            [result],
            self.run_dir / "validation" / f"step_{step}",
            {
                "model": {
                    "label": f"step {step}",
                    "source": f"the policy trained in {self.run_dir} from {self.cfg.model.path}",
                },
                "step": step,
                "recipe": self.eval_data.recipe.name,
            },
        )
        metrics = result.flat_metrics("val/")
        if "entropy" in result.info:
            metrics["val/entropy"] = result.info["entropy"]
        metrics["time/validate"] = seconds
        pass1 = result.pass_at_k().get(1, math.nan)
        log.info(
            "validation at step %d: pass@1 %.3f on %d problems (%.0f s)",
            step,
            pass1,
            len(result.problems),
            seconds,
        )
        return metrics


def fit(
    cfg: Config,
    accelerator: Any = None,
    *,
    reward_funcs: Sequence[Any] = (),
    train_dataset: Iterable[Mapping[str, Any]] | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train with ``cfg`` from where its run directory left off; see the module docstring.

    ``reward_funcs`` are added to ``cfg.reward.functions``, ``train_dataset`` (a list of dicts or a
    ``datasets.Dataset``) replaces ``data.recipe``, and each of ``callbacks`` is called as
    ``fn(step, metrics)`` after every step (``True`` stops training); see ``Trainer``.
    """
    trainer = Trainer(
        cfg,
        accelerator=accelerator,
        reward_funcs=reward_funcs,
        train_dataset=train_dataset,
        callbacks=callbacks,
    )
    try:
        trainer.start()
        while trainer.step < cfg.trainer.max_steps and not trainer.stop_requested:
            trainer.train_step()
        return trainer.finish()
    except KeyboardInterrupt:
        log.warning(
            "interrupted at step %d; run the same command again to resume from the last checkpoint",
            trainer.step,
        )
        raise
    finally:
        trainer.close()


def rows_dataset(rows: Iterable[Mapping[str, Any]], cfg: Config) -> Any:
    """``mmrl.data.LoadedData`` from rows given in Python (``fit(train_dataset=...)``), loaded and
    validated like a recipe's: the generic schema, ``data.columns``, ``data.template`` (default
    ``plain``), ``data.limit`` and the bad-row policy of ``cfg.data``."""
    from mmrl.data import load_examples
    from mmrl.data.recipes import function_recipe

    items = rows if isinstance(rows, list) else list(rows)
    bad = next((i for i, row in enumerate(items) if not isinstance(row, Mapping)), None)
    if bad is not None or not items:
        got = "no rows" if not items else f"row {bad} is a {type(items[bad]).__name__}"
        raise UserError(
            f"train_dataset must be a non-empty list of dicts or a datasets.Dataset with question and "
            f"answer columns; {got}"
        )
    d = cfg.data
    recipe = function_recipe(lambda split, options: items, "train_dataset")
    return load_examples(
        recipe,
        split=d.split,
        options=d.options,
        template=d.template,
        columns=d.columns,
        limit=d.limit,
        on_bad_row=d.on_bad_row,
        max_bad_fraction=d.max_bad_fraction,
        allow_remote_images=d.allow_remote_images,
    )


def duration(seconds: float) -> str:
    """Seconds as people read them.

    >>> duration(42.4), duration(754), duration(7260)
    ('42 s', '13 min', '2 h 01 min')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _default_device() -> torch.device:
    """The device accelerate will place this process on (before an ``Accelerator`` exists)."""
    import os

    from accelerate.utils import str_to_bool

    use_cpu = str_to_bool(os.environ.get("ACCELERATE_USE_CPU", "false"))
    return torch.device("cuda" if torch.cuda.is_available() and not use_cpu else "cpu")


def _cpu_process_settings(retain_memory: bool, device: torch.device) -> None:
    """On a CPU: ``trainer.retain_cpu_memory`` keeps freed memory in the process
    (``retain_freed_memory``); the OpenMP wait policy chosen at start (``mmrl.openmp``) is logged."""
    if device.type != "cpu":
        return
    if retain_memory:
        applied, why = retain_freed_memory()
        log.log(logging.INFO if applied else logging.DEBUG, "CPU memory: %s", why)
    if openmp.decision() is not None:
        log.info("OpenMP: %s", openmp.decision())


def _compute_dtype(mixed_precision: str, policy: Any) -> torch.dtype:
    """The dtype forward and backward compute in: the autocast dtype, else the weights' dtype."""
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}
    return autocast.get(mixed_precision) or next(policy.model.parameters()).dtype


def make_optimizer(params: Sequence[torch.nn.Parameter], t: Any, fused: bool = True) -> torch.optim.Optimizer:
    """AdamW over ``params`` with ``trainer.*``'s settings, with torch's fused kernel where it has one.

    The fused kernel does the whole update in one pass per tensor; measured on a 2-core CPU, one step
    over 128M parameters took 0.08-0.23 s fused and 0.5-1.9 s with torch's default per-tensor loop
    (the default on CPU). Where the kernel does not take these parameters (``fused=False``: FSDP's
    sharded ones), the default implementation is used.
    """
    kwargs = {"lr": t.learning_rate, "betas": tuple(t.adam_betas), "weight_decay": t.weight_decay}
    if fused:
        try:
            return torch.optim.AdamW(params, fused=True, **kwargs)
        except (RuntimeError, ValueError, TypeError) as exc:
            log.debug("fused AdamW unavailable here (%s); using the default implementation", exc)
    return torch.optim.AdamW(params, **kwargs)


def _accelerator(mixed_precision: str) -> Any:
    """An ``accelerate.Accelerator`` with ``mixed_precision``, also when this process trained before.

    accelerate keeps one state per process and refuses a second ``Accelerator`` with another precision.
    One process may run several trainings (``mmrl demo``, a notebook, the test suite), so a precision
    left over from an earlier run is cleared; the process group (``accelerate launch``) is kept.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    previous = AcceleratorState._shared_state.get("_mixed_precision")
    if previous is not None and previous != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)
        GradientState._reset_state()
    return Accelerator(mixed_precision=mixed_precision)
