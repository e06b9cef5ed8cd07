"""Peak memory of the no-grad forward pass that feeds the log-prob step: every layer's hidden states
(``output_hidden_states=True``) vs the final norm's output alone (a forward hook, what
``PolicyBase.logprobs`` does).

The model is a random Qwen2 causal LM built from a config (no download). Each measurement runs in a
fresh process; on CPU the peak is the process's peak resident memory (``VmHWM``, reset after the
model and inputs exist) minus its resident memory at that point; on CUDA ``max_memory_allocated``
minus the memory allocated before the pass.

    python scripts/bench_hidden_states_memory.py                        # 24 layers, H=512, 8 x 1024 tokens
    python scripts/bench_hidden_states_memory.py --device cuda --dtype bfloat16 --hidden 896
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace


def _rss_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(args: argparse.Namespace) -> dict:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from mmrl.policy.base import PolicyBase

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=2 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=max(4096, args.tokens),
    )
    device = torch.device(args.device)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=getattr(torch, args.dtype)).eval()
    ids = torch.randint(0, args.vocab, (args.batch, args.tokens), device=device)
    batch = SimpleNamespace(input_ids=ids, attention_mask=torch.ones_like(ids), model_inputs={})
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_bytes("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    with torch.no_grad():
        if args.worker == "all_layers":
            out = model(
                input_ids=ids,
                attention_mask=batch.attention_mask,
                output_hidden_states=True,
                logits_to_keep=1,
                use_cache=False,
            )
            hidden = out.hidden_states[-1]
        else:
            hidden, _ = PolicyBase._forward_final_hidden(
                SimpleNamespace(model=model, is_vision=False),
                model,
                input_ids=ids,
                attention_mask=batch.attention_mask,
                use_cache=False,
            )
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _rss_bytes("VmHWM") - base
    return {"method": args.worker, "peak_bytes": int(peak), "shape": list(hidden.shape)}


def measure(args: argparse.Namespace, method: str) -> int:
    cmd = [
        sys.executable, __file__, "--worker", method, "--layers", str(args.layers), "--hidden", str(args.hidden),
        "--vocab", str(args.vocab), "--batch", str(args.batch), "--tokens", str(args.tokens),
        "--dtype", args.dtype, "--device", args.device,
    ]  # fmt: skip
    # glibc serves large allocations with mmap and returns them on free, so the resident size follows
    # the live tensors.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=24, help="decoder layers (Qwen2.5-0.5B: 24)")
    parser.add_argument("--hidden", type=int, default=512, help="hidden size")
    parser.add_argument(
        "--vocab", type=int, default=4096, help="vocabulary size (the head is not the point here)"
    )
    parser.add_argument("--batch", type=int, default=8, help="sequences in the micro-batch")
    parser.add_argument("--tokens", type=int, default=1024, help="tokens per sequence (prompt + response)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", choices=["all_layers", "final_norm_hook"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    print(
        f"no-grad forward, {args.layers} layers, hidden {args.hidden}, {args.batch} x {args.tokens} tokens "
        f"({args.dtype}, {args.device})"
    )
    everything = measure(args, "all_layers")
    hooked = measure(args, "final_norm_hook")
    print(f"{'all layers MiB':>16}{'final-norm hook MiB':>22}{'ratio':>8}")
    print(f"{everything / 2**20:>16.0f}{hooked / 2**20:>22.0f}{hooked / everything:>8.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
