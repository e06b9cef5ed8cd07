"""Line charts as inline SVG: drawn once when the site is built, readable without JavaScript.

``line_chart({label: [(x, y), ...]}, title=...)`` returns a ``<figure>`` with an ``<svg>``: axes
with round ticks, one polyline per series (broken where a value is missing or not finite), a
``<title>`` per point (the browser shows it on hover) when there are few points, and a legend
under it when there are several series. A series longer
than ``MAX_POINTS`` is reduced to the minimum and maximum of each of ``MAX_POINTS / 2`` buckets,
so spikes (a gradient-norm blow-up) stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["MAX_POINTS", "PALETTE", "line_chart", "nice_ticks", "reduce_points", "tick_labels"]

#: Points drawn per series at most (see the module doc).
MAX_POINTS = 800

#: Series colours (colour-blind friendly, after Okabe and Ito), used in order.
PALETTE: tuple[str, ...] = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#7f7f7f",
    "#f0e442",
    "#000000",
)

Point = tuple[float, float]

_WIDTH, _HEIGHT = 292, 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 10, 26, 34
_MARKERS_UP_TO = 60  # points per series drawn as circles with a hover title


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]`` (steps of 1, 2 or 5 x 10^k).

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> nice_ticks(3.0, 3.0)
    [2.5, 3.0, 3.5]
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        pad = abs(low) * 0.1 or 0.5
        low, high = low - pad, high + pad
        count = 3
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-6:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high - step * 1e-6:
        ticks.append(round(value, 12))
    return ticks


def reduce_points(points: Sequence[Point], limit: int = MAX_POINTS) -> list[Point]:
    """At most about ``limit`` points: the min and max of each bucket of consecutive points, in x order.

    >>> reduce_points([(0, 1), (1, 9), (2, 2), (3, 3)], limit=2)
    [(0, 1), (1, 9), (2, 2), (3, 3)]
    >>> # 1000 points, limit 10: 5 buckets of 200; y = i mod 7 has its min at i = 0, 203, ...
    >>> reduce_points([(float(i), float(i % 7)) for i in range(1000)], limit=10)[:4]
    [(0.0, 0.0), (6.0, 6.0), (202.0, 6.0), (203.0, 0.0)]
    """
    if len(points) <= max(limit, 4):
        return list(points)
    buckets = max(1, limit // 2)
    size = math.ceil(len(points) / buckets)
    out: list[Point] = []
    for start in range(0, len(points), size):
        chunk = points[start : start + size]
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        out.extend([low, high] if low[0] <= high[0] else [high, low])
    return out


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.4g}"


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels with as many decimals as the tick step needs (scientific for tiny or huge values).

    >>> tick_labels([6.2230, 6.2232, 6.2234]), tick_labels([0.0, 0.25, 0.5]), tick_labels([0, 50, 100])
    (['6.2230', '6.2232', '6.2234'], ['0.00', '0.25', '0.50'], ['0', '50', '100'])
    """
    if len(ticks) < 2:
        return [_fmt(t) for t in ticks]
    step = min(b - a for a, b in zip(ticks, ticks[1:], strict=False))
    if step < 1e-4 or max(abs(t) for t in ticks) >= 1e6:
        return [_fmt(t) for t in ticks]
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(step * 10**digits - round(step * 10**digits)) > 1e-6:  # 0.25: one more decimal
        digits += 1
    return [f"{t:.{digits}f}" for t in ticks]


def _segments(points: Sequence[Point]) -> list[list[Point]]:
    """Runs of finite points (a missing or non-finite value breaks the line)."""
    runs: list[list[Point]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x, y))
    return [r for r in runs if r]


def line_chart(
    series: Mapping[str, Sequence[Point]],
    *,
    title: str,
    xlabel: str = "step",
    log2_x: bool = False,
    y_range: tuple[float, float] | None = None,
) -> Markup:
    """A ``<figure>`` with the SVG line chart of ``series`` (see the module doc); ``log2_x`` for pass@k."""
    finite = {
        label: [(float(x), float(y)) for x, y in pts if y is not None and math.isfinite(y)]
        for label, pts in series.items()
    }
    xs = [x for pts in finite.values() for x, _ in pts]
    ys = [y for pts in finite.values() for _, y in pts]
    parts = [
        f'<svg viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{_LEFT}" y="15">{escape(title)}</text>',
    ]
    if not xs:
        parts.append(
            f'<text class="chart-empty" x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle">'
            "no finite value</text></svg>"
        )
        return Markup('<figure class="chart">' + "".join(parts) + "</figure>")

    def tx(x: float) -> float:
        return math.log2(x) if log2_x else x

    x_low, x_high = min(map(tx, xs)), max(map(tx, xs))
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    y_ticks = nice_ticks(*(y_range or (min(ys), max(ys))))
    y_low, y_high = y_ticks[0], y_ticks[-1]
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (tx(x) - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return _TOP + (1 - (y - y_low) / (y_high - y_low)) * plot_h

    parts.append(f'<g class="axes"><rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>')
    for t, text in zip(y_ticks, tick_labels(y_ticks), strict=True):
        y = py(t)
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{text}</text>')
    if log2_x:
        x_ticks = sorted(set(xs))
    else:
        x_ticks = [t for t in nice_ticks(x_low, x_high) if x_low - 1e-9 <= t <= x_high + 1e-9]
        if all(float(x).is_integer() for x in xs):
            x_ticks = sorted({float(round(t)) for t in x_ticks if x_low <= round(t) <= x_high})
    for t in x_ticks:
        x = px(t)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{_TOP + plot_h + 13}" text-anchor="middle">{_fmt(t)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{_LEFT + plot_w / 2}" y="{_HEIGHT - 4}" text-anchor="middle">'
        f"{escape(xlabel)}</text></g>"
    )
    for i, (label, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        ordered = sorted(((float(x), None if y is None else float(y)) for x, y in pts), key=lambda p: p[0])
        for run in _segments(ordered):
            run = reduce_points(run)
            coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            parts.append(
                f'<polyline class="series" stroke="{colour}" points="{coords}"><title>{escape(label)}</title>'
                "</polyline>"
            )
        if len(pts) <= _MARKERS_UP_TO:
            for x, y in finite[label]:
                parts.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.2" fill="{colour}">'
                    f"<title>{escape(label)}: {_fmt(x)} → {y:.4g}</title></circle>"
                )
    parts.append("</svg>")
    if len(series) > 1:
        parts.append('<figcaption class="legend">')
        for i, label in enumerate(series):
            parts.append(
                f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(label)}</span>'
            )
        parts.append("</figcaption>")
    return Markup('<figure class="chart">' + "".join(parts) + "</figure>")
