"""Set-up of the robustness tests: one torch thread, and the environment of child processes.

The command-line fixtures (``cli``, ``cli_process``, ``snapshot``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import pytest
import torch

from _helpers import process_env


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread here and in child processes: on a shared 2-core machine, two OpenMP threads
    contending with other work made building the toy prior's renders 10x slower (25 s against 2 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def child_env() -> dict[str, str]:
    return process_env()
