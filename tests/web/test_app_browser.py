"""The app's page in headless Chromium: a bad prompt is refused on the page; a short job goes from
queued to done, its progress moves, its previews and loss curve show, and its model loads.

Needs what :mod:`browser` says; skipped with the reason otherwise.
"""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from browser import NEEDS_BROWSER, severe_errors, wait_for
from PIL import Image

pytestmark = NEEDS_BROWSER


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from dreamlift.web.app import AppServer

    with AppServer(tmp_path_factory.mktemp("app"), workers=1) as server:
        yield server


def screenshot(element) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")).astype(float)


def submit(browser, prompt: str, steps: str) -> None:
    for field, value in (("prompt", prompt), ("steps", steps)):
        element = browser.find_element("id", field)
        element.clear()
        element.send_keys(value)
    browser.find_element("id", "submit").click()


def test_a_bad_prompt_is_a_message_on_the_page_and_nothing_is_queued(browser, app):
    browser.get(app.url)
    submit(browser, "a red flurb", "4")
    message = wait_for(browser, "return document.getElementById('form-error').textContent", 30)
    assert "unknown word 'flurb' in the caption" in message
    submit(browser, "a red cube", "-3")
    message = wait_for(browser, "const t = document.getElementById('form-error').textContent; return t.includes('steps') && t", 30)
    assert "steps must be a positive whole number, got -3" in message
    assert app.app.queue.jobs() == [] and browser.find_elements("css selector", "#queue li") == []
    assert all(" 400 " in error["message"] for error in severe_errors(browser))  # only the refused fetches are reported


def test_a_short_job_goes_from_queued_to_done_and_its_model_loads(browser, app):
    browser.get(app.url)
    submit(browser, "a red cube", "4")
    panel = browser.find_element("id", "job-panel")
    seen: list[tuple[str, float]] = []
    texts: set[str] = set()
    first_shot = None
    deadline = time.monotonic() + 300
    while True:
        state = browser.execute_script(
            "const p = document.getElementById('job-panel'); return p.hidden ? null : [p.dataset.status || '', document.getElementById('job-progress').value];"
        )
        if state and state[0]:
            texts.add(browser.find_element("id", "job-status").text)
        if state and state[0] and (not seen or tuple(state) != seen[-1]):
            seen.append(tuple(state))
            if first_shot is None:
                first_shot = (state[0], browser.find_element("id", "job-status").text, screenshot(panel))
        if state and state[0] in ("done", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    assert seen[0][0] in ("queued", "running") and seen[0][1] < 1.0  # first seen before the end
    assert seen[-1] == ("done", 1.0), seen  # the progress bar moved to full
    assert first_shot[1].startswith(("queued", "running"))
    assert browser.find_element("id", "job-status").text == "done, 4 steps and 200 refinement steps"  # the toy preset refines
    assert any(re.fullmatch(r"refining, step \d+ of 200(, about .*)?", text) for text in texts), texts  # stage 2 with its own count
    job = app.app.queue.jobs()[0]
    assert job.status == "done" and browser.find_element("css selector", f'#queue li[data-id="{job.id}"]').get_attribute("data-status") == "done"

    model = browser.find_element("id", "model")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", model)  # <model-viewer> loads when it is seen
    state = wait_for(browser, "const m = document.getElementById('model'); return m.dataset.state !== 'loading' && m.dataset.state !== 'none' && m.dataset.state;", 120)
    assert state == "loaded"  # model-viewer's load event
    assert browser.execute_script("return document.getElementById('model').loaded") is True
    loaded = browser.execute_script(
        "return [...document.querySelectorAll('#latest-preview, #loss')].map(i => i.complete && i.naturalWidth)"
    )
    assert loaded == [512, 320]  # the refinement's preview strip (4 views of 128 px) and the SVG loss curve
    links = [a.text for a in browser.find_elements("css selector", "#downloads a")]
    assert {"mesh.glb", "turntable.mp4", "config.json", "log.jsonl"} <= set(links)

    model = browser.find_element("id", "model")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", model)
    time.sleep(1.0)  # let a few frames render
    shot = screenshot(model)
    assert shot.std() > 20.0  # not blank
    covered = shot.max(axis=-1) < 200  # after 4 steps the model is still the initial grey blob, on white
    assert 0.05 < covered.mean() < 0.95  # it covers part of the view
    done_shot = screenshot(panel)
    assert first_shot[2].shape != done_shot.shape or np.abs(first_shot[2] - done_shot).mean() > 1.0  # the panel changed on screen

    origin = app.url.rstrip("/")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(origin) for name in resources)  # nothing fetched from elsewhere
    assert severe_errors(browser) == []
