"""One writer per run folder: an OS lock (``fcntl.flock``) on ``DIR/.lock`` that dies with its process.

The lock file keeps the holder's PID (for the error a second writer gets); it stays on disk after
the holder ends, but the lock does not: a SIGKILLed run leaves no stale lock, and ``--resume``
takes it at once.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from dreamlift.errors import DreamliftError
from dreamlift.training.run_folder import LOCK_FILE


class RunFolderBusy(DreamliftError):
    """Another process holds the run folder's lock."""


class RunLock:
    """The exclusive lock of the run folder ``folder`` (which must exist); a context manager.

    ``acquire()`` never waits: a held lock is a one-line :class:`RunFolderBusy` naming the holder's PID.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise DreamliftError(f"cannot lock run folder {self.folder}: {error.strerror}; check the folder's permissions") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            for _ in range(20):  # the holder writes its PID just after it takes the lock: give it up to 0.2 s to appear
                if holder is not None:
                    break
                time.sleep(0.01)
                holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise RunFolderBusy(
                f"{self.folder} is in use by {who} (dreamlift writes it): wait for it to finish, or stop it and add --resume"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None

