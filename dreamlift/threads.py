"""How many CPU threads a run's torch may use.

The pipeline sizes torch's intra-op pool with :func:`apply_threads`: ``--threads N``, else
``DREAMLIFT_THREADS``, else ``OMP_NUM_THREADS``, else the CPUs this process is given, its affinity
mask and its cgroup CPU quota (a container's limit), whichever is smaller. ``dreamlift batch`` and
``dreamlift app`` divide the cores among their workers (:func:`share`), so their runs never ask for
more threads than there are cores.

Measured (docs/measurements.md, issue 28): two independent runs that each take both cores slow
each other down about 4x, because libgomp's idle threads spin (``GOMP_SPINCOUNT``) on cores the
other run needs. ``OMP_WAIT_POLICY=PASSIVE`` removes the collapse but makes a run alone a third
slower, so it is not the default; ``--threads 1`` (or ``DREAMLIFT_THREADS=1``) for each of two runs
on 2 cores shares them fairly.

This module imports no torch, so the command line can call it first.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from dreamlift.errors import DreamliftError

THREADS_VARIABLE = "DREAMLIFT_THREADS"
MAX_THREADS = 1024


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


def thread_count(threads: int | None = None) -> int:
    """Threads for this process's torch: ``threads`` if given, else ``DREAMLIFT_THREADS``, else the user's own
    ``OMP_NUM_THREADS`` (which torch already follows), else :func:`available_cpus`."""
    if threads is not None:
        return check_threads(threads, "--threads")
    for variable in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
        setting = os.environ.get(variable)
        if setting not in (None, ""):
            return check_threads(setting, variable)
    return available_cpus()


def share(workers: int) -> int:
    """Threads for each of ``workers`` processes sharing this process's CPUs (at least 1)."""
    return max(1, thread_count() // max(1, workers))


def apply_threads(threads: int | None = None) -> int:
    """Set torch's intra-op pool to :func:`thread_count` threads; returns the count."""
    import torch

    count = thread_count(threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
