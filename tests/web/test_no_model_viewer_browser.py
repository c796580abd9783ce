"""The viewer's and the app's pages in headless Chromium where <model-viewer> is not installed.

``$DREAMLIFT_WEB_MODULES`` names an empty folder: the lookup looks there alone, so the
package's own ``node_modules`` (if the set-up installed one) is not used. The pages
load without console errors, ask for no vendor script, say plainly where the model
would be that the interactive view is not installed, and show the turntable video and
the downloads. Needs chromium, chromium-driver and selenium (not model-viewer).
"""

from __future__ import annotations

import time

import pytest
from browser import NEEDS_CHROMIUM, severe_errors, wait_for

from dreamlift.web import modules

pytestmark = NEEDS_CHROMIUM


def video_state(selector: str) -> str:
    """A script returning ``[readyState, error code]`` of the video at ``selector`` once it has a frame or an error."""
    return f"const v = document.querySelector('{selector}'); return v && (v.readyState >= 2 || v.error) ? [v.readyState, v.error && v.error.code] : null;"


@pytest.fixture(scope="module")
def no_model_viewer(tmp_path_factory):
    """``$DREAMLIFT_WEB_MODULES`` set to an empty folder for the module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(modules.ENV_VAR, str(tmp_path_factory.mktemp("empty-node-modules")))
        assert modules.model_viewer_script() is None
        yield


def assert_only_this_origin_and_no_vendor_script(browser, url: str) -> None:
    """Every resource the page loaded came from ``url``'s origin, and none was the vendor script."""
    origin = url.rstrip("/")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(origin) for name in resources)
    assert not any("/vendor/" in name for name in resources)


def test_the_run_page_shows_the_note_the_turntable_and_the_downloads(browser, text_run, no_model_viewer):
    from dreamlift.web.server import ViewerServer

    with ViewerServer([text_run]) as server:
        assert server.app.model_viewer is None
        browser.get(server.url)
        note = browser.find_element("id", "model-missing")
        assert note.is_displayed() and note.text.startswith("Interactive 3D view not installed: run dreamlift view --install-viewer once")
        assert browser.find_elements("css selector", "model-viewer") == []
        state = wait_for(browser, video_state("video"), 30)
        assert state[1] is None and state[0] >= 2  # the turntable decodes, in the model's place
        assert browser.execute_script("return document.getElementById('model-missing').nextElementSibling.tagName") == "VIDEO"
        links = [a.text for a in browser.find_elements("css selector", "ul.downloads a")]
        assert {"mesh.glb", "turntable.mp4", "config.json"} <= set(links)
        assert len(browser.find_elements("css selector", "svg.curve")) == 3
        assert_only_this_origin_and_no_vendor_script(browser, server.url)
        assert severe_errors(browser) == []


def test_the_app_page_shows_a_finished_job_with_the_note_the_turntable_and_the_downloads(browser, tmp_path, no_model_viewer):
    from dreamlift.web.app import AppServer

    with AppServer(tmp_path / "app", workers=1) as server:
        assert server.app.model_viewer is None
        browser.get(server.url)
        assert browser.find_elements("css selector", "model-viewer") == [] and severe_errors(browser) == []
        for field, value in (("prompt", "a red cube"), ("steps", "4")):
            browser.find_element("id", field).send_keys(value)
        browser.find_element("id", "submit").click()
        deadline = time.monotonic() + 300
        while browser.execute_script("return document.getElementById('job-panel').dataset.status || ''") not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.25)
        assert browser.execute_script("return document.getElementById('job-panel').dataset.status") == "done"
        assert wait_for(browser, "return !document.getElementById('result').hidden", 30)
        note = browser.find_element("id", "model-missing")
        assert note.is_displayed() and "Interactive 3D view not installed" in note.text and modules.INSTALL_HINT in note.text
        state = wait_for(browser, video_state("#turntable"), 30)
        assert state[1] is None and state[0] >= 2 and browser.find_element("id", "turntable").is_displayed()
        links = [a.text for a in browser.find_elements("css selector", "#downloads a")]
        assert {"mesh.glb", "turntable.mp4", "config.json", "log.jsonl"} <= set(links)
        assert browser.find_element("id", "model-status").text == ""  # no "Loading the model…" that never ends
        assert_only_this_origin_and_no_vendor_script(browser, server.url)
        assert severe_errors(browser) == []
