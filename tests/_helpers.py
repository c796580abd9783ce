"""The tests' one check of "a user mistake": exit status 2, one line ``error: ...``, nothing written.

``Cli`` runs the command line, in this process (``dreamlift.cli.main``, fast: torch is
imported once) or in a real process as a user would (``python -m dreamlift.cli``), and
returns an :class:`Outcome`. Given ``unchanged=FOLDER`` it snapshots every file and
folder below ``FOLDER`` before and after the command, and ``Outcome.one_line_error``
then also asserts that nothing there was written, changed or removed.
``error_message`` is the same check for a call made in Python: it raises a
:class:`DreamliftError` whose message holds the given words.

The fixtures ``cli``, ``cli_process`` and ``snapshot`` in ``tests/conftest.py`` hand these out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pytest

from dreamlift.errors import DreamliftError


def snapshot(path: str | os.PathLike) -> dict[str, bytes | None] | None:
    """Every file (its bytes) and folder (``None``) below ``path``; ``None`` when ``path`` does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else None) for p in sorted(path.rglob("*"))}


@dataclass
class Outcome:
    """What a command did: its exit status and output, and (given ``unchanged``) what it changed on disk."""

    code: int
    stdout: str
    stderr: str
    changes: list[str] | None = None
    """Paths below the watched folder that were written, changed or removed; None when none was watched."""

    def one_line_error(self, *words: str) -> str:
        """Assert a user mistake: exit status 2, stderr exactly one line ``error: ...`` with every word, no
        traceback, and (when a folder was watched) nothing written there. Returns the line."""
        assert self.code == 2, (self.code, self.stderr[-2000:])
        assert "Traceback" not in self.stderr, self.stderr[-2000:]
        assert self.stderr.endswith("\n") and self.stderr.count("\n") == 1, self.stderr[-2000:]
        line = self.stderr[:-1]
        assert line.startswith("error: ") and len(line) < 500, line
        for word in words:
            assert word in line, (word, line)
        assert not self.changes, f"the failed command wrote {self.changes}"
        return line


def _changes(before: dict | None, after: dict | None) -> list[str]:
    if before == after:
        return []
    before, after = before or {}, after or {}
    return sorted(name or "." for name in set(before) | set(after) if before.get(name, 0) != after.get(name, 0))


class Cli:
    """``cli(*args, unchanged=None) -> Outcome``: run ``dreamlift`` with ``args`` (paths and numbers are made strings)."""

    def __init__(self, run: Callable[[list], tuple[int, str, str]]):
        self._run = run

    def __call__(self, *args, unchanged: str | os.PathLike | None = None) -> Outcome:
        before = snapshot(unchanged) if unchanged is not None else None
        code, stdout, stderr = self._run([a if isinstance(a, bytes) else str(a) for a in args])
        changes = _changes(before, snapshot(unchanged)) if unchanged is not None else None
        return Outcome(code, stdout, stderr, changes)


def in_process(capsys) -> Cli:
    """``dreamlift.cli.main`` in this process; an exception other than those ``main`` turns into exit
    statuses escapes and fails the test, as a traceback would for a user."""
    from dreamlift.cli import main

    def run(args: list) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as stop:  # argparse's --help and usage errors
            code = stop.code
        captured = capsys.readouterr()
        return int(code or 0), captured.out, captured.err

    return Cli(run)


def process_env() -> dict[str, str]:
    """The environment of a child process: this session's private cache, one thread, no buffering."""
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def in_a_process(prefix: Sequence[str] = (), cwd: str | os.PathLike | None = None) -> Cli:
    """``python -m dreamlift.cli`` in a new process (after ``prefix``, e.g. a wrapper command), as a user runs it."""

    def run(args: list) -> tuple[int, str, str]:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "dreamlift.cli", *args],
            capture_output=True, env=process_env(), timeout=600, cwd=cwd,
        )
        return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")

    return Cli(run)


def error_message(call: Callable[[], object], *words: str) -> str:
    """Assert ``call()`` raises a :class:`DreamliftError` whose message holds every word; return the message."""
    with pytest.raises(DreamliftError) as caught:
        call()
    message = str(caught.value)
    assert message and len(message) < 1000, message
    for word in words:
        assert word in message, (word, message)
    return message


def upturned_cup_sdf(points):
    """The SDF at ``points (N, 3)`` of a box [−0.5, 0.5]³ hollowed by [−0.3, 0.3]×[−0.6, 0.2]×[−0.3, 0.3]: a cup upside
    down, its hollow open at the bottom face (y = −0.5), which cameras from slightly below see into only near the rim."""
    import torch

    from dreamlift.export.analytic import box_sdf

    return torch.maximum(box_sdf((-0.5,) * 3, (0.5,) * 3)(points), -box_sdf((-0.3, -0.6, -0.3), (0.3, 0.2, 0.3))(points))


def offline_single_thread(monkeypatch):
    """A fixture's body (``yield from``): one torch thread (tiny models run fastest so on a shared CPU, and bit-exact
    comparisons across processes need one count), Hugging Face offline, and any network connection fails the test."""
    import socket

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    attempts = []

    def refuse(sock, address, *args):
        attempts.append(address)
        raise OSError(f"network access attempted in a test: {address}")

    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: refuse(None, host))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    torch.set_num_threads(threads)
    assert not attempts, f"tried to reach the network: {attempts}"


class StopAt:
    """A training hook that delivers SIGTERM to the trainer at a chosen step (as `kill` would)."""

    def __init__(self, step):
        self.step = step

    def losses(self, step, trainer):
        import signal

        if step == self.step - 1:
            trainer._on_signal(signal.SIGTERM, None)
        return {}
