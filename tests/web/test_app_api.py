"""The app's JSON API with a real server on 127.0.0.1 and, where jobs must run, a real worker process.

Bad submissions are 400s with one line and queue nothing; uploads are size-limited
and decoded before they are stored; state changes from another origin are 403; off
loopback a token is needed. A toy job runs to ``done`` with progress, preview and end
events; a cancelled job keeps its checkpoint and its resume ends where an
uninterrupted run would (step for step in the log).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from app_client import Client
from PIL import Image

UPLOAD_LIMIT = 64 << 10


def toy_png(elevation: float = 20.0, azimuth: float = 50.0) -> bytes:
    """A toy-world render of an orange chair as PNG bytes (an image the toy prior recognises)."""
    import torch

    from dreamlift._atomic import write_png
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.rendering.shading import sample_lights
    from dreamlift.toyworld import ToyObject, render

    camera = OrbitCameras.make(elevation, azimuth, 3.0, 40.0)
    image = render(ToyObject("chair", "orange"), camera, 32, lights=sample_lights(camera, generator=torch.Generator().manual_seed(0)))[0]
    buffer = io.BytesIO()
    Image.fromarray((image.clamp(0, 1).numpy() * 255 + 0.5).astype("uint8")).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def queue_only(tmp_path):
    """The app with no worker: submissions are queued, nothing runs."""
    from dreamlift.web.app import AppServer

    with AppServer(tmp_path / "app", workers=0, max_upload_bytes=UPLOAD_LIMIT) as server:
        yield server, Client(*server.address)


@pytest.fixture(scope="module")
def running_app(tmp_path_factory):
    from dreamlift.web.app import AppServer

    with AppServer(tmp_path_factory.mktemp("app"), workers=1) as server:
        yield server, Client(*server.address)


def stored_files(server) -> list[str]:
    uploads = server.app.folder / "uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def test_bad_submissions_are_400_with_one_line_and_nothing_is_queued(queue_only):
    server, client = queue_only
    cases = [
        ({"prompt": "a red flurb", "steps": 4}, "unknown word 'flurb' in the caption"),
        ({"prompt": "a red cube", "steps": -4}, "steps must be a positive whole number, got -4"),
        ({"prompt": "a red cube", "steps": "many"}, "steps must be a whole number"),
        ({"prompt": ""}, "the prompt is empty"),
        ({"prompt": "a red cube", "prior": "dall-e"}, "unknown prior 'dall-e' for a text job"),
        ({"prompt": "a red cube", "stpes": 4}, "unknown field 'stpes'"),
    ]
    for fields, message in cases:
        status, answer = client.json("POST", "/api/jobs", fields)
        assert status == 400 and message in answer["error"] and "\n" not in answer["error"], (fields, answer)
    status, _, body = client.request("POST", "/api/jobs", b"{not json", {"Content-Type": "application/json"})
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]
    status, _, body = client.request("POST", "/api/jobs", b"prompt=a+red+cube", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415 and "multipart/form-data" in json.loads(body)["error"]
    png = toy_png()
    for name, data, message in [
        ("photo.png", b"this is not an image, just text", "photo.png is not an image that can be read"),
        ("cut.png", png[: len(png) // 2], "cut.png could not be decoded: the file is truncated or corrupt"),
        ("blank.png", _png(Image.new("RGBA", (32, 32), (0, 0, 0, 0))), "blank.png is empty"),
    ]:
        status, answer = client.upload({"prior": "toy", "steps": "4"}, name, data)
        assert status == 400 and message in answer["error"] and "\n" not in answer["error"], (name, answer)
        assert str(server.app.folder) not in answer["error"]  # the upload's own name, not where it was checked
    status, answer = client.upload({"prior": "toy", "steps": "-1"}, "chair.png", png)
    assert status == 400 and "steps must be a positive whole number, got -1" in answer["error"]
    assert client.json("GET", "/api/jobs") == (200, {"jobs": []})
    assert stored_files(server) == []


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_upload_over_the_limit_is_refused_unread_and_nothing_is_stored(queue_only):
    server, client = queue_only
    big = toy_png() + b"\0" * UPLOAD_LIMIT
    status, answer = client.upload({"prior": "toy"}, "big.png", big)
    assert status == 413 and f"over the limit of {UPLOAD_LIMIT} bytes" in answer["error"]
    status, _, body = client.request("POST", "/api/jobs", b"{}" + b" " * (70 << 10), {"Content-Type": "application/json"})
    assert status == 413
    assert client.json("GET", "/api/jobs") == (200, {"jobs": []}) and stored_files(server) == []


def test_a_good_upload_is_decoded_then_stored_and_queued(queue_only):
    server, client = queue_only
    png = toy_png()
    status, answer = client.upload({"prompt": "", "prior": "toy", "steps": "6", "seed": "2"}, "my chair.png", png)
    assert status == 201 and answer["status"] == "queued"
    job = client.job(answer["id"])
    assert (job["kind"], job["status"], job["steps"], job["seed"], job["step"]) == ("image", "queued", 6, 2, 0)
    assert answer["id"].startswith("my_chair-") and job["title"] == "image my chair.png"
    stored = server.app.folder / "uploads" / f"{answer['id']}.png"
    assert stored_files(server) == [stored.name] and stored.read_bytes() == png
    assert server.app.queue.get(answer["id"]).spec["image"] == str(stored)


def test_state_changes_from_another_origin_are_403(queue_only):
    server, client = queue_only
    host, port = server.address
    job = {"prompt": "a red cube", "steps": 4}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": f"http://localhost:{port + 1}"}, {"Sec-Fetch-Site": "cross-site"}):
        status, answer = client.json("POST", "/api/jobs", job, headers)
        assert status == 403 and "another site" in answer["error"], headers
    assert client.json("GET", "/api/jobs") == (200, {"jobs": []})
    status, answer = client.json("POST", "/api/jobs", job, {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"})
    assert status == 201
    job_id = answer["id"]
    assert client.json("DELETE", f"/api/jobs/{job_id}", headers={"Origin": "http://evil.example"})[0] == 403
    assert client.json("POST", f"/api/jobs/{job_id}/resume", headers={"Origin": "http://evil.example"})[0] == 403
    assert client.job(job_id)["status"] == "queued"
    status, _, _ = client.request("GET", "/api/jobs", headers={"Host": "evil.example"})  # DNS rebinding
    assert status == 403
    assert client.json("DELETE", f"/api/jobs/{job_id}")[1]["status"] == "cancelled"  # a script sends no Origin
    assert client.json("DELETE", f"/api/jobs/{job_id}")[0] == 409
    assert client.json("DELETE", "/api/jobs/nope")[0] == 404


def test_off_loopback_every_request_needs_the_token(tmp_path):
    from dreamlift.web.app import AppServer

    with AppServer(tmp_path / "app", workers=0, token="s3cret-token") as server:
        client = Client(*server.address)
        status, answer = client.json("GET", "/api/jobs")
        assert status == 401 and "token" in answer["error"]
        assert client.json("POST", "/api/jobs", {"prompt": "a red cube"})[0] == 401
        assert client.json("GET", "/api/jobs", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert client.json("GET", "/api/jobs", headers={"Authorization": "Bearer s3cret-token"}) == (200, {"jobs": []})
        status, _, page = client.request("GET", "/")
        assert status == 401 and b"This app needs its token" in page and b"/static/app-token.js" in page
        assert client.request("GET", "/static/app.css")[0] == 200  # the token page's own files
        status, headers, _ = client.request("GET", "/?token=s3cret-token")
        assert status == 303 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        status, _, page = client.request("GET", "/", headers={"Cookie": cookie.split(";")[0]})
        assert status == 200 and b'<script type="module" src="/static/app.js">' in page


def test_a_job_runs_to_done_with_progress_preview_and_end_events(running_app):
    server, client = running_app
    status, answer = client.json("POST", "/api/jobs", {"prompt": "a red cube", "steps": 4, "export": False, "seed": 1, "set": {"refine.enabled": False}})
    assert status == 201
    job_id = answer["id"]
    events = client.events(job_id)
    names = [name for name, _ in events]
    assert names[0] == "progress" and names[-1] == "end" and names.count("end") == 1
    progress = [data for name, data in events if name == "progress"]
    assert [p["step"] for p in progress] == sorted(p["step"] for p in progress)  # progress only moves forward
    assert {p["status"] for p in progress} <= {"queued", "running", "done"}
    previews = [data for name, data in events if name == "preview"]
    assert previews == [{"url": f"/runs/{job_id}/files/previews/step-000004.png", "step": 4}]
    end = events[-1][1]
    assert (end["status"], end["step"], end["steps"], end["error"]) == ("done", 4, 4, None)
    assert set(end["files"]) == {"config.json", "log.jsonl"}  # no export asked for
    status, headers, image = client.request("GET", previews[0]["url"])
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(image)).size == (128, 32)  # four 32x32 views side by side
    status, headers, svg = client.request("GET", f"/api/jobs/{job_id}/loss.svg")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml") and b"<polyline" in svg
    config = json.loads(client.request("GET", end["files"]["config.json"])[2])
    assert (config["config"]["prompt"], config["config"]["steps"], config["config"]["seed"]) == ("a red cube", 4, 1)
    assert [job["id"] for job in client.json("GET", "/api/jobs")[1]["jobs"]] == [job_id]
    assert client.json("POST", f"/api/jobs/{job_id}/resume")[0] == 409  # only cancelled or failed jobs


def checkpoint_steps(folder: Path) -> list[int]:
    return sorted(int(p.stem.split("-")[1]) for p in (folder / "checkpoints").glob("step-*.json"))


def test_cancel_keeps_the_checkpoint_and_resume_finishes(running_app):
    server, client = running_app
    status, answer = client.json("POST", "/api/jobs", {"prompt": "a blue cone", "steps": 40, "checkpoint_every": 4, "export": False, "set": {"refine.enabled": False}})
    job_id = answer["id"]
    folder = server.app.folder / job_id
    client.wait(job_id, lambda job: checkpoint_steps(folder) or job["status"] != "running" and job["status"] != "queued", poll=0.05)
    status, answer = client.json("DELETE", f"/api/jobs/{job_id}")
    assert status == 200 and answer["status"] == "running"  # asked to stop: the trainer stops at its next step
    cancelled = client.wait(job_id, lambda job: job["status"] != "running")
    assert cancelled["status"] == "cancelled" and cancelled["error"] is None
    kept = checkpoint_steps(folder)[-1]
    assert 4 <= kept < 40 and "mesh.glb" not in cancelled["files"]
    status, answer = client.json("POST", f"/api/jobs/{job_id}/resume")
    assert status == 200 and answer["status"] == "queued"
    done = client.wait(job_id, lambda job: job["status"] in ("done", "failed", "cancelled"))
    assert (done["status"], done["step"], done["resumed_at"], done["attempts"]) == ("done", 40, [kept], 2)
    assert checkpoint_steps(folder)[-1] == 40
    logged = [json.loads(line)["step"] for line in (folder / "log.jsonl").read_text().splitlines()]
    assert logged == [10, 20, 30, 40]  # the resumed run's log continues the first one's, no step twice


def test_one_app_per_folder_and_a_bad_port_touches_nothing(tmp_path):
    from dreamlift.errors import DreamliftError
    from dreamlift.web.app import AppServer

    with pytest.raises(DreamliftError, match="port 70000 is out of range"):
        AppServer(tmp_path / "fresh", port=70000)
    assert not (tmp_path / "fresh").exists()
    with AppServer(tmp_path / "app", workers=0):
        with pytest.raises(DreamliftError, match="another dreamlift app already serves"):
            AppServer(tmp_path / "app", workers=0)
    AppServer(tmp_path / "app", workers=0).close()  # the lock went with the first app
