"""Helpers of the robustness tests: the command line in-process and in a real process.

``cli`` runs ``dreamlift.cli.main`` in this process (fast: torch is imported once) and
returns ``(exit code, stdout, stderr)``; an exception other than the ones ``main``
turns into exit codes escapes, which fails the test, as a traceback would for a user.
``cli_process`` runs ``python -m dreamlift.cli`` as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread here and in child processes: on a shared 2-core machine, two OpenMP threads
    contending with other work made building the toy prior's renders 10x slower (25 s against 2 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def one_line_error(self, *fragments: str) -> str:
        """Assert exit status 2 and exactly one stderr line ``error: ...`` holding every fragment."""
        assert self.code == 2, (self.code, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        line = lines[0]
        assert line.startswith("error: "), line
        assert len(line) < 500, line
        for fragment in fragments:
            assert fragment in line, (fragment, line)
        return line


@pytest.fixture
def cli(capsys):
    from dreamlift.cli import main

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as stop:  # argparse usage errors
            code = stop.code
        captured = capsys.readouterr()
        return Outcome(int(code), captured.out, captured.err)

    return run


def process_env() -> dict[str, str]:
    """The environment of a child process: this session's private cache, one thread, no buffering."""
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


@pytest.fixture
def child_env() -> dict[str, str]:
    return process_env()


@pytest.fixture
def cli_process():
    def run(*args: str, cwd: Path | None = None) -> Outcome:
        done = subprocess.run(
            [sys.executable, "-m", "dreamlift.cli", *map(str, args)],
            capture_output=True, text=True, env=process_env(), timeout=300, cwd=cwd,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file below ``folder`` with its bytes (None when the folder does not exist)."""
    folder = Path(folder)
    if not folder.exists():
        return None
    if folder.is_file():
        return {"": folder.read_bytes()}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def snapshot():
    """``snapshot(path)``: the bytes of every file below ``path`` (None when absent), to show nothing changed."""
    return _snapshot
