"""GPU tier: runs only where CUDA is available (skipped elsewhere, never required by CI)."""

import pytest

pytestmark = pytest.mark.gpu


def test_tiny_text_model_generates_on_cuda():
    import torch

    from mmrl.testing import tiny_text_model

    model, tok = tiny_text_model(seed=0)
    model = model.to("cuda")
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "2 + 3 = ?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    ).to("cuda")
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]
    assert torch.isfinite(model(**enc).logits).all()
