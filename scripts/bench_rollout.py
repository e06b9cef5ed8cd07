"""Rollout throughput: mmrl's ``hf`` engine against a plain ``model.generate`` loop, same prompts,
same model, same sampling, in the same run; and the ``vllm`` engine where vllm imports.

The plain loop is what a script without mmrl would do: one ``generate`` call per prompt with
``num_return_sequences=n`` (the same temperature / top-p / top-k=0 as the engine). Throughput is
completion tokens (up to and including the end-of-sequence token) per second of wall time.
The two are run alternately ``--repeats`` times after a warm-up; the best round of each counts.

    python scripts/bench_rollout.py                                    # SmolLM2-135M, CPU
    python scripts/bench_rollout.py --random-init qwen2.5-0.5b --prompts 8 --n 8 \\
        --max-new-tokens 256 --dtype bfloat16                          # GPU: Qwen2.5-0.5B shape
    python scripts/bench_rollout.py --engines hf,vllm                  # with the vLLM engine (make setup installs it)

Prints a table and the ratio engine / plain; ``--require-not-slower`` exits 1 when it is < 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# How idle OpenMP threads wait (spin on idle cores, sleep on busy ones): before torch loads.
from mmrl.openmp import apply_wait_policy

apply_wait_policy()
# vLLM-CPU otherwise reserves 92% of the machine's memory for its KV cache and refuses to start
# when other processes hold more than 8%; 1 GiB holds this benchmark's sequences many times over
# (read by vLLM's CPU backend only).
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

import torch  # noqa: E402  (after the wait policy)

import mmrl  # noqa: F401, E402  (applies the torchvision shim before transformers loads)
from mmrl.types import Example  # noqa: E402

#: Shapes of random-init models for GPU runs (no weights can be downloaded here).
RANDOM_SHAPES = {
    "qwen2.5-0.5b": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
    ),
}  # fmt: skip


def arithmetic_prompts(k: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    names = ["Tom", "Sara", "Ali", "Mei", "Lena", "Omar"]
    things = ["apples", "pencils", "stickers", "books", "marbles"]
    out = []
    for i in range(k):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        name, thing = rng.choice(names), rng.choice(things)
        q = f"{name} has {a} {thing} and gets {b} more. How many {thing} does {name} have now? Explain briefly."
        out.append(Example(id=f"q{i}", task="math", prompt=q, answer=str(a + b)))
    return out


def build_policy(args: argparse.Namespace) -> Any:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mmrl.models import resolve_model_path
    from mmrl.policy import TextPolicy, resolve_dtype

    dtype = resolve_dtype(args.dtype, args.device)
    if args.random_init:
        from transformers import Qwen2Config, Qwen2ForCausalLM

        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m-instruct"))
        shape = RANDOM_SHAPES[args.random_init]
        config = Qwen2Config(
            **shape,
            tie_word_embeddings=True,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
        )
        torch.manual_seed(0)
        with torch.device(args.device):
            model = Qwen2ForCausalLM(config).to(dtype)
        source = None
    else:
        source = resolve_model_path(args.model)
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(args.device)
    model.eval()
    policy = TextPolicy(model, tokenizer, max_prompt_length=512)
    policy.source_path = source
    return policy


def completion_tokens(generated: torch.Tensor, eos_ids: tuple[int, ...]) -> int:
    """Tokens per row up to and including the first end-of-sequence token, summed."""
    is_eos = torch.isin(generated, torch.tensor(eos_ids, device=generated.device))
    steps = generated.shape[1]
    first = torch.where(
        is_eos.any(1), is_eos.float().argmax(1) + 1, torch.full_like(is_eos[:, 0], steps, dtype=torch.long)
    )
    return int(first.sum())


def plain_loop(policy: Any, prompts: list[Any], n: int, sampling: Any) -> tuple[int, float]:
    """One ``model.generate`` per prompt, ``n`` samples each: the baseline."""
    model, device = policy.model, policy.device
    kwargs = dict(
        do_sample=not sampling.greedy,
        max_new_tokens=sampling.max_new_tokens,
        num_return_sequences=n,
        top_k=0,
        top_p=sampling.top_p,
        pad_token_id=policy.pad_token_id,
    )
    if not sampling.greedy:
        kwargs["temperature"] = sampling.temperature
    tokens = 0
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for prompt in prompts:
            ids = torch.tensor([prompt.prompt_ids], device=device)
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
            tokens += completion_tokens(out[:, ids.shape[1] :], policy.eos_token_ids)
    _sync(device)
    return tokens, time.perf_counter() - start


def engine_run(engine: Any, prompts: list[Any], n: int, sampling: Any) -> tuple[int, float]:
    _sync(engine.policy.device)
    start = time.perf_counter()
    rollouts = engine.generate(prompts, n, sampling)
    _sync(engine.policy.device)
    return sum(len(r.response_ids) for r in rollouts), time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="smollm2-135m-instruct", help="checkpoint directory or offline alias"
    )
    parser.add_argument(
        "--random-init", choices=sorted(RANDOM_SHAPES), help="a random model of this shape instead"
    )
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--n", type=int, default=8, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=64, help="hf engine sequences per generate call")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--engines", default="hf", help="comma list of hf, vllm")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--require-not-slower", action="store_true", help="exit 1 if the hf engine is slower")
    args = parser.parse_args(argv)
    args.device = torch.device(args.device)

    from mmrl.rollout import HFEngine, Sampling

    policy = build_policy(args)
    prompts, _ = policy.prepare(arithmetic_prompts(args.prompts, args.seed))
    sampling = Sampling(
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    hf = HFEngine(policy, batch_size=args.batch_size)
    warm = Sampling(temperature=args.temperature, max_new_tokens=4, seed=args.seed)
    plain_loop(policy, prompts[:1], 2, warm)
    engine_run(hf, prompts[:1], 2, warm)

    results: dict[str, Any] = {
        "model": args.random_init or args.model,
        "device": str(args.device) if args.device.type != "cuda" else torch.cuda.get_device_name(args.device),
        "dtype": str(next(policy.model.parameters()).dtype).removeprefix("torch."),
        "prompts": len(prompts),
        "n": args.n,
        "max_new_tokens": args.max_new_tokens,
        "threads": torch.get_num_threads(),
        "runs": {},
    }
    rounds: dict[str, list[tuple[int, float]]] = {"plain_generate_loop": [], "hf_engine": []}
    for r in range(args.repeats):
        torch.manual_seed(args.seed + r)
        rounds["plain_generate_loop"].append(plain_loop(policy, prompts, args.n, sampling))
        rounds["hf_engine"].append(engine_run(hf, prompts, args.n, sampling))
    if "vllm" in engines:
        from mmrl.rollout.vllm_engine import VllmEngine

        vllm_engine = VllmEngine(
            policy,
            max_model_len=512 + args.max_new_tokens,
            dtype=results["dtype"],
            enforce_eager=args.device.type == "cpu",
        )
        engine_run(vllm_engine, prompts[:1], 2, warm)
        rounds["vllm_engine"] = [
            engine_run(vllm_engine, prompts, args.n, sampling) for _ in range(args.repeats)
        ]
        vllm_engine.close()

    print(
        f"model {results['model']} | {results['device']} | {results['dtype']} | {len(prompts)} prompts x {args.n} "
        f"samples x <= {args.max_new_tokens} tokens | torch threads {results['threads']}"
    )
    print(f"{'path':<22}{'tokens':>9}{'seconds':>10}{'tok/s':>10}   (best of {args.repeats})")
    for name, runs in rounds.items():
        tokens, seconds = max(runs, key=lambda ts: ts[0] / ts[1])
        results["runs"][name] = {
            "tokens": tokens,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1),
            "all": [{"tokens": t, "seconds": round(s, 3)} for t, s in runs],
        }
        print(f"{name:<22}{tokens:>9}{seconds:>10.2f}{tokens / seconds:>10.1f}")
    ratio = (
        results["runs"]["hf_engine"]["tokens_per_s"] / results["runs"]["plain_generate_loop"]["tokens_per_s"]
    )
    results["hf_engine_over_plain"] = round(ratio, 3)
    print(f"hf engine / plain generate loop: {ratio:.2f}x")
    if "vllm_engine" in results["runs"]:
        v = (
            results["runs"]["vllm_engine"]["tokens_per_s"]
            / results["runs"]["plain_generate_loop"]["tokens_per_s"]
        )
        results["vllm_engine_over_plain"] = round(v, 3)
        print(f"vllm engine / plain generate loop: {v:.2f}x")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.require_not_slower and ratio < 1.0:
        print("FAIL: the hf engine is slower than the plain generate loop", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
