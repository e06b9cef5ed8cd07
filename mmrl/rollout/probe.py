"""The weight-sync probe: do the engine and the trainer still agree on the sampled tokens?

After every sync the engine must sample from exactly the trainer's weights. When it does not
(a push that silently failed, a stale prefix or image-embedding cache, a dtype mismatch), the
rollouts come from another policy and nothing crashes: TRL #5312 and #7198 trained that way for
many steps. The probe compares, on the tokens the engine sampled, the engine's log-probabilities
with the trainer's re-computed ones and warns loudly when they drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from mmrl.policy.base import Policy, PromptInputs
from mmrl.rollout.sampling import Sampling
from mmrl.types import Example

log = logging.getLogger(__name__)

__all__ = ["SyncProbe", "logprob_diff"]


def logprob_diff(
    engine_logprobs: torch.Tensor, trainer_logprobs: torch.Tensor, mask: torch.Tensor
) -> tuple[float, float]:
    """Mean and max of ``|engine - trainer|`` over the tokens where ``mask`` is 1.

    ``mean = sum(|a - b| * m) / sum(m)``, ``max = max over m == 1 of |a - b|``; both are 0.0 when
    the mask is empty. All tensors are ``[B, T]``.
    """
    m = mask.to(torch.bool)
    if not bool(m.any()):
        return 0.0, 0.0
    gap = (engine_logprobs.detach().float() - trainer_logprobs.detach().float()).abs()[m]
    return float(gap.mean()), float(gap.max())


class SyncProbe:
    """Computes ``rollout/logprob_diff`` after each sync and warns when it exceeds ``threshold``.

    Typical use in the trainer, once per step, on the batch whose old log-probabilities it has
    just computed::

        metrics.update(probe.check(batch.rollout_logprobs, old_logprobs, batch.response_mask))

    ``measure`` is a self-contained canary for tests and for the first step: it generates with
    the engine and re-scores with the policy.
    """

    def __init__(self, threshold: float = 0.1):
        if threshold <= 0:
            raise ValueError(f"sync probe threshold={threshold} must be > 0")
        self.threshold = threshold
        self.num_alarms = 0
        self.last: float | None = None

    def check(
        self, engine_logprobs: torch.Tensor | None, trainer_logprobs: torch.Tensor, mask: torch.Tensor
    ) -> dict[str, float]:
        """``{"rollout/logprob_diff": mean, "rollout/logprob_diff_max": max}``; warns above threshold."""
        if engine_logprobs is None:
            raise ValueError(
                "the sync probe needs the engine's per-token logprobs, but the rollouts carry none; "
                "every built-in engine returns them, so a custom engine must fill Rollout.logprobs"
            )
        mean, worst = logprob_diff(engine_logprobs, trainer_logprobs, mask)
        self.last = mean
        if mean > self.threshold:
            self.num_alarms += 1
            log.warning(
                "!!! WEIGHT SYNC PROBE: mean |engine logprob - trainer logprob| = %.4f (max %.4f) on the "
                "sampled tokens exceeds rollout.sync_probe_threshold=%.4f. The rollout engine is probably "
                "sampling from stale or different weights (failed push, stale prefix/image cache, or an "
                "engine dtype different from the trainer's). Rollouts are off-policy until this is fixed. "
                "(alarm %d)",
                mean,
                worst,
                self.threshold,
                self.num_alarms,
            )
        return {"rollout/logprob_diff": mean, "rollout/logprob_diff_max": worst}

    def measure(
        self,
        engine: Any,
        policy: Policy,
        prompts: Sequence[Example | PromptInputs],
        sampling: Sampling,
        n: int = 1,
    ) -> dict[str, float]:
        """Generate with ``engine``, re-score with ``policy`` (no grad) and ``check`` the gap."""
        rollouts = engine.generate(prompts, n, sampling)
        batch = policy.collate(rollouts)
        with torch.no_grad():
            trainer, _ = policy.logprobs(batch, temperature=sampling.logprob_temperature)
        return self.check(batch.rollout_logprobs, trainer.cpu(), batch.response_mask)
