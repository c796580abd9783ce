"""Shared test set-up: a private cache folder, so tests never touch the user's cache, and the command-line
fixtures of :mod:`_helpers` (``cli``, ``cli_process``, ``snapshot``)."""

import pytest

from _helpers import in_a_process, in_process, snapshot as _snapshot


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    import os

    previous = os.environ.get("DREAMLIFT_CACHE")
    os.environ["DREAMLIFT_CACHE"] = str(tmp_path_factory.mktemp("dreamlift-cache"))
    yield
    if previous is None:
        os.environ.pop("DREAMLIFT_CACHE", None)
    else:
        os.environ["DREAMLIFT_CACHE"] = previous


@pytest.fixture
def cli(capsys):
    """``cli(*args, unchanged=FOLDER) -> Outcome``: ``dreamlift.cli.main`` in this process."""
    return in_process(capsys)


@pytest.fixture
def cli_process():
    """``cli_process(*args, unchanged=FOLDER) -> Outcome``: ``python -m dreamlift.cli`` in a new process."""
    return in_a_process()


@pytest.fixture
def snapshot():
    """``snapshot(path)``: every file's bytes and every folder below ``path`` (None when absent)."""
    return _snapshot
