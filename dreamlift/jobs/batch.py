"""The batch driver: every row of a batch file as a Ray task, with retries, resumable, summarised.

Ray is imported here only. Without ``address`` a local Ray cluster is started for the
batch and stopped after it (a driver already connected to Ray, as in the tests, keeps
its connection); with ``address`` the batch joins that cluster, whose nodes must see
``out_dir`` at the same path (a shared file system) and have dreamlift installed.

Scheduling: each task asks Ray for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs, and
at most ``workers`` tasks are in flight. A task that dies with its worker process (a
crash, the OOM killer, a lost node) is retried up to ``retries`` times by Ray and
resumes from its folder's newest checkpoint; a row's user error comes back as a failed
result and is not retried (``jobs/task.py``). Rows whose folder already holds a finished
run are skipped, so rerunning a killed batch redoes nothing that finished.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dreamlift.errors import DreamliftError
from dreamlift.jobs.rows import Row
from dreamlift.jobs.summary import SCORE_COLUMNS, Entry, format_value, previous_lines, write_summary
from dreamlift.jobs.task import RunSpec, run_spec

INSTALL_HINT = "pip install 'dreamlift[ray]'"
TOY_PRIORS = ("toy",)
"""Priors whose finished text runs are scored against the toy world."""


@dataclass
class BatchOptions:
    """How the rows are run."""

    forwarded: list[str]
    """Run options given to the batch, passed to every row's command before the row's own."""
    runner: Callable[[list[str]], int]
    """Runs one row's command line (``dreamlift text|image ...``) and returns its exit status (see :class:`RunSpec`)."""
    gallery: Callable[[list[tuple[str, Path]]], str] | None = None
    """The ``index.html`` of the finished runs, from ``(name, folder)`` pairs (None: no gallery)."""
    workers: int | None = None
    """Most runs at once (default: as many as the cluster's CPUs, and GPUs, allow)."""
    address: str | None = None
    """A running Ray cluster to join (``ray start --head`` prints it); None: a local cluster for this batch."""
    cpus_per_run: int = 1
    """CPUs Ray reserves for each run, and the run's torch threads."""
    gpus_per_run: float = 0.0
    """GPUs Ray reserves for each run (Ray sets CUDA_VISIBLE_DEVICES for the task)."""
    retries: int = 3
    """Times a run whose worker process died is started again (from its checkpoint)."""
    prior: str | None = None
    """The batch's ``--prior`` (to know which rows are toy rows, for scores)."""
    scores: bool = True
    """Score finished toy text rows as ``dreamlift eval --truth PROMPT`` does (about 55 small renders a run)."""
    progress: bool = True


@dataclass
class BatchResult:
    entries: list[Entry]
    skipped: int
    """Rows already finished before this batch started."""

    @property
    def failed(self) -> int:
        return sum(entry.status == "failed" for entry in self.entries)


def import_ray():
    try:
        import ray
    except ImportError:
        raise DreamliftError(f"dreamlift batch needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def run_batch(rows: list[Row], out_dir: Path, options: BatchOptions) -> BatchResult:
    """Run every unfinished row; ``DIR/summary.csv`` and ``DIR/index.html`` are rewritten as rows finish."""
    from dreamlift.training.run_folder import run_progress

    ray = import_ray()
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = [Entry(row=row, folder=out_dir / row.out) for row in rows]
    previous = previous_lines(out_dir)
    todo: list[Entry] = []
    for entry in entries:
        progress = run_progress(entry.folder)
        asked = _asked_steps(entry.row, options.forwarded)
        if progress.finished and asked in (None, progress.steps):  # more (or fewer) steps asked: resume it to them
            _mark_finished(entry, progress, previous.get(entry.row.out))
        else:
            todo.append(entry)
    skipped = len(entries) - len(todo)
    write_summary(out_dir, entries, options.gallery)
    if not todo:
        return BatchResult(entries, skipped)
    started_here = _connect(ray, options)
    try:
        _drive(ray, todo, entries, out_dir, options, skipped)
    finally:
        write_summary(out_dir, entries, options.gallery)
        if started_here:
            ray.shutdown()
    return BatchResult(entries, skipped)


def _asked_steps(row: Row, forwarded: list[str]) -> int | None:
    """The ``--steps`` the row's command gets (the row's, else the batch's), or None."""
    value = row.options.get("--steps")
    if value is None and "--steps" in forwarded:
        value = forwarded[len(forwarded) - 1 - forwarded[::-1].index("--steps") + 1]
    try:
        return int(value) if value is not None else None
    except ValueError:  # a bad value: the row's command says so
        return None


def _mark_finished(entry: Entry, progress, previous: dict[str, str] | None) -> None:
    entry.status = "done"
    _record_steps(entry, progress)
    if previous and previous.get("status") == "done":
        entry.seconds, entry.start_step = previous.get("seconds", ""), previous.get("start_step", "")
        entry.scores = {k: v for k, v in previous.items() if v and k in SCORE_COLUMNS}


def _record_steps(entry: Entry, progress) -> None:
    """Each stage's newest checkpoint step into the summary line (stage 2's only for a run that refines)."""
    entry.steps = str(progress.step)
    entry.refine_steps = str(progress.refine_step) if progress.refine_steps else ""


def _connect(ray, options: BatchOptions) -> bool:
    """Connect to Ray; True when this call started the (local) cluster and must stop it."""
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level="ERROR")
    try:
        if options.address:
            ray.init(address=options.address, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(address="local", **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise DreamliftError(f"cannot reach the Ray cluster at {options.address}: {str(error).splitlines()[0][:160]}") from None
    return True


def default_workers(resources: dict[str, float], cpus_per_run: int, gpus_per_run: float) -> int:
    """How many runs fit the cluster at once."""
    fits = [int(resources.get("CPU", 1) // max(cpus_per_run, 1))]
    if gpus_per_run > 0:
        fits.append(int(resources.get("GPU", 0) // gpus_per_run))
    return max(1, min(fits))


def _spec(entry: Entry, options: BatchOptions) -> RunSpec:
    row = entry.row
    argv = row.argv(entry.folder, options.forwarded, resume=False)
    prior = row.options.get("--prior", options.prior or "toy")
    caption = row.source if options.scores and row.kind == "text" and prior in TOY_PRIORS else None
    return RunSpec(argv=argv, folder=str(entry.folder), runner=options.runner, cpus=options.cpus_per_run, caption=caption)


def _drive(ray, todo: list[Entry], entries: list[Entry], out_dir: Path, options: BatchOptions, skipped: int) -> None:
    resources = ray.cluster_resources()
    if options.gpus_per_run > resources.get("GPU", 0):
        raise DreamliftError(
            f"--gpus-per-run {options.gpus_per_run:g} but the Ray cluster has {resources.get('GPU', 0):g} GPUs: "
            "start Ray on a GPU machine or drop --gpus-per-run"
        )
    workers = options.workers or default_workers(resources, options.cpus_per_run, options.gpus_per_run)
    task = ray.remote(_remote_run).options(
        num_cpus=options.cpus_per_run,
        num_gpus=options.gpus_per_run,
        max_retries=options.retries,
        retry_exceptions=False,  # a Python exception is a bug or a user error: only a dead worker is retried
    )
    queue, pending = list(todo), {}
    bar = _ProgressBar(len(entries), skipped, enabled=options.progress)
    try:
        while queue or pending:
            while queue and len(pending) < workers:
                entry = queue.pop(0)
                entry.status = "running"
                pending[task.remote(_spec(entry, options))] = (entry, time.perf_counter())
                write_summary(out_dir, entries, options.gallery)
            bar.show(entries)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                entry, submitted = pending.pop(ref)
                _record(entry, ray, ref, time.perf_counter() - submitted)
                write_summary(out_dir, entries, options.gallery)
        bar.show(entries)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        for entry, _ in pending.values():
            entry.status = "pending"
        raise
    finally:
        bar.close()


def _remote_run(spec: RunSpec) -> dict:
    return run_spec(spec).as_dict()


def _record(entry: Entry, ray, ref, wall: float) -> None:
    try:
        result = ray.get(ref)
    except Exception as error:  # noqa: BLE001 - the task failed beyond its retries, or raised a bug
        from dreamlift.training.run_folder import run_progress

        entry.status, entry.seconds = "failed", format_value(wall)
        _record_steps(entry, run_progress(entry.folder))
        entry.error = _one_line(error)
        return
    from dreamlift.training.run_folder import run_progress

    entry.status = result["status"]
    entry.seconds = format_value(result["seconds"])
    entry.start_step = str(result["start_step"])
    _record_steps(entry, run_progress(entry.folder))
    entry.error = result["error"]
    entry.scores = {name: format_value(value) for name, value in result["scores"].items()}


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    text = " ".join(str(cause).split())
    name = type(cause).__name__
    if "WorkerCrashedError" in type(error).__name__ or "died" in text.lower():
        return f"the run's worker process died (retries used up): {text[:160]}"
    return f"{name}: {text[:200]}"


class _ProgressBar:
    """Rows done / running / failed, with tqdm's elapsed time and estimate."""

    def __init__(self, total: int, skipped: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=skipped, desc="batch", unit="run", dynamic_ncols=True, file=sys.stderr)

    def show(self, entries: list[Entry]) -> None:
        if self.bar is None:
            return
        count = {status: sum(e.status == status for e in entries) for status in ("done", "running", "failed")}
        finished = count["done"] + count["failed"]
        self.bar.update(finished - self.bar.n)
        self.bar.set_postfix(done=count["done"], running=count["running"], failed=count["failed"], refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
