"""Policy adapters on tiny models: encoding, the prompt budget, batch layout, log-probabilities."""

import contextlib
import logging

import pytest
import torch
from torch.testing import assert_close

from mmrl.policy import TextPolicy, VisionPolicy
from mmrl.policy.logprobs import token_logprobs_from_logits
from mmrl.testing import tiny_image, tiny_text_model, tiny_vl_model
from mmrl.types import Example, Rollout

from .helpers import MAX_PIXELS, MIN_PIXELS, text_examples, vision_examples


@pytest.fixture(scope="module")
def text_policy():
    model, tok = tiny_text_model(seed=0)
    return TextPolicy(model, tok, max_prompt_length=64)


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def vision_policy(request):
    model, processor = tiny_vl_model(request.param, seed=0)
    return VisionPolicy(model, processor, MIN_PIXELS, MAX_PIXELS, max_prompt_length=256)


def _fake_rollouts(policy, prompts, lengths, seed=0):
    """Rollouts with random response tokens (no engine needed to test the batch layout)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, (prompt, length) in enumerate(zip(prompts, lengths, strict=True)):
        ids = torch.randint(0, 400, (length,), generator=g).tolist()
        out.append(Rollout(prompt.example, i, prompt.prompt_ids, tuple(ids), "", "length"))
    return out


def _reference_logprobs(policy, rollout, temperature=1.0):
    """One row at a time, no padding, full logits: the naive computation."""
    prompt = policy.encode(rollout.example)
    ids = torch.tensor([list(rollout.prompt_ids) + list(rollout.response_ids)])
    kwargs = {}
    if policy.is_vision:
        kwargs = dict(prompt.vision)
        kwargs["mm_token_type_ids"] = policy.mm_token_type_ids(ids)
    with torch.no_grad():
        logits = policy.model(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs).logits[0]
    P = len(rollout.prompt_ids)
    return token_logprobs_from_logits(
        logits[P - 1 : -1],
        torch.tensor(rollout.response_ids),
        temperature=temperature,
        banned_token_ids=policy.banned_token_ids,
        with_entropy=True,
    )


def test_text_encode_uses_chat_template(text_policy):
    assert text_policy.processor_kwargs == {} and text_policy.auto_static_cache
    ex = text_examples(1)[0]
    prompt = text_policy.encode(ex)
    text = text_policy.tokenizer.apply_chat_template(
        [{"role": "user", "content": ex.prompt}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    assert list(prompt.prompt_ids) == text_policy.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert prompt.vision == {}


def test_over_budget_prompt_is_dropped_with_a_warning_naming_it(text_policy, caplog):
    long = Example(id="too-long", task="math", prompt="apples " * 80, answer="1")
    before = text_policy.num_dropped
    with caplog.at_level(logging.WARNING):
        kept, dropped = text_policy.prepare([*text_examples(2), long])
    assert [k.example.id for k in kept] == ["t0", "t1"]
    assert [(d.id, d.reason) for d in dropped] == [("too-long", "over_budget")]
    assert dropped[0].prompt_tokens > 64 and text_policy.num_dropped == before + 1
    assert "'too-long'" in caplog.text and "data.max_prompt_length=64" in caplog.text
    assert "dropped 1 of 3 examples" in caplog.text


def test_collate_layout_and_text_logprobs_match_unpadded_reference(text_policy):
    prompts, _ = text_policy.prepare(text_examples(3))
    rollouts = _fake_rollouts(text_policy, prompts, [5, 1, 3])
    batch = text_policy.collate(rollouts)
    P = max(p.num_tokens for p in prompts)
    assert batch.prompt_length == P and batch.input_ids.shape == (3, P + 5)
    assert batch.response_mask.tolist() == [[1] * 5, [1, 0, 0, 0, 0], [1, 1, 1, 0, 0]]
    assert batch.rollout_logprobs is None  # fake rollouts carry no engine logprobs
    # left-padded prompt ending at column P, right-padded response from column P
    row = batch.input_ids[1]
    assert row[P - prompts[1].num_tokens : P].tolist() == list(prompts[1].prompt_ids)
    assert row[P] == rollouts[1].response_ids[0] and (row[P + 1 :] == text_policy.pad_token_id).all()
    assert batch.model_inputs["position_ids"][1, P - prompts[1].num_tokens] == 0
    with torch.no_grad():
        lp, ent = text_policy.logprobs(batch, with_entropy=True, temperature=0.8)
    for i, r in enumerate(rollouts):
        ref_lp, ref_ent = _reference_logprobs(text_policy, r, temperature=0.8)
        assert_close(lp[i, : len(r.response_ids)], ref_lp, atol=1e-5, rtol=1e-5)
        assert_close(ent[i, : len(r.response_ids)], ref_ent, atol=1e-5, rtol=1e-5)
    assert (lp[batch.response_mask == 0] == 0).all()


def test_logprobs_backpropagate_to_the_model(text_policy):
    prompts, _ = text_policy.prepare(text_examples(2))
    batch = text_policy.collate(_fake_rollouts(text_policy, prompts, [3, 2]))
    text_policy.model.zero_grad()
    lp, _ = text_policy.logprobs(batch)
    (lp * batch.response_mask).sum().backward()
    head_grad = text_policy.model.get_output_embeddings().weight.grad
    layer_grad = text_policy.model.model.layers[0].mlp.up_proj.weight.grad
    assert head_grad is not None and head_grad.abs().sum() > 0 and layer_grad.abs().sum() > 0
    text_policy.model.zero_grad()


def test_vision_encode_resizes_once_and_matches_the_processor(vision_policy):
    ex = vision_examples()[0]
    prompt = vision_policy.encode(ex)
    (img,) = prompt.example.images
    assert img.size != ex.images[0].size and img.size[0] % 28 == 0 and img.size[1] % 28 == 0
    assert MIN_PIXELS <= img.size[0] * img.size[1] <= MAX_PIXELS
    assert vision_policy.processor_kwargs == {"size": vision_policy.processor_size}  # what vLLM is given
    direct = vision_policy.processor(
        text=[vision_policy.render(ex)], images=[img], return_tensors="pt", **vision_policy.processor_kwargs
    )
    assert list(prompt.prompt_ids) == direct["input_ids"][0].tolist()
    assert torch.equal(prompt.vision["pixel_values"], direct["pixel_values"])
    assert torch.equal(prompt.vision["image_grid_thw"], direct["image_grid_thw"])
    grid = prompt.vision["image_grid_thw"][0]
    assert vision_policy._image_token_count(prompt.prompt_ids) == int(grid.prod()) // 4  # 2 x 2 merge
    assert (
        vision_policy.mm_token_type_ids(direct["input_ids"]).tolist() == direct["mm_token_type_ids"].tolist()
    )
    # encoding the already-encoded example again gives the same pixels (no second resize)
    again = vision_policy.encode(prompt.example)
    assert torch.equal(again.vision["pixel_values"], prompt.vision["pixel_values"])


def test_over_budget_image_prompt_is_dropped_not_truncated(vision_policy, caplog):
    big = Example(
        id="big-image",
        task="chart",
        prompt="<image> describe",
        answer="1",
        images=(tiny_image(3, (900, 900)),),
    )
    policy = VisionPolicy(
        vision_policy.model, vision_policy.processor, MIN_PIXELS, MAX_PIXELS, max_prompt_length=60
    )
    with caplog.at_level(logging.WARNING):
        kept, dropped = policy.prepare([vision_examples()[1], big])
    assert [k.example.id for k in kept] == ["v1"]
    (d,) = dropped
    assert d.id == "big-image" and d.image_tokens == 64 and d.prompt_tokens > 60
    assert "64 of them image tokens" in caplog.text and "data.max_pixels" in caplog.text
    assert policy.num_dropped == 1


def test_vision_collate_and_logprobs_on_a_mixed_batch(vision_policy):
    prompts, dropped = vision_policy.prepare(vision_examples())
    assert not dropped
    rollouts = _fake_rollouts(vision_policy, prompts, [4, 2, 3])
    batch = vision_policy.collate(rollouts)
    types = batch.model_inputs["mm_token_type_ids"]
    assert types.shape == batch.input_ids.shape
    assert (types[:, batch.prompt_length :] == 0).all()  # response tokens are text
    assert int(types.sum()) == sum(vision_policy._image_token_count(p.prompt_ids) for p in prompts)
    assert batch.model_inputs["image_grid_thw"].shape[0] == 3  # v0: 1 image, v1: none, v2: 2
    with torch.no_grad():
        lp, ent = vision_policy.logprobs(batch, with_entropy=True)
    for i, r in enumerate(rollouts):
        ref_lp, ref_ent = _reference_logprobs(vision_policy, r)
        assert_close(lp[i, : len(r.response_ids)], ref_lp, atol=1e-5, rtol=1e-5)
        assert_close(ent[i, : len(r.response_ids)], ref_ent, atol=1e-5, rtol=1e-5)


def test_collate_refuses_prompt_ids_the_trainer_would_not_produce(vision_policy):
    prompt = vision_policy.encode(vision_examples()[0])
    image_token = vision_policy.image_token_id
    shorter = tuple(t for i, t in enumerate(prompt.prompt_ids) if not (t == image_token and i % 2))
    bad = Rollout(prompt.example, 0, shorter, (5, 6), "", "length")
    with pytest.raises(ValueError, match="differ from the trainer's encoding"):
        vision_policy.collate([bad])


def test_config_image_token_must_be_the_tokenizers():
    model, processor = tiny_vl_model("qwen2_vl", seed=0)
    model.config.image_token_id = 7
    with pytest.raises(ValueError, match=r"image_token_id=7 but the tokenizer maps '<\|image_pad\|>'"):
        VisionPolicy(model, processor, MIN_PIXELS, MAX_PIXELS)


def test_banned_tokens_are_the_vision_specials(vision_policy):
    tok = vision_policy.tokenizer
    expected = {tok.convert_tokens_to_ids(t) for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>")}
    assert expected <= set(vision_policy.banned_token_ids)
    assert tok.eos_token_id not in vision_policy.banned_token_ids


def _tiny_decoder(model_type: str):
    """A random 2-layer text decoder of ``model_type`` with the tiny tokenizer, in float32."""
    import transformers

    from mmrl.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    kinds = {
        "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
        "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"),
        "llama": ("LlamaConfig", "LlamaForCausalLM"),
    }
    config_cls, model_cls = (getattr(transformers, name) for name in kinds[model_type])
    config = config_cls(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=model_type != "llama",
    )
    torch.manual_seed(0)
    return model_cls(config).float(), tok


def _shared_prompt_rollouts(policy, prompts=3, n=3, seed=0):
    """``n`` rollouts of random lengths (1..8 tokens) per prompt; prompts of different lengths."""
    g = torch.Generator().manual_seed(seed)
    rollouts = []
    for i in range(prompts):
        example = Example(id=f"s{i}", task="math", prompt="What is " + "1 + " * (3 * i) + f"{i}?", answer="1")
        prompt = policy.encode(example)
        for k in range(n):
            length = int(torch.randint(1, 9, (1,), generator=g))
            ids = tuple(torch.randint(0, 400, (length,), generator=g).tolist())
            rollouts.append(Rollout(example, k, prompt.prompt_ids, ids, "", "length"))
    return rollouts


@pytest.mark.parametrize("model_type", ["qwen2", "qwen3", "llama"])
def test_shared_prompts_give_the_full_sequence_logprobs_and_gradients(model_type):
    model, tok = _tiny_decoder(model_type)
    policy = TextPolicy(model.train(), tok, max_prompt_length=64)
    assert policy.shares_prompts
    batch = policy.collate(_shared_prompt_rollouts(policy))
    assert batch.num_prompts == 3 and batch.num_rows == 9
    results = {}
    for share in (False, True):
        policy.share_prompts = share
        model.zero_grad(set_to_none=True)
        logprobs, entropy = policy.logprobs(batch, temperature=0.7, with_entropy=True)
        (logprobs.sum() + 0.1 * entropy.sum()).backward()
        results[share] = (logprobs.detach(), entropy.detach(), [p.grad.clone() for p in model.parameters()])
    assert_close(results[True][0], results[False][0], rtol=1e-5, atol=1e-5)
    assert_close(results[True][1], results[False][1], rtol=1e-5, atol=1e-5)
    for shared, full in zip(results[True][2], results[False][2], strict=True):
        assert_close(shared, full, rtol=1e-4, atol=1e-5)


def test_shared_prompts_run_each_prompt_once():
    model, tok = _tiny_decoder("qwen2")
    policy = TextPolicy(model, tok, max_prompt_length=64)
    batch = policy.collate(_shared_prompt_rollouts(policy, prompts=2, n=4))
    widths = []
    handle = model.model.embed_tokens.register_forward_hook(
        lambda _m, args, _o: widths.append(tuple(args[0].shape))
    )
    try:
        with torch.no_grad():
            policy.logprobs(batch)
    finally:
        handle.remove()
    P, T = batch.prompt_length, batch.response_ids.shape[1]
    assert widths == [(2, P), (8, T)]  # the 2 prompts once, then the 8 responses against their cache


def test_prompt_sharing_is_off_where_it_would_not_be_exact(vision_policy):
    assert not vision_policy.shares_prompts  # Qwen-VL positions depend on the whole sequence
    model, tok = _tiny_decoder("qwen2")
    policy = TextPolicy(model, tok)
    model.gradient_checkpointing_enable()
    assert not policy.shares_prompts  # transformers turns the cache off under checkpointing
    model.gradient_checkpointing_disable()
    model.config.use_sliding_window = True
    assert not policy.shares_prompts


def _backends_used(monkeypatch):
    """Record which SDPA backend each of the policy's forwards chose."""
    import mmrl.policy.base as base

    chosen, real = [], base._text_attention_backend

    @contextlib.contextmanager
    def spy(*args):
        with real(*args) as name:
            chosen.append(name)
            yield name

    monkeypatch.setattr(base, "_text_attention_backend", spy)
    return chosen


@pytest.mark.parametrize("model_type", ["qwen2", "qwen3", "llama"])
@pytest.mark.parametrize("share", [False, True])
def test_small_cpu_training_forwards_use_grouped_attention_with_the_same_results(
    monkeypatch, share, model_type
):
    """Padded rows of 3 prompt lengths, grouped-query heads (4 query, 2 key/value): the grouped
    float32 attention gives SDPA's flash kernel's log-probs, entropies and gradients."""
    import mmrl.policy.base as base

    model, tok = _tiny_decoder(model_type)
    assert model.config._attn_implementation == "sdpa"
    policy = TextPolicy(model.train(), tok, max_prompt_length=64)
    policy.share_prompts = share
    batch = policy.collate(_shared_prompt_rollouts(policy))  # prompts of 3 lengths: padded rows
    chosen = _backends_used(monkeypatch)
    results, default_limit = {}, base.MATH_ATTENTION_MAX_SCORES
    for limit in (default_limit, 0):  # 0: every forward keeps the flash kernel
        monkeypatch.setattr(base, "MATH_ATTENTION_MAX_SCORES", limit)
        model.zero_grad(set_to_none=True)
        chosen.clear()
        logprobs, entropy = policy.logprobs(batch, temperature=0.7, with_entropy=True)
        (logprobs.sum() + 0.1 * entropy.sum()).backward()
        results[limit] = (
            chosen[:],
            logprobs.detach(),
            entropy.detach(),
            [p.grad.clone() for p in model.parameters()],
        )
        assert model.config._attn_implementation == "sdpa"  # restored after each forward
    passes = 2 if share else 1
    grouped, flash = results[default_limit], results[0]
    assert grouped[0] == ["grouped"] * passes and flash[0] == ["default"] * passes
    assert torch.isfinite(grouped[1]).all()
    assert_close(grouped[1], flash[1], rtol=1e-5, atol=1e-5)
    assert_close(grouped[2], flash[2], rtol=1e-5, atol=1e-5)
    for a, b in zip(grouped[3], flash[3], strict=True):
        assert_close(a, b, rtol=1e-4, atol=1e-5)
    monkeypatch.setattr(base, "MATH_ATTENTION_MAX_SCORES", default_limit)
    chosen.clear()
    with torch.no_grad():
        policy.logprobs(batch)
    assert chosen == ["default"] * passes  # no autograd: the flash kernel's forward is the faster one


def test_other_attention_implementations_keep_the_math_backend(monkeypatch):
    model, tok = _tiny_decoder("llama")
    model.config._attn_implementation = "eager"
    policy = TextPolicy(model.train(), tok, max_prompt_length=64)
    chosen = _backends_used(monkeypatch)
    policy.logprobs(policy.collate(_shared_prompt_rollouts(policy)))
    assert chosen == ["math", "math"] and model.config._attn_implementation == "eager"


@pytest.mark.parametrize("recompute", ["gradient_checkpointing", "checkpoint_wrapper"])
def test_models_that_recompute_in_backward_keep_the_default_attention(monkeypatch, recompute):
    """Backward reruns checkpointed layers outside the forward's context: the attention must not change."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    model, tok = _tiny_decoder("llama")
    if recompute == "gradient_checkpointing":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.model.layers[0] = checkpoint_wrapper(model.model.layers[0])
    policy = TextPolicy(model.train(), tok, max_prompt_length=64)
    batch = policy.collate(_shared_prompt_rollouts(policy))
    chosen = _backends_used(monkeypatch)
    logprobs, _ = policy.logprobs(batch)
    logprobs.sum().backward()  # raised CheckpointError when the recomputation used another backend
    assert chosen and set(chosen) == {"default"}
    assert not policy.shares_prompts  # a recomputed layer would append to the prompt's cache again
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
