"""The viewer page in headless Chromium: the model loads, nothing errs, the canvas is not blank.

Needs what :mod:`browser` says; skipped with the reason otherwise.
"""

from __future__ import annotations

import io
import time

import numpy as np
from browser import NEEDS_BROWSER, severe_errors, wait_for
from PIL import Image

from dreamlift.web.server import ViewerServer

pytestmark = NEEDS_BROWSER


def test_model_loads_and_shows_in_chromium(browser, text_run):
    with ViewerServer([text_run]) as server:
        browser.get(server.url)
        state = wait_for(browser, "const m = document.querySelector('model-viewer'); return m && m.dataset.state !== 'loading' && m.dataset.state;")
        assert state == "loaded"  # viewer.js saw model-viewer's load event
        assert browser.execute_script("return document.querySelector('model-viewer').loaded") is True
        assert severe_errors(browser) == []

        time.sleep(1.0)  # let a few frames render
        viewer = browser.find_element("css selector", "model-viewer")
        shot = np.asarray(Image.open(io.BytesIO(viewer.screenshot_as_png)).convert("RGB")).astype(float)
        assert shot.std() > 20.0  # not blank
        red = (shot[..., 0] > 120) & (shot[..., 0] > shot[..., 1] + 60) & (shot[..., 0] > shot[..., 2] + 60)
        assert 0.05 < red.mean() < 0.95  # the red model covers part of the view

        video_state = wait_for(browser, "const v = document.querySelector('video'); return v.readyState >= 2 || v.error ? [v.readyState, v.error && v.error.code] : null;", 30)
        assert video_state[1] is None and video_state[0] >= 2  # the H.264 turntable decodes

        origin = server.url.rstrip("/")
        resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(name.startswith(origin) for name in resources)  # nothing fetched from elsewhere
        assert severe_errors(browser) == []


def test_gallery_and_image_run_pages_have_no_errors(browser, gallery):
    with ViewerServer([gallery]) as server:
        browser.get(server.url)
        assert len(browser.find_elements("css selector", "a.card")) == 2
        browser.get(server.url + "runs/from-image/")
        state = wait_for(browser, "const m = document.querySelector('model-viewer'); return m && m.dataset.state !== 'loading' && m.dataset.state;")
        assert state == "loaded"
        assert browser.execute_script("const i = document.querySelector('img.input'); return i.complete && i.naturalWidth") == 32
        assert severe_errors(browser) == []


def test_a_broken_model_is_reported_on_the_page(browser, tmp_path):
    from viewer_runs import make_run

    run = make_run(tmp_path / "broken", video=False)
    (run / "mesh.glb").write_bytes(b"glTF" + b"\0" * 40)
    with ViewerServer([run]) as server:
        browser.get(server.url)
        state = wait_for(browser, "const m = document.querySelector('model-viewer'); return m && m.dataset.state !== 'loading' && m.dataset.state;")
        assert state == "error"
        assert "could not be shown" in browser.find_element("id", "model-status").text
        assert any("dreamlift: model failed to load" in entry["message"] for entry in severe_errors(browser))
