"""``fit`` with ``rollout.engine=vllm``: the trainer samples with vLLM, pushes its weights after every
update (the sync probe stays at fp32 parity, so vLLM serves the updated weights), and ``final/``
loads in a fresh ``vllm.LLM``. Marked ``vllm``: skipped without vllm."""

import math

import pytest
import torch

from mmrl.train import fit

from ..integration.train.helpers import load_weights, read_metrics, tiny_text_config
from .tiny import vllm_text_model

pytestmark = pytest.mark.vllm


def test_training_with_the_vllm_engine_and_a_final_model_vllm_loads(tmp_path):
    model, tok = vllm_text_model(seed=0)
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    run = tmp_path / "run"
    cfg = tiny_text_config(
        model_dir,
        run,
        "model.dtype=float32",
        # parity in float32 on both sides (auto would train under bf16 autocast on a bf16 CPU)
        "trainer.mixed_precision='no'",
        "data.max_prompt_length=160",
        "rollout.engine=vllm",
        "rollout.vllm.enforce_eager=true",
        "trainer.max_steps=2",
    )
    result = fit(cfg)

    assert result.steps == 2 and result.final_dir == run / "final"
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert math.isfinite(m["loss"]) and m["optimizer/skipped_steps"] == 0
        # step 2 samples after step 1's weight push: stale weights in vLLM would show here
        assert m["rollout/logprob_diff"] < 1e-4, m["rollout/logprob_diff"]
    assert metrics[-1]["rollout/sync_probe_alarms"] == 0
    before, after = load_weights(model_dir), load_weights(run / "final")
    assert any(not torch.equal(before[k], after[k]) for k in before), "no parameter changed in training"

    from vllm import LLM, SamplingParams

    llm = LLM(model=str(run / "final"), dtype="float32", enforce_eager=True, seed=0)
    try:
        out = llm.generate(["1 + 1 ="], SamplingParams(max_tokens=4, temperature=0.0))
        assert len(out[0].outputs[0].token_ids) >= 1
    finally:
        del llm
