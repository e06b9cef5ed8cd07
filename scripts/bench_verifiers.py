"""Benchmark the verifiers: agreement with Math-Verify and MathRuler, then throughput and latency.

    python scripts/bench_verifiers.py                 # agreement + 8192 responses, batches of 512, 2 workers
    python scripts/bench_verifiers.py --n 256 --batch 64 --quick   # a smoke run (no in-process baselines)
    python scripts/bench_verifiers.py --agreement-only             # only the corpus table
    python scripts/bench_verifiers.py --verifier mathruler --quick # the paper's Geometry3K reward in the runner

**Agreement** (printed first): every case of the conformance corpus
(``tests/unit/verifiers/corpus.py``, labelled by the rule each follows) scored by mmrl (the case's
verifier through ``rewards.score``), by MathRuler (``grade_answer(extract_boxed_content(r), gold)``,
the EasyR1/verl reward) and, when it is installed, by Math-Verify (``verify(parse("$gold$"),
parse(r))``; ``pip install -e ".[bench]"``). For each checker: the share of cases it labels as the
corpus does, per task, and its false positives (wrong answers it accepts).

**Throughput**: a mix imitating RL rollouts: groups of 8 responses per prompt (so a gold answer
repeats, as in training), each a ``<think>`` block of 300-2,000 characters of worked arithmetic
followed by a boxed or anchored final answer that is right in another spelling, or wrong. Tasks:
50% math (integers, fractions, radicals, pi, intervals, tuples, solution lists, polynomials,
percents), 20% geometry (degrees, pi, radicals, Geometry3K options), 15% choice, 15% chart.

* **runner**: ``rewards.RewardRunner`` (``--workers`` processes, hard timeouts) on batches of
  ``--batch``: scores/s over the whole run, and p50/p99 latency of one batch;
* **in-process**: ``rewards.score`` one response at a time in this process, scores/s and p50/p99
  latency of one score;
* **mathruler**: ``mathruler.grader.grade_answer(extract_boxed_content(response), gold)`` in this
  process on the same inputs (the EasyR1 reward), scores/s and p50/p99;
* the ratio runner / mathruler.

Only the CPU count of the machine matters; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmrl.config import RewardConfig
from mmrl.types import Example

GROUP = 8


def _filler(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < chars:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        sentence = rng.choice(
            [
                f"We compute ${a} \\times {b} = {a * b}$. ",
                f"Then {a} + {b} = {a + b}, so the next step uses {a + b}. ",
                f"Let $x = \\frac{{{a}}}{{{b}}}$; multiplying both sides by {b} gives {a}. ",
                f"Check: {a * b} / {b} = {a}, which is consistent. ",
                f"The angle is {a} degrees, so its supplement is {180 - a} degrees. ",
                f"By the Pythagorean theorem, $c = \\sqrt{{{a}^2 + {b}^2}}$. ",
            ]
        )
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)


def _wrap(rng: random.Random, final: str) -> str:
    thought = _filler(rng, rng.randint(300, 2000))
    tail = rng.choice(
        [
            f"The answer is $\\boxed{{{final}}}$.",
            f"Therefore, the final answer is \\boxed{{{final}}}.",
            f"\\boxed{{{final}}}",
            f"Answer: {final}",
        ]
    )
    if rng.random() < 0.9:
        return f"<think>{thought}</think>\n{tail}"
    return f"{thought}\n{tail}"


def _math_item(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """(gold, right spellings, wrong answers)."""
    kind = rng.choice(["int", "frac", "radical", "pi", "interval", "tuple", "list", "poly", "percent"])
    a, b = rng.randint(1, 60), rng.randint(2, 40)
    if kind == "int":
        n = rng.randint(-500, 5000)
        return str(n), [str(n), f"{n}.0", f"x = {n}", f"{n:,}"], [str(n + 1), str(-n - 1)]
    if kind == "frac":
        b = rng.choice([2, 4, 5, 8, 10, 3, 7])
        a = rng.randint(1, 3 * b)
        if a % b == 0:
            a += 1
        right = [
            f"\\frac{{{a}}}{{{b}}}",
            f"\\dfrac{{{a}}}{{{b}}}",
            f"{a}/{b}",
            f"\\frac{{{2 * a}}}{{{2 * b}}}",
        ]
        if b in (2, 4, 5, 8, 10):
            right.append(str(a / b))
        return f"\\frac{{{a}}}{{{b}}}", right, [f"\\frac{{{a + 1}}}{{{b}}}", f"{a / b:.2f}1"]
    if kind == "radical":
        m = rng.choice([2, 3, 5, 6, 7])
        return (
            f"{a}\\sqrt{{{m}}}",
            [f"{a}\\sqrt{{{m}}}", f"{a}√{m}", f"\\sqrt{{{a * a * m}}}"],
            [f"{(a * m**0.5):.2f}", f"{a + 1}\\sqrt{{{m}}}"],
        )
    if kind == "pi":
        return (
            f"{a}\\pi",
            [f"{a}\\pi", f"{a}π", f"\\frac{{{2 * a}\\pi}}{{2}}"],
            [f"{a * 3.14159:.2f}", f"{a + 1}\\pi"],
        )
    if kind == "interval":
        lo, hi = -a, b
        return (
            f"(-{a}, {b}]",
            [f"(-{a},{b}]", f"\\left(-{a}, {b}\\right]"],
            [f"[-{a}, {b})", f"(-{a}, {b})", f"({lo - 1}, {hi}]"],
        )
    if kind == "tuple":
        return f"({a}, -{b})", [f"({a},-{b})", f"\\left( {a}, -{b} \\right)"], [f"(-{b}, {a})", f"({a}, {b})"]
    if kind == "list":
        return (
            f"{a}, {b + 60}",
            [f"{b + 60}, {a}", f"x = {a} \\text{{ or }} x = {b + 60}"],
            [f"{a}", f"{a}, {b}"],
        )
    if kind == "poly":
        r, s = rng.randint(1, 9), rng.randint(1, 9)
        return (
            f"x^2+{r + s}x+{r * s}",
            [f"(x+{r})(x+{s})", f"x^2 + {r + s}x + {r * s}"],
            [f"(x+{r})(x+{s + 1})", f"x^2+{r + s}x"],
        )
    return f"{a}\\%", [f"{a}\\%", f"{a}%", str(a)], [f"{a / 100}", str(a + 1)]


def _geometry_item(rng: random.Random) -> tuple[str, list[str], list[str], tuple[str, ...] | None]:
    kind = rng.choice(["degrees", "pi", "radical", "choices"])
    a = rng.randint(10, 170)
    if kind == "degrees":
        return (
            str(a),
            [f"{a}^\\circ", f"{a}°", f"{a} degrees", str(a)],
            [str(a + 10), "\\frac{\\pi}{2}"],
            None,
        )
    if kind == "pi":
        return f"{a} \\pi", [f"{a}\\pi", f"{a}π"], [f"{a * 3.14159:.2f}"], None
    if kind == "radical":
        return (
            f"{a} \\sqrt {{ 3 }}",
            [f"{a}\\sqrt{{3}}", f"{a}√3", f"\\sqrt{{{3 * a * a}}}"],
            [f"{a * 1.732:.2f}"],
            None,
        )
    options = (f"{a}", f"{a}\\sqrt{{3}}", f"{2 * a}", f"{2 * a}\\sqrt{{3}}")
    k = rng.randrange(4)
    letter = "ABCD"[k]
    return (
        options[k],
        [letter, f"({letter})", options[k]],
        ["ABCD"[(k + 1) % 4], f"{letter} or {'ABCD'[(k + 2) % 4]}"],
        options,
    )


def _choice_item(rng: random.Random) -> tuple[str, list[str], list[str], tuple[str, ...]]:
    base = rng.randint(10, 170)
    options = (f"{base}°", f"{base + 20}°", f"{base + 40}°", f"{base + 60}°")
    k = rng.randrange(4)
    letter = "ABCD"[k]
    right = [letter, f"({letter})", f"**{letter}**", options[k], f"{letter}. {options[k]}"]
    return letter, right, ["ABCD"[(k + 1) % 4], f"{letter} or {'ABCD'[(k + 1) % 4]}", "A triangle"], options


def _chart_item(rng: random.Random) -> tuple[str, list[str], list[str]]:
    if rng.random() < 0.7:
        gold = round(rng.uniform(1, 5000), rng.choice([0, 1, 2]))
        g = f"{gold:g}"
        return g, [g, f"{gold * 1.02:.2f}", f"{gold:,}" if gold >= 1000 else f"{g}%"], [f"{gold * 1.2:.2f}"]
    label = rng.choice(["Democratic Party", "Yes", "No", "Germany", "2015", "Q3"])
    return label, [label, label.lower(), label.upper()], ["Republican Party", "Maybe"]


def prompt_for(choices: tuple[str, ...] | None) -> str:
    """A question that shows its lettered options (as multiple-choice prompts do)."""
    if not choices:
        return "Solve the problem."
    return "Solve the problem.\nChoices:\n" + "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices))


def make_mix(n: int, seed: int = 0) -> tuple[list[str], list[Example]]:
    """``n`` responses in groups of 8 per prompt, over the task mix in the module docstring."""
    rng = random.Random(seed)
    responses: list[str] = []
    examples: list[Example] = []
    prompt_id = 0
    while len(responses) < n:
        roll = rng.random()
        choices: tuple[str, ...] | None = None
        if roll < 0.5:
            task = "math"
            gold, right, wrong = _math_item(rng)
        elif roll < 0.7:
            task = "geometry"
            gold, right, wrong, choices = _geometry_item(rng)
        elif roll < 0.85:
            task = "choice"
            gold, right, wrong, choices = _choice_item(rng)
        else:
            task = "chart"
            gold, right, wrong = _chart_item(rng)
        example = Example(
            id=f"p{prompt_id}", task=task, prompt=prompt_for(choices), answer=gold, choices=choices
        )
        prompt_id += 1
        for _ in range(GROUP):
            final = rng.choice(right) if rng.random() < 0.5 else rng.choice(wrong)
            responses.append(_wrap(rng, final))
            examples.append(example)
    return responses[:n], examples[:n]


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return p50, p99


def bench_runner(responses, examples, batch: int, workers: int, verifier: str | None = None) -> dict:
    from rewards import RewardRunner

    cfg = RewardConfig(num_workers=workers, verifier=verifier)
    with RewardRunner(cfg) as runner:
        runner.wait_until_ready()
        runner.score(responses[:batch], examples[:batch])  # warm-up: imports, caches of the first golds
        latencies = []
        counters: dict[str, int] = {}
        start = time.perf_counter()
        for i in range(0, len(responses), batch):
            t0 = time.perf_counter()
            result = runner.score(responses[i : i + batch], examples[i : i + batch])
            latencies.append(time.perf_counter() - t0)
            for key, value in result.counters.items():
                counters[key] = counters.get(key, 0) + value
        elapsed = time.perf_counter() - start
    p50, p99 = _percentiles(latencies)
    return {
        "scores_per_s": len(responses) / elapsed,
        "batch_p50_ms": p50 * 1e3,
        "batch_p99_ms": p99 * 1e3,
        "counters": counters,
    }


def bench_in_process(fn, items) -> dict:
    latencies = []
    start = time.perf_counter()
    for item in items:
        t0 = time.perf_counter()
        fn(*item)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    p50, p99 = _percentiles(latencies)
    return {"scores_per_s": len(items) / elapsed, "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3}


def _math_verify():
    """Math-Verify's ``(parse, verify)``, or None when it is not installed (it is optional)."""
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return parse, verify


def agreement() -> dict:
    """Score the conformance corpus with mmrl, MathRuler and (if installed) Math-Verify."""
    from mathruler.grader import extract_boxed_content, grade_answer

    import rewards
    from tests.unit.verifiers.corpus import CASES

    checkers = {
        "mmrl": lambda c: bool(
            rewards.score(
                c.response,
                Example(id="c", task=c.task, prompt="?", answer=c.gold, choices=c.choices, meta=c.meta),
            ).correct
        ),
        "mathruler": lambda c: bool(grade_answer(extract_boxed_content(c.response), c.gold)),
    }
    mv = _math_verify()
    if mv is not None:
        parse, verify = mv
        checkers["math-verify"] = lambda c: bool(verify(parse(f"${c.gold}$"), parse(c.response)))
    tasks = sorted({c.task for c in CASES})
    table: dict = {}
    for name, check in checkers.items():
        row: dict = {"agree": 0, "false_positives": 0, "false_negatives": 0, "by_task": {}}
        for task in tasks:
            row["by_task"][task] = [0, 0]
        for case in CASES:
            verdict = check(case)
            ok = verdict == case.expected
            row["agree"] += ok
            row["false_positives"] += verdict and not case.expected
            row["false_negatives"] += case.expected and not verdict
            row["by_task"][case.task][0] += ok
            row["by_task"][case.task][1] += 1
        table[name] = row
    print(f"agreement with the {len(CASES)} labelled corpus cases (tests/unit/verifiers/corpus.py)")
    header = "".join(f"{t:>12}" for t in tasks)
    print(f"  {'checker':12}{'all':>8}{header}{'false +':>9}{'false -':>9}")
    for name, row in table.items():
        cells = "".join(f"{100 * a / n:11.0f}%" for a, n in (row["by_task"][t] for t in tasks))
        print(
            f"  {name:12}{100 * row['agree'] / len(CASES):7.0f}%{cells}"
            f"{row['false_positives']:9d}{row['false_negatives']:9d}"
        )
    if mv is None:
        print('  (math-verify is not installed: pip install -e ".[bench]" adds it)')
    return {"cases": len(CASES), "checkers": table}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8192, help="responses in the mix (default 8192)")
    parser.add_argument("--batch", type=int, default=512, help="responses per runner call (default 512)")
    parser.add_argument("--workers", type=int, default=2, help="runner worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="skip the in-process baselines (smoke runs)")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    parser.add_argument("--agreement-only", action="store_true", help="only the corpus agreement table")
    parser.add_argument(
        "--verifier",
        default=None,
        help="score every example with this verifier in the runner (e.g. mathruler); default: each task's own",
    )
    args = parser.parse_args(argv)
    report: dict = {"agreement": agreement()}
    if args.agreement_only:
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        return 0

    from mathruler.grader import extract_boxed_content, grade_answer

    import rewards

    responses, examples = make_mix(args.n, args.seed)
    print(
        f"mix: {len(responses)} responses, {len({e.id for e in examples})} prompts, "
        f"tasks {sorted({e.task for e in examples})}, mean length "
        f"{sum(map(len, responses)) / len(responses):.0f} chars; {os.cpu_count()} CPUs"
    )
    report.update({"n": len(responses), "batch": args.batch, "workers": args.workers, "cpus": os.cpu_count()})
    runner = bench_runner(responses, examples, args.batch, args.workers, args.verifier)
    report["runner"] = runner
    label = f"runner ({args.verifier})" if args.verifier else "runner"
    print(
        f"{label:12}{runner['scores_per_s']:8.0f} scores/s   batch of {args.batch}: "
        f"p50 {runner['batch_p50_ms']:.1f} ms, p99 {runner['batch_p99_ms']:.1f} ms   counters {runner['counters']}"
    )
    if not args.quick:
        pairs = list(zip(responses, examples, strict=True))
        ours = bench_in_process(lambda r, e: rewards.score(r, e), pairs)
        report["in_process"] = ours
        print(
            f"in-process  {ours['scores_per_s']:8.0f} scores/s   one score: p50 {ours['p50_ms']:.3f} ms, "
            f"p99 {ours['p99_ms']:.3f} ms   (rewards.score, 1 core)"
        )
        graded = [(r, e.answer) for r, e in pairs]
        ruler = bench_in_process(lambda r, gold: grade_answer(extract_boxed_content(r), gold), graded)
        report["mathruler"] = ruler
        print(
            f"mathruler   {ruler['scores_per_s']:8.0f} scores/s   one score: p50 {ruler['p50_ms']:.3f} ms, "
            f"p99 {ruler['p99_ms']:.3f} ms   (grade_answer(extract_boxed_content), 1 core)"
        )
        report["ratio_runner_to_mathruler"] = runner["scores_per_s"] / ruler["scores_per_s"]
        print(f"ratio runner / mathruler: {report['ratio_runner_to_mathruler']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
