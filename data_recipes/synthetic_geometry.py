"""Synthetic geometry diagrams drawn with PIL, each with one labelled unknown and an exact answer.

Figures are drawn to scale from the values they are labelled with, then the question asks for
``x``. Kinds and difficulty levels (``data.options.difficulty``, a level or a list mixed equally):

=====  ==================  ===================================================  ================
level  kind                figure and question                                  answer
=====  ==================  ===================================================  ================
1      ``rectangle``       sides labelled; area or perimeter                    integer
1      ``vertical_angles`` two crossing lines, one angle labelled; its opposite  degrees
1      ``circle_diameter`` radius labelled; the diameter                        integer
2      ``triangle_angles`` two angles labelled; the third                       degrees
2      ``parallel_lines``  parallels cut by a transversal; a related angle      degrees
3      ``right_triangle``  two sides of a Pythagorean triple; the third         integer
3      ``isosceles``       apex angle labelled, equal sides ticked; a base       degrees
3      ``circle_measure``  radius labelled; area or circumference               ``k\\pi``
=====  ==================  ===================================================  ================

Degrees are plain numbers (as in Geometry3K); circle areas and circumferences are exact multiples
of pi written ``k\\pi``. Questions start with ``<image>`` like Geometry3K's, are scored by the
``geometry`` verifier, and ``meta`` carries ``kind``, ``level``, ``category`` (the kind) and
``relation`` for angle problems and ``given``, the labelled values (so the answer can be re-derived). Images are RGB, ``image_size`` pixels square, identical for the
same seed (PIL's built-in font at a fixed size).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from mmrl.data.recipes import Option, Recipe, RecipeContext, RowFields, register_recipe, standard_row
from mmrl.errors import UserError

KINDS_BY_LEVEL = {
    1: ("rectangle", "vertical_angles", "circle_diameter"),
    2: ("triangle_angles", "parallel_lines"),
    3: ("right_triangle", "isosceles", "circle_measure"),
}
INK, GUIDE, BACKGROUND = (20, 20, 20), (40, 90, 200), (255, 255, 255)

Point = tuple[float, float]


class Canvas:
    """A square white image with helpers that place labels and fit shapes with a margin."""

    def __init__(self, size: int):
        self.size = size
        self.image = Image.new("RGB", (size, size), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default(size=max(12, size // 18))
        self.width = max(2, size // 150)

    def line(self, a: Point, b: Point, color: tuple[int, int, int] = INK) -> None:
        self.draw.line([a, b], fill=color, width=self.width)

    def polygon(self, points: list[Point]) -> None:
        self.draw.polygon(points, outline=INK, width=self.width)

    def label(self, at: Point, text: str) -> None:
        self.draw.text(at, text, fill=INK, font=self.font, anchor="mm")

    def fit(self, points: list[Point], margin: float = 0.17) -> list[Point]:
        """Scale and centre ``points`` (y up) into the canvas (y down) keeping the aspect ratio."""
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
        scale = self.size * (1 - 2 * margin) / span
        cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
        return [(self.size / 2 + (x - cx) * scale, self.size / 2 - (y - cy) * scale) for x, y in points]


def _toward(p: Point, q: Point, dist: float) -> Point:
    d = math.dist(p, q) or 1.0
    return (p[0] + (q[0] - p[0]) * dist / d, p[1] + (q[1] - p[1]) * dist / d)


def _centroid(points: list[Point]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def _outward(mid: Point, centre: Point, dist: float) -> Point:
    return _toward(mid, (2 * mid[0] - centre[0], 2 * mid[1] - centre[1]), dist)


def _deg(v: int) -> str:
    return f"{v}°"


# --------------------------------------------------------------------------------------------
# One function per kind: (rng, canvas) -> (question, answer, meta)
# --------------------------------------------------------------------------------------------


def rectangle(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    w, h = rng.randint(3, 15), rng.randint(2, 12)
    pts = c.fit([(0, 0), (w, 0), (w, h), (0, h)])
    c.polygon(pts)
    centre = _centroid(pts)
    c.label(_outward(((pts[0][0] + pts[1][0]) / 2, pts[0][1]), centre, c.size * 0.06), str(w))
    c.label(_outward((pts[1][0], (pts[1][1] + pts[2][1]) / 2), centre, c.size * 0.06), str(h))
    given = {"width": w, "height": h}
    if rng.random() < 0.5:
        return "<image>Find the area of the rectangle.", str(w * h), {"measure": "area", "given": given}
    return (
        "<image>Find the perimeter of the rectangle.",
        str(2 * (w + h)),
        {"measure": "perimeter", "given": given},
    )


def vertical_angles(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    theta = rng.randrange(25, 156, 5)
    o = (0.0, 0.0)
    ends = [(math.cos(math.radians(a)), math.sin(math.radians(a))) for a in (0, theta, 180, 180 + theta)]
    pts = c.fit([o, *ends])
    o, ends = pts[0], pts[1:]
    c.line(ends[0], ends[2])
    c.line(ends[1], ends[3])
    # region between rays 0 and theta holds theta; the opposite region holds theta too
    _region_label(c, o, 0, theta, _deg(theta))
    _region_label(c, o, 180, theta, "x")
    meta = {"relation": "vertical angles", "given": {"angle": theta}}
    return "<image>Two straight lines cross. Find x.", str(theta), meta


def _region_label(c: Canvas, vertex: Point, start: float, extent: float, text: str) -> None:
    """A label inside the angle from ``start`` to ``start + extent`` degrees (counter-clockwise)."""
    mid = math.radians(start + extent / 2)
    dist = c.size * 0.06 / max(math.sin(math.radians(extent / 2)), 0.25)
    c.label((vertex[0] + dist * math.cos(mid), vertex[1] - dist * math.sin(mid)), text)


def circle_diameter(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    r = rng.randint(2, 20)
    _circle(rng, c, r)
    return (
        "<image>Find the diameter of the circle.",
        str(2 * r),
        {"measure": "diameter", "given": {"radius": r}},
    )


def circle_measure(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    r = rng.randint(2, 12)
    _circle(rng, c, r)
    if rng.random() < 0.5:
        question = "<image>Find the area of the circle. Give the exact value in terms of \\pi."
        return question, f"{r * r}\\pi", {"measure": "area", "given": {"radius": r}}
    question = "<image>Find the circumference of the circle. Give the exact value in terms of \\pi."
    return question, f"{2 * r}\\pi", {"measure": "circumference", "given": {"radius": r}}


def _circle(rng: random.Random, c: Canvas, r: int) -> None:
    s = c.size
    cx = cy = s / 2
    rad = s * 0.33
    c.draw.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], outline=INK, width=c.width)
    a = math.radians(rng.randrange(0, 360, 15))
    end = (cx + rad * math.cos(a), cy - rad * math.sin(a))
    c.line((cx, cy), end, GUIDE)
    dot = max(2, s // 100)
    c.draw.ellipse([cx - dot, cy - dot, cx + dot, cy + dot], fill=INK)
    normal = (-math.sin(a), -math.cos(a))
    mid = ((cx + end[0]) / 2 + normal[0] * s * 0.05, (cy + end[1]) / 2 + normal[1] * s * 0.05)
    c.label(mid, str(r))


def triangle_angles(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    while True:
        a, b = rng.randrange(25, 111, 5), rng.randrange(25, 111, 5)
        if 180 - a - b >= 20:
            break
    third = 180 - a - b
    pts = _triangle_with_angles(c, a, b, third)
    labels = [_deg(a), _deg(b), "x"]
    _angle_labels(c, pts, labels)
    return "<image>Find x.", str(third), {"relation": "angle sum of a triangle", "given": {"angles": [a, b]}}


def _triangle_with_angles(c: Canvas, a: int, b: int, third: int) -> list[Point]:
    # P0 at the origin with angle a, P1 at (1, 0) with angle b; law of sines gives |P0P2|.
    side = math.sin(math.radians(b)) / math.sin(math.radians(third))
    p2 = (side * math.cos(math.radians(a)), side * math.sin(math.radians(a)))
    pts = c.fit([(0.0, 0.0), (1.0, 0.0), p2])
    c.polygon(pts)
    return pts


def _angle_labels(c: Canvas, pts: list[Point], labels: list[str]) -> None:
    """Each label on its vertex's bisector, further in for sharp angles so it clears both sides."""
    for i, text in enumerate(labels):
        if not text:
            continue
        p, q, r = pts[i], pts[(i + 1) % 3], pts[(i + 2) % 3]
        u = _toward(p, q, 1.0)
        v = _toward(p, r, 1.0)
        bisector = (u[0] + v[0] - p[0], u[1] + v[1] - p[1])
        half = (
            math.acos(max(-1.0, min(1.0, (u[0] - p[0]) * (v[0] - p[0]) + (u[1] - p[1]) * (v[1] - p[1])))) / 2
        )
        dist = c.size * 0.07 / max(math.sin(half), 0.25)
        c.label(_toward(p, bisector, dist), text)


def parallel_lines(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    theta = rng.randrange(40, 141, 5)  # angle from the rightward parallel to the upward transversal
    s = c.size
    y1, y2 = s * 0.35, s * 0.68
    slope_dx = (y2 - y1) / math.tan(math.radians(theta))
    x1 = s / 2 + slope_dx / 2
    x2 = s / 2 - slope_dx / 2
    for y in (y1, y2):
        c.line((s * 0.08, y), (s * 0.92, y))
        arrow = s * 0.03
        c.line((s * 0.88, y), (s * 0.88 - arrow, y - arrow / 1.5))  # ">" marks: the lines are parallel
        c.line((s * 0.88, y), (s * 0.88 - arrow, y + arrow / 1.5))
    ext = (y2 - y1) * 0.9
    dx, dy = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    c.line((x1 + dx * ext, y1 - dy * ext), (x2 - dx * ext, y2 + dy * ext), GUIDE)
    # regions at a crossing, counter-clockwise from the rightward ray: their angles
    regions = {
        "upper right": theta,
        "upper left": 180 - theta,
        "lower left": theta,
        "lower right": 180 - theta,
    }
    starts = {"upper right": 0, "upper left": theta, "lower left": 180, "lower right": 180 + theta}
    given_region, x_region = rng.choice(list(regions)), rng.choice(list(regions))
    relation = (
        "corresponding angles"
        if given_region == x_region
        else _PARALLEL_RELATIONS.get((given_region, x_region), "angles at parallel lines")
    )
    _region_label(c, (x1, y1), starts[given_region], regions[given_region], _deg(regions[given_region]))
    _region_label(c, (x2, y2), starts[x_region], regions[x_region], "x")
    given = {"angle": regions[given_region], "angle_region": given_region, "x_region": x_region}
    return (
        "<image>The two horizontal lines are parallel. Find x.",
        str(regions[x_region]),
        {
            "relation": relation,
            "given": given,
        },
    )


#: (region at the upper crossing, region at the lower crossing) -> the textbook name of the pair
_PARALLEL_RELATIONS = {
    ("lower left", "upper right"): "alternate interior angles",
    ("lower right", "upper left"): "alternate interior angles",
    ("upper left", "lower right"): "alternate exterior angles",
    ("upper right", "lower left"): "alternate exterior angles",
    ("lower left", "upper left"): "same-side interior angles",
    ("lower right", "upper right"): "same-side interior angles",
}


def right_triangle(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    a, b, h = rng.choice(((3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (6, 8, 10), (9, 12, 15)))
    k = rng.choice((1, 1, 2)) if h <= 13 else 1
    a, b, h = a * k, b * k, h * k
    pts = c.fit([(0.0, 0.0), (float(b), 0.0), (0.0, float(a))])
    c.polygon(pts)
    sq = c.size * 0.04
    o = pts[0]
    c.draw.line([(o[0] + sq, o[1]), (o[0] + sq, o[1] - sq), (o[0], o[1] - sq)], fill=INK, width=c.width)
    centre = _centroid(pts)
    sides = {"b": (pts[0], pts[1], b), "a": (pts[0], pts[2], a), "h": (pts[1], pts[2], h)}
    unknown = rng.choice(("h", "h", "a", "b"))
    for key, (p, q, value) in sides.items():
        mid = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
        c.label(_outward(mid, centre, c.size * 0.06), "x" if key == unknown else str(value))
    given = {name: value for name, (_, _, value) in sides.items() if name != unknown}
    return "<image>Find x.", str(sides[unknown][2]), {"relation": "Pythagorean theorem", "given": given}


def isosceles(rng: random.Random, c: Canvas) -> tuple[str, str, dict[str, Any]]:
    apex = rng.randrange(20, 141, 10)
    base = (180 - apex) // 2
    pts = _triangle_with_angles(c, base, base, apex)
    for p, q in ((pts[0], pts[2]), (pts[1], pts[2])):  # tick marks on the equal sides
        mid = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
        dx, dy = q[0] - p[0], q[1] - p[1]
        n = math.hypot(dx, dy) or 1.0
        tick = c.size * 0.025
        c.line(
            (mid[0] - dy / n * tick, mid[1] + dx / n * tick), (mid[0] + dy / n * tick, mid[1] - dx / n * tick)
        )
    _angle_labels(c, pts, ["x", "", _deg(apex)])
    return (
        "<image>The triangle is isosceles. Find x.",
        str(base),
        {"relation": "base angles of an isosceles triangle", "given": {"apex": apex}},
    )


KINDS: dict[str, Callable[[random.Random, Canvas], tuple[str, str, dict[str, Any]]]] = {
    "rectangle": rectangle,
    "vertical_angles": vertical_angles,
    "circle_diameter": circle_diameter,
    "triangle_angles": triangle_angles,
    "parallel_lines": parallel_lines,
    "right_triangle": right_triangle,
    "isosceles": isosceles,
    "circle_measure": circle_measure,
}


def make_figure(rng: random.Random, level: int, size: int) -> dict[str, Any]:
    """One generic-schema row (question, answer, task, image, meta) of ``level``."""
    kind = rng.choice(KINDS_BY_LEVEL[level])
    canvas = Canvas(size)
    question, answer, meta = KINDS[kind](rng, canvas)
    return {
        "question": question,
        "answer": answer,
        "task": "geometry",
        "image": canvas.image,
        "meta": {**meta, "kind": kind, "level": level, "category": kind},
    }


def _levels(value: Any) -> list[int]:
    levels = [value] if isinstance(value, int) else list(value)
    if not levels or any(v not in KINDS_BY_LEVEL for v in levels):
        raise UserError(f"data.options.difficulty={value!r}: use levels from {sorted(KINDS_BY_LEVEL)}")
    return levels


def generate(ctx: RecipeContext) -> list[dict[str, Any]]:
    opts = ctx.options
    levels = _levels(opts["difficulty"])
    size = opts["image_size"]
    if not isinstance(size, int) or size < 56:
        raise UserError(f"data.options.image_size={size!r} must be an integer >= 56 (pixels)")
    count = opts["num_examples"] if opts["num_examples"] is not None else _DEFAULT_SIZE[ctx.split]
    rng = random.Random(f"synthetic_geometry/{ctx.split}/{opts['seed']}")
    rows = []
    for i in range(count):
        row = make_figure(rng, levels[i % len(levels)], size)
        row["id"] = str(i)
        rows.append(row)
    return rows


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    return standard_row(row, ctx, default_task="geometry")


_DEFAULT_SIZE = {"train": 256, "test": 64}

RECIPE = Recipe(
    name="synthetic_geometry",
    description="offline PIL geometry diagrams (angles, parallels, triangles, circles) with exact answers",
    splits=("train", "test"),
    tasks=("geometry",),
    template="think_boxed",
    convert=convert,
    generate=generate,
    options={
        "num_examples": Option(None, "Figures in the split; null gives 256 for train, 64 for test."),
        "difficulty": Option([1, 2, 3], "A level 1-3, or a list of levels mixed equally."),
        "image_size": Option(336, "Width and height of each image in pixels."),
        "seed": Option(0, "Seed of the generator (train and test use separate streams)."),
    },
    category="the figure kind (rectangle, parallel_lines, ...)",
    modality="image",
)
register_recipe(RECIPE)
