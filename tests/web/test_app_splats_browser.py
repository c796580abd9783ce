"""The app's page in headless Chromium with finished jobs: a Gaussian job's splats.ply is drawn with Spark, the page
says so where Spark is not installed, and a job without splats.ply has no splat panel.

The jobs are done run folders copied in (:func:`app_client.finished_job`, no worker runs): the Gaussian one is
:func:`viewer_runs.make_splat_run`'s. Needs what :mod:`browser` says; skipped with the reason otherwise.
"""

from __future__ import annotations

import time

import pytest
from app_client import finished_job
from browser import NEEDS_BROWSER, NEEDS_SPLATS, SETTLED, assert_two_gaussians, canvas_shot, resources, severe_errors, wait_for

from dreamlift.web import modules
from dreamlift.web.app import AppServer

pytestmark = NEEDS_BROWSER


def open_job(browser, job_id: str) -> None:
    """Select the job in the queue and wait for its result."""
    click = f"const b = document.querySelector('#queue li[data-id=\"{job_id}\"] button'); if (b) b.click(); return Boolean(b);"
    assert wait_for(browser, click, 30)
    assert wait_for(browser, "return document.getElementById('job-panel').dataset.status === 'done' && !document.getElementById('result').hidden", 30)


def model_state(browser) -> str:
    """#model's settled data-state (it loads once it is seen)."""
    browser.execute_script("document.getElementById('model').scrollIntoView({block: 'center'})")
    return wait_for(browser, SETTLED.format("#model"), 120)


def assert_only_this_origin(browser, server) -> list[str]:
    """The page's resources, every one from ``server``."""
    loaded = resources(browser)
    assert loaded and all(name.startswith(server.url.rstrip("/")) for name in loaded)
    return loaded


@pytest.fixture(scope="module")
def app(tmp_path_factory, splat_run, text_run):
    """An app (no workers) with two done jobs: ``gaussian`` (splats.ply) and ``plain`` (none)."""
    with AppServer(tmp_path_factory.mktemp("app"), workers=0) as server:
        server.jobs = {"gaussian": finished_job(server, splat_run, "red gaussians"), "plain": finished_job(server, text_run, "a snowman")}
        yield server


@NEEDS_SPLATS
def test_a_finished_gaussian_jobs_splats_are_drawn_with_spark(browser, app):
    browser.get(app.url)
    assert resources(browser) and not any("/vendor/splats/" in name for name in resources(browser))  # not before a job needs it
    open_job(browser, app.jobs["gaussian"])
    panel = browser.find_element("id", "splats-panel")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", panel)
    assert wait_for(browser, SETTLED.format("#splats")) == "loaded", browser.find_element("id", "splats-status").text
    assert panel.is_displayed() and browser.find_element("id", "splats-status").text.startswith("2 Gaussians.")
    time.sleep(1.0)  # let the sort settle and a few frames render
    assert_two_gaussians(canvas_shot(browser))
    assert "splats.ply" in [a.text for a in browser.find_elements("css selector", "#downloads a")]
    assert f"{app.url}vendor/splats/spark.module.min.js" in assert_only_this_origin(browser, app)
    assert severe_errors(browser) == []


@NEEDS_SPLATS
def test_a_job_without_splats_has_no_splat_panel(browser, app):
    browser.get(app.url)
    open_job(browser, app.jobs["plain"])
    assert model_state(browser) == "loaded"
    assert not browser.find_element("id", "splats-panel").is_displayed()
    assert "src" not in browser.execute_script("return {...document.getElementById('splats').dataset}")  # nothing drawn
    assert not any("/vendor/splats/" in name or "splats.js" in name for name in assert_only_this_origin(browser, app))
    open_job(browser, app.jobs["gaussian"])  # then a Gaussian job, and back: the panel goes with its job
    assert wait_for(browser, SETTLED.format("#splats")) == "loaded"
    open_job(browser, app.jobs["plain"])
    assert not browser.find_element("id", "splats-panel").is_displayed()
    assert "src" not in browser.execute_script("return {...document.getElementById('splats').dataset}")
    assert severe_errors(browser) == []


def test_without_spark_a_gaussian_job_says_so_and_the_rest_still_works(browser, tmp_path, splat_run, model_viewer_alone):
    with AppServer(tmp_path / "app", workers=0) as server:
        job_id = finished_job(server, splat_run, "red gaussians")
        browser.get(server.url)
        open_job(browser, job_id)
        note = browser.find_element("id", "splats-missing")
        assert note.is_displayed() and note.text.startswith(f"Splat view not installed: run {modules.INSTALL_HINT} once.")
        assert browser.find_elements("css selector", "canvas") == []
        assert model_state(browser) == "loaded"
        assert {"mesh.glb", "splats.ply", "config.json"} <= {a.text for a in browser.find_elements("css selector", "#downloads a")}
        assert not any("/vendor/splats/" in name or "splats.js" in name for name in assert_only_this_origin(browser, server))
        assert severe_errors(browser) == []
