"""The dreamlift runs live on this machine: one locked file per run in ``<cache>/running/``.

Each run holds an exclusive ``fcntl.flock`` on its own file ``<pid>-<token>.run`` for as long as it
lives, so the OS frees it when the process ends, however it ends. A reader counts the files whose lock
it cannot take, less those of suspended processes (Ctrl-Z: they use no CPU); a file whose lock it
can take belongs to a dead run and is removed. A file holds the
run's thread setting as text: a whole number when the run's threads were set (``--threads``, an
environment variable, a batch or app worker's share), 0 when the run sizes itself
(:class:`dreamlift.threads.CpuShare`).

A file is created under a temporary name, locked, then renamed into place, so a reader never sees
an unlocked file of a live run. Standard library only; the command line imports it before torch.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

SUFFIX = ".run"
MAX_ENTRIES = 256  # a reader looks at no more files than this
MAX_FILE_BYTES = 32


def registry_dir() -> Path:
    """``<cache>/running``: the folder of the live runs' files."""
    from dreamlift.cache import cache_dir

    return cache_dir() / "running"


class Registration:
    """This process's entry in the registry of live runs; a context manager.

    ``threads``: the run's fixed thread count, or 0 when it sizes itself. A registry that cannot be
    written (a read-only cache) leaves the run unregistered: sharing is a courtesy, never a reason to fail.
    """

    def __init__(self, threads: int, folder: Path | None = None):
        self.threads = int(threads)
        self.folder = registry_dir() if folder is None else Path(folder)
        self.path: Path | None = None
        self._fd: int | None = None

    def __enter__(self) -> "Registration":
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        temporary = self.folder / f".{name}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError:
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, f"{self.threads}\n".encode())
            os.replace(temporary, self.folder / f"{name}{SUFFIX}")
        except OSError:
            os.close(fd)
            _unlink(temporary)
            return self
        self._fd, self.path = fd, self.folder / f"{name}{SUFFIX}"
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            _unlink(self.path)
            os.close(self._fd)  # closing frees the lock
            self._fd = self.path = None


def live_runs(folder: Path | None = None) -> list[int]:
    """The thread settings of the live runs (this one included, if registered); 0 = sizes itself.

    Files of dead runs are removed on the way. An unreadable registry reads as no runs.
    """
    folder = registry_dir() if folder is None else Path(folder)
    settings: list[int] = []
    try:
        entries = [entry for _, entry in zip(range(MAX_ENTRIES), os.scandir(folder))]
    except OSError:
        return settings
    for entry in entries:
        if not entry.name.endswith(SUFFIX) or not entry.is_file(follow_symlinks=False):
            continue
        setting = _live_setting(Path(entry.path))
        if setting is not None:
            settings.append(setting)
    return settings


def _live_setting(path: Path) -> int | None:
    """The setting in ``path`` if its run is alive, else None (and a dead run's file is removed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a live run, unless it is suspended (Ctrl-Z, SIGSTOP) and uses no CPU
            if _suspended(path.name.split("-", 1)[0]):
                return None
            text = os.pread(fd, MAX_FILE_BYTES, 0).decode("ascii", "replace").strip()
            return max(0, min(int(text), 1 << 16)) if text.isdigit() else 0
        except OSError:
            return None
        _unlink(path)  # nobody holds it: its run has ended
        return None
    finally:
        os.close(fd)


def _suspended(pid: str) -> bool:
    """Whether process ``pid`` is stopped (``/proc/PID/stat`` state T or t); False where that cannot be read."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_bytes()[:1024]
    except (OSError, ValueError):
        return False
    state = stat.rpartition(b")")[2].split()[:1]  # the field after the command name, which may hold spaces
    return state in ([b"T"], [b"t"])


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
