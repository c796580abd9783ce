"""A stage's ``log.jsonl`` read back: one JSON object a line with ``step`` and numeric values.

``series_from_log(lines)`` gives ``{name: [(step, value), ...]}`` for every numeric key but ``step``;
lines that are not JSON (a torn last line, garbage, nesting past the limits of :mod:`dreamlift._limits`) or carry an
event instead of values are skipped.
"""

from __future__ import annotations

import math
from typing import Iterable

Series = dict[str, list[tuple[float, float]]]


def series_from_log(lines: Iterable[str]) -> Series:
    """Numeric series of a log.jsonl, in file order (see the module docstring)."""
    from dreamlift._limits import json_or_none

    series: Series = {}
    for line in lines:
        row = json_or_none(line)  # a torn, damaged or absurdly nested line is skipped
        if not isinstance(row, dict) or not isinstance(row.get("step"), (int, float)):
            continue
        for key, value in row.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            series.setdefault(key, []).append((float(row["step"]), float(value)))
    return series
