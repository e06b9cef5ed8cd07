"""Loading a policy from the config: model class by modality, dtype, attention, LoRA, freezing."""

from __future__ import annotations

import logging
import re
from typing import Any

import torch

from mmrl.errors import UserError
from mmrl.policy.base import PolicyBase, unwrap_model
from mmrl.policy.text import TextPolicy
from mmrl.policy.vision import SUPPORTED_VL_MODEL_TYPES, VisionPolicy

log = logging.getLogger(__name__)

__all__ = ["apply_training_options", "load_policy", "resolve_dtype", "vision_tower"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, device: torch.device | str | None = None) -> torch.dtype:
    """``model.dtype`` as a torch dtype; ``auto`` is bfloat16 on a CUDA device that supports it."""
    if name in _DTYPES:
        return _DTYPES[name]
    if name != "auto":
        raise ValueError(f"model.dtype={name!r} must be one of 'auto', {', '.join(map(repr, _DTYPES))}")
    device = torch.device(device) if device is not None else None
    on_cuda = torch.cuda.is_available() if device is None else device.type == "cuda"
    if on_cuda and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def vision_tower(model: Any) -> tuple[str, torch.nn.Module] | None:
    """``(name, module)`` of a Qwen-VL vision encoder (the module named ``visual``), or None."""
    inner = unwrap_model(model)
    candidates = [(name, m) for name, m in inner.named_modules() if name.rsplit(".", 1)[-1] == "visual"]
    if not candidates:
        return None
    return min(candidates, key=lambda c: len(c[0]))


def apply_training_options(model: Any, model_cfg: Any) -> Any:
    """Freeze the vision tower, add LoRA adapters, enable gradient checkpointing, as configured.

    Returns the model to train (a ``peft`` model when ``model_cfg.lora.rank > 0``).
    """
    tower = vision_tower(model)
    if model_cfg.freeze_vision_tower:
        if tower is None:
            raise UserError(
                "model.freeze_vision_tower=true but the model has no vision tower (a module named "
                "'visual'); set it to false for text models"
            )
        for p in tower[1].parameters():
            p.requires_grad_(False)
        log.info(
            "froze the vision tower %s (%d parameters)",
            tower[0],
            sum(p.numel() for p in tower[1].parameters()),
        )
    if model_cfg.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = model_cfg.lora
    if lora.rank > 0:
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as exc:
            raise UserError("model.lora.rank > 0 needs peft: pip install 'mmrl[lora]'") from exc
        kwargs: dict[str, Any] = {}
        if lora.exclude_vision and tower is not None:
            # peft matches this against full module names; vLLM cannot serve vision-tower adapters.
            kwargs["exclude_modules"] = rf"(.*\.)?{re.escape(tower[0].rsplit('.', 1)[-1])}(\..*)?"
        config = LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            task_type="CAUSAL_LM",
            **kwargs,
        )
        if model_cfg.gradient_checkpointing:
            # Frozen embeddings produce no grad; checkpointed blocks then see no input needing one.
            model.enable_input_require_grads()
        model = get_peft_model(model, config)
    return model


def load_policy(model_cfg: Any, data_cfg: Any, device: torch.device | str | None = None) -> PolicyBase:
    """Build the policy described by ``cfg.model`` (prompt budget and pixel bounds from ``cfg.data``).

    A checkpoint whose config has a ``vision_config`` is loaded with
    ``AutoModelForImageTextToText`` + ``AutoProcessor`` (Qwen2-VL, Qwen2.5-VL, Qwen3-VL); any
    other with ``AutoModelForCausalLM`` + ``AutoTokenizer``. ``trust_remote_code`` is passed
    through and is off unless the config turns it on.
    """
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    from mmrl.models import resolve_model_path

    path = resolve_model_path(model_cfg.path)
    tokenizer_path = model_cfg.tokenizer_path or path
    remote = model_cfg.trust_remote_code
    try:
        hf_config = AutoConfig.from_pretrained(path, trust_remote_code=remote)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"model.path={model_cfg.path!r}: cannot read a model config from {path!r}: {exc}"
        ) from exc
    dtype = resolve_dtype(model_cfg.dtype, device)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": remote}
    if model_cfg.attn_implementation is not None:
        kwargs["attn_implementation"] = model_cfg.attn_implementation
    is_vision = getattr(hf_config, "vision_config", None) is not None
    if is_vision:
        if hf_config.model_type not in SUPPORTED_VL_MODEL_TYPES:
            raise UserError(
                f"model.path={model_cfg.path!r} is a {hf_config.model_type!r} vision-language model; mmrl's "
                f"vision adapter supports {', '.join(SUPPORTED_VL_MODEL_TYPES)}"
            )
        model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        processor = AutoProcessor.from_pretrained(tokenizer_path, trust_remote_code=remote)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, trust_remote_code=remote)
    if device is not None:
        model = model.to(device)
    model = apply_training_options(model, model_cfg)
    policy: PolicyBase
    if is_vision:
        policy = VisionPolicy(
            model,
            processor,
            min_pixels=data_cfg.min_pixels,
            max_pixels=data_cfg.max_pixels,
            max_prompt_length=data_cfg.max_prompt_length,
            logprob_chunk_size=model_cfg.logprob_chunk_size,
        )
    else:
        policy = TextPolicy(
            model,
            tokenizer,
            max_prompt_length=data_cfg.max_prompt_length,
            logprob_chunk_size=model_cfg.logprob_chunk_size,
        )
    policy.source_path = str(path)
    policy.trust_remote_code = remote
    return policy
