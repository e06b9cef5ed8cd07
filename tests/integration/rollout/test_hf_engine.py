"""The transformers engine on tiny text and vision models: rollouts, parity with the trainer's
log-probabilities, finish reasons, stop strings, seeds, and the vision-token ban."""

import re

import pytest
import torch
from torch.testing import assert_close

from mmrl.policy import TextPolicy, VisionPolicy
from mmrl.rollout import HFEngine, Sampling, SyncProbe
from mmrl.testing import tiny_text_model, tiny_vl_model

from .helpers import (
    MAX_PIXELS,
    MIN_PIXELS,
    bias_towards_vision_pads,
    text_examples,
    tiny_qwen3_vl,
    vision_examples,
)

PARITY_ATOL = 1e-5


def _vision_policy(kind, seed=0):
    if kind == "qwen3_vl":
        model, processor = tiny_qwen3_vl(seed)
        return VisionPolicy(model, processor, 32 * 32 * 4, 32 * 32 * 64, max_prompt_length=256)
    model, processor = tiny_vl_model(kind, seed)
    return VisionPolicy(model, processor, MIN_PIXELS, MAX_PIXELS, max_prompt_length=256)


@pytest.fixture(scope="module")
def text_policy():
    model, tok = tiny_text_model(seed=0)
    return TextPolicy(model, tok, max_prompt_length=64)


def _check_groups(rollouts, prompts, n):
    assert len(rollouts) == len(prompts) * n
    for i, prompt in enumerate(prompts):
        group = rollouts[i * n : (i + 1) * n]
        assert [r.sample_index for r in group] == list(range(n))
        for r in group:
            assert r.example is prompt.example and r.prompt_ids == prompt.prompt_ids
            assert len(r.logprobs) == len(r.response_ids) >= 1
            assert r.finish_reason in ("stop", "length")


def _parity(policy, rollouts, temperature):
    batch = policy.collate(rollouts)
    with torch.no_grad():
        trainer, _ = policy.logprobs(batch, temperature=temperature)
    mask = batch.response_mask.bool()
    assert_close(trainer[mask], batch.rollout_logprobs[mask], atol=PARITY_ATOL, rtol=0)


def test_text_rollouts_grouped_and_matching_the_trainer(text_policy):
    prompts, _ = text_policy.prepare(text_examples(3))
    sampling = Sampling(temperature=0.7, max_new_tokens=10, seed=0)
    rollouts = HFEngine(text_policy, batch_size=8).generate(prompts, 4, sampling)
    _check_groups(rollouts, prompts, 4)
    assert all(r.response_text == text_policy.decode(r.response_ids) for r in rollouts)
    assert len({r.response_ids for r in rollouts}) > 1
    _parity(text_policy, rollouts, temperature=0.7)


@pytest.mark.parametrize("kind", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_vision_rollouts_on_a_mixed_batch_match_the_trainer(kind):
    policy = _vision_policy(kind)
    prompts, dropped = policy.prepare(vision_examples())
    assert not dropped
    rollouts = HFEngine(policy, batch_size=4).generate(
        prompts, 3, Sampling(temperature=0.9, max_new_tokens=6, seed=1)
    )
    _check_groups(rollouts, prompts, 3)
    # Parity with the trainer holds only if both saw the same pixels, grid and M-RoPE positions
    # (mm_token_type_ids extended with zeros over the response).
    _parity(policy, rollouts, temperature=0.9)
    assert SyncProbe(threshold=1e-4).measure(
        HFEngine(policy), policy, prompts, Sampling(max_new_tokens=4, seed=2)
    ) == {
        "rollout/logprob_diff": pytest.approx(0.0, abs=PARITY_ATOL),
        "rollout/logprob_diff_max": pytest.approx(0.0, abs=PARITY_ATOL),
    }


def test_engine_and_trainer_see_identical_processor_inputs():
    policy = _vision_policy("qwen2_5_vl")
    prompts, _ = policy.prepare(vision_examples())
    engine_inputs = policy.generation_inputs(prompts)
    rollouts = HFEngine(policy).generate(prompts, 2, Sampling(max_new_tokens=2, seed=0))
    trainer_inputs = policy.collate(rollouts[::2]).model_inputs  # one rollout per prompt, same order
    assert torch.equal(engine_inputs["pixel_values"], trainer_inputs["pixel_values"])
    assert torch.equal(engine_inputs["image_grid_thw"], trainer_inputs["image_grid_thw"])
    P = engine_inputs["input_ids"].shape[1]
    assert torch.equal(engine_inputs["mm_token_type_ids"], trainer_inputs["mm_token_type_ids"][:, :P])
    placeholders = (engine_inputs["input_ids"] == policy.image_token_id).sum()
    assert int(placeholders) == int(engine_inputs["image_grid_thw"].prod(-1).sum()) // 4


def test_finish_reasons_length_and_end_of_sequence(text_policy):
    prompts, _ = text_policy.prepare(text_examples(2))
    engine = HFEngine(text_policy)
    short = engine.generate(prompts, 2, Sampling(max_new_tokens=3, seed=0))
    assert all(r.finish_reason == "length" and len(r.response_ids) == 3 for r in short)
    eos = text_policy.tokenizer.eos_token_id
    head = text_policy.model.get_output_embeddings()

    def eos_after_two(module, args, output):  # make eos the only choice for the 3rd token
        if eos_after_two.calls >= 2:
            output[..., eos] = 1e4
        eos_after_two.calls += 1  # one call per generated token (prefill included)
        return output

    eos_after_two.calls = 0
    handle = head.register_forward_hook(eos_after_two)
    try:
        rollouts = engine.generate(prompts[:1], 1, Sampling(max_new_tokens=8, seed=0))
    finally:
        handle.remove()
    (r,) = rollouts
    assert r.finish_reason == "stop" and r.response_ids[-1] == eos and len(r.response_ids) == 3
    assert eos not in r.response_ids[:-1] and "<|im_end|>" not in r.response_text


def test_stop_strings_end_the_response_and_stay_in_it(text_policy):
    prompts, _ = text_policy.prepare(text_examples(2))
    engine = HFEngine(text_policy)
    free = engine.generate(prompts, 3, Sampling(max_new_tokens=12, seed=5))
    # pick a stop string that an unconstrained sample does produce (two ASCII letters, not at the start)
    stop = next(m.group(0) for r in free for m in [re.search(r"(?<=.)[A-Za-z]{2}", r.response_text)] if m)
    stopped = engine.generate(prompts, 3, Sampling(max_new_tokens=12, seed=5, stop=(stop,)))
    hits = [r for r in stopped if stop in r.response_text]
    assert hits, "the sample the stop string was taken from must contain it"
    for r in hits:  # each ends with the token that completes the stop string
        assert r.finish_reason == "stop" and stop not in text_policy.decode(r.response_ids[:-1])
    _parity(text_policy, stopped, temperature=1.0)


def test_same_seed_same_samples_and_model_state_restored(text_policy):
    model = text_policy.model
    model.train()
    model.generation_config.top_k = 1  # the model's own defaults must not leak into sampling
    model.generation_config.repetition_penalty = 3.0
    prompts, _ = text_policy.prepare(text_examples(2))
    engine = HFEngine(text_policy)
    rng_before = torch.random.get_rng_state()
    a = engine.generate(prompts, 4, Sampling(max_new_tokens=8, seed=11))
    b = engine.generate(prompts, 4, Sampling(max_new_tokens=8, seed=11))
    c = engine.generate(prompts, 4, Sampling(max_new_tokens=8, seed=12))
    assert [r.response_ids for r in a] == [r.response_ids for r in b]
    assert [r.response_ids for r in a] != [r.response_ids for r in c]
    assert len({r.response_ids for r in a[:4]}) > 1  # top_k=1 would make all four identical
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the trainer's RNG is untouched
    assert model.training and model.generation_config.top_k == 1
    model.eval()
    model.generation_config.top_k = None
    model.generation_config.repetition_penalty = None
    _parity(text_policy, a, temperature=1.0)


def test_more_samples_than_batch_size_are_split(text_policy):
    prompts, _ = text_policy.prepare(text_examples(2))
    engine = HFEngine(text_policy, batch_size=3)
    # equal prompt lengths keep their order; each prompt's 7 samples go in calls of 3, 3 and 1
    assert engine._plan(prompts, 7) == [
        ([0], 3, 0),
        ([0], 3, 3),
        ([0], 1, 6),
        ([1], 3, 0),
        ([1], 3, 3),
        ([1], 1, 6),
    ]
    assert HFEngine(text_policy, batch_size=8)._plan(prompts, 4) == [([0, 1], 4, 0)]
    rollouts = engine.generate(prompts, 7, Sampling(max_new_tokens=4, seed=0))
    _check_groups(rollouts, prompts, 7)
    assert len({r.response_ids for r in rollouts[:7]}) > 1  # split calls are seeded differently


def test_greedy_picks_the_most_likely_allowed_token():
    policy = _vision_policy("qwen2_vl")
    prompts, _ = policy.prepare(vision_examples())
    rollouts = HFEngine(policy).generate(prompts, 2, Sampling(temperature=0.0, max_new_tokens=5))
    assert [r.response_ids for r in rollouts[::2]] == [r.response_ids for r in rollouts[1::2]]
    batch = policy.collate(rollouts)
    with torch.no_grad():
        logits = policy.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, **batch.model_inputs
        ).logits
    P = batch.prompt_length
    logits = logits[:, P - 1 : -1].float()
    logits[..., list(policy.banned_token_ids)] = float("-inf")
    mask = batch.response_mask.bool()
    assert torch.equal(logits.argmax(-1)[mask], batch.response_ids[mask])
    _parity(policy, rollouts, temperature=1.0)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_vision_placeholders_are_never_generated_even_when_the_model_prefers_them(temperature):
    policy = _vision_policy("qwen2_5_vl")
    bias_towards_vision_pads(policy.model, policy.image_token_id, policy.video_token_id)
    prompts, _ = policy.prepare(vision_examples())
    # Sanity: without the ban the model's most likely next token is a vision placeholder.
    inputs = policy.generation_inputs(prompts)
    with torch.no_grad():
        next_token = policy.model(**inputs).logits[:, -1].argmax(-1)
    assert set(next_token.tolist()) <= {policy.image_token_id, policy.video_token_id}
    rollouts = HFEngine(policy).generate(
        prompts, 4, Sampling(temperature=temperature, max_new_tokens=8, seed=0)
    )
    banned = set(policy.banned_token_ids)
    assert all(not banned & set(r.response_ids) for r in rollouts)
    # and the trainer re-scores them without "image features and image tokens do not match"
    _parity(policy, rollouts, temperature=1.0)


def test_plain_examples_are_encoded_on_the_fly_and_sync_is_a_no_op(text_policy):
    engine = HFEngine(text_policy)
    examples = text_examples(2)
    rollouts = engine.generate(examples, 2, Sampling(max_new_tokens=3, seed=0))
    assert [r.prompt_ids for r in rollouts[::2]] == [text_policy.encode(e).prompt_ids for e in examples]
    assert engine.sync_weights(text_policy.model) == 0.0
    other, _ = tiny_text_model(seed=1)
    with pytest.raises(ValueError, match="samples from policy.model"):
        engine.sync_weights(other)
    with pytest.raises(TypeError, match="sequence of prompts"):
        engine.generate(examples[0], 2, Sampling())
    with pytest.raises(ValueError, match="n=0"):
        engine.generate(examples, 0, Sampling())


@pytest.mark.parametrize("truncation", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_and_top_p_truncate_the_sampled_distribution(text_policy, truncation):
    # Keeping only the most likely token turns sampling at temperature 1 into greedy decoding, and
    # the recorded log-probability is that of the truncated distribution: log 1 = 0.
    prompts, _ = text_policy.prepare(text_examples(2))
    engine = HFEngine(text_policy)
    greedy = engine.generate(prompts, 1, Sampling(temperature=0.0, max_new_tokens=6))
    truncated = engine.generate(prompts, 3, Sampling(max_new_tokens=6, seed=0, **truncation))
    assert [r.response_ids for r in truncated] == [g.response_ids for g in greedy for _ in range(3)]
    assert all(lp == pytest.approx(0.0, abs=1e-6) for r in truncated for lp in r.logprobs)


def test_the_static_cache_samples_what_the_dynamic_cache_samples(text_policy):
    prompts, _ = text_policy.prepare(text_examples(2))
    sampling = Sampling(temperature=1.0, max_new_tokens=8, seed=7)
    dynamic = HFEngine(text_policy, cache="dynamic").generate(prompts, 3, sampling)
    static = HFEngine(text_policy, cache="static").generate(prompts, 3, sampling)
    assert [r.response_ids for r in static] == [r.response_ids for r in dynamic]
    assert_close(
        torch.tensor([x for r in static for x in r.logprobs]),
        torch.tensor([x for r in dynamic for x in r.logprobs]),
        atol=1e-5,
        rtol=0,
    )


def test_a_static_cache_under_mixed_precision_falls_back_to_the_dynamic_one(tmp_path, caplog):
    """The trainer's bf16 autocast over float32 weights leaves rotary keys in float32 and values in
    bf16, which transformers' static cache cannot hold: generate used to fail on its first step."""
    import logging

    from mmrl.testing import save_tiny_text_model
    from mmrl.train import fit
    from tests.integration.train.helpers import read_metrics, tiny_text_config

    model_dir = save_tiny_text_model(tmp_path / "model")
    run = tmp_path / "run"
    cfg = tiny_text_config(
        model_dir, run, "trainer.max_steps=1", "trainer.mixed_precision=bf16", "rollout.hf_cache=static"
    )
    with caplog.at_level(logging.WARNING, logger="mmrl.rollout.hf_engine"):
        fit(cfg)
    assert [m["step"] for m in read_metrics(run)] == [1]
    assert "rollout.hf_cache=static does not work under mixed precision" in caplog.text
