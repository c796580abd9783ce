"""Training curves as inline SVG (no JavaScript): one small line plot per logged series.

``series_from_log(lines)`` (:mod:`dreamlift.pipeline.logs`) reads log.jsonl lines into
``{name: [(step, value), ...]}``.
``svg_plot(name, points)`` draws one series: x is the step, y the value (linear
axes, min and max labelled), a polyline of at most ``max_points`` points (longer
series are averaged in bins), so a page stays small for long runs. With
``standalone=True`` the element is a whole SVG document (its namespace and its own
styles), for an ``<img>`` or a file.
"""

from __future__ import annotations

import html


def _binned(points: list[tuple[float, float]], max_points: int) -> list[tuple[float, float]]:
    if len(points) <= max_points:
        return points
    size = len(points) / max_points
    out = []
    for i in range(max_points):
        chunk = points[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        out.append((sum(p[0] for p in chunk) / len(chunk), sum(p[1] for p in chunk) / len(chunk)))
    return out


def _label(value: float) -> str:
    return f"{value:.4g}"


STANDALONE_STYLE = (
    "<style>.axis{stroke:#9aa0a8;stroke-width:1}.line{stroke:#c0392b;stroke-width:1.5}"
    ".curve-title{font:600 12px sans-serif;fill:#1d1f23}.tick{font:10px sans-serif;fill:#6b7078}</style>"
)
"""The viewer.css rules of a plot, inlined into a standalone document."""


def svg_plot(
    name: str, points: list[tuple[float, float]], width: int = 320, height: int = 160, max_points: int = 400, standalone: bool = False
) -> str:
    """One series as an ``<svg>`` element (a figure with a title, axes labels and a polyline); needs one point or more."""
    points = _binned(points, max_points)
    left, right, top, bottom = 52, 8, 22, 22
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x1 = x0 + 1.0
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    sx = (width - left - right) / (x1 - x0)
    sy = (height - top - bottom) / (y1 - y0)
    coords = " ".join(f"{left + (x - x0) * sx:.1f},{height - bottom - (y - y0) * sy:.1f}" for x, y in points)
    title = html.escape(name)
    document = ' xmlns="http://www.w3.org/2000/svg">' + STANDALONE_STYLE if standalone else ">"
    return (
        f'<svg class="curve" role="img" aria-label="{title} against step" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"{document}'
        f'<text x="{left}" y="14" class="curve-title">{title}</text>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" class="axis"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" class="axis"/>'
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" class="tick">{_label(y1)}</text>'
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" class="tick">{_label(y0)}</text>'
        f'<text x="{left}" y="{height - 6}" class="tick">step {_label(x0)}</text>'
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end" class="tick">{_label(x1)}</text>'
        f'<polyline points="{coords}" class="line" fill="none"/>'
        "</svg>"
    )
