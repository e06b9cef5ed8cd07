"""The stages of one RL step, each a function of the step context you can call alone::

    ctx = StepContext(policy, engine, runner, algorithm, accelerator, optimizer, scheduler)
    batch = collect_batch(ctx, draw_prompts, n, sampling_for_round)   # generate -> score (-> DAPO filter)
    rewards = shape_rewards(batch, ctx.algorithm)                     # DAPO overlong shaping
    advantages, metrics = step_advantages(ctx, batch, rewards)        # the resolved estimator + diagnostics
    plan = plan_update(batch, advantages, ctx.algorithm, ...)         # mini-/micro-batches; inert rows left out
    compute_old_and_reference_logprobs(ctx, plan, batch, needs_old)   # no-grad passes before any update
    metrics = update_policy(ctx, plan, batch, advantages)             # policy_loss, backward, guarded step

``mmrl.train.trainer`` calls them in this order (``DESIGN.md``, "One training step"); nothing here
reads the config tree, and nothing branches on an algorithm's name (the algorithm arrives resolved,
as ``mmrl.algos.AlgorithmSettings``). Sums over data-parallel ranks go through
``reduce_over_ranks``, by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

from mmrl.algos import (
    AlgorithmSettings,
    DynamicSampler,
    batch_accuracy_from_sums,
    combine_metrics,
    loss_normalizer,
    overlong_penalty,
    policy_loss,
    score_tensors,
)
from mmrl.errors import UserError
from mmrl.policy.base import Batch, Policy
from mmrl.rollout import RolloutEngine, Sampling, SyncProbe
from mmrl.train.batching import mini_batch_groups, plan_micro_batches
from mmrl.train.metrics import PhaseTimer
from mmrl.train.watchdog import collective
from mmrl.types import Example, Rollout, Score

if TYPE_CHECKING:  # annotations only: accelerate and the reward runner are imported by the trainer
    from accelerate import Accelerator
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler

    from rewards.runner import RunnerResult

log = logging.getLogger(__name__)

__all__ = [
    "NonFiniteGuard",
    "Scorer",
    "StepBatch",
    "StepContext",
    "TruncationAlarm",
    "UpdatePlan",
    "collect_batch",
    "compute_old_and_reference_logprobs",
    "generate_and_score",
    "guarded_optimizer_step",
    "plan_update",
    "reduce_over_ranks",
    "shape_rewards",
    "step_advantages",
    "update_policy",
]


class Scorer(Protocol):
    """What scores responses: ``rewards.RewardRunner`` (tests pass scripted ones)."""

    def score(
        self,
        responses: Sequence[str],
        examples: Sequence[Example],
        truncated: Sequence[bool],
        lengths: Sequence[int] | None = None,
    ) -> RunnerResult: ...


@dataclass
class StepContext:
    """Everything the stages of a step use, built once by the trainer (a test builds its own).

    Attributes:
        policy: The policy being trained; ``engine`` samples from it (or from its pushed weights).
        engine: The rollout engine.
        runner: The reward runner.
        algorithm: The resolved algorithm (estimator, loss, DAPO rules).
        accelerator: The ``accelerate.Accelerator`` (placement, precision, collectives).
        optimizer, scheduler: What ``update_policy`` steps; not needed by the other stages.
        ref_policy: The frozen reference model, when the loss has a KL term.
        probe: The sync probe ``update_policy`` feeds with the engine's and the trainer's log-probs.
        temperature: The temperature log-probabilities are computed at (the sampling one).
        max_grad_norm: Gradient clipping norm; 0 disables clipping.
        reward_components: The reward functions' names (``RewardRunner.component_names``): each is
            logged as ``reward/<name>``, its mean over the responses it scored.
        timer: Seconds per phase of the current step (``for_step`` gives a fresh one).
    """

    policy: Policy
    engine: RolloutEngine
    runner: Scorer
    algorithm: AlgorithmSettings
    accelerator: Accelerator
    optimizer: Optimizer | None = None
    scheduler: LRScheduler | None = None
    ref_policy: Policy | None = None
    probe: SyncProbe | None = None
    temperature: float = 1.0
    max_grad_norm: float = 0.0
    reward_components: tuple[str, ...] = ()
    timer: PhaseTimer = field(default_factory=PhaseTimer)

    def for_step(self) -> StepContext:
        """This context with a fresh phase timer (watched by the same watchdog)."""
        return dataclasses.replace(self, timer=PhaseTimer(self.timer.watchdog))


def reduce_over_ranks(
    accelerator: Accelerator, values: dict[str, float], maximum: Sequence[str] = ()
) -> dict[str, float]:
    """``values`` summed over data-parallel ranks (the keys in ``maximum`` take the largest value).

    Every rank must pass the same keys in the same order (the stages build them from literals).
    """
    if accelerator.num_processes == 1:
        return dict(values)
    keys = list(values)
    op = "the all-reduce of " + ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=accelerator.device)
    with collective(op, accelerator.process_index):
        summed = accelerator.reduce(t.clone(), reduction="sum")
    out = dict(zip(keys, summed.tolist(), strict=True))
    if maximum:
        local = torch.tensor(
            [float(values[k]) for k in maximum], dtype=torch.float64, device=accelerator.device
        )
        with collective(f"the all-gather of {', '.join(maximum)}", accelerator.process_index):
            largest = accelerator.gather(local[None]).max(dim=0).values.tolist()
        out.update(zip(maximum, largest, strict=True))
    return out


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


def generate_and_score(
    ctx: StepContext, examples: Sequence[Example], n: int, sampling: Sampling
) -> tuple[list[Rollout], list[Score], dict[str, int], int]:
    """``n`` samples per example, scored: ``(rollouts, scores, runner counters, prompts dropped)``.

    Prompts over ``data.max_prompt_length`` are dropped by ``policy.prepare`` (logged there).
    """
    kept, dropped = ctx.policy.prepare(examples)
    if not kept:
        return [], [], {}, len(dropped)
    pending = [p.example.id for p in kept]
    with ctx.timer("generate", pending):
        rollouts = ctx.engine.generate(kept, n, sampling)
    with ctx.timer("score", pending):
        result = ctx.runner.score(
            [r.response_text for r in rollouts],
            [r.example for r in rollouts],
            [r.truncated for r in rollouts],
            [len(r.response_ids) for r in rollouts],
        )
    return rollouts, list(result.scores), dict(result.counters), len(dropped)


#: The reward runner's counters logged as ``reward/<name>`` (summed over data-parallel ranks).
RUNNER_COUNTERS = ("timeout", "error", "unparsable_pred", "unparsable_gold", "workers_restarted")


@dataclass
class _Generated:
    """Running totals over every trajectory generated in a step (all rounds), before any filter."""

    reward_sum: float = 0.0
    reward_count: float = 0.0
    correct_sum: float = 0.0
    correct_count: float = 0.0
    total: float = 0.0
    length_sum: float = 0.0
    truncated: float = 0.0
    dropped: float = 0.0
    rounds: float = 0.0
    counters: dict[str, float] = field(default_factory=lambda: dict.fromkeys(RUNNER_COUNTERS, 0.0))
    #: ``name -> [sum, count]`` of each reward function's values over the responses it scored.
    components: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def for_components(cls, names: Sequence[str]) -> _Generated:
        return cls(components={name: [0.0, 0.0] for name in names})

    def add(
        self,
        rollouts: list[Rollout],
        rewards: Tensor,
        correct: Tensor,
        counters: dict,
        dropped: int,
        scores: Sequence[Score] = (),
    ) -> None:
        scorable = rewards[~torch.isnan(rewards)].double()
        known = correct[~torch.isnan(correct)].double()
        self.reward_sum += float(scorable.sum())
        self.reward_count += scorable.numel()
        self.correct_sum += float(known.sum())
        self.correct_count += known.numel()
        self.total += len(rollouts)
        self.length_sum += sum(len(r.response_ids) for r in rollouts)
        self.truncated += sum(r.truncated for r in rollouts)
        self.dropped += dropped
        self.rounds += 1
        for key in RUNNER_COUNTERS:
            self.counters[key] += counters.get(key, 0)
        for name, total in self.components.items():
            values = [s.components[name] for s in scores if s.reward is not None and name in s.components]
            total[0] += sum(values)
            total[1] += len(values)

    def over_ranks(self, accelerator: Accelerator) -> _Generated:
        totals = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("counters", "components")
        }
        parts = {f"{name}/{i}": total[i] for name, total in self.components.items() for i in (0, 1)}
        reduced = reduce_over_ranks(accelerator, {**totals, **self.counters, **parts})
        counters = {key: reduced.pop(key) for key in RUNNER_COUNTERS}
        components = {name: [reduced.pop(f"{name}/0"), reduced.pop(f"{name}/1")] for name in self.components}
        reduced["rounds"] = self.rounds  # rounds happen on every rank together; not a sum
        return _Generated(**reduced, counters=counters, components=components)

    def metrics(self) -> dict[str, float]:
        def ratio(a: float, b: float, empty: float = math.nan) -> float:
            return a / b if b else empty

        return {
            "reward/mean": ratio(self.reward_sum, self.reward_count),
            "reward/accuracy": ratio(self.correct_sum, self.correct_count),
            "reward/unscorable_frac": 1.0 - ratio(self.reward_count, self.total, 1.0),
            "response/length_mean": ratio(self.length_sum, self.total, 0.0),
            "response/truncated_frac": ratio(self.truncated, self.total, 0.0),
            "prompts/dropped": self.dropped,
            "rollout/rounds": self.rounds,
            **{f"reward/{key}": value for key, value in self.counters.items()},
            **{f"reward/{name}": ratio(total, count) for name, (total, count) in self.components.items()},
        }


def collect_batch(
    ctx: StepContext,
    draw_prompts: Callable[[], list[Example]],
    n: int,
    sampling_for_round: Callable[[int], Sampling],
    dynamic_sampler: DynamicSampler | None = None,
) -> StepBatch:
    """Generate and score one step's trajectories.

    Without dynamic sampling: one round of ``draw_prompts()``. With it (``ctx.algorithm.dynamic_sampling``
    and a ``dynamic_sampler``): rounds of fresh prompts until the sampler holds its target number of
    mixed groups or runs out of rounds (DAPO). ``ω`` (``batch_accuracy_from_sums``) counts every
    scorable reward generated, in every round and on every rank, before any filter or shaping.
    """
    generated = _Generated.for_components(ctx.reward_components)

    def one_round() -> tuple[list[Rollout], list[Score], Tensor, Tensor, Tensor]:
        sampling = sampling_for_round(int(generated.rounds))
        rollouts, scores, counters, dropped = generate_and_score(ctx, draw_prompts(), n, sampling)
        rewards, correct = score_tensors(scores) if scores else (torch.empty(0), torch.empty(0))
        generated.add(rollouts, rewards, correct, counters, dropped, scores)
        return rollouts, scores, rewards, correct, _group_ids_of(rollouts)

    extra: dict[str, float] = {}
    if ctx.algorithm.dynamic_sampling and dynamic_sampler is not None:
        dynamic_sampler.begin_step()
        while dynamic_sampler.needs_more():
            rollouts, scores, rewards, correct, group_ids = one_round()
            dynamic_sampler.add_round(list(zip(rollouts, scores, strict=True)), rewards, group_ids, correct)
        kept = dynamic_sampler.finish()
        rollouts, scores = [r for r, _ in kept.items], [s for _, s in kept.items]
        group_ids, rewards = kept.group_ids, kept.rewards.float()
        correct = kept.correct.float() if kept.correct is not None else torch.full_like(rewards, math.nan)
        extra = dict(kept.metrics)
    else:
        rollouts, scores, rewards, correct, group_ids = one_round()
    everywhere = generated.over_ranks(ctx.accelerator)
    if everywhere.total == 0:
        raise UserError(
            "nothing was generated this step: every sampled prompt was over data.max_prompt_length "
            "(raise it, or lower data.max_pixels for images)"
        )
    if everywhere.reward_count == 0:
        _warn_nothing_scored(everywhere)
    omega = batch_accuracy_from_sums(everywhere.reward_sum, everywhere.reward_count)
    return StepBatch(rollouts, scores, group_ids, rewards, correct, omega, {**everywhere.metrics(), **extra})


def _warn_nothing_scored(generated: _Generated) -> None:
    """One WARNING for a step in which not one response got a reward: every advantage is then 0 and
    the update changes nothing, which would otherwise look like a quiet, healthy step."""
    c = generated.counters
    log.warning(
        "none of the %d responses of this step could be scored (timeouts %d, verifier errors %d, "
        "unparsable gold answers %d): every advantage is 0 and the update changes nothing. Check "
        "reward.verifier on a few rows with `mmrl verify`, and reward.timeout_s",
        int(generated.total),
        int(c["timeout"]),
        int(c["error"]),
        int(c["unparsable_gold"]),
    )


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


def step_advantages(ctx: StepContext, batch: StepBatch, rewards: Tensor) -> tuple[Tensor, dict[str, float]]:
    """``[N]`` advantages from the resolved estimator, with its group diagnostics.

    The estimator gets the step data every estimator may read: ``correct`` and ``batch_accuracy``
    (``ω`` as ``collect_batch`` counted it: every generated trajectory, before filtering and shaping;
    ``NaN`` when nothing was scorable, which leaves every group-relative advantage 0).
    """
    return ctx.algorithm.advantages(
        rewards, batch.group_ids, correct=batch.correct, batch_accuracy=batch.batch_accuracy
    )


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
    row. With ``settings.mask_truncated``, truncated rows are out of the loss altogether: never
    planned, and not counted in the normaliser either (as if their mask were all zeros, the way
    TRL's ``mask_truncated_completions`` does it; ``num_masked`` counts them). ``spare_rows[m]`` is a row of mini-batch ``m`` for the zero-weight passes that keep
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
    num_masked: int = 0
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
    in_loss = [not (settings.mask_truncated and r.truncated) for r in batch.rollouts]
    plan = UpdatePlan(
        [],
        num_rows=len(group_of),
        num_skipped=sum(m and not t for t, m in zip(trains, in_loss, strict=True)),
        num_masked=len(group_of) - sum(in_loss),
    )
    for groups in mini_batch_groups(batch.num_groups, num_mini_batches):
        every = [i for i, g in enumerate(group_of) if g in groups]
        rows = [i for i in every if in_loss[i]]
        kept = [i for i in rows if trains[i]]
        micro = plan_micro_batches(
            [prompt_lengths[i] for i in kept],
            [response_lengths[i] for i in kept],
            micro_batch_size,
            max_tokens,
        )
        plan.mini_batches.append([[kept[j] for j in mb] for mb in micro])
        plan.normalizers.append(_row_normalizer([response_lengths[i] for i in rows], settings.loss.agg_mode))
        plan.spare_rows.append(every[0] if every else None)  # a zero-weight pass may use any row
    return plan


def compute_old_and_reference_logprobs(
    ctx: StepContext, plan: UpdatePlan, batch: StepBatch, needs_old: bool
) -> None:
    """Fill ``plan.old_logprobs`` (when several optimizer steps share one batch of samples) and
    ``plan.ref_logprobs`` (when the loss has a KL term) with no-grad passes, before any update."""
    if not needs_old and ctx.ref_policy is None:
        return
    with torch.no_grad():
        for m, k, rows in plan.micro_batches():
            micro = ctx.policy.collate([batch.rollouts[i] for i in rows])
            if needs_old:
                plan.old_logprobs[(m, k)] = ctx.policy.logprobs(micro, temperature=ctx.temperature)[
                    0
                ].detach()
            if ctx.ref_policy is not None:
                ref = ctx.ref_policy.logprobs(micro, temperature=ctx.temperature)[0]
                plan.ref_logprobs[(m, k)] = ref.detach()
            ctx.timer.beat()


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


@dataclass
class TruncationAlarm:
    """Warns when more than ``threshold`` of a step's responses were cut off at the token limit:
    on the first such step, then at most once every ``every`` steps while it lasts.

    Attributes:
        max_new_tokens: ``rollout.max_new_tokens``, named in the warning.
        masked: ``algorithm.mask_truncated`` is on (the warning then says so instead of proposing it).
        scored: ``reward.score_truncated`` is on (else cut-off responses are scored as no answer).
    """

    max_new_tokens: int
    masked: bool
    scored: bool
    threshold: float = 0.1
    every: int = 50
    last_warned: int | None = None

    def check(self, step: int, truncated_frac: float) -> bool:
        """Log the warning if ``truncated_frac`` calls for it at ``step``; whether it did."""
        if not truncated_frac > self.threshold:
            return False
        if self.last_warned is not None and step - self.last_warned < self.every:
            return False
        self.last_warned = step
        scoring = (
            "they are scored as they stand (reward.score_truncated=true)"
            if self.scored
            else "they have no final answer and get reward 0 (reward.score_truncated=false)"
        )
        remedy = (
            "Raise rollout.max_new_tokens (they are left out of the loss: algorithm.mask_truncated=true)"
            if self.masked
            else "Raise rollout.max_new_tokens, or set algorithm.mask_truncated=true to leave them out of the loss"
        )
        log.warning(
            "step %d: %.1f%% of responses were cut off at rollout.max_new_tokens=%d (response/truncated_frac > "
            "%.2f); %s. %s. This warning repeats at most every %d steps",
            step,
            100 * truncated_frac,
            self.max_new_tokens,
            self.threshold,
            scoring,
            remedy,
            self.every,
        )
        return True


def guarded_optimizer_step(
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: Optimizer,
    loss_value: float,
    max_grad_norm: float,
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

    def add_pass(
        self, metrics: dict[str, float], c: Batch, old: Tensor, entropy: Tensor | None, probe: bool
    ) -> None:
        self.loss_parts.append(metrics)
        if entropy is not None:
            mask = c.response_mask.to(entropy.device)
            self.entropy_sum += float((entropy.detach() * mask).sum())
            self.entropy_count += float(mask.sum())
        if probe and c.rollout_logprobs is not None:
            # ``old`` holds the log-probs of the weights that sampled the batch (in the first
            # mini-batch, the current weights).
            sel = c.response_mask > 0
            self.probe_engine.append(c.rollout_logprobs[sel])
            self.probe_trainer.append(old.cpu()[sel])


def _train_pass(
    ctx: StepContext,
    batch: StepBatch,
    rows: list[int],
    advantages: Tensor,
    plan: UpdatePlan,
    key: tuple[int, int],
    normalizer: float,
    dummy: bool,
    sync_gradients: bool,
) -> tuple[Tensor, dict[str, float], Any, Tensor, Tensor | None]:
    """Forward ``rows``, ``policy_loss`` with the mini-batch's ``normalizer``, backward of
    ``loss x world size`` (x 0 for a ``dummy`` pass, which only keeps collectives matched);
    returns ``(loss, metrics, collated batch, old logprobs, entropy)``."""
    acc, algo, model = ctx.accelerator, ctx.algorithm, ctx.policy.model
    sync = contextlib.nullcontext() if sync_gradients or acc.num_processes == 1 else acc.no_sync(model)
    c = ctx.policy.collate([batch.rollouts[i] for i in rows])
    with sync:
        logprobs, entropy = ctx.policy.logprobs(c, temperature=ctx.temperature, with_entropy=True)
        device = logprobs.device
        old = None if dummy else plan.old_logprobs.get(key)
        old = logprobs.detach() if old is None else old.to(device)
        ref = plan.ref_logprobs.get(key)
        loss, metrics = policy_loss(
            logprobs,
            old,
            advantages[rows].to(device),
            c.response_mask.to(device),
            params=algo.loss,
            ref_logprobs=None if ref is None else ref.to(device),
            entropy=entropy if algo.needs_entropy else None,
            behaviour_logprobs=c.rollout_logprobs.to(device) if algo.loss.tis_cap is not None else None,
            normalizer=max(normalizer, 1.0),
        )
        acc.backward(loss * (0.0 if dummy else float(acc.num_processes)))
    return loss, metrics, c, old, entropy


def _pass_rows(plan: UpdatePlan, m: int, k: int) -> tuple[list[int], tuple[int, int], bool]:
    """``(rows, key, dummy)`` of pass ``k`` of mini-batch ``m``. Past this rank's micro-batches the
    pass is a zero-weight one on rows of its own (the first micro-batch, else the spare row)."""
    micro_batches = plan.mini_batches[m]
    if k < len(micro_batches):
        return micro_batches[k], (m, k), False
    if micro_batches:
        return micro_batches[0], (m, 0), True
    spare = plan.spare_rows[m]
    if spare is None:
        raise UserError(
            "a data-parallel rank has no trajectory for a mini-batch while another has; use "
            "trainer.prompts_per_step divisible by the number of processes x mini-batches"
        )
    return [spare], (m, -1), True  # every row of this rank was left out (zero advantages; no KL term)


def update_policy(
    ctx: StepContext, plan: UpdatePlan, batch: StepBatch, advantages: Tensor
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
    ctx.policy.model.train()
    for m, micro_batches in enumerate(plan.mini_batches):
        counts = {"normalizer": plan.normalizers[m], "passes": float(len(micro_batches))}
        counts = reduce_over_ranks(ctx.accelerator, counts, maximum=("passes",))
        passes = int(counts["passes"])
        mini_loss = 0.0
        for k in range(passes):
            rows, key, dummy = _pass_rows(plan, m, k)
            loss, metrics, c, old, entropy = _train_pass(
                ctx, batch, rows, advantages, plan, key, counts["normalizer"], dummy, k == passes - 1
            )
            if not dummy:
                mini_loss += float(loss.detach())
                record.add_pass(metrics, c, old, entropy, probe=ctx.probe is not None and m == 0)
            ctx.timer.beat()
        if passes:
            _optimizer_step(ctx, record, reduce_over_ranks(ctx.accelerator, {"loss": mini_loss})["loss"])
        with warnings.catch_warnings():
            # the schedule follows RL steps: a mini-batch with nothing to train still advances it
            warnings.filterwarnings(
                "ignore", message="Detected call of `lr_scheduler.step", category=UserWarning
            )
            ctx.scheduler.step()
    return _update_metrics(ctx, record, plan)


def _optimizer_step(ctx: StepContext, record: _UpdateRecord, mini_loss: float) -> None:
    applied, grad_norm = guarded_optimizer_step(
        ctx.accelerator, ctx.policy.model, ctx.optimizer, mini_loss, ctx.max_grad_norm
    )
    if not applied:
        record.skipped += 1
        log.warning(
            "skipped an optimizer step: loss %s, gradient norm %s (parameters unchanged)",
            mini_loss,
            grad_norm,
        )
    record.mini_losses.append(mini_loss)
    record.grad_norms.append(grad_norm)


def _update_metrics(ctx: StepContext, record: _UpdateRecord, plan: UpdatePlan) -> dict[str, float]:
    out = (
        {f"actor/{k}": v for k, v in combine_metrics(record.loss_parts).items()} if record.loss_parts else {}
    )
    trained = len(record.mini_losses)
    out["loss"] = sum(record.mini_losses) / trained if trained else 0.0
    out["grad_norm"] = sum(record.grad_norms) / trained if trained else 0.0
    out["optimizer/steps"] = float(trained - record.skipped)
    out["optimizer/skipped_steps"] = float(record.skipped)
    out["optimizer/lr"] = float(ctx.scheduler.get_last_lr()[0])
    rows = reduce_over_ranks(
        ctx.accelerator, {"skipped": plan.num_skipped, "masked": plan.num_masked, "rows": plan.num_rows}
    )
    out["update/skipped_zero_advantage_frac"] = rows["skipped"] / rows["rows"] if rows["rows"] else 0.0
    out["update/masked_truncated_frac"] = rows["masked"] / rows["rows"] if rows["rows"] else 0.0
    if record.entropy_count:
        out["actor/entropy_mean"] = record.entropy_sum / record.entropy_count
    if ctx.probe is not None and record.probe_engine:
        engine_lp = torch.cat(record.probe_engine)[None]
        trainer_lp = torch.cat(record.probe_trainer)[None]
        out.update(ctx.probe.check(engine_lp, trainer_lp, torch.ones_like(engine_lp)))
    return out
