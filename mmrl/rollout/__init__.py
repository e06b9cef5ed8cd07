"""Rollout engines behind one interface: ``generate(prompts, n, sampling)`` and ``sync_weights``.

    engine = build_engine(cfg.rollout, policy)            # 'hf' (transformers) or 'vllm'
    sampling = Sampling.from_rollout(cfg.rollout, seed=step)
    rollouts = engine.generate(kept, cfg.rollout.n, sampling)
    ...                                                   # optimizer step
    engine.sync_weights(policy.model)
    metrics.update(probe.check(batch.rollout_logprobs, old_logprobs, batch.response_mask))

The vLLM engine imports ``vllm`` only when it is built.
"""

from mmrl.rollout.base import ENGINES, RolloutEngine, build_engine, register_engine
from mmrl.rollout.hf_engine import HFEngine
from mmrl.rollout.probe import SyncProbe, logprob_diff
from mmrl.rollout.sampling import Sampling

__all__ = [
    "ENGINES",
    "HFEngine",
    "RolloutEngine",
    "Sampling",
    "SyncProbe",
    "build_engine",
    "logprob_diff",
    "register_engine",
]
