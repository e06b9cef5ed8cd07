"""load_policy from saved tiny checkpoints, and the training options: LoRA, frozen vision tower,
gradient checkpointing; the weights exported to vLLM with LoRA merged."""

import pytest
import torch
from torch.testing import assert_close

from mmrl.config import load_config
from mmrl.errors import UserError
from mmrl.policy import TextPolicy, VisionPolicy, load_policy, resolve_dtype, vision_tower
from mmrl.rollout import HFEngine, Sampling
from mmrl.rollout.vllm_engine import export_weights
from mmrl.testing import save_tiny_text_model, save_tiny_vl_model

from .helpers import text_examples, vision_examples


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny-text"))


@pytest.fixture(scope="module")
def vl_dir(tmp_path_factory):
    return save_tiny_vl_model(tmp_path_factory.mktemp("tiny-vl"), "qwen2_5_vl")


def _cfg(path, *overrides):
    return load_config(None, [f"model.path={path}", "data.max_prompt_length=300", *overrides])


def test_load_text_policy(text_dir):
    cfg = _cfg(
        text_dir, "model.dtype=float32", "model.logprob_chunk_size=7", "model.attn_implementation=eager"
    )
    policy = load_policy(cfg.model, cfg.data)
    assert isinstance(policy, TextPolicy) and not policy.is_vision
    assert policy.source_path == str(text_dir) and policy.trust_remote_code is False
    assert policy.model.config._attn_implementation == "eager"
    assert policy.logprob_chunk_size == 7 and policy.max_prompt_length == 300
    assert next(policy.model.parameters()).dtype == torch.float32
    rollouts = HFEngine(policy).generate(text_examples(1), 2, Sampling(max_new_tokens=3, seed=0))
    assert len(rollouts) == 2


def test_load_vision_policy_reads_pixel_bounds(vl_dir):
    cfg = _cfg(vl_dir, "data.min_pixels=3136", "data.max_pixels=12544", "model.dtype=bfloat16")
    policy = load_policy(cfg.model, cfg.data)
    assert isinstance(policy, VisionPolicy) and (policy.min_pixels, policy.max_pixels) == (3136, 12544)
    assert policy.model.config._attn_implementation == "sdpa"  # the default when unset
    assert next(policy.model.parameters()).dtype == torch.bfloat16
    prompt = policy.encode(vision_examples()[0])
    w, h = prompt.example.images[0].size
    assert w * h <= 12544


def test_load_errors_name_the_field(tmp_path):
    cfg = _cfg(tmp_path / "nowhere")
    with pytest.raises(UserError, match="model.path="):
        load_policy(cfg.model, cfg.data)
    assert resolve_dtype("auto", "cpu") == torch.float32
    with pytest.raises(ValueError, match="model.dtype"):
        resolve_dtype("float8")


def test_lora_on_the_language_model_only_with_frozen_vision_and_checkpointing(vl_dir):
    cfg = _cfg(
        vl_dir,
        "model.dtype=float32",
        "model.lora.rank=4",
        "model.lora.alpha=8",
        "model.freeze_vision_tower=true",
        "model.gradient_checkpointing=true",
    )
    policy = load_policy(cfg.model, cfg.data)
    model = policy.model
    lora_names = [n for n, _ in model.named_parameters() if "lora_" in n]
    assert lora_names and not any(".visual." in n for n in lora_names)
    name, tower = vision_tower(model)
    assert name.endswith("visual") and not any(p.requires_grad for p in tower.parameters())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(lora_names)
    inner = model.get_base_model()
    assert getattr(inner, "is_activation_checkpointing", None) or inner.is_gradient_checkpointing

    prompts, _ = policy.prepare(vision_examples())
    rollouts = HFEngine(policy).generate(prompts, 2, Sampling(max_new_tokens=3, seed=0))
    model.train()
    batch = policy.collate(rollouts)
    lp, _ = policy.logprobs(batch)
    (lp * batch.response_mask).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == set(lora_names) and any(g.abs().sum() > 0 for g in grads.values())


def test_exported_weights_have_lora_merged_and_checkpoint_names(text_dir):
    cfg = _cfg(text_dir, "model.dtype=float32", "model.lora.rank=2")
    policy = load_policy(cfg.model, cfg.data)
    model = policy.model
    with torch.no_grad():  # make the adapters non-zero so that merging changes the weights
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.fill_(0.01)
    base = model.get_base_model()
    layer = base.model.layers[0].self_attn.q_proj
    delta = layer.lora_B["default"].weight @ layer.lora_A["default"].weight * layer.scaling["default"]
    expected = layer.base_layer.weight.detach().clone() + delta
    with export_weights(model) as weights:
        named = dict(weights)
        assert_close(named["model.layers.0.self_attn.q_proj.weight"], expected)
    assert not any("lora_" in n or "base_layer" in n for n in named)
    assert "lm_head.weight" not in named  # tied to the embeddings
    plain = load_policy(_cfg(text_dir, "model.dtype=float32").model, cfg.data).model
    assert set(named) == set(plain.state_dict()) - {"lm_head.weight"}
    assert_close(layer.base_layer.weight, expected - delta)  # unmerged again afterwards
