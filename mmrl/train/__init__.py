"""The RL trainer: ``fit(cfg)``, its stages, checkpoints and logs.

::

    from mmrl.config import load_config
    from mmrl.train import fit

    result = fit(load_config("scripts/configs/math_qwen2_5_math_7b_grpo_agrae.yaml", ["trainer.max_steps=2"]))
    result.run_dir, result.final_dir, result.validations[2].pass_at_k()

One step, as ``Trainer.train_step`` runs it (each stage is a function in ``mmrl.train.stages``)::

    sample prompts -> engine.generate (n per prompt) -> RewardRunner.score -> DAPO filter (preset)
    -> overlong shaping (preset) -> compute_advantages -> micro-batched policy_loss + backward
    -> guarded optimizer step (non-finite: skipped, counted, K in a row abort) -> sync_weights
    -> metrics.jsonl / TensorBoard / rollouts/step_N.jsonl -> validate (eval.every) -> checkpoint

Modules: ``trainer`` (``Trainer``, ``fit``), ``stages`` (the step's stages), ``batching``
(mini-/micro-batch planning), ``sampler`` (resumable prompt order), ``checkpoint`` (atomic
checkpoints, ``trainer.resume``, ``final/``), ``metrics`` (logs, rollouts files, progress),
``validation`` (held-out pass@k through ``mmrl.eval``). The checkpoint layout both the trainer and
the evaluator read is ``mmrl.checkpoints``.
"""

from mmrl.checkpoints import CheckpointError, verify_checkpoint
from mmrl.train.batching import mini_batch_groups, plan_micro_batches
from mmrl.train.checkpoint import CheckpointManager, find_resume_checkpoint, save_final_model
from mmrl.train.metrics import MetricsLogger, PhaseTimer, rollout_records
from mmrl.train.sampler import PromptSampler, shard_for_rank
from mmrl.train.stages import (
    NonFiniteGuard,
    StepBatch,
    StepContext,
    UpdatePlan,
    collect_batch,
    compute_old_and_reference_logprobs,
    generate_and_score,
    guarded_optimizer_step,
    plan_update,
    reduce_over_ranks,
    shape_rewards,
    step_advantages,
    update_policy,
)
from mmrl.train.trainer import FitResult, Trainer, fit, rollout_seed
from mmrl.train.validation import load_eval_examples, validate

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "FitResult",
    "MetricsLogger",
    "NonFiniteGuard",
    "PhaseTimer",
    "PromptSampler",
    "StepBatch",
    "StepContext",
    "Trainer",
    "UpdatePlan",
    "collect_batch",
    "compute_old_and_reference_logprobs",
    "find_resume_checkpoint",
    "fit",
    "generate_and_score",
    "guarded_optimizer_step",
    "load_eval_examples",
    "mini_batch_groups",
    "plan_micro_batches",
    "plan_update",
    "reduce_over_ranks",
    "rollout_records",
    "rollout_seed",
    "save_final_model",
    "shard_for_rank",
    "shape_rewards",
    "step_advantages",
    "update_policy",
    "validate",
    "verify_checkpoint",
]
