"""Run folders for the viewer tests, built once per session with dreamlift's exporter; the browser of the page tests."""

from __future__ import annotations

import pytest

from viewer_runs import make_run, make_splat_run


@pytest.fixture(scope="session")
def gallery(tmp_path_factory):
    """A folder with two runs: a text run (prompt with HTML in it) and an image run."""
    root = tmp_path_factory.mktemp("runs")
    make_run(root / "snowman", prompt="a red <b>snowman</b> & friends")
    make_run(root / "from image", image=True, video=False)
    (root / "not a run").mkdir()
    return root


@pytest.fixture(scope="session")
def text_run(gallery):
    return gallery / "snowman"


@pytest.fixture(scope="session")
def splat_run(tmp_path_factory):
    """A Gaussian run: the text run's files plus splats.ply of two known Gaussians (:func:`viewer_runs.make_splat_run`)."""
    return make_splat_run(tmp_path_factory.mktemp("gaussian") / "gaussians")


@pytest.fixture
def model_viewer_alone(tmp_path, monkeypatch):
    """``$DREAMLIFT_WEB_MODULES`` holding the real <model-viewer> (linked) and no Spark: an install from before it."""
    from dreamlift.web import modules

    script = tmp_path / "node_modules" / modules.MODEL_VIEWER
    script.parent.mkdir(parents=True)
    script.symlink_to(modules.model_viewer_script())
    monkeypatch.setenv(modules.ENV_VAR, str(tmp_path / "node_modules"))
    assert modules.splat_modules() is None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium per test module (see :mod:`browser`)."""
    from browser import start_browser

    driver = start_browser(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()
