"""Tiny models that vLLM's CPU backend can serve.

``mmrl.testing``'s tiny models use an attention head size of 16; vLLM's CPU attention kernels
support 32 and up. These are the same models (tokenizer, processor, vision tower) with two
attention heads of size 32 (one key/value head) in the language model.
"""

from __future__ import annotations

from typing import Any

import torch

from mmrl.testing import tiny_text_model, tiny_vl_model

_HEADS = {"num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32}


def vllm_text_model(seed: int = 0) -> tuple[Any, Any]:
    """A random ``Qwen2ForCausalLM`` (hidden 64, 2 heads of 32) and the tiny tokenizer."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model, tok = tiny_text_model(seed)
    config = Qwen2Config(**{**model.config.to_dict(), **_HEADS})
    torch.manual_seed(seed)
    new = Qwen2ForCausalLM(config).eval()
    new.generation_config = model.generation_config
    return new, tok


def vllm_vl_model(kind: str = "qwen2_vl", seed: int = 0) -> tuple[Any, Any]:
    """A random Qwen2-VL / Qwen2.5-VL like ``tiny_vl_model`` with 2 text heads of 32."""
    model, processor = tiny_vl_model(kind, seed)
    config_dict = model.config.to_dict()
    text = {**config_dict["text_config"], **_HEADS}
    # M-RoPE sections must sum to head_dim / 2 = 16 (Qwen's 16:24:24 ratio).
    text["rope_parameters"] = {**text["rope_parameters"], "mrope_section": [4, 6, 6]}
    config = type(model.config)(**{**config_dict, "text_config": text})
    torch.manual_seed(seed)
    new = type(model)(config).eval()
    new.generation_config = model.generation_config
    return new, processor
