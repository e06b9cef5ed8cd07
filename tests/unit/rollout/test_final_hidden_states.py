"""``PolicyBase._forward_final_hidden``: the final norm's output from a hook, without asking the model
for every layer's hidden states; the same tensor as ``output_hidden_states=True`` gives."""

from types import SimpleNamespace

import torch

from mmrl.policy.base import PolicyBase
from mmrl.testing import tiny_text_model, tiny_vl_model


def _batch(seed=0):
    ids = torch.randint(0, 400, (2, 9), generator=torch.Generator().manual_seed(seed))
    return SimpleNamespace(input_ids=ids, attention_mask=torch.ones_like(ids), model_inputs={})


def _hidden(model, batch):
    inputs = dict(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
    return PolicyBase._forward_final_hidden(SimpleNamespace(model=model, is_vision=False), model, **inputs)[0]


def _reference(model, batch):
    with torch.no_grad():
        out = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            output_hidden_states=True,
            logits_to_keep=1,
            use_cache=False,
        )
    return out.hidden_states[-1]


def test_hook_gives_the_final_hidden_states_without_keeping_the_others():
    for model in (tiny_text_model(0)[0], tiny_vl_model("qwen2_vl", 0)[0], tiny_vl_model("qwen2_5_vl", 0)[0]):
        batch = _batch()
        calls = []
        original = model.forward

        def forward(*args, _original=original, _calls=calls, **kwargs):
            _calls.append(kwargs.get("output_hidden_states"))
            return _original(*args, **kwargs)

        model.forward = forward
        with torch.no_grad():
            hidden = _hidden(model, batch)
        del model.forward
        assert calls == [None], "the model was asked for every layer's hidden states"
        torch.testing.assert_close(hidden, _reference(model, batch), rtol=0, atol=0)
        assert not model.get_decoder().norm._forward_hooks, "the hook was left on the norm"


def test_models_without_a_decoder_norm_fall_back_to_output_hidden_states():
    model = tiny_text_model(0)[0]
    batch = _batch(1)
    with torch.no_grad():
        hidden = _hidden(_NoDecoder(model), batch)
    torch.testing.assert_close(hidden, _reference(model, batch), rtol=0, atol=0)


class _NoDecoder(torch.nn.Module):
    """A wrapper that hides ``get_decoder`` (as a model of another architecture would)."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, **kwargs):
        return self.inner(**kwargs)
