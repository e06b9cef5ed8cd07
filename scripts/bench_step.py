"""Time one RL training step, phase by phase, and print a table.

    python scripts/bench_step.py                                   # CPU: SmolLM2-135M, 8 prompts x 8, 64 tokens
    python scripts/bench_step.py --model qwen2-0.5b-random --prompts 64 --n 1 --max-new-tokens 256 \\
        --dtype bfloat16                                           # GPU: a Qwen2-0.5B-sized model

Runs ``--warmup`` steps (not timed), then ``--steps`` timed steps of the real trainer
(``mmrl.train.Trainer.train_step``) on synthetic arithmetic prompts, and reports for each phase
(generate, score, logprob, update, sync) the mean seconds per step, its share of the step, and
tokens per second: generated tokens for ``generate``, trained response tokens for ``update``. ``--model qwen2-0.5b-random`` builds a randomly initialised model with Qwen2-0.5B's
shapes (24 layers, hidden 896, vocabulary 151,936) and a small tokenizer, so no download is
needed; a random model never stops early, so every response has exactly ``--max-new-tokens``
tokens. ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

PHASES = ("generate", "score", "logprob", "update", "sync")


def random_qwen2_0_5b(directory: Path) -> Path:
    """A random model with Qwen2-0.5B's shapes and the tiny test tokenizer, saved to ``directory``."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from mmrl.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    config = Qwen2Config(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def coin_flip(response: str, example: object) -> object:
    """The benchmark's reward: heads or tails from a hash of the response, so that a random model's
    groups get mixed rewards and every step trains (the recipe's verifier would score it 0 always,
    and zero advantages skip the update)."""
    import hashlib

    from mmrl.types import Score

    heads = hashlib.sha256(response.encode()).digest()[0] % 2 == 0
    return Score(float(heads), correct=heads, components={"accuracy": float(heads)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="smollm2-135m-instruct", help="model path, alias, or qwen2-0.5b-random"
    )
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step")
    parser.add_argument("--n", type=int, default=8, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--micro-batch-size", type=int, default=16)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--mixed-precision", default="auto", choices=["auto", "no", "bf16", "fp16"])
    parser.add_argument("--engine", default="auto", choices=["auto", "hf", "vllm"])
    parser.add_argument("--algorithm", default="grpo+a_grae")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=1, help="timed steps")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("overrides", nargs="*", metavar="a.b=c", help="further config overrides")
    args = parser.parse_args(argv)

    import torch

    from mmrl.config import load_config
    from mmrl.train import Trainer

    work = Path(tempfile.mkdtemp(prefix="mmrl-bench-step-"))
    model = args.model
    if model == "qwen2-0.5b-random":
        model = str(random_qwen2_0_5b(work / "model"))
    n = args.n
    cfg = load_config(
        None,
        [
            f"model.path={model}",
            f"model.dtype={args.dtype}",
            f"rollout.engine={args.engine}",
            f"rollout.n={n}",
            f"rollout.max_new_tokens={args.max_new_tokens}",
            f"rollout.batch_size={max(64, args.prompts * n)}",
            f"algorithm.name={args.algorithm}",
            f"algorithm.overlong.buffer_length={min(32, args.max_new_tokens)}",
            f"reward.verifier={Path(__file__).resolve()}:coin_flip",
            "reward.num_workers=0",
            "reward.format_weight=0",
            "reward.accuracy_weight=1",
            "reward.score_truncated=true",  # a random model never stops: every response is cut off
            f"trainer.prompts_per_step={args.prompts}",
            f"trainer.micro_batch_size={args.micro_batch_size}",
            f"trainer.mixed_precision='{args.mixed_precision}'",
            f"trainer.max_steps={args.warmup + args.steps}",
            "trainer.learning_rate=1e-6",
            "trainer.save_final=false",
            "trainer.resume=never",
            f"trainer.output_dir={work / 'run'}",
            "logging.tensorboard=false",
            "logging.log_rollouts=false",
            "logging.progress_bar=false",
            *args.overrides,
        ],
    )
    if n == 1 and cfg.algorithm.name != "w_reinforce":
        print(
            "note: --n 1 gives group-relative algorithms zero advantages; the step still runs fully",
            file=sys.stderr,
        )
    started = time.perf_counter()
    trainer = Trainer(cfg)
    trainer.start()
    setup = time.perf_counter() - started
    runs = []
    try:
        for i in range(args.warmup + args.steps):
            metrics = trainer.train_step()
            if i >= args.warmup:
                gen_tokens = metrics["response/length_mean"] * args.prompts * n
                runs.append((metrics, gen_tokens, metrics.get("actor/num_tokens", 0.0)))
    finally:
        trainer.close()

    device = (
        "cuda: " + torch.cuda.get_device_name(0)
        if torch.cuda.is_available()
        else f"cpu ({torch.get_num_threads()} threads)"
    )
    step = statistics.mean(m["time/step"] for m, _, _ in runs)
    gen_tokens = statistics.mean(g for _, g, _ in runs)
    trained_tokens = statistics.mean(t for _, _, t in runs)
    rows = []
    for phase in PHASES:
        seconds = statistics.mean(m.get(f"time/{phase}", 0.0) for m, _, _ in runs)
        rate = ""
        if phase == "generate" and seconds > 0:
            rate = f"{gen_tokens / seconds:,.0f} generated tok/s"
        if phase == "update" and seconds > 0:
            rate = f"{trained_tokens / seconds:,.0f} response tok/s (forward + backward + optimizer)"
        rows.append((phase, seconds, seconds / step if step else 0.0, rate))
    title = (
        f"one training step: {args.model}, {args.prompts} prompts x {n} samples, <= {args.max_new_tokens} new tokens, "
        f"{cfg.algorithm.name}, engine {args.engine}, dtype {args.dtype}, mixed precision {args.mixed_precision}, {device}"
    )
    print(title)
    print(f"setup {setup:.1f} s; {args.warmup} warm-up step(s), mean of {args.steps} timed step(s)\n")
    print("| phase | seconds | share | throughput |\n|---|---:|---:|---|")
    for phase, seconds, share, rate in rows:
        print(f"| {phase} | {seconds:.2f} | {share:.0%} | {rate} |")
    print(f"| **step** | **{step:.2f}** | 100% | {gen_tokens / step:,.0f} generated tok/s end to end |")
    print(f"\nmean response length {gen_tokens / (args.prompts * n):.1f} tokens")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "title": title,
                    "setup_s": setup,
                    "step_s": step,
                    "generated_tokens": gen_tokens,
                    "phases": {phase: {"seconds": s, "share": sh} for phase, s, sh, _ in rows},
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
