"""Per-token estimators of ``KL(π_θ ‖ π_ref)`` from sampled tokens (Schulman, "Approximating KL
divergence", http://joschu.net/blog/kl-approx.html), as used in the loss by GRPO (DeepSeekMath: k3,
β = 0.04) and verl (``kl_loss_type``).

With ``x = ref_logprob − logprob`` on a token sampled from ``π_θ``:

* ``k1 = −x = logprob − ref_logprob``: unbiased, high variance, can be negative;
* ``k2 = ½ x²``: biased, low variance, always ≥ 0;
* ``k3 = low_var_kl = eˣ − x − 1``: unbiased, low variance, always ≥ 0.

As verl, ``x`` is clamped to ``[−20, 20]`` before ``exp`` and k3 to at most 10, so that a single token
far from the reference cannot produce an infinite loss.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["KL_ESTIMATORS", "kl_penalty"]

KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3", "low_var_kl")


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: str) -> Tensor:
    """Per-token KL estimate ``[B, T]`` of the policy from the reference (see the module docstring)."""
    x = ref_logprobs - logprobs
    if estimator == "k1":
        return -x
    if estimator == "k2":
        return 0.5 * x * x
    if estimator in ("k3", "low_var_kl"):
        x = x.clamp(-20.0, 20.0)
        return (torch.exp(x) - x - 1).clamp(max=10.0)
    raise ValueError(f"unknown KL estimator {estimator!r}; choose one of {KL_ESTIMATORS}")
