"""How far a job got, read from its run folder alone (no other channel from the worker).

* ``config.json``'s ``config.steps`` and ``config.refine``: each stage's step count (the job's
  own request until the run has written it);
* ``log.jsonl`` (stage 1) and ``refine/log.jsonl`` (stage 2): the last logged step of each stage
  and the loss curve (one line per logged step; a torn last line is skipped);
* ``previews/step-NNNNNN.png`` and ``refine/previews/step-NNNNNN.png``: the preview strips,
  stage 1's then the refinement's, oldest first;
* ``DIR/logs/<id>.log``: what the children printed; the trainer's ``resuming ... at
  step N`` lines say where each resumed attempt started.

The estimate of the time left is the mean seconds per step of the last logged
steps times the steps left (training only: the export at the end is not in it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dreamlift.pipeline.logs import series_from_log

MAX_LOG_BYTES = 32 << 20
RECENT_ROWS = 20
"""Logged steps averaged for the time estimate."""
_RESUMED = re.compile(r"^resuming .* at step (\d+)$", re.MULTILINE)


@dataclass
class Progress:
    """A run folder's state, as the app shows it."""

    step: int = 0
    """The last logged stage-1 step (0 before the first log line)."""
    steps: int | None = None
    """The run's stage-1 step count (None: not known yet)."""
    stage: int = 1
    """The stage the run is in (2 once the refinement has logged a step)."""
    refine_step: int = 0
    """The last logged refinement step."""
    refine_steps: int = 0
    """The run's refinement step count (0: it does not refine)."""
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


def _configured_steps(folder: Path) -> tuple[int | None, int]:
    """``(stage-1 steps, refinement steps)`` from ``config.json`` (None, 0 while it is not there)."""
    from dreamlift._limits import MAX_SETTINGS_BYTES, json_or_none

    try:
        config = json_or_none(_read(folder / "config.json", MAX_SETTINGS_BYTES))["config"]
        steps, refine = config["steps"], config.get("refine") or {}
    except (KeyError, TypeError, AttributeError):
        return None, 0
    steps = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    refine_steps = refine.get("steps") if isinstance(refine, dict) and refine.get("enabled") is True else 0
    return steps, refine_steps if isinstance(refine_steps, int) and not isinstance(refine_steps, bool) else 0


def _logged(lines: list[str]) -> list[int]:
    from dreamlift._limits import json_or_none

    steps = []
    for line in lines:
        row = json_or_none(line)
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            steps.append(row["step"])
    return steps


def _previews(folder: Path, prefix: str) -> list[str]:
    where = folder / prefix
    return sorted(f"{prefix}/{p.name}" for p in where.glob("step-*.png") if p.is_file()) if where.is_dir() else []


def read_progress(folder: Path, output_log: Path | None = None, requested_steps: int | None = None) -> Progress:
    """The progress of the run in ``folder`` (``output_log``: its children's output)."""
    folder = Path(folder)
    steps, refine_steps = _configured_steps(folder)
    progress = Progress(steps=steps or requested_steps, refine_steps=refine_steps)
    lines = _read(folder / "log.jsonl").splitlines()
    refine_lines = _read(folder / "refine" / "log.jsonl").splitlines() if refine_steps else []
    series = series_from_log(lines)
    progress.loss = series.get("loss", [])
    progress.step = max(_logged(lines), default=0)
    progress.refine_step = max(_logged(refine_lines), default=0)
    if progress.refine_step:
        progress.stage = 2
        series = series_from_log(refine_lines)
    seconds = [value for _, value in series.get("seconds", [])][-RECENT_ROWS:]
    if seconds and progress.steps is not None:
        left = progress.refine_steps - progress.refine_step if progress.stage == 2 else progress.steps - progress.step
        progress.eta_seconds = max(0.0, left * sum(seconds) / len(seconds))
    progress.previews = _previews(folder, "previews") + _previews(folder, "refine/previews")
    if output_log is not None:
        progress.resumed_at = [int(n) for n in _RESUMED.findall(_read(output_log))]
    return progress
