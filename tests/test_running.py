"""dreamlift.running: the registry of live runs, one locked file each, that dies with its process."""

import os
import signal
import subprocess
import sys
import time

from _helpers import process_env

from dreamlift import running


def test_registrations_are_counted_while_held_and_gone_after(tmp_path):
    with running.Registration(0, tmp_path), running.Registration(3, tmp_path) as fixed:
        assert sorted(running.live_runs(tmp_path)) == [0, 3]
        assert fixed.path.read_text() == "3\n" and fixed.path.suffix == running.SUFFIX
    assert running.live_runs(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_the_file_of_a_run_that_died_is_not_counted_and_is_removed(tmp_path):
    (tmp_path / "4242-dead.run").write_text("0\n")  # no process holds its lock
    (tmp_path / "notes.txt").write_text("not a run")
    (tmp_path / "subfolder.run").mkdir()
    with running.Registration(0, tmp_path):
        assert running.live_runs(tmp_path) == [0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "subfolder.run"]


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_process_leaves_no_live_run_and_a_suspended_one_leaves_its_share(tmp_path):
    code = (
        "import sys, time; from dreamlift.running import Registration\n"
        f"with Registration(2, {str(tmp_path)!r}):\n    print('registered', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=process_env(), text=True)
    try:
        assert child.stdout.readline().strip() == "registered"
        assert running.live_runs(tmp_path) == [2]
        os.kill(child.pid, signal.SIGSTOP)  # suspended (Ctrl-Z): it uses no CPU, so it leaves its share
        _wait_for(lambda: running.live_runs(tmp_path) == [])
        assert len(list(tmp_path.glob("*.run"))) == 1  # still its file: it comes back
        os.kill(child.pid, signal.SIGCONT)
        _wait_for(lambda: running.live_runs(tmp_path) == [2])
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert running.live_runs(tmp_path) == [] and list(tmp_path.glob("*.run")) == []


def test_an_unwritable_registry_leaves_the_run_unregistered(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with running.Registration(0, blocker / "running") as registration:  # its parent is a file: mkdir fails
        assert registration.path is None
    assert running.live_runs(blocker / "running") == []


def test_a_reader_looks_at_no_more_than_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(running, "MAX_ENTRIES", 3)
    held = [running.Registration(0, tmp_path).__enter__() for _ in range(5)]
    try:
        assert len(running.live_runs(tmp_path)) == 3
    finally:
        for registration in held:
            registration.__exit__(None, None, None)
    started = time.monotonic()
    assert running.live_runs(tmp_path) == [] and time.monotonic() - started < 5
