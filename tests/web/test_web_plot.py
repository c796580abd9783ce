"""Training curves from log.jsonl as inline SVG."""

from __future__ import annotations

import json
import re

from dreamlift.pipeline.logs import series_from_log
from dreamlift.web.plot import svg_plot


def test_series_skip_events_torn_lines_and_non_numbers():
    lines = [
        json.dumps({"step": 1, "loss": 2.0, "t": 0.9, "note": "x"}),
        json.dumps({"step": 2, "event": "skipped non-finite step", "skipped_steps": 1}),
        json.dumps({"step": 3, "loss": None, "t": 0.5, "ok": True}),
        json.dumps({"step": 4, "loss": 1.0}),
        '{"step": 5, "loss": 0.',  # torn last line
    ]
    series = series_from_log(lines)
    assert series == {"loss": [(1.0, 2.0), (4.0, 1.0)], "t": [(1.0, 0.9), (3.0, 0.5)], "skipped_steps": [(2.0, 1.0)]}


def test_svg_maps_steps_and_values_onto_the_axes():
    svg = svg_plot("loss", [(0.0, 4.0), (50.0, 2.0), (100.0, 0.0)], width=320, height=160)
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    # plot area: x from 52 to 312, y from 138 (min) up to 22 (max)
    assert points == [(52.0, 22.0), (182.0, 80.0), (312.0, 138.0)]
    assert ">4<" in svg and ">0<" in svg and "<svg" in svg and "loss" in svg


def test_long_series_are_binned_and_names_escaped():
    svg = svg_plot("<script>", [(float(i), float(i % 7)) for i in range(5000)], max_points=100)
    assert len(re.search(r'points="([^"]+)"', svg).group(1).split()) == 100
    assert "<script>" not in svg and "&lt;script&gt;" in svg
