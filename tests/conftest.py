"""Shared test set-up: a private cache folder, so tests never touch the user's cache."""

import pytest


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
