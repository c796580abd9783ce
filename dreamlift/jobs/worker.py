"""The worker: a process that takes jobs from the queue one at a time and runs each as a child.

``python -m dreamlift.jobs.worker --folder DIR --parent PID`` (the app starts these,
``--workers`` of them; :class:`WorkerPool`). For a job it runs ``dreamlift text|image
... --out DIR/<id>`` (:meth:`~dreamlift.jobs.spec.JobSpec.argv`), with ``--resume``
when the run folder already holds a run, and writes the child's output to
``DIR/logs/<id>.log``. Progress is read from the run folder itself
(:mod:`dreamlift.jobs.progress`); there is no other channel.

Stopping: a cancel (the queue's flag) or the worker's own SIGTERM sends SIGTERM to the
child, whose trainer saves a checkpoint after the current step and exits; a cancelled
job ends ``cancelled``, a job stopped because the worker stops goes back to
``queued`` and resumes from that checkpoint. The worker notices its app's death (it
is re-parented) and stops the same way; the child is started with a parent-death
signal (Linux), so even a SIGKILLed worker's child checkpoints and exits. A lock on
``DIR/locks/<id>.lock``, held by the worker and inherited by the child, keeps a run
folder to one child: a job is not started again while an earlier child of it lives.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dreamlift.jobs.queue import Job, JobQueue
from dreamlift.jobs.spec import JobSpec

POLL_SECONDS = 0.25
"""How often the worker looks at the queue and at its child."""
STOP_GRACE_SECONDS = 120.0
"""How long a stopped child may take to save its checkpoint before it is killed."""
_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only calls it between fork and exec
except OSError:
    _LIBC = None


def run_folder(folder: Path, job_id: str) -> Path:
    """A job's run folder: ``DIR/<id>``."""
    return Path(folder) / job_id


def output_log(folder: Path, job_id: str) -> Path:
    """What a job's children printed, every attempt appended: ``DIR/logs/<id>.log``."""
    return Path(folder) / "logs" / f"{job_id}.log"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    prctl = getattr(_LIBC, "prctl", None)
    if prctl is not None:  # Linux; elsewhere the lock still keeps the run folder to one child
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def failure_reason(text: str, returncode: int) -> str:
    """One line for a failed attempt from what it printed: its last ``error: ...`` line, else how it ended."""
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    how = f"was killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exited with status {returncode}"
    return f"the run {how}" + (f": {lines[-1][:300]}" if lines else "")


class Worker:
    """Runs the jobs of the app folder ``folder`` until stopped (SIGTERM, or its parent ``parent`` died)."""

    def __init__(self, folder: Path, parent: int | None = None):
        self.folder = Path(folder)
        self.queue = JobQueue(self.folder)
        self.pid = os.getpid()
        self.parent = parent if parent is not None else os.getppid()
        self._stop = False

    def stop(self, *_args) -> None:
        self._stop = True

    @property
    def stopping(self) -> bool:
        return self._stop or os.getppid() != self.parent

    def serve(self) -> None:
        while not self.stopping:
            job = self.queue.claim(self.pid)
            if job is None:
                time.sleep(POLL_SECONDS)
                continue
            self.run(job)

    def _lock(self, job: Job) -> int | None:
        """The job's lock (a file descriptor), waiting while an earlier child holds it; None if told to stop meanwhile."""
        path = self.folder / "locks" / f"{job.id}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if self.stopping:
                    os.close(fd)
                    return None
                time.sleep(POLL_SECONDS)

    def run(self, job: Job) -> str:
        """Run one claimed job to its end (or until stopped); returns the status it was left in."""
        lock = self._lock(job)
        if lock is None:
            self.queue.release(job.id, self.pid)
            return "queued"
        try:
            return self._run_child(job, lock)
        finally:
            os.close(lock)

    def _run_child(self, job: Job, lock: int) -> str:
        spec = JobSpec.from_dict(job.spec)
        out = run_folder(self.folder, job.id)
        resume = (out / "config.json").is_file()
        argv = spec.argv(out, resume=resume)
        log_path = output_log(self.folder, job.id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            start = log.tell()
            log.write(f"--- attempt {job.attempts} ({'resume' if resume else 'new run'}): {spec.kind} run of {spec.title}\n".encode())
            log.flush()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                pass_fds=(lock,), preexec_fn=_die_with_parent, start_new_session=True,
            )
        cancelled, stopped_at = False, None
        while True:
            try:
                returncode = child.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if stopped_at is None:
                cancelled = self.queue.cancel_requested(job.id)
                if cancelled or self.stopping:
                    child.send_signal(signal.SIGTERM)  # the trainer saves a checkpoint and exits
                    stopped_at = time.monotonic()
            elif time.monotonic() - stopped_at > STOP_GRACE_SECONDS:
                child.kill()
        if returncode == 0:
            self.queue.finish(job.id, self.pid, "done")
            return "done"
        if cancelled:
            self.queue.finish(job.id, self.pid, "cancelled")
            return "cancelled"
        if stopped_at is not None:
            self.queue.release(job.id, self.pid)
            return "queued"
        with open(log_path, "rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", errors="replace")
        self.queue.finish(job.id, self.pid, "failed", failure_reason(text, returncode))
        return "failed"


class WorkerPool:
    """The app's worker processes: started, watched (a dead one's job is requeued and it is restarted), stopped."""

    def __init__(self, folder: Path, count: int = 1):
        self.folder = Path(folder)
        self.count = count
        self.queue = JobQueue(self.folder)
        self.processes: list[subprocess.Popen] = []

    def _spawn(self) -> subprocess.Popen:
        argv = [sys.executable, "-m", "dreamlift.jobs.worker", "--folder", str(self.folder), "--parent", str(os.getpid())]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=self.worker_env())

    def worker_env(self) -> dict[str, str]:
        """The workers' environment: the cores divided among them (``DREAMLIFT_THREADS``, unless the user set it); their
        jobs' children inherit it."""
        from dreamlift.threads import THREADS_VARIABLE, share

        env = dict(os.environ)
        env.setdefault(THREADS_VARIABLE, str(share(self.count)))
        return env

    def start(self) -> "WorkerPool":
        self.processes = [self._spawn() for _ in range(self.count)]
        return self

    def check(self) -> None:
        """Restart workers that died (their running job goes back to the queue first)."""
        for i, process in enumerate(self.processes):
            if process.poll() is not None:
                self.queue.recover(worker=process.pid)
                self.processes[i] = self._spawn()

    def close(self, timeout: float = STOP_GRACE_SECONDS + 10.0) -> None:
        """Stop every worker (each stops its child at a checkpoint and requeues its job)."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dreamlift.jobs.worker", description="run the jobs of a dreamlift app folder")
    parser.add_argument("--folder", type=Path, required=True, help="the app folder (holds jobs.sqlite3)")
    parser.add_argument("--parent", type=int, default=None, help="stop when this process (the app) is gone")
    args = parser.parse_args(argv)
    worker = Worker(args.folder, args.parent)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the app, which stops its workers
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
