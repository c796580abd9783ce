"""How far a job got, read from its run folder alone (no other channel from the worker).

* ``config.json``'s ``config.steps``: the run's step count (the job's own request
  until the run has written it);
* ``log.jsonl``: the last logged step and the loss curve (one line per logged step;
  a torn last line is skipped);
* ``previews/step-NNNNNN.png``: the preview strips, oldest first;
* ``DIR/logs/<id>.log``: what the children printed; the trainer's ``resuming ... at
  step N`` lines say where each resumed attempt started.

The estimate of the time left is the mean seconds per step of the last logged
steps times the steps left (training only: the export at the end is not in it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dreamlift.web.plot import series_from_log

MAX_LOG_BYTES = 32 << 20
RECENT_ROWS = 20
"""Logged steps averaged for the time estimate."""
_RESUMED = re.compile(r"^resuming .* at step (\d+)$", re.MULTILINE)


@dataclass
class Progress:
    """A run folder's state, as the app shows it."""

    step: int = 0
    """The last logged step (0 before the first log line)."""
    steps: int | None = None
    """The run's step count (None: not known yet)."""
    previews: list[str] = field(default_factory=list)
    """Names of the preview images, ``previews/step-NNNNNN.png``, oldest first."""
    loss: list[tuple[float, float]] = field(default_factory=list)
    """``(step, loss)`` of every logged step."""
    eta_seconds: float | None = None
    """Training seconds left, from the recent steps' pace (None: not known yet)."""
    resumed_at: list[int] = field(default_factory=list)
    """The step each resumed attempt started from, in order."""


def _read(path: Path, limit: int = MAX_LOG_BYTES) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _configured_steps(folder: Path) -> int | None:
    from dreamlift._limits import MAX_SETTINGS_BYTES, json_or_none

    try:
        steps = json_or_none(_read(folder / "config.json", MAX_SETTINGS_BYTES))["config"]["steps"]
    except (KeyError, TypeError):
        return None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def read_progress(folder: Path, output_log: Path | None = None, requested_steps: int | None = None) -> Progress:
    """The progress of the run in ``folder`` (``output_log``: its children's output)."""
    folder = Path(folder)
    progress = Progress(steps=_configured_steps(folder) or requested_steps)
    lines = _read(folder / "log.jsonl").splitlines()
    series = series_from_log(lines)
    progress.loss = series.get("loss", [])
    steps = []
    from dreamlift._limits import json_or_none

    for line in lines:
        row = json_or_none(line)
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            steps.append(row["step"])
    progress.step = max(steps, default=0)
    seconds = [value for _, value in series.get("seconds", [])][-RECENT_ROWS:]
    if seconds and progress.steps is not None:
        progress.eta_seconds = max(0.0, (progress.steps - progress.step) * sum(seconds) / len(seconds))
    previews = folder / "previews"
    if previews.is_dir():
        progress.previews = sorted(f"previews/{p.name}" for p in previews.glob("step-*.png") if p.is_file())
    if output_log is not None:
        progress.resumed_at = [int(n) for n in _RESUMED.findall(_read(output_log))]
    return progress
