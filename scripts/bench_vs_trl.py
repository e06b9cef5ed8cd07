#!/usr/bin/env python
"""mmrl's default Trainer vs TRL's GRPOTrainer on the same RL step, side by side, with the floor.

    python scripts/bench_vs_trl.py                        # CPU: SmolLM2-135M shape, 4 prompts x 4, 64 tokens
    python scripts/bench_vs_trl.py --model qwen2-0.5b-random --prompts 16 --n 4 --max-new-tokens 256   # GPU
    python scripts/bench_vs_trl.py --tiny --rounds 1 --steps 1     # the smoke test's shape (seconds)

Both trainers get the same randomly initialised model (so nothing stops early: every response has
the full ``--max-new-tokens``), the same rendered prompts, the same coin-flip reward (a hash of the
completion text), no KL term and one optimizer step per RL step. They run in alternating fresh
processes (TRL, mmrl, TRL, mmrl, ...), ``--warmup`` untimed steps then ``--steps`` timed steps
each; the table reports the median of the timed steps over all rounds. Two warm-up steps by
default: a process's first two steps are slower than the rest (they fault in the process's peak
memory: measured for mmrl on a CPU), so the timed steps are the steady ones; both get the same.

* TRL runs in its best setting for the device: fp32 on a CPU (its bf16 is slower there), bf16 on
  CUDA (``--trl-precision`` measures another), its own ``model.generate`` rollouts (TRL's vLLM
  mode needs a separate server or a CUDA colocate).
* mmrl runs its **default** configuration: nothing about engine, dtype or precision is set
  (``rollout.engine=auto``, ``trainer.mixed_precision=auto``); what those resolved to is printed.

The floor is computed for the shape and this device from two measurements made in the same run:
the peak matmul rate in the training dtype (``2 M K N`` FLOPs of a large linear layer) and the
memory bandwidth (a large copy). The update needs ``6 P T`` FLOPs (``P`` parameters, ``T`` trained
tokens, prompt included); decoding needs, per generated position, the larger of ``2 P B`` FLOPs
for the batch of ``B`` sequences and one read of the weights. The floor is the sum.
``--json FILE`` writes every number.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PHASES = ("generate", "score", "update", "other")


# -- the shared work --------------------------------------------------------------------------------


def heads(text: str) -> bool:
    """The coin flip both trainers use: the first byte of the completion's SHA-256 is even."""
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


def coin_flip(response: str, example: object) -> object:
    """mmrl's verifier form of the coin flip."""
    from mmrl.types import Score

    h = heads(response)
    return Score(float(h), correct=h, components={"accuracy": float(h)})


def trl_coin_flip(completions: list[Any], **kwargs: Any) -> list[float]:
    """TRL's reward-function form of the same coin flip."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [float(heads(t)) for t in texts]


def make_model(kind: str, directory: Path) -> Path:
    """A randomly initialised model with the real shapes and tokenizer, saved to ``directory``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    torch.manual_seed(0)
    if kind == "tiny":
        from mmrl.testing import save_tiny_text_model

        save_tiny_text_model(directory, seed=0)
        return directory
    if kind == "qwen2-0.5b-random":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_step import random_qwen2_0_5b

        return random_qwen2_0_5b(directory)
    if kind == "smollm2-random":
        from mmrl.models import prepare_smollm2

        source = prepare_smollm2()
    else:
        source = Path(kind)
    config = AutoConfig.from_pretrained(source)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(source)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def rendered_prompts(count: int) -> list[str]:
    """``count`` synthetic arithmetic questions as user-message text: TRL gets them as conversational
    prompts and mmrl as ``jsonl`` rows, and both apply the model's chat template."""
    from mmrl.data import load_examples

    data = load_examples(
        "synthetic_arithmetic", split="train", options={"num_examples": count}, log_report=False
    )
    return [
        ex.prompt[-1]["content"] if isinstance(ex.prompt, list) else ex.prompt for ex in data.examples[:count]
    ]


# -- the workers (each in a fresh process) ----------------------------------------------------------


class StepClock:
    """Seconds per optimizer step and inside the wrapped phases, reset at each step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []
        self.current: dict[str, float] = {}
        self.started = 0.0

    def wrap(self, obj: Any, method: str, phase: str) -> None:
        original = getattr(obj, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.current[phase] = self.current.get(phase, 0.0) + time.perf_counter() - t

        setattr(obj, method, timed)


def trl_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    cuda = torch.cuda.is_available()
    bf16 = spec["trl_precision"] == "bf16"
    steps = spec["warmup"] + spec["steps"]
    prompts = spec["prompts"]
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts * steps])
    args = GRPOConfig(
        output_dir=spec["work"] + "/trl",
        per_device_train_batch_size=len(prompts) * spec["n"],
        num_generations=spec["n"],
        max_completion_length=spec["max_new_tokens"],
        beta=0.0,
        learning_rate=1e-6,
        max_steps=steps,
        gradient_accumulation_steps=1,
        num_iterations=1,
        temperature=1.0,
        top_p=1.0,
        bf16=bf16,
        use_cpu=not cuda,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
        shuffle_dataset=False,
        disable_tqdm=True,
    )
    clock = StepClock()

    class Steps(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            clock.current, clock.started = {}, time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            clock.steps.append({**clock.current, "step": time.perf_counter() - clock.started})

    tok = AutoTokenizer.from_pretrained(spec["model"])
    tok.padding_side = "left"
    trainer = GRPOTrainer(
        model=spec["model"], reward_funcs=[trl_coin_flip], args=args, train_dataset=dataset,
        processing_class=tok, callbacks=[Steps()],
    )  # fmt: skip
    clock.wrap(trainer, "_generate", "generate")
    clock.wrap(trainer, "_generate_and_score_completions", "rollout")
    trainer.train()
    rows = []
    for s in clock.steps:
        gen, rollout = s.get("generate", 0.0), s.get("rollout", 0.0)
        rows.append(
            {"step": s["step"], "generate": gen, "score": rollout - gen, "update": s["step"] - rollout}
        )
    return {
        "steps": rows,
        "setting": f"TRL {__import__('trl').__version__} GRPOTrainer, {'bf16' if bf16 else 'fp32'}",
    }


def mmrl_worker(spec: dict[str, Any]) -> dict[str, Any]:
    from mmrl.config import load_config
    from mmrl.train import Trainer

    prompts = Path(spec["work"]) / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"id": str(i), "question": p, "answer": "0"}) + "\n"
            for i, p in enumerate(spec["prompts"])
        )
    )
    steps = spec["warmup"] + spec["steps"]
    cfg = load_config(
        None,
        [
            f"model.path={spec['model']}",
            "data.recipe=jsonl",
            f"data.path={prompts}",
            "data.template=plain",
            f"rollout.n={spec['n']}",
            "rollout.temperature=1.0",
            f"rollout.max_new_tokens={spec['max_new_tokens']}",
            "algorithm.name=grpo",
            f"reward.verifier={Path(__file__).resolve()}:coin_flip",
            "reward.num_workers=0",
            "reward.format_weight=0",
            "reward.accuracy_weight=1",
            "reward.score_truncated=true",
            f"trainer.prompts_per_step={len(spec['prompts'])}",
            f"trainer.max_steps={steps}",
            "trainer.learning_rate=1e-6",
            "trainer.save_final=false",
            "trainer.save_every=0",
            "trainer.resume=never",
            f"trainer.output_dir={spec['work']}/mmrl",
            "logging.tensorboard=false",
            "logging.log_rollouts=false",
            "logging.progress_bar=false",
        ],
    )
    trainer = Trainer(cfg)
    trainer.start()
    rows = []
    try:
        for _ in range(steps):
            m = trainer.train_step()
            gen, score = m.get("time/generate", 0.0), m.get("time/score", 0.0)
            update = m.get("time/logprob", 0.0) + m.get("time/update", 0.0) + m.get("time/sync", 0.0)
            skipped = m.get("update/skipped_zero_advantage_frac", 0.0)
            rows.append(
                {
                    "step": m["time/step"],
                    "generate": gen,
                    "score": score,
                    "update": update,
                    "skipped": skipped,
                }
            )
        setting = (
            f"mmrl defaults: engine {trainer.engine.name}, "
            f"weights {str(next(trainer.policy.model.parameters()).dtype).removeprefix('torch.')}, "
            f"mixed precision {trainer.accelerator.mixed_precision}"
        )
    finally:
        trainer.close()
    return {"steps": rows, "setting": setting}


# -- the floor --------------------------------------------------------------------------------------


def best_seconds(fn: Any, reps: int = 5) -> float:
    """The fastest of ``reps`` calls of ``fn`` after one untimed call (CUDA synchronised)."""
    import torch

    cuda = torch.cuda.is_available()
    fn()
    times = []
    for _ in range(reps):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times)


def hardware_rates(dtype_name: str) -> dict[str, float]:
    """Peak matmul FLOP/s in ``dtype_name`` and copy bandwidth in bytes/s, measured here."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, dtype_name)
    m, k, n = (8192, 4096, 4096) if device == "cuda" else (1024, 576, 1536)
    a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
    x = torch.ones(64 * 2**20 // 4, device=device, dtype=torch.float32)
    y = torch.empty_like(x)  # allocated once: a fresh allocation per copy measures page faults

    flops = 2 * m * k * n / best_seconds(lambda: a @ b, 10)
    bandwidth = 2 * x.numel() * 4 / best_seconds(lambda: y.copy_(x), 10)
    return {"flops": flops, "bandwidth": bandwidth}


def floor_seconds(
    spec: dict[str, Any], rates: dict[str, float], params: int, prompt_tokens: int, bytes_per_param: int
) -> dict[str, float]:
    """``6 P T / peak`` for the update plus, per decode position, ``max(2 P B / peak, weights / bandwidth)``."""
    b = len(spec["prompts"]) * spec["n"]
    trained = b * (prompt_tokens + spec["max_new_tokens"])
    update = 6 * params * trained / rates["flops"]
    per_position = max(2 * params * b / rates["flops"], params * bytes_per_param / rates["bandwidth"])
    prefill = 2 * params * len(spec["prompts"]) * prompt_tokens / rates["flops"]
    generate = prefill + spec["max_new_tokens"] * per_position
    return {"generate": generate, "update": update, "step": generate + update}


def matmul_seconds(
    config: Any, spec: dict[str, Any], prompt_tokens: int, dtype_name: str, max_rows: int = 4096
) -> dict[str, float]:
    """The step's matrix products alone, each timed here at its own shape (best of 5).

    A decoder layer's linear layers (``q, k, v, o, gate, up, down`` from ``config``) and the output
    head: in the update, each layer's forward product, input gradient and weight gradient over the
    ``B x (prompt + response)`` trained tokens (timed at ``max_rows`` rows and scaled beyond); in
    generation, the prompts' prefill and one product per layer per decoded position at ``B`` rows,
    over ``num_hidden_layers`` distinct weights so that they stream from memory as in a model (the
    faster of torch's and, on a CPU with vLLM, vLLM's oneDNN product). What
    the floor's peak rate leaves out: the rates these shapes reach. Attention, norms and everything
    else are not in it."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, dtype_name)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden, layers = text.hidden_size, text.num_hidden_layers
    head_dim = getattr(text, "head_dim", None) or hidden // text.num_attention_heads
    q_out = text.num_attention_heads * head_dim
    kv_out = (getattr(text, "num_key_value_heads", None) or text.num_attention_heads) * head_dim
    inter = text.intermediate_size
    linears = [(q_out, hidden), (kv_out, hidden), (kv_out, hidden), (hidden, q_out)]
    linears += [(inter, hidden), (inter, hidden), (hidden, inter)]  # (out, in)
    b = len(spec["prompts"]) * spec["n"]
    trained = b * (prompt_tokens + spec["max_new_tokens"])

    def products(rows: int, out: int, inp: int, backward: bool) -> float:
        m = min(rows, max_rows)
        x = torch.randn(m, inp, device=device, dtype=dtype)
        w = torch.randn(out, inp, device=device, dtype=dtype)
        seconds = best_seconds(lambda: torch.nn.functional.linear(x, w))
        if backward:
            dy = torch.randn(m, out, device=device, dtype=dtype)
            seconds += best_seconds(lambda: dy @ w) + best_seconds(lambda: dy.t() @ x)
        return seconds * rows / m

    update = sum(layers * products(trained, o, i, True) for o, i in linears)
    update += products(trained, text.vocab_size, hidden, True)
    prefill = sum(layers * products(len(spec["prompts"]) * prompt_tokens, o, i, False) for o, i in linears)
    position = products(b, text.vocab_size, hidden, False)
    onednn = _onednn_products() if device == "cpu" else None
    for o, i in linears:
        ws = [torch.randn(o, i, device=device, dtype=dtype) for _ in range(layers)]
        x = torch.randn(b, i, device=device, dtype=dtype)
        seconds = best_seconds(lambda ws=ws, x=x: [torch.nn.functional.linear(x, w) for w in ws])
        if onednn is not None:  # vLLM-CPU decodes with oneDNN, faster than torch at a few rows
            handles = [onednn[0](w.t(), 32) for w in ws]
            seconds = min(seconds, best_seconds(lambda hs=handles, x=x: [onednn[1](h, x, None) for h in hs]))
        position += seconds
    generate = prefill + spec["max_new_tokens"] * position
    return {"update": update, "generate": generate, "step": update + generate}


def _onednn_products() -> tuple[Any, Any] | None:
    """vLLM-CPU's oneDNN linear (``create_onednn_mm``, ``onednn_mm``), or ``None`` without it."""
    try:
        from vllm import _custom_ops as ops

        return ops.create_onednn_mm, ops.onednn_mm
    except (ImportError, AttributeError):
        return None


# -- the driver -------------------------------------------------------------------------------------


def run_worker(kind: str, spec_path: Path, out: Path) -> dict[str, Any]:
    env = dict(os.environ)  # the OpenMP wait policy the driver chose, the same for both trainers
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--spec",
        str(spec_path),
        "--out",
        str(out),
    ]
    log = out.with_suffix(".log")
    with log.open("w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise SystemExit(f"the {kind} worker failed (exit {code}); the end of {log}:\n{tail}")
    return json.loads(out.read_text())


def median_phases(results: list[dict[str, Any]], warmup: int) -> dict[str, float]:
    steps = [s for r in results for s in r["steps"][warmup:]]
    out = {p: statistics.median(s.get(p, 0.0) for s in steps) for p in ("generate", "score", "update")}
    out["step"] = statistics.median(s["step"] for s in steps)
    out["other"] = max(0.0, out["step"] - out["generate"] - out["score"] - out["update"])
    out["timed_steps"] = len(steps)
    return out


def skipped_rows(results: list[dict[str, Any]], warmup: int) -> str:
    """How many rows mmrl's timed steps left out of the update (zero advantage), which its update
    time depends on; TRL trains every row."""
    fractions = [s.get("skipped", 0.0) for r in results for s in r["steps"][warmup:]]
    return (
        f"mmrl's timed steps skipped {statistics.mean(fractions):.0%} of their rows on average "
        f"({min(fractions):.0%}-{max(fractions):.0%}): rows whose group drew one coin-flip value have zero "
        "advantage and no update work; TRL trains every row."
    )


def table(name: str, setting: str, phases: dict[str, float]) -> str:
    lines = [f"{name}: {setting}", "| phase | s/step | share |", "|---|---:|---:|"]
    for p in PHASES:
        lines.append(f"| {p} | {phases[p]:.2f} | {phases[p] / phases['step']:.0%} |")
    lines.append(f"| **step** (median of {phases['timed_steps']}) | **{phases['step']:.2f}** | |")
    return "\n".join(lines)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        default="smollm2-random",
        help="smollm2-random (default), qwen2-0.5b-random, or a model directory (re-initialised randomly)",
    )
    p.add_argument("--tiny", action="store_true", help="a tiny test model and shape (the CI smoke test)")
    p.add_argument("--prompts", type=int, default=4, help="prompts per step (default 4)")
    p.add_argument("--n", type=int, default=4, help="samples per prompt (default 4)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="default 64")
    p.add_argument("--rounds", type=int, default=2, help="TRL/mmrl process pairs (default 2)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per process (default 2)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per process (default 3)")
    p.add_argument(
        "--trl-precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="auto: fp32 on a CPU (TRL's faster setting there), bf16 on CUDA",
    )
    p.add_argument("--json", default=None, help="also write every number here")
    p.add_argument("--worker", choices=("trl", "mmrl"), help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        result = (trl_worker if args.worker == "trl" else mmrl_worker)(spec)
        Path(args.out).write_text(json.dumps(result))
        return 0
    from mmrl.openmp import apply_wait_policy

    args.openmp = apply_wait_policy()  # before torch loads; the workers inherit the choice
    import torch

    try:
        import trl  # noqa: F401
    except ImportError:
        raise SystemExit("TRL is not installed: pip install -e '.[bench]'") from None
    cuda = torch.cuda.is_available()
    trl_precision = args.trl_precision if args.trl_precision != "auto" else ("bf16" if cuda else "fp32")
    work = Path(tempfile.mkdtemp(prefix="mmrl-vs-trl-"))
    model_dir = make_model("tiny" if args.tiny else args.model, work / "model")
    spec = {
        "model": str(model_dir), "prompts": rendered_prompts(args.prompts), "n": args.n,
        "max_new_tokens": args.max_new_tokens, "warmup": args.warmup, "steps": args.steps,
        "trl_precision": trl_precision, "work": str(work),
    }  # fmt: skip
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    results: dict[str, list[dict[str, Any]]] = {"trl": [], "mmrl": []}
    for r in range(args.rounds):
        for kind in ("trl", "mmrl"):
            print(f"round {r + 1}/{args.rounds}: {kind} ...", flush=True, file=sys.stderr)
            results[kind].append(run_worker(kind, spec_path, work / f"{kind}_{r}.json"))
    phases = {k: median_phases(v, args.warmup) for k, v in results.items()}
    summary = report(args, spec, results, phases, model_dir, cuda)
    print(summary["text"])
    if args.json:
        Path(args.json).write_text(
            json.dumps({k: v for k, v in summary.items() if k != "text"}, indent=1) + "\n"
        )
    return 0


def report(
    args: argparse.Namespace,
    spec: dict[str, Any],
    results: dict[str, Any],
    phases: dict[str, Any],
    model_dir: Path,
    cuda: bool,
) -> dict[str, Any]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from mmrl.hardware import fast_bf16

    with torch.device("meta"):
        params = sum(
            p.numel()
            for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir)).parameters()
        )
    tok = AutoTokenizer.from_pretrained(model_dir)
    texts = [
        tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        for p in spec["prompts"]
    ]
    prompt_tokens = round(statistics.mean(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts))
    device = torch.cuda.get_device_name(0) if cuda else f"CPU, {os.cpu_count()} cores"
    bf16 = cuda or fast_bf16("cpu")
    rates = hardware_rates("bfloat16" if bf16 else "float32")
    floor = floor_seconds(spec, rates, params, prompt_tokens, 2 if bf16 else 4)
    matmuls = matmul_seconds(
        AutoConfig.from_pretrained(model_dir), spec, prompt_tokens, "bfloat16" if bf16 else "float32"
    )
    ratio = phases["trl"]["step"] / phases["mmrl"]["step"]
    text = "\n".join([
        f"Same step for both: {params / 1e6:.1f}M-parameter random model, {args.prompts} prompts x {args.n} samples x "
        f"{args.max_new_tokens} tokens (prompts ~{prompt_tokens} tokens), coin-flip reward, no KL, one optimizer step; "
        f"{args.rounds} alternating rounds of fresh processes, {args.warmup} warm-up + {args.steps} timed steps each; {device}; OpenMP for both: {args.openmp}.",
        "",
        table("TRL", results["trl"][0]["setting"], phases["trl"]),
        "",
        table("mmrl", results["mmrl"][0]["setting"], phases["mmrl"]),
        skipped_rows(results["mmrl"], args.warmup),
        "",
        f"**mmrl is {ratio:.2f}x TRL** (median s/step {phases['trl']['step']:.2f} vs {phases['mmrl']['step']:.2f}).",
        f"Floor on this device: {floor['step']:.2f} s/step (update {floor['update']:.2f} s = 6 x {params / 1e6:.0f}M x "
        f"{args.prompts * args.n * (prompt_tokens + args.max_new_tokens)} tokens at the measured "
        f"{rates['flops'] / 1e12:.2f} TFLOP/s {'bf16' if bf16 else 'fp32'}; generate {floor['generate']:.2f} s at "
        f"{rates['bandwidth'] / 1e9:.0f} GB/s); mmrl is at {floor['step'] / phases['mmrl']['step']:.0%} of it, "
        f"TRL at {floor['step'] / phases['trl']['step']:.0%}.",
        f"The step's matrix products alone, timed here at their own shapes: {matmuls['step']:.2f} s (update "
        f"{matmuls['update']:.2f} s, generate {matmuls['generate']:.2f} s) = {matmuls['step'] / floor['step']:.1f}x "
        f"the floor; mmrl's step is {phases['mmrl']['step'] / matmuls['step']:.1f}x them.",
    ])  # fmt: skip
    return {
        "text": text,
        "ratio": ratio,
        "phases": phases,
        "floor": floor,
        "matmuls": matmuls,
        "rates": rates,
        "params": params,
        "prompt_tokens": prompt_tokens,
        "device": device,
        "openmp": args.openmp,
        "settings": {k: v[0]["setting"] for k, v in results.items()},
        "raw": results,
    }


if __name__ == "__main__":
    sys.exit(main())
