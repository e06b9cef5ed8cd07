"""Policy adapters: one protocol over text LMs and Qwen vision-language models.

    policy = load_policy(cfg.model, cfg.data)             # or TextPolicy(model, tokenizer) /
                                                          #    VisionPolicy(model, processor, min_px, max_px)
    kept, dropped = policy.prepare(examples)              # encode once, drop over-budget prompts
    batch = policy.collate(rollouts)                      # -> Batch (prompt | response tensors)
    logprobs, entropy = policy.logprobs(batch, with_entropy=True)   # [B, T], chunked over the vocabulary

See ``mmrl.policy.base`` for the layout of a ``Batch`` and ``mmrl.policy.logprobs`` for the
chunked log-probability computation.
"""

from mmrl.policy.base import Batch, DroppedExample, Policy, PolicyBase, PromptInputs
from mmrl.policy.loading import apply_training_options, load_policy, resolve_dtype, vision_tower
from mmrl.policy.logprobs import chunked_token_logprobs, token_logprobs_from_logits
from mmrl.policy.text import TextPolicy
from mmrl.policy.vision import SUPPORTED_VL_MODEL_TYPES, VisionPolicy, resize_image

__all__ = [
    "SUPPORTED_VL_MODEL_TYPES",
    "Batch",
    "DroppedExample",
    "Policy",
    "PolicyBase",
    "PromptInputs",
    "TextPolicy",
    "VisionPolicy",
    "apply_training_options",
    "chunked_token_logprobs",
    "load_policy",
    "resize_image",
    "resolve_dtype",
    "token_logprobs_from_logits",
    "vision_tower",
]
