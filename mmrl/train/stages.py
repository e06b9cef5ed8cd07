"""The stages of one RL step, each a function you can call alone (``DESIGN.md``, "One training step")::

    examples = sampler.next_batch(...)                                   # sample prompts (trainer)
    batch = collect_batch(draw, policy, engine, runner, settings, ...)   # generate -> score (-> DAPO filter)
    rewards = shape_rewards(batch, settings)                             # DAPO overlong shaping
    advantages, metrics = step_advantages(batch, rewards, settings)      # registered estimator + diagnostics
    plan = plan_update(batch, ...)                                       # mini-/micro-batches by tokens
    extra = compute_reference_logprobs(plan, ...)                        # old / reference log-probs
    metrics = update_policy(plan, advantages, ...)                       # policy_loss, backward, guarded step

``mmrl.train.trainer`` calls them in this order; nothing here reads the config tree beyond the
sections it is handed, and nothing branches on an algorithm's name (the algorithm arrives as
``mmrl.algos.AlgorithmSettings``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from mmrl.algos import (
    AlgorithmSettings,
    DynamicSampler,
    batch_accuracy,
    combine_metrics,
    loss_normalizer,
    overlong_penalty,
    policy_loss,
    score_tensors,
)
from mmrl.errors import UserError
from mmrl.rollout import Sampling, SyncProbe
from mmrl.train.batching import mini_batch_groups, plan_micro_batches
from mmrl.types import Example, Rollout, Score

log = logging.getLogger(__name__)

__all__ = [
    "NonFiniteGuard",
    "StepBatch",
    "UpdatePlan",
    "collect_batch",
    "compute_old_and_reference_logprobs",
    "generate_and_score",
    "guarded_optimizer_step",
    "plan_update",
    "shape_rewards",
    "step_advantages",
    "update_policy",
]


# ---------------------------------------------------------------------------------------------
# generate -> score (-> DAPO dynamic sampling)
# ---------------------------------------------------------------------------------------------


@dataclass
class StepBatch:
    """The trajectories one step trains on, grouped by prompt.

    Attributes:
        rollouts: ``N`` rollouts; each group's samples are contiguous.
        scores: The verifier's ``Score`` of each rollout.
        group_ids: ``[N]`` dense prompt ids ``0..K-1`` (non-decreasing).
        rewards: ``[N]`` verifier rewards, ``NaN`` where the response could not be scored.
        correct: ``[N]`` 1/0, ``NaN`` where unknown.
        batch_accuracy: A-GRAE's ``ω`` over every scorable trajectory generated this step (all ranks,
            all dynamic-sampling rounds), before any filtering.
        metrics: ``reward/*``, ``response/*``, ``prompts/*`` and ``dynamic_sampling/*`` of the step.
    """

    rollouts: list[Rollout]
    scores: list[Score]
    group_ids: Tensor
    rewards: Tensor
    correct: Tensor
    batch_accuracy: float
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def num_groups(self) -> int:
        return int(self.group_ids.max()) + 1 if self.group_ids.numel() else 0


def generate_and_score(
    policy: Any, engine: Any, runner: Any, examples: Sequence[Example], n: int, sampling: Sampling, timer: Any
) -> tuple[list[Rollout], list[Score], dict[str, int], int]:
    """``n`` samples per example, scored: ``(rollouts, scores, runner counters, prompts dropped)``.

    Prompts over ``data.max_prompt_length`` are dropped by ``policy.prepare`` (logged there).
    """
    kept, dropped = policy.prepare(examples)
    if not kept:
        return [], [], {}, len(dropped)
    with timer("generate"):
        rollouts = engine.generate(kept, n, sampling)
    with timer("score"):
        result = runner.score(
            [r.response_text for r in rollouts],
            [r.example for r in rollouts],
            [r.truncated for r in rollouts],
        )
    return rollouts, list(result.scores), dict(result.counters), len(dropped)


def _group_ids_of(rollouts: Sequence[Rollout]) -> Tensor:
    """Dense ids, one per run of rollouts sharing an example (the engines return groups contiguously)."""
    ids, last, current = [], None, -1
    for r in rollouts:
        key = id(r.example)
        if key != last:
            current += 1
            last = key
        ids.append(current)
    return torch.tensor(ids, dtype=torch.long)


#: The reward runner's counters logged as ``reward/<name>`` (summed over data-parallel ranks).
RUNNER_COUNTERS = ("timeout", "error", "unparsable_pred", "unparsable_gold", "workers_restarted")


def collect_batch(
    draw_prompts: Callable[[], list[Example]],
    policy: Any,
    engine: Any,
    runner: Any,
    settings: AlgorithmSettings,
    n: int,
    sampling_for_round: Callable[[int], Sampling],
    timer: Any,
    dynamic_sampler: DynamicSampler | None = None,
    all_reduce_sum: Callable[[list[float]], list[float]] = lambda values: values,
) -> StepBatch:
    """Generate and score one step's trajectories.

    Without dynamic sampling: one round of ``draw_prompts()``. With it (``settings.dynamic_sampling``,
    ``dynamic_sampler`` given): rounds of fresh prompts until the sampler holds its target number of
    mixed groups or runs out of rounds (DAPO). ``ω`` covers every round, before filtering, and is
    summed over data-parallel ranks with ``all_reduce_sum``.
    """
    counters: dict[str, float] = {}
    all_rewards: list[Tensor] = []
    all_correct: list[Tensor] = []
    lengths: list[int] = []
    truncated = 0
    dropped = 0
    rounds = 0

    def one_round() -> tuple[list[Rollout], list[Score], Tensor, Tensor, Tensor]:
        nonlocal truncated, dropped, rounds
        rollouts, scores, round_counters, round_dropped = generate_and_score(
            policy, engine, runner, draw_prompts(), n, sampling_for_round(rounds), timer
        )
        rounds += 1
        dropped += round_dropped
        for key, value in round_counters.items():
            counters[key] = counters.get(key, 0) + value
        rewards, correct = score_tensors(scores) if scores else (torch.empty(0), torch.empty(0))
        all_rewards.append(rewards)
        all_correct.append(correct)
        lengths.extend(len(r.response_ids) for r in rollouts)
        truncated += sum(r.truncated for r in rollouts)
        return rollouts, scores, rewards, correct, _group_ids_of(rollouts)

    if settings.dynamic_sampling and dynamic_sampler is not None:
        dynamic_sampler.begin_step()
        while dynamic_sampler.needs_more():
            rollouts, scores, rewards, correct, group_ids = one_round()
            dynamic_sampler.add_round(list(zip(rollouts, scores, strict=True)), rewards, group_ids, correct)
        kept = dynamic_sampler.finish()
        rollouts = [r for r, _ in kept.items]
        scores = [s for _, s in kept.items]
        group_ids, rewards = kept.group_ids, kept.rewards
        correct = kept.correct if kept.correct is not None else torch.full_like(rewards, math.nan)
        rewards, correct = rewards.float(), correct.float()
        extra = dict(kept.metrics)
    else:
        rollouts, scores, rewards, correct, group_ids = one_round()
        extra = {}

    generated = torch.cat(all_rewards) if all_rewards else torch.empty(0)
    generated_correct = torch.cat(all_correct) if all_correct else torch.empty(0)
    scorable = generated[~torch.isnan(generated)].double()
    known = generated_correct[~torch.isnan(generated_correct)].double()
    sums = all_reduce_sum(
        [
            float(scorable.sum()),
            float(scorable.numel()),
            float(known.sum()),
            float(known.numel()),
            float(generated.numel()),
            float(sum(lengths)),
            float(truncated),
            float(dropped),
            *(float(counters.get(key, 0)) for key in RUNNER_COUNTERS),
        ]
    )
    reward_sum, reward_count, correct_sum, correct_count, total, length_sum, truncated_sum, dropped_sum = (
        sums[:8]
    )
    counters = dict(zip(RUNNER_COUNTERS, sums[8:], strict=True))  # over every rank
    # ω = clip(Σ r / B, 0, 1) over the scorable rewards of every rank (mmrl.algos.batch_accuracy).
    omega = min(1.0, max(0.0, reward_sum / reward_count)) if reward_count else math.nan
    if total == 0:
        raise UserError(
            "nothing was generated this step: every sampled prompt was over data.max_prompt_length "
            "(raise it, or lower data.max_pixels for images)"
        )
    metrics = {
        "reward/mean": reward_sum / reward_count if reward_count else math.nan,
        "reward/accuracy": correct_sum / correct_count if correct_count else math.nan,
        "reward/unscorable_frac": 1.0 - reward_count / total if total else 0.0,
        "response/length_mean": length_sum / total if total else 0.0,
        "response/truncated_frac": truncated_sum / total if total else 0.0,
        "prompts/dropped": dropped_sum,
        "rollout/rounds": float(rounds),
    }
    for key in RUNNER_COUNTERS:
        metrics[f"reward/{key}"] = float(counters[key])
    metrics.update(extra)
    return StepBatch(rollouts, scores, group_ids, rewards, correct, omega, metrics)


# ---------------------------------------------------------------------------------------------
# rewards -> advantages
# ---------------------------------------------------------------------------------------------


def shape_rewards(batch: StepBatch, settings: AlgorithmSettings) -> Tensor:
    """The rewards the estimator sees ``[N]``: the verifier's, plus DAPO's overlong penalty when the
    preset (or ``algorithm.overlong.enable``) turns it on. Unscorable (NaN) rewards stay NaN."""
    if not settings.overlong:
        return batch.rewards
    lengths = torch.tensor([len(r.response_ids) for r in batch.rollouts], dtype=torch.float32)
    penalty = overlong_penalty(
        lengths,
        settings.max_response_length,
        settings.overlong_buffer_length,
        settings.overlong_penalty_factor,
    )
    return batch.rewards + penalty


def step_advantages(
    batch: StepBatch, rewards: Tensor, settings: AlgorithmSettings
) -> tuple[Tensor, dict[str, float]]:
    """``[N]`` advantages from the registered estimator, with its group diagnostics.

    The estimator gets the step data every estimator may read: ``correct`` and ``batch_accuracy``
    (``ω``, computed before filtering and shaping).
    """
    omega = batch.batch_accuracy if math.isfinite(batch.batch_accuracy) else batch_accuracy(rewards)
    return settings.advantages(rewards, batch.group_ids, correct=batch.correct, batch_accuracy=omega)


# ---------------------------------------------------------------------------------------------
# update: mini-batches of micro-batches, policy_loss, guarded optimizer step
# ---------------------------------------------------------------------------------------------


@dataclass
class UpdatePlan:
    """Which rows go into which pass: ``mini_batches[m]`` is a list of micro-batches (row indices).

    Only rows that can change the update are planned: with ``settings.loss.zero_advantage_is_inert``
    (no KL, no entropy term) a row whose advantage is 0 everywhere adds exactly 0 to the loss and
    its gradient, so it gets no forward or backward pass. ``normalizers[m]`` is still counted over
    every row of mini-batch ``m`` (``loss_normalizer``), so the update equals the one with every
    row. ``spare_rows[m]`` is a row of mini-batch ``m`` for the zero-weight passes that keep
    data-parallel ranks in step (``None`` when the mini-batch has no row here).

    ``old_logprobs``/``ref_logprobs`` are filled by ``compute_old_and_reference_logprobs``, keyed by
    ``(m, k)``; an absent old entry means "the policy that sampled is the current one" (one optimizer
    step per RL step), and the update uses its own log-probabilities, detached.
    """

    mini_batches: list[list[list[int]]]
    normalizers: list[float] = field(default_factory=list)
    spare_rows: list[int | None] = field(default_factory=list)
    num_rows: int = 0
    num_skipped: int = 0
    old_logprobs: dict[tuple[int, int], Tensor] = field(default_factory=dict)
    ref_logprobs: dict[tuple[int, int], Tensor] = field(default_factory=dict)

    def micro_batches(self) -> list[tuple[int, int, list[int]]]:
        return [(m, k, rows) for m, mb in enumerate(self.mini_batches) for k, rows in enumerate(mb)]


def _row_normalizer(response_lengths: Sequence[int], agg_mode: str) -> float:
    """``loss_normalizer`` of rows with these response lengths (a mask of each row's tokens)."""
    if not response_lengths:
        return 0.0
    lengths = torch.tensor(response_lengths)
    mask = torch.arange(int(lengths.max())) < lengths[:, None]  # [R, T]
    return float(loss_normalizer(mask, agg_mode))


def plan_update(
    batch: StepBatch,
    advantages: Tensor,
    settings: AlgorithmSettings,
    num_mini_batches: int,
    micro_batch_size: int,
    max_tokens: int | None,
    *,
    skip_inert_rows: bool = True,
) -> UpdatePlan:
    """Split the step's groups into ``num_mini_batches``, leave out the rows that cannot change the
    update (see ``UpdatePlan``; ``skip_inert_rows=False`` keeps them), and cut the rest into
    token-bounded micro-batches."""
    prompt_lengths = [len(r.prompt_ids) for r in batch.rollouts]
    response_lengths = [len(r.response_ids) for r in batch.rollouts]
    group_of = batch.group_ids.tolist()
    flat = advantages.flatten(1) if advantages.dim() > 1 else advantages[:, None]  # [N, T] or [N, 1]
    if skip_inert_rows and settings.loss.zero_advantage_is_inert:
        trains = (flat != 0).any(-1).tolist()
    else:
        trains = [True] * len(group_of)
    plan = UpdatePlan([], num_rows=len(group_of), num_skipped=len(group_of) - sum(trains))
    for groups in mini_batch_groups(batch.num_groups, num_mini_batches):
        rows = [i for i, g in enumerate(group_of) if g in groups]
        kept = [i for i in rows if trains[i]]
        micro = plan_micro_batches(
            [prompt_lengths[i] for i in kept],
            [response_lengths[i] for i in kept],
            micro_batch_size,
            max_tokens,
        )
        plan.mini_batches.append([[kept[j] for j in mb] for mb in micro])
        plan.normalizers.append(_row_normalizer([response_lengths[i] for i in rows], settings.loss.agg_mode))
        plan.spare_rows.append(rows[0] if rows else None)
    return plan


def compute_old_and_reference_logprobs(
    plan: UpdatePlan,
    batch: StepBatch,
    policy: Any,
    ref_policy: Any | None,
    temperature: float,
    needs_old: bool,
) -> None:
    """Fill ``plan.old_logprobs`` (when several optimizer steps share one batch of samples) and
    ``plan.ref_logprobs`` (when the loss has a KL term) with no-grad passes, before any update."""
    if not needs_old and ref_policy is None:
        return
    with torch.no_grad():
        for m, k, rows in plan.micro_batches():
            micro = policy.collate([batch.rollouts[i] for i in rows])
            if needs_old:
                plan.old_logprobs[(m, k)] = policy.logprobs(micro, temperature=temperature)[0].detach()
            if ref_policy is not None:
                plan.ref_logprobs[(m, k)] = ref_policy.logprobs(micro, temperature=temperature)[0].detach()


@dataclass
class NonFiniteGuard:
    """Counts RL steps that skipped an optimizer step for a non-finite loss or gradient norm, and
    aborts once ``limit`` of them came in a row (``trainer.max_consecutive_nonfinite``)."""

    limit: int
    total: int = 0
    consecutive: int = 0
    first_bad_step: int | None = None

    def record(self, step: int, skipped: int) -> None:
        """Note whether ``step`` skipped any optimizer step (``skipped`` > 0)."""
        if skipped:
            self.total += 1
            self.consecutive += 1
            if self.consecutive == 1:
                self.first_bad_step = step
        else:
            self.consecutive = 0
            self.first_bad_step = None

    def check(self, step: int) -> None:
        """Raise ``UserError`` when the last ``limit`` steps up to ``step`` were all non-finite."""
        if self.consecutive >= self.limit:
            raise UserError(
                f"training aborted: {self.consecutive} steps in a row (steps {self.first_bad_step}-{step}) had a "
                "non-finite loss or gradient norm; each was skipped (parameters unchanged). Usual causes: a "
                "learning rate too high (trainer.learning_rate), fp16 overflow (use trainer.mixed_precision=bf16), "
                f"or weights that are already NaN. The limit is trainer.max_consecutive_nonfinite={self.limit}"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total, "consecutive": self.consecutive, "first_bad_step": self.first_bad_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = int(state["total"])
        self.consecutive = int(state["consecutive"])
        self.first_bad_step = state["first_bad_step"]


def guarded_optimizer_step(
    accelerator: Any, model: Any, optimizer: Any, loss_value: float, max_grad_norm: float
) -> tuple[bool, float]:
    """Clip, then step only if the loss and the gradient norm are finite: ``(applied, grad_norm)``.

    A skipped step leaves the parameters and the optimizer state exactly as they were; the
    gradients are cleared either way. Every rank sees the same (all-reduced) loss and norm, so all
    ranks take the same branch.
    """
    norm = accelerator.clip_grad_norm_(model.parameters(), max_grad_norm if max_grad_norm > 0 else math.inf)
    grad_norm = float(norm) if norm is not None else math.nan
    applied = math.isfinite(loss_value) and math.isfinite(grad_norm)
    if applied:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return applied, grad_norm


@dataclass
class _UpdateRecord:
    """What the passes of one ``update_policy`` call leave for its metrics."""

    loss_parts: list[dict[str, float]] = field(default_factory=list)
    mini_losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    skipped: int = 0
    entropy_sum: float = 0.0
    entropy_count: float = 0.0
    probe_engine: list[Tensor] = field(default_factory=list)
    probe_trainer: list[Tensor] = field(default_factory=list)


def _train_pass(
    policy: Any,
    accelerator: Any,
    batch: StepBatch,
    rows: list[int],
    advantages: Tensor,
    plan: UpdatePlan,
    key: tuple[int, int],
    settings: AlgorithmSettings,
    temperature: float,
    normalizer: float,
    dummy: bool,
    sync_gradients: bool,
) -> tuple[Tensor, dict[str, float], Any, Tensor, Tensor | None]:
    """Forward ``rows``, ``policy_loss`` with the mini-batch's ``normalizer``, backward of
    ``loss x world size`` (x 0 for a ``dummy`` pass, which only keeps collectives matched);
    returns ``(loss, metrics, collated batch, old logprobs, entropy)``."""
    model = policy.model
    sync = (
        contextlib.nullcontext()
        if sync_gradients or accelerator.num_processes == 1
        else accelerator.no_sync(model)
    )
    c = policy.collate([batch.rollouts[i] for i in rows])
    with sync:
        logprobs, entropy = policy.logprobs(c, temperature=temperature, with_entropy=True)
        mask = c.response_mask.to(logprobs.device)
        old = None if dummy else plan.old_logprobs.get(key)
        old = logprobs.detach() if old is None else old.to(logprobs.device)
        ref = plan.ref_logprobs.get(key)
        loss, metrics = policy_loss(
            logprobs,
            old,
            advantages[rows].to(logprobs.device),
            mask,
            params=settings.loss,
            ref_logprobs=None if ref is None else ref.to(logprobs.device),
            entropy=entropy if settings.needs_entropy else None,
            behaviour_logprobs=(
                c.rollout_logprobs.to(logprobs.device) if settings.loss.tis_cap is not None else None
            ),
            normalizer=max(normalizer, 1.0),
        )
        accelerator.backward(loss * (0.0 if dummy else float(accelerator.num_processes)))
    return loss, metrics, c, old, entropy


def update_policy(
    plan: UpdatePlan,
    batch: StepBatch,
    advantages: Tensor,
    policy: Any,
    accelerator: Any,
    optimizer: Any,
    scheduler: Any,
    settings: AlgorithmSettings,
    temperature: float,
    max_grad_norm: float,
    probe: SyncProbe | None = None,
) -> dict[str, float]:
    """One optimizer step per mini-batch that has rows to train; its loss is the sum of its
    micro-batch losses.

    Per micro-batch (``_train_pass``): ``policy.logprobs`` (with grad), ``policy_loss`` with the
    mini-batch's global normaliser (summed over ranks, counting the rows the plan left out),
    ``accelerator.backward(loss · world_size)`` (DDP averages gradients over ranks; the normaliser
    already counts every rank's tokens). Ranks with fewer micro-batches than the busiest one run
    zero-weight passes so that collectives stay matched. A mini-batch with no row to train on any
    rank takes no optimizer step (parameters and optimizer state unchanged: nothing could change
    them); the learning-rate schedule advances either way. Returns ``loss`` (mean over optimizer
    steps), ``grad_norm``, ``optimizer/steps``, ``optimizer/skipped_steps`` (non-finite),
    ``update/skipped_zero_advantage_frac``, the token-weighted ``policy_loss`` metrics under
    ``actor/`` and the sync probe's gap.
    """
    record = _UpdateRecord()
    policy.model.train()
    for m, micro_batches in enumerate(plan.mini_batches):
        normalizer, passes = sum_over_ranks(
            accelerator, [plan.normalizers[m], float(len(micro_batches))], op_max_index=1
        )
        if passes == 0:
            scheduler.step()
            continue
        mini_loss = 0.0
        for k in range(int(passes)):
            dummy = k >= len(micro_batches)
            if dummy and plan.spare_rows[m] is None:
                raise UserError(
                    "a data-parallel rank has no trajectory for a mini-batch while another has; use "
                    "trainer.prompts_per_step divisible by the number of processes x mini-batches"
                )
            if not dummy:
                rows, key = micro_batches[k], (m, k)
            elif micro_batches:
                rows, key = micro_batches[0], (m, 0)
            else:  # every row of this rank was left out (zero advantages; no KL term)
                rows, key = [plan.spare_rows[m]], (m, -1)
            loss, metrics, c, old, entropy = _train_pass(
                policy,
                accelerator,
                batch,
                rows,  # type: ignore[arg-type]
                advantages,
                plan,
                key,
                settings,
                temperature,
                normalizer,
                dummy=dummy,
                sync_gradients=k == passes - 1,
            )
            if dummy:
                continue
            mini_loss += float(loss.detach())
            record.loss_parts.append(metrics)
            if entropy is not None:
                mask = c.response_mask.to(entropy.device)
                record.entropy_sum += float((entropy.detach() * mask).sum())
                record.entropy_count += float(mask.sum())
            if probe is not None and m == 0 and c.rollout_logprobs is not None:
                # ``old`` holds the log-probs of the weights that sampled the batch (in the first
                # mini-batch, the current weights).
                sel = c.response_mask > 0
                record.probe_engine.append(c.rollout_logprobs[sel])
                record.probe_trainer.append(old.cpu()[sel])
        mini_loss = sum_over_ranks(accelerator, [mini_loss])[0]
        applied, grad_norm = guarded_optimizer_step(
            accelerator, policy.model, optimizer, mini_loss, max_grad_norm
        )
        if not applied:
            record.skipped += 1
            log.warning(
                "skipped an optimizer step: loss %s, gradient norm %s (parameters unchanged)",
                mini_loss,
                grad_norm,
            )
        scheduler.step()
        record.mini_losses.append(mini_loss)
        record.grad_norms.append(grad_norm)
    return _update_metrics(record, plan, scheduler, probe, accelerator)


def _update_metrics(
    record: _UpdateRecord, plan: UpdatePlan, scheduler: Any, probe: SyncProbe | None, accelerator: Any
) -> dict[str, float]:
    out = (
        {f"actor/{k}": v for k, v in combine_metrics(record.loss_parts).items()} if record.loss_parts else {}
    )
    trained = len(record.mini_losses)
    out["loss"] = sum(record.mini_losses) / trained if trained else 0.0
    out["grad_norm"] = sum(record.grad_norms) / trained if trained else 0.0
    out["optimizer/steps"] = float(trained - record.skipped)
    out["optimizer/skipped_steps"] = float(record.skipped)
    out["optimizer/lr"] = float(scheduler.get_last_lr()[0])
    skipped, rows = sum_over_ranks(accelerator, [float(plan.num_skipped), float(plan.num_rows)])
    out["update/skipped_zero_advantage_frac"] = skipped / rows if rows else 0.0
    if record.entropy_count:
        out["actor/entropy_mean"] = record.entropy_sum / record.entropy_count
    if probe is not None and record.probe_engine:
        engine_lp = torch.cat(record.probe_engine)[None]
        trainer_lp = torch.cat(record.probe_trainer)[None]
        out.update(probe.check(engine_lp, trainer_lp, torch.ones_like(engine_lp)))
    return out


def sum_over_ranks(accelerator: Any, values: list[float], op_max_index: int | None = None) -> list[float]:
    """Sum ``values`` over ranks (the entry at ``op_max_index`` takes the max instead)."""
    if accelerator.num_processes == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=accelerator.device)
    summed = accelerator.reduce(t.clone(), reduction="sum")
    if op_max_index is not None:
        gathered = accelerator.gather(t[op_max_index : op_max_index + 1])
        summed[op_max_index] = gathered.max()
    return summed.tolist()
