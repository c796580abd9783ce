"""Crash-safe file writing: write to a temporary name in the same folder, fsync, rename.

A reader (or a resumed run) therefore sees either the old file or the new one,
never a half-written one. A folder that cannot hold the temporary file (missing and
not creatable, read-only, ``/proc``) is a one-line :class:`DreamliftError` naming the path.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from dreamlift.errors import DreamliftError


class WriteFailed(DreamliftError):
    """Writing ``path`` failed part-way (a full disk, a quota, an I/O error); nothing half-written was left."""

    def __init__(self, path: Path, error: OSError, advice: str = "free space and run the command again"):
        self.path, self.error = Path(path), error
        self.disk_full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        reason = "no space left on device" if self.disk_full else f"{error.strerror or type(error).__name__} (errno {error.errno})"
        super().__init__(f"{reason} writing {path}: {advice if self.disk_full else 'check the disk and run the command again'}")


@contextlib.contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """An ``OSError`` from writing ``path`` (not from the block's own code) as a one-line :class:`WriteFailed`."""
    try:
        yield
    except OSError as error:
        raise WriteFailed(path, error) from None


@contextlib.contextmanager
def _renamed_over(tmp: str, path: Path) -> Iterator[None]:
    """On success of the block, give ``tmp`` the usual permissions and rename it over ``path``; on failure remove it."""
    try:
        yield
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _temporary_next_to(path: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """``mkstemp`` in ``path``'s folder (created if missing); an OSError becomes a one-line DreamliftError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DreamliftError(f"cannot write {path}: the folder {path.parent} cannot be created ({reason}); choose another place") from None
    try:
        return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DreamliftError(f"cannot write {path}: {path.parent} cannot hold new files ({reason}); choose another place") from None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file next to ``path``; on success rename it over ``path``."""
    path = Path(path)
    fd, tmp = _temporary_next_to(path, f".{path.name}.", ".tmp")
    with _renamed_over(tmp, path):
        with os.fdopen(fd, mode) as handle:
            yield handle
            with _write_errors(path):
                handle.flush()
                os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` with the same suffix, for a library that writes by path
    (and may pick its format from the suffix, as ffmpeg does); on success rename it over ``path``."""
    path = Path(path)
    fd, tmp = _temporary_next_to(path, f".{path.stem}.", path.suffix)
    os.close(fd)
    with _renamed_over(tmp, path):
        yield Path(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``path`` (which must not exist); on success rename it to ``path``,
    on failure remove it, so the folder appears whole or not at all."""
    import shutil

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DreamliftError(f"cannot write {path}: {path.parent} cannot hold new folders ({reason}); choose another place") from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """``data`` as the file ``path``, whole or not at all; a full disk is a one-line :class:`WriteFailed`."""
    with atomic_open(path, "wb") as handle:
        with _write_errors(Path(path)):
            handle.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line and fsync (a log line is either whole or absent after a crash; a torn line from a full disk
    is skipped by the log's readers); a full disk is a one-line :class:`WriteFailed`."""
    with _write_errors(Path(path)), open(path, "a", encoding="utf-8") as handle:
        handle.write(line.rstrip("\n") + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def write_png(path: str | os.PathLike, image) -> None:
    """Write an (H, W, 3|4) float image in [0, 1] (numpy or torch) as an 8-bit PNG."""
    import numpy as np
    from PIL import Image

    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())
