"""One batch row as one process-local job: the row's command line, run by the batch's ``runner`` on its run folder.

The runner is the front end's (``dreamlift batch`` passes :func:`dreamlift.commands.run_argv`, whose
text and image commands call the pipeline); this module imports no front end.

This is what a Ray task executes (``jobs/batch.py`` wraps it); it imports no Ray. The
folder decides how the run starts: one with a ``config.json`` is continued with
``--resume`` from its newest checkpoint, so a retried task or a rerun batch loses at
most the steps since that checkpoint. A user error of the row (a bad prompt, a bad
seed, a model that cannot load) is a result with ``status="failed"`` and the command's
one-line error, never an exception, so Ray does not retry it; only a crash of the
worker process is retried.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

KILL_ONCE_VARIABLE = "DREAMLIFT_TEST_KILL_ONCE"
"""Fault injection for tests only: ``MARKER:FOLDER_NAME:STEP``. The run in the folder named
``FOLDER_NAME`` ends its worker process with ``os._exit`` once its checkpoint of ``STEP``
(or later) exists, unless the file ``MARKER`` exists (it is created just before), so the
retried task runs normally."""


@dataclass
class RunSpec:
    """What a task needs: the row's argv (without ``--resume``) and where its folder is."""

    argv: list[str]
    folder: str
    runner: Callable[[list[str]], int]
    """Runs a row's command line and returns its exit status, printing ``error: ...`` for a user error
    (a module-level function, so that Ray sends it by reference)."""
    cpus: int = 1
    """Threads the run may use (``DREAMLIFT_THREADS`` of its pipeline: Ray reserves as many CPUs for it)."""
    caption: str | None = None
    """Toy-world caption to score the finished run against (toy text rows), or None."""


@dataclass
class RunResult:
    """What a task reports back; :func:`run_spec` fills every field."""

    status: str
    """``"done"`` or ``"failed"``."""
    seconds: float = 0.0
    start_step: int = 0
    """Step the run started from in this attempt (0: a new run; > 0: resumed)."""
    step: int = 0
    """Step of the run's newest checkpoint at the end."""
    error: str = ""
    scores: dict = field(default_factory=dict)
    worker_pid: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class _Tee(io.TextIOBase):
    """Write to a stream and keep a copy (the command's ``error: ...`` line)."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        with contextlib.suppress(Exception):
            self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.flush()


def run_spec(spec: RunSpec) -> RunResult:
    """Run (or resume) one row and score it; never raises for a user error of the row."""
    from dreamlift.threads import THREADS_VARIABLE
    from dreamlift.training.run_folder import run_progress

    os.environ[THREADS_VARIABLE] = str(max(1, spec.cpus))  # the pipeline sizes torch's pool from it
    before = run_progress(spec.folder)
    argv = list(spec.argv) + (["--resume"] if before.started else [])
    _arm_kill_once(Path(spec.folder))
    started = time.perf_counter()
    tee = _Tee(sys.stderr)
    with contextlib.redirect_stderr(tee):
        try:
            status = spec.runner(argv)
        except SystemExit as stop:  # argparse rejects an option value of the row
            status = stop.code if isinstance(stop.code, int) else 2
    seconds = time.perf_counter() - started
    after = run_progress(spec.folder)
    result = RunResult(status="done", seconds=seconds, start_step=before.step, step=after.step, worker_pid=os.getpid())
    if status != 0:
        result.status, result.error = "failed", _error_line(tee.copy.getvalue(), status)
        return result
    if spec.caption is not None:
        result.scores = _scores(Path(spec.folder), spec.caption)
    return result


def _error_line(stderr: str, status: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ") or line == "interrupted"]
    if errors:
        return errors[-1].removeprefix("error: ")
    return f"exit status {status}" + (f": {lines[-1][:200]}" if lines else "")


def _scores(folder: Path, caption: str) -> dict:
    """``dreamlift eval --truth CAPTION`` of the finished run's final stage; a caption the toy world lacks gives none."""
    from dreamlift.errors import DreamliftError
    from dreamlift.evaluation.scores import score_text_run
    from dreamlift.pipeline.run import Run
    from dreamlift.toyworld import parse_caption

    try:
        obj = parse_caption(caption)
    except DreamliftError:
        return {}
    return score_text_run(Run.open(folder), obj)


def _arm_kill_once(folder: Path) -> None:
    """See :data:`KILL_ONCE_VARIABLE` (tests only)."""
    setting = os.environ.get(KILL_ONCE_VARIABLE)
    if not setting:
        return
    marker, name, step = setting.rsplit(":", 2)
    if folder.name != name or Path(marker).exists():
        return
    record = folder / "checkpoints" / f"step-{int(step):06d}.json"

    def watch() -> None:
        while True:
            if record.exists() or any(p.name > record.name for p in (folder / "checkpoints").glob("step-*.json")):
                Path(marker).write_text(str(os.getpid()))
                os._exit(137)
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
