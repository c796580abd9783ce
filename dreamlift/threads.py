"""How many CPU threads a run's torch may use.

The pipeline sizes torch's intra-op pool with :func:`apply_threads`: ``--threads N``, else
``DREAMLIFT_THREADS``, else ``OMP_NUM_THREADS``, else the CPUs this process is given, its affinity
mask and its cgroup CPU quota (a container's limit), whichever is smaller. ``dreamlift batch`` and
``dreamlift app`` divide the cores among their workers (:func:`share`), so their runs never ask for
more threads than there are cores.

A run whose threads nobody set shares the CPUs with the other dreamlift runs of this machine
(:class:`CpuShare`): every run registers in :mod:`dreamlift.running`, and a self-sizing run takes
``(CPUs - threads of the fixed runs) // self-sizing runs`` (at least 1), looked at again about once a
second between steps, so two runs started together take one core each on 2 cores and the one left
takes both again. A run with set threads keeps them (and so stays bit-exact across a resume).

Measured (docs/measurements.md, issue 28): two independent runs that each take both cores slow
each other down about 4x, because libgomp's idle threads spin (``GOMP_SPINCOUNT``) on cores the
other run needs. ``OMP_WAIT_POLICY=PASSIVE`` removes the collapse but makes a run alone a third
slower, so it is not the default; one thread for each of two runs on 2 cores shares them fairly.

This module imports no torch, so the command line can call it first.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from dreamlift.errors import DreamliftError

THREADS_VARIABLE = "DREAMLIFT_THREADS"
MAX_THREADS = 1024
CHECK_SECONDS = 1.0  # how often a self-sizing run looks at the other runs again


def cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``),
    or None when there is none or it cannot be read."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, capped by its cgroup quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpus()
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)


def check_threads(value, source: str) -> int:
    """``value`` as a thread count (a whole number from 1 to 1024), or a one-line error naming ``source``."""
    try:
        count = int(str(value).strip())
    except ValueError:
        raise DreamliftError(f"{source} must be a whole number of threads, got {str(value)[:40]!r}") from None
    if not 1 <= count <= MAX_THREADS:
        raise DreamliftError(f"{source} must be from 1 to {MAX_THREADS} threads, got {count}")
    return count


def set_threads(threads: int | None = None) -> int | None:
    """The thread count someone set: ``threads`` if given, else ``DREAMLIFT_THREADS``, else the user's own
    ``OMP_NUM_THREADS`` (which torch already follows); None when nobody did."""
    if threads is not None:
        return check_threads(threads, "--threads")
    for variable in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
        setting = os.environ.get(variable)
        if setting not in (None, ""):
            return check_threads(setting, variable)
    return None


def thread_count(threads: int | None = None) -> int:
    """Threads for this process's torch: :func:`set_threads`, else :func:`available_cpus`."""
    fixed = set_threads(threads)
    return available_cpus() if fixed is None else fixed


def share(workers: int) -> int:
    """Threads for each of ``workers`` processes sharing this process's CPUs (at least 1)."""
    return max(1, thread_count() // max(1, workers))


def apply_threads(threads: int | None = None) -> int:
    """Set torch's intra-op pool to :func:`thread_count` threads; returns the count."""
    return _set_torch_threads(thread_count(threads))


def _set_torch_threads(count: int) -> int:
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def fair_share(cpus: int, live: list[int]) -> int:
    """Threads for one self-sizing run among the ``live`` runs' settings (0 = sizes itself, itself included)."""
    fixed = sum(setting for setting in live if setting > 0)
    sizing = max(1, sum(1 for setting in live if setting == 0))
    return max(1, (cpus - fixed) // sizing)


class CpuShare:
    """This run's threads, shared with the other dreamlift runs on the machine; a context manager.

    Entering registers the run (:class:`dreamlift.running.Registration`) and sets torch's threads;
    :meth:`update`, called between steps, sets them again from the live runs at most every ``every``
    seconds (default :data:`CHECK_SECONDS`). A run whose threads were set (``threads``, ``DREAMLIFT_THREADS``, ``OMP_NUM_THREADS``)
    keeps them and registers them, so the self-sizing runs leave those cores to it.
    """

    def __init__(self, threads: int | None = None, every: float | None = None, registry: Path | None = None):
        from dreamlift.running import Registration

        self.fixed = set_threads(threads)
        self.every = CHECK_SECONDS if every is None else every
        self.registry = registry
        self.registration = Registration(self.fixed or 0, registry)
        self.count = self.fixed or available_cpus()
        self._checked = -float("inf")

    def __enter__(self) -> "CpuShare":
        self.registration.__enter__()
        self.update(force=True)
        return self

    def __exit__(self, *exc) -> None:
        self.registration.__exit__(*exc)

    def share(self) -> int:
        """The threads this run should use now."""
        if self.fixed is not None:
            return self.fixed
        from dreamlift.running import live_runs

        live = live_runs(self.registry) if self.registration.path is not None else []
        return fair_share(available_cpus(), live or [0])

    def update(self, force: bool = False) -> int:
        """Set torch's threads to :meth:`share` (at most every ``every`` seconds unless ``force``); returns them."""
        now = time.monotonic()
        if force or now - self._checked >= self.every:
            self._checked = now
            self.count = _set_torch_threads(self.share())
        return self.count
