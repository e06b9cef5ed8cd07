"""Peak memory of the log-prob step: full-vocabulary logits (naive) vs mmrl's chunked computation.

The step is the output head plus log-softmax over the response tokens of one micro-batch:
``hidden [N, H] -> logits [N, V] -> log p(target)``, forward only (the old-logprob pass) and
forward + backward (the training pass). The naive way is what ``model(...).logits`` followed by
``log_softmax(logits.float())`` does; the chunked way is ``mmrl.policy.chunked_token_logprobs``.

Each measurement runs in a fresh process. On CPU the peak is the process's peak resident memory
(``VmHWM``, reset after the inputs are built) minus its resident memory at that point; on CUDA it
is ``max_memory_allocated`` minus the memory allocated before the step. The head weight and its
gradient buffer exist before the step in both cases and are not counted.

    python scripts/bench_logprob_memory.py                          # vocab 151936, 16 x 320 tokens
    python scripts/bench_logprob_memory.py --device cuda --dtype bfloat16
    python scripts/bench_logprob_memory.py --require-ratio 0.25     # exit 1 above 25 % of naive
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from mmrl.config import ModelConfig


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(args: argparse.Namespace) -> dict:
    import torch

    from mmrl.policy.logprobs import chunked_token_logprobs, token_logprobs_from_logits

    torch.manual_seed(0)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    head = torch.nn.Linear(args.hidden, args.vocab, bias=False, device=device, dtype=dtype)
    hidden = torch.randn(args.tokens, args.hidden, device=device, dtype=dtype, requires_grad=args.backward)
    targets = torch.randint(0, args.vocab, (args.tokens,), device=device)
    if args.backward:
        head.weight.grad = torch.zeros_like(head.weight)  # the persistent .grad buffer: not counted
    else:
        head.weight.requires_grad_(False)

    def step(hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if args.method == "naive":
            lp, _ = token_logprobs_from_logits(head(hidden), targets)
        else:
            lp, _ = chunked_token_logprobs(hidden, targets, head, chunk_size=args.chunk_size)
        if args.backward:
            lp.sum().backward()
        return lp.detach()

    # A small warm-up first, so that lazily initialised kernels and thread pools are not counted.
    with torch.set_grad_enabled(args.backward):
        step(hidden[:8], targets[:8])

    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        with torch.set_grad_enabled(args.backward):
            step(hidden, targets)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        base = _rss_kib("VmRSS") * 1024
        with torch.set_grad_enabled(args.backward):
            step(hidden, targets)
        peak = _rss_kib("VmHWM") * 1024 - base
    return {"method": args.method, "backward": args.backward, "peak_bytes": int(peak)}


def measure(args: argparse.Namespace, method: str, backward: bool) -> int:
    cmd = [
        sys.executable, __file__, "--worker", method, "--tokens", str(args.tokens), "--hidden", str(args.hidden),
        "--vocab", str(args.vocab), "--chunk-size", str(args.chunk_size), "--dtype", args.dtype,
        "--device", args.device,
    ]  # fmt: skip
    if backward:
        cmd.append("--backward")
    # glibc serves allocations above this threshold with mmap and returns them on free, so the
    # resident size follows the live tensors (its default threshold adapts upwards and hides them).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=16 * 320, help="response tokens in the micro-batch (N)")
    parser.add_argument("--hidden", type=int, default=896, help="hidden size (Qwen2.5-0.5B: 896)")
    parser.add_argument("--vocab", type=int, default=151936, help="vocabulary size (Qwen2.5: 151936)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=ModelConfig().logprob_chunk_size,
        help="rows per chunk (model.logprob_chunk_size)",
    )
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--require-ratio", type=float, help="exit 1 if chunked/naive exceeds this (e.g. 0.25)"
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--worker", choices=["naive", "chunked"], help=argparse.SUPPRESS)
    parser.add_argument("--backward", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.method = args.worker
        print(json.dumps(worker(args)))
        return 0

    results = {
        "tokens": args.tokens, "hidden": args.hidden, "vocab": args.vocab, "chunk_size": args.chunk_size,
        "dtype": args.dtype, "device": args.device, "passes": {},
    }  # fmt: skip
    print(
        f"log-prob step, {args.tokens} tokens x vocab {args.vocab} (hidden {args.hidden}, {args.dtype}, {args.device}), "
        f"chunks of {args.chunk_size}"
    )
    print(f"{'pass':<20}{'naive MiB':>11}{'chunked MiB':>13}{'ratio':>8}")
    worst = 0.0
    for backward in (False, True):
        naive = measure(args, "naive", backward)
        chunked = measure(args, "chunked", backward)
        ratio = chunked / naive
        worst = max(worst, ratio)
        name = "forward+backward" if backward else "forward (no grad)"
        results["passes"][name] = {"naive_bytes": naive, "chunked_bytes": chunked, "ratio": round(ratio, 4)}
        print(f"{name:<20}{naive / 2**20:>11.0f}{chunked / 2**20:>13.0f}{ratio:>8.1%}")
    results["worst_ratio"] = round(worst, 4)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.require_ratio is not None and worst > args.require_ratio:
        print(f"FAIL: chunked peak is {worst:.1%} of naive, above {args.require_ratio:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
