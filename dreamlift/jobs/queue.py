"""The app's job queue: one SQLite file, ``DIR/jobs.sqlite3``, shared by the app and its workers.

A job is a row of the ``jobs`` table: its id (also its run folder's name, ``DIR/<id>``),
its spec (JSON, see :mod:`dreamlift.jobs.spec`) and its status::

    queued ──claim──▶ running ──▶ done | failed | cancelled
      ▲                  │
      └──── recover ─────┘   (the app died while it ran: it resumes from its checkpoint)
    cancelled | failed ──resume──▶ queued

Every change is one transaction (``BEGIN IMMEDIATE``), so two workers never claim the
same job and a crash at any moment leaves either the old row or the new one. A worker
only finishes or releases a job it holds (the row names its pid), so a worker that
outlived its app cannot overwrite a job another worker has claimed since. The file
uses SQLite's write-ahead log, so readers never wait for a writer.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from dreamlift.errors import DreamliftError

DATABASE = "jobs.sqlite3"
STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    worker INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL
)
"""


@dataclass(frozen=True)
class Job:
    """One row of the queue."""

    id: str
    spec: dict[str, Any]
    """The submission, as :class:`~dreamlift.jobs.spec.JobSpec.to_dict` wrote it."""
    status: str
    """One of :data:`STATUSES`."""
    cancel_requested: bool
    """A cancel was asked for while the job ran; its worker stops the run."""
    error: str | None
    """The one-line reason of a failed job."""
    worker: int | None
    """Process id of the worker that holds (or last held) the job."""
    attempts: int
    """How many times a worker started it (a resumed job counts again)."""
    created: float
    started: float | None
    finished: float | None
    """Unix times."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Job":
        return cls(
            id=row["id"], spec=json.loads(row["spec"]), status=row["status"], cancel_requested=bool(row["cancel_requested"]),
            error=row["error"], worker=row["worker"], attempts=row["attempts"], created=row["created"],
            started=row["started"], finished=row["finished"],
        )


class JobQueue:
    """The queue of the app folder ``folder`` (created with its table on first use)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / DATABASE
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self._transaction() as db:
                db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise DreamliftError(f"cannot open the job queue {self.path} ({error}): choose another --folder") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # ------------------------------------------------------------- reading
    def get(self, job_id: str) -> Job | None:
        db = self._connect()
        try:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        finally:
            db.close()
        return Job.from_row(row) if row else None

    def jobs(self) -> list[Job]:
        """Every job, oldest first."""
        db = self._connect()
        try:
            return [Job.from_row(row) for row in db.execute("SELECT * FROM jobs ORDER BY seq")]
        finally:
            db.close()

    # ------------------------------------------------------------- the app's changes
    def submit(self, job_id: str, spec: dict[str, Any]) -> Job:
        """Queue a new job (``job_id`` must be new)."""
        with self._transaction() as db:
            db.execute("INSERT INTO jobs (id, spec, status, created) VALUES (?, ?, 'queued', ?)", (job_id, json.dumps(spec), time.time()))
        return self.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """A queued job becomes cancelled; a running one is asked to stop (its worker stops the run at a checkpoint)."""
        with self._transaction() as db:
            db.execute("UPDATE jobs SET status = 'cancelled', finished = ? WHERE id = ? AND status = 'queued'", (time.time(), job_id))
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (job_id,))
        return self.get(job_id)

    def resume(self, job_id: str) -> Job | None:
        """A cancelled or failed job is queued again (its worker continues the run from its checkpoint)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = 'queued', error = NULL, cancel_requested = 0, finished = NULL "
                "WHERE id = ? AND status IN ('cancelled', 'failed')",
                (job_id,),
            )
        return self.get(job_id)

    def recover(self, worker: int | None = None) -> int:
        """Requeue the jobs left ``running`` by a dead app (or by the dead ``worker``); returns how many.

        A job whose cancel was asked for becomes cancelled instead.
        """
        where, args = ("status = 'running'", ()) if worker is None else ("status = 'running' AND worker = ?", (worker,))
        with self._transaction() as db:
            db.execute(f"UPDATE jobs SET status = 'cancelled', finished = ? WHERE {where} AND cancel_requested = 1", (time.time(), *args))
            return db.execute(f"UPDATE jobs SET status = 'queued' WHERE {where}", args).rowcount

    # ------------------------------------------------------------- the worker's changes
    def claim(self, worker: int) -> Job | None:
        """The oldest queued job, now ``running`` and held by ``worker``; None when none is queued."""
        with self._transaction() as db:
            row = db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', worker = ?, attempts = attempts + 1, started = ?, cancel_requested = 0 WHERE id = ?",
                (worker, time.time(), row["id"]),
            )
        return self.get(row["id"])

    def finish(self, job_id: str, worker: int, status: str, error: str | None = None) -> bool:
        """End a job ``worker`` holds as ``done``, ``failed`` or ``cancelled``; False if it no longer holds it."""
        if status not in FINISHED:
            raise ValueError(f"not a final status: {status!r}")
        with self._transaction() as db:
            return db.execute(
                "UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ? AND status = 'running' AND worker = ?",
                (status, error, time.time(), job_id, worker),
            ).rowcount == 1

    def release(self, job_id: str, worker: int) -> bool:
        """Put a job ``worker`` holds back in the queue (the worker is stopping; the run resumes later)."""
        with self._transaction() as db:
            return db.execute(
                "UPDATE jobs SET status = 'queued' WHERE id = ? AND status = 'running' AND worker = ?", (job_id, worker)
            ).rowcount == 1

    def cancel_requested(self, job_id: str) -> bool:
        job = self.get(job_id)
        return job is not None and job.cancel_requested
