"""The kill experiment: the app, its worker and the training child SIGKILLed mid-run, then the app restarted.

The app runs as ``dreamlift app`` in a subprocess. A job trains until it has a
checkpoint; then the whole process tree is killed with SIGKILL (no handler runs,
nothing is saved) while a second job waits in the queue. Started again on the same
folder, the app finds the running job and requeues it: it resumes from the newest
checkpoint (its log says so), ends ``done`` with a mesh, and its log.jsonl has every
logged step exactly once. The queued job is still queued. The steps lost are printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_client import Client

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the app's child processes in /proc (Linux)")
STEPS, CHECKPOINT_EVERY = 60, 20
ROOT = Path(__file__).resolve().parents[2]


def start_app(folder: Path, log: Path) -> tuple[subprocess.Popen, Client, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "ab") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "dreamlift.cli", "app", "--folder", str(folder), "--port", "0"],
            stdout=subprocess.PIPE, stderr=errors, text=True, env=env,
        )
    first = process.stdout.readline()
    url = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", url)
    assert match, (first, url, log.read_text())
    return process, Client("127.0.0.1", int(match.group(1))), first


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, children first (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack += children.get(current, [])
    return found[::-1]


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def logged_steps(folder: Path) -> list[int]:
    steps = []
    for line in (folder / "log.jsonl").read_text().splitlines():
        try:
            steps.append(json.loads(line)["step"])
        except ValueError:
            pass  # a line torn by the kill
    return steps


def checkpoint_steps(folder: Path) -> list[int]:
    return sorted(int(p.stem.split("-")[1]) for p in (folder / "checkpoints").glob("step-*.json"))


def test_sigkill_of_the_app_and_its_children_then_restart_resumes_the_job(tmp_path):
    folder, log = tmp_path / "app", tmp_path / "app-stderr.txt"
    app, client, _ = start_app(folder, log)
    try:
        status, answer = client.json("POST", "/api/jobs", {"prompt": "a green cube", "steps": STEPS, "checkpoint_every": CHECKPOINT_EVERY, "set": {"refine.enabled": False}})
        assert status == 201, answer
        job_id = answer["id"]
        waiting = client.json("POST", "/api/jobs", {"prompt": "a pink ball", "steps": 4})[1]["id"]
        run = folder / job_id
        # kill once the log is past the first checkpoint (step 30: the run is 10 to 19 steps beyond step 20)
        client.wait(job_id, lambda job: job["step"] > CHECKPOINT_EVERY or job["status"] in ("done", "failed"), poll=0.05)
        tree = descendants(app.pid)
        assert len(tree) == 3, tree  # the training child, the worker, the app
        for pid in tree:  # children first: no parent-death signal reaches a live child, nothing gets to save
            os.kill(pid, signal.SIGKILL)
        app.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not all(gone(pid) for pid in tree):
            assert time.monotonic() < deadline, "the killed processes did not go away"
            time.sleep(0.05)
    finally:
        for pid in descendants(app.pid) if app.poll() is None else []:
            os.kill(pid, signal.SIGKILL)
    killed_at = max(logged_steps(run))
    kept = checkpoint_steps(run)[-1]
    assert CHECKPOINT_EVERY <= kept <= killed_at < STEPS and not (run / "mesh.glb").exists()

    app, client, first = start_app(folder, log)
    try:
        assert "2 jobs, 2 queued, 1 of them interrupted: it resumes from the last checkpoint" in first
        assert client.job(waiting)["status"] == "queued"
        done = client.wait(job_id, lambda job: job["status"] in ("done", "failed", "cancelled"))
        assert (done["status"], done["step"], done["error"]) == ("done", STEPS, None), done
        assert done["resumed_at"] == [kept] and done["attempts"] == 2
        assert "mesh.glb" in done["files"] and (run / "mesh.glb").read_bytes()[:4] == b"glTF"
        assert logged_steps(run) == list(range(10, STEPS + 1, 10))  # every logged step once: the log was cut back to the checkpoint
        assert client.job(waiting)["status"] in ("queued", "running")
        client.json("DELETE", f"/api/jobs/{waiting}")
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=200)
    lost = killed_at - kept
    print(f"\nkill experiment: last logged step {killed_at}, newest checkpoint {kept}: {lost} to {lost + 9} steps lost (fewer than {CHECKPOINT_EVERY})")
