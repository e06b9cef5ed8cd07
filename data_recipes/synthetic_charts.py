"""Synthetic bar, line and pie charts drawn with matplotlib, with questions that have exact answers.

Every value is printed on the chart (bar tops, line points, pie percentages), so each question is
answerable by reading. Difficulty levels (``data.options.difficulty``, a level or a list):

=====  =================================================================  ==============
level  question                                                           answer
=====  =================================================================  ==============
1      read one value ("What is the value of Apples?")                    a number
2      compare ("Which category has the highest value?")                  a label / year
3      combine two values (difference or sum)                             a number
=====  =================================================================  ==============

Chart kinds (``data.options.kinds``): ``bar`` (4-6 categories), ``line`` (5-7 consecutive years),
``pie`` (3-5 slices, integer percentages summing to 100). Pie answers are percentages written
without ``%``, as ChartQA stores them. Scored by the ``chart`` verifier (relaxed accuracy).
``meta``: ``kind``, ``level``, ``question_kind`` (value, max, min, difference, sum), ``category``
(``kind/question_kind``), ``values``. Images are RGB ``image_width`` x ``image_height``; matplotlib
with the Agg backend and its bundled DejaVu font renders the same pixels for the same seed.
"""

from __future__ import annotations

import random
from typing import Any

from mmrl.data.recipes import Option, Recipe, RecipeContext, RowFields, register_recipe, standard_row
from mmrl.errors import UserError

KINDS = ("bar", "line", "pie")
LEVELS = (1, 2, 3)
CATEGORY_POOLS = (
    ("Apples", "Bananas", "Cherries", "Grapes", "Mangoes", "Pears", "Plums"),
    ("Canada", "Brazil", "Japan", "Kenya", "Norway", "Peru", "Spain"),
    ("Math", "Art", "Music", "Science", "History", "Sports", "Drama"),
    ("Bus", "Car", "Bike", "Train", "Walk", "Tram", "Ferry"),
)
TITLES = {
    "bar": ("Sales by product", "Survey results", "Votes per option", "Items sold"),
    "line": ("Visitors per year", "Annual revenue", "Members per year", "Yearly output"),
    "pie": ("Market share", "Budget split", "Time spent", "Favourite choice"),
}
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3")


def _pie_percentages(rng: random.Random, n: int) -> list[int]:
    """``n`` distinct integer percentages, each >= 8, summing to 100."""
    while True:
        cuts = sorted(rng.sample(range(8, 93), n - 1))
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
        if min(parts) >= 8 and len(set(parts)) == n:
            return parts


def _data(rng: random.Random, kind: str) -> tuple[list[str], list[int], str]:
    title = rng.choice(TITLES[kind])
    if kind == "line":
        start = rng.randint(2010, 2018)
        labels = [str(start + i) for i in range(rng.randint(5, 7))]
        values = rng.sample(range(10, 100), len(labels))
        return labels, values, title
    n = rng.randint(3, 5) if kind == "pie" else rng.randint(4, 6)
    labels = rng.sample(rng.choice(CATEGORY_POOLS), n)
    values = _pie_percentages(rng, n) if kind == "pie" else rng.sample(range(5, 96), n)
    return labels, values, title


def _question(
    rng: random.Random, kind: str, level: int, labels: list[str], values: list[int]
) -> tuple[str, str, str]:
    """(question, answer, question_kind); values are distinct, so max/min answers are unique."""
    thing = {"bar": "category", "line": "year", "pie": "slice"}[kind]
    of = {"bar": "the value of {}", "line": "the value in {}", "pie": "the percentage of {}"}[kind]
    if level == 1:
        i = rng.randrange(len(labels))
        return f"What is {of.format(labels[i])}?", str(values[i]), "value"
    high, low = ("largest share", "smallest share") if kind == "pie" else ("highest value", "lowest value")
    if level == 2:
        if rng.random() < 0.5:
            return f"Which {thing} has the {high}?", labels[values.index(max(values))], "max"
        return f"Which {thing} has the {low}?", labels[values.index(min(values))], "min"
    i, j = rng.sample(range(len(labels)), 2)
    if rng.random() < 0.5:
        hi, lo = (i, j) if values[i] > values[j] else (j, i)
        question = f"What is the difference between {of.format(labels[hi])} and {of.format(labels[lo])}?"
        return question, str(values[hi] - values[lo]), "difference"
    return (
        f"What is the sum of {of.format(labels[i])} and {of.format(labels[j])}?",
        str(values[i] + values[j]),
        "sum",
    )


def render_chart(kind: str, labels: list[str], values: list[int], title: str, size: tuple[int, int]) -> Any:
    """The chart as an RGB PIL image of exactly ``size`` pixels."""
    import matplotlib.style

    with matplotlib.style.context("default"):  # a user's matplotlibrc must not change the pixels
        image = _draw(kind, labels, values, title, size)
    return image if image.size == size else image.resize(size)


def _draw(kind: str, labels: list[str], values: list[int], title: str, size: tuple[int, int]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    if kind == "bar":
        # Numeric positions with tick labels draw the same chart as categorical labels, without
        # matplotlib's INFO message for every year-like label ("categorical units ... parsable as floats").
        positions = list(range(len(labels)))
        bars = ax.bar(positions, values, color=COLORS[: len(labels)], tick_label=labels)
        ax.bar_label(bars, labels=[str(v) for v in values], fontsize=8, padding=2)
        ax.set_ylim(0, max(values) * 1.18)
        ax.tick_params(labelsize=8)
    elif kind == "line":
        positions = list(range(len(labels)))
        ax.plot(positions, values, marker="o", color=COLORS[0])
        ax.set_xticks(positions, labels)
        for x, y in zip(positions, values, strict=True):
            ax.annotate(str(y), (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=8)
        ax.set_ylim(0, max(values) * 1.2)
        ax.tick_params(labelsize=8)
    else:
        ax.pie(
            values,
            labels=labels,
            autopct=lambda pct: f"{round(pct)}%",
            colors=COLORS[: len(labels)],
            startangle=90,
            counterclock=False,
            textprops={"fontsize": 8},
        )
        ax.set_aspect("equal")
    fig.tight_layout()
    canvas.draw()
    width, height = canvas.get_width_height()
    return Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")


def make_chart(rng: random.Random, kind: str, level: int, size: tuple[int, int]) -> dict[str, Any]:
    """One generic-schema row (question, answer, task, image, meta)."""
    labels, values, title = _data(rng, kind)
    question, answer, qkind = _question(rng, kind, level, labels, values)
    return {
        "question": question,
        "answer": answer,
        "task": "chart",
        "image": render_chart(kind, labels, values, title, size),
        "meta": {
            "kind": kind,
            "level": level,
            "question_kind": qkind,
            "category": f"{kind}/{qkind}",
            "values": dict(zip(labels, values, strict=True)),
        },
    }


def _as_list(value: Any, allowed: tuple[Any, ...], name: str) -> list[Any]:
    items = [value] if isinstance(value, (int, str)) else list(value)
    if not items or any(v not in allowed for v in items):
        raise UserError(f"data.options.{name}={value!r}: choose from {list(allowed)}")
    return items


def generate(ctx: RecipeContext) -> list[dict[str, Any]]:
    opts = ctx.options
    levels = _as_list(opts["difficulty"], LEVELS, "difficulty")
    kinds = _as_list(opts["kinds"], KINDS, "kinds")
    size = (opts["image_width"], opts["image_height"])
    if not all(isinstance(v, int) and v >= 112 for v in size):
        raise UserError(f"data.options.image_width/image_height={size} must be integers >= 112 (pixels)")
    count = opts["num_examples"] if opts["num_examples"] is not None else _DEFAULT_SIZE[ctx.split]
    rng = random.Random(f"synthetic_charts/{ctx.split}/{opts['seed']}")
    rows = []
    for i in range(count):
        row = make_chart(rng, kinds[i % len(kinds)], levels[(i // len(kinds)) % len(levels)], size)
        row["id"] = str(i)
        rows.append(row)
    return rows


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    return standard_row(row, ctx, default_task="chart")


_DEFAULT_SIZE = {"train": 256, "test": 64}

RECIPE = Recipe(
    name="synthetic_charts",
    description="offline matplotlib bar/line/pie charts with value, comparison and sum questions",
    splits=("train", "test"),
    tasks=("chart",),
    template="think_boxed",
    convert=convert,
    generate=generate,
    options={
        "num_examples": Option(None, "Charts in the split; null gives 256 for train, 64 for test."),
        "difficulty": Option([1, 2, 3], "A level 1-3, or a list of levels mixed equally."),
        "kinds": Option(list(KINDS), "Chart kinds to draw: bar, line, pie."),
        "image_width": Option(448, "Image width in pixels."),
        "image_height": Option(336, "Image height in pixels."),
        "seed": Option(0, "Seed of the generator (train and test use separate streams)."),
    },
    category="kind/question_kind (bar/value, pie/sum, ...)",
    modality="image",
)
register_recipe(RECIPE)
