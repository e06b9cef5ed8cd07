"""Synthetic arithmetic word problems with exact integer answers: the offline demo's data.

A problem is a person's stock of one item changed by a chain of events, then "How many ... now?".
Difficulty levels (``data.options.difficulty``; a list mixes levels, equally often):

=====  ==================================================  ==========================
level  events                                              numbers
=====  ==================================================  ==========================
1      one gain or loss                                    start 1-9, change 1-9
2      one gain or loss                                    start up to 20, change 15
3      two gains/losses                                    up to 30, changes 15
4      two events, one of them packs (k x m) or doubling   up to 40, factors 2-6
5      three events, one multiplicative                    up to 60, factors 2-9
6      four events, one multiplicative                     up to 100, factors 2-9
=====  ==================================================  ==========================

``meta["operations"]`` counts the arithmetic operations needed (a pack purchase is two: k x m,
then +), ``meta["level"]`` the level, ``meta["category"]`` is ``level_N``. Every intermediate count
stays a non-negative integer (losses never exceed the stock, halving only an even stock).

Determinism: ``seed`` and the split fix the rows (Python's ``random.Random`` seeded with a string,
which is stable across runs and platforms). The ``test`` split uses its own stream, and ``train``
skips the first 1,024 ``test`` questions drawn with the same difficulty and seed (any test set of
up to that size is a prefix of them), so the demo never trains on its eval problems.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from mmrl.data.recipes import Option, Recipe, RecipeContext, RowFields, register_recipe, standard_row
from mmrl.errors import UserError

NAMES = (
    "Tom", "Mia", "Sara", "Leo", "Ana", "Ben", "Zoe", "Omar", "Lily", "Raj",
    "Emma", "Noah", "Ivy", "Sam", "Nina", "Jack", "Ella", "Max", "Lucy", "Kai",
)  # fmt: skip
ITEMS = (
    "apples", "marbles", "pencils", "stickers", "books", "cookies", "stamps", "shells",
    "coins", "cards", "balloons", "crayons", "eggs", "candies", "buttons", "toy cars",
)  # fmt: skip
SINGULAR = {**{item: item[:-1] for item in ITEMS}, "candies": "candy"}
LEVELS = (1, 2, 3, 4, 5, 6)


def _count(n: int, item: str) -> str:
    """``"1 apple"``, ``"3 apples"``."""
    return f"{n} {SINGULAR[item] if n == 1 else item}"


@dataclass(frozen=True)
class LevelSpec:
    events: int
    max_start: int
    max_change: int
    max_factor: int
    multiplicative: bool  # one event is a pack purchase (k x m) or a doubling/tripling/halving


_LEVEL_SPEC = {
    1: LevelSpec(1, 9, 9, 0, False),
    2: LevelSpec(1, 20, 15, 0, False),
    3: LevelSpec(2, 30, 15, 0, False),
    4: LevelSpec(2, 40, 20, 6, True),
    5: LevelSpec(3, 60, 25, 9, True),
    6: LevelSpec(4, 100, 35, 9, True),
}


@dataclass(frozen=True)
class Problem:
    question: str
    answer: int
    level: int
    operations: int


def _gain(rng: random.Random, name: str, item: str, x: int, top: int) -> tuple[str, int, int]:
    n = rng.randint(1, top)
    text = rng.choice(
        (
            f"{name} buys {n} more {SINGULAR[item] if n == 1 else item}.",
            f"{name} finds {n} more {SINGULAR[item] if n == 1 else item}.",
            f"A friend gives {name} {_count(n, item)}.",
            f"{name} gets {_count(n, item)} as a present.",
        )
    )
    return text, x + n, 1


def _loss(rng: random.Random, name: str, item: str, x: int, top: int) -> tuple[str, int, int]:
    n = rng.randint(1, min(x, top))
    text = rng.choice(
        (
            f"{name} gives {_count(n, item)} to a friend.",
            f"{name} loses {_count(n, item)}.",
            f"{name} uses {n} of the {item}.",
            f"{name} sells {_count(n, item)}.",
        )
    )
    return text, x - n, 1


def _packs(rng: random.Random, name: str, item: str, x: int, factor: int) -> tuple[str, int, int]:
    k, m = rng.randint(2, factor), rng.randint(2, factor)
    return f"{name} buys {k} bags with {m} {item} in each bag.", x + k * m, 2


def _scale(rng: random.Random, name: str, item: str, x: int, factor: int) -> tuple[str, int, int]:
    if x % 2 == 0 and x > 0 and rng.random() < 0.5:
        return f"{name} gives away half of the {item}.", x // 2, 1
    f = rng.choice([f for f in (2, 3) if f <= max(2, factor)])
    word = {2: "doubles", 3: "triples"}[f]
    return f"The number of {item} {name} has {word}.", x * f, 1


def make_problem(rng: random.Random, level: int) -> Problem:
    """One word problem of ``level`` (1-6) drawn from ``rng``.

    >>> p = make_problem(random.Random("doc"), 1)
    >>> p.level, p.operations, p.answer >= 0
    (1, 1, True)
    """
    if level not in _LEVEL_SPEC:
        raise ValueError(f"difficulty level {level} is not one of {LEVELS}")
    spec = _LEVEL_SPEC[level]
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    x = rng.randint(1, spec.max_start)
    sentences = [f"{name} has {_count(x, item)}."]
    operations = 0
    mult_at = rng.randrange(spec.events) if spec.multiplicative else -1
    for i in range(spec.events):
        if i == mult_at:
            step = rng.choice((_packs, _scale))
            text, x, ops = step(rng, name, item, x, spec.max_factor)
        elif x == 0 or rng.random() < 0.5:
            text, x, ops = _gain(rng, name, item, x, spec.max_change)
        else:
            text, x, ops = _loss(rng, name, item, x, spec.max_change)
        if i > 0:  # "Then ..." keeps two identical events from reading like a repetition
            text = "Then " + (text[0].lower() + text[1:] if text.startswith(("A ", "The ")) else text)
        sentences.append(text)
        operations += ops
    sentences.append(f"How many {item} does {name} have now?")
    return Problem(" ".join(sentences), x, level, operations)


def _levels(value: Any) -> list[int]:
    levels = [value] if isinstance(value, int) else list(value)
    bad = [v for v in levels if v not in LEVELS]
    if not levels or bad:
        raise UserError(f"data.options.difficulty={value!r}: use levels from {list(LEVELS)}")
    return levels


def problems(split: str, num_examples: int, difficulty: Any, seed: int) -> list[Problem]:
    """``num_examples`` distinct problems of ``split``, deterministic in (split, difficulty, seed)."""
    levels = _levels(difficulty)
    exclude = set()
    if split == "train":  # test sets are prefixes of the test stream: skip its first TEST_POOL problems
        exclude = {p.question for p in problems("test", TEST_POOL, difficulty, seed)}
    rng = random.Random(f"synthetic_arithmetic/{split}/{seed}")
    out: list[Problem] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < num_examples:
        attempts += 1
        if attempts > 50 * num_examples + 1000:
            raise UserError(
                f"data.options: cannot draw {num_examples} distinct problems at difficulty {difficulty!r}"
            )
        p = make_problem(rng, levels[len(out) % len(levels)])
        if p.question in seen or p.question in exclude:
            continue
        seen.add(p.question)
        out.append(p)
    return out


def generate(ctx: RecipeContext) -> list[dict[str, Any]]:
    opts = ctx.options
    count = opts["num_examples"] if opts["num_examples"] is not None else _DEFAULT_SIZE[ctx.split]
    rows = []
    for i, p in enumerate(problems(ctx.split, count, opts["difficulty"], opts["seed"])):
        rows.append(
            {
                "id": str(i),
                "question": p.question,
                "answer": str(p.answer),
                "task": "math",
                "meta": {"level": p.level, "operations": p.operations, "category": f"level_{p.level}"},
            }
        )
    return rows


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    return standard_row(row, ctx, default_task="math")


_DEFAULT_SIZE = {"train": 512, "test": 128}

#: Train never contains any of the first this many test problems (test sets up to this size are disjoint).
TEST_POOL = 1024

RECIPE = Recipe(
    name="synthetic_arithmetic",
    description="offline word problems with 1-4 steps and exact integer answers (the demo's data)",
    splits=("train", "test"),
    tasks=("math",),
    template="arithmetic",
    convert=convert,
    generate=generate,
    options={
        "num_examples": Option(None, "Problems in the split; null gives 512 for train, 128 for test."),
        "difficulty": Option([1, 2, 3], "A level 1-6, or a list of levels mixed equally."),
        "seed": Option(0, "Seed of the generator (train and test use separate streams)."),
    },
    category="level_N (difficulty level)",
)
register_recipe(RECIPE)
