"""Offline tiny models: text and Qwen2-VL / Qwen2.5-VL build, run, generate, save and reload."""

from __future__ import annotations

import pytest
import torch

from mmrl.testing import (
    VISION_TOKENS,
    save_tiny_text_model,
    save_tiny_vl_model,
    tiny_image,
    tiny_text_model,
    tiny_vl_model,
)


def _chat(tok_or_proc, content):
    return tok_or_proc.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )


def test_tiny_text_model_forward_and_generate():
    model, tok = tiny_text_model(seed=0)
    enc = tok(_chat(tok, "Tom has 3 apples and buys 4 more. How many?"), return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], len(tok))
    assert torch.isfinite(logits).all()
    out = model.generate(**enc, max_new_tokens=6, do_sample=True, top_k=0)
    assert out.shape[1] > enc["input_ids"].shape[1]
    assert "<|im_start|>assistant\n" in tok.decode(enc["input_ids"][0])


def test_tiny_text_model_is_deterministic_by_seed():
    a, _ = tiny_text_model(seed=1)
    b, _ = tiny_text_model(seed=1)
    c, _ = tiny_text_model(seed=2)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_tiny_text_model_save_reload(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    save_tiny_text_model(tmp_path, seed=0)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ref, _ = tiny_text_model(seed=0)
    enc = tok("1 + 1 =", return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**enc).logits, ref(**enc).logits)
    assert tok.chat_template


@pytest.mark.parametrize("kind", ["qwen2_vl", "qwen2_5_vl"])
def test_tiny_vl_model_with_process_vision_info(kind, tmp_path):
    from qwen_vl_utils import process_vision_info

    model, processor = tiny_vl_model(kind, seed=0)
    messages = [
        {
            "role": "user",
            "content": [{"type": "image", "image": tiny_image(0)}, {"type": "text", "text": "Find x."}],
        }
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    images, videos = process_vision_info(messages)
    assert videos is None and images[0].size == (224, 224)
    inputs = processor(text=[text], images=images, return_tensors="pt")
    # 224x224 -> 16x16 patches of 14 -> 2x2 merge -> 64 image tokens
    assert inputs["image_grid_thw"].tolist() == [[1, 16, 16]]
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == 64
    # the config's vision ids are the tokenizer's
    tok = processor.tokenizer
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert model.config.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert torch.isfinite(logits).all()
    banned = [[tok.convert_tokens_to_ids(t)] for t in VISION_TOKENS]
    out = model.generate(**inputs, max_new_tokens=5, do_sample=True, bad_words_ids=banned)
    new = out[0, inputs["input_ids"].shape[1] :]
    assert new.numel() > 0 and not any(int(t) in {b[0] for b in banned} for t in new)

    from transformers import AutoModelForImageTextToText, AutoProcessor

    save_tiny_vl_model(tmp_path, kind, seed=0)
    reloaded = AutoModelForImageTextToText.from_pretrained(tmp_path)
    reproc = AutoProcessor.from_pretrained(tmp_path)
    again = reproc(text=[text], images=images, return_tensors="pt")
    torch.testing.assert_close(again["pixel_values"], inputs["pixel_values"])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**again).logits, logits)
