"""One writer per run folder: an OS lock that names its holder and dies with it."""

import json
import os
import signal
import subprocess
import sys
import time

from _helpers import process_env

from dreamlift.pipeline.lock import LOCK_FILE, RunFolderBusy, RunLock

HOLD = "import sys, time; from dreamlift.pipeline.lock import RunLock; RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"


def test_a_held_lock_is_refused_with_the_holders_pid_and_freed_by_sigkill(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, env=process_env())
    try:
        assert holder.stdout.readline().strip() == b"held"
        try:
            RunLock(tmp_path).acquire()
            raise AssertionError("a held lock was taken twice")
        except RunFolderBusy as error:
            assert f"in use by process {holder.pid}" in str(error)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with RunLock(tmp_path) as lock:  # no stale lock: the OS freed it with the process
            assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid()) and lock.path.is_file()
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_reentrant_within_one_holder_and_released_on_exit(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.acquire() is lock
    with RunLock(tmp_path):
        pass


def _text(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "dreamlift.cli", "text", "a red cube", "--out", str(out), "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=process_env(),
    )


def test_two_runs_into_one_folder_one_runs_the_other_exits_2_and_resume_after_kill_9_continues(tmp_path):
    out = tmp_path / "same"
    args = ("--steps", "300", "--refine", "off", "--no-export", "--checkpoint-every", "20", "--set", "prior.renders_per_object=64")
    first, second = _text(out, *args), _text(out, *args)
    deadline = time.time() + 240
    while first.poll() is None and second.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    loser, runner = (first, second) if first.poll() is not None else (second, first)
    assert loser.poll() == 2 and runner.poll() is None, (loser.stderr.read(), runner.poll())
    stderr = loser.stderr.read().decode()
    assert stderr.count("\n") == 1 and stderr.startswith("error: ") and "Traceback" not in stderr
    assert f"in use by process {runner.pid}" in stderr or "already holds a run" in stderr, stderr
    while not list((out / "checkpoints").glob("step-*.json")) and time.time() < deadline:
        time.sleep(0.1)
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    resumed = _text(out, "--resume")
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr.decode()[-2000:]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 300 and [r["step"] for r in rows] == sorted({r["step"] for r in rows})


def test_a_lock_file_left_by_a_run_killed_before_its_config_is_no_obstacle(tmp_path, cli):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text("12345\n")  # the holder died before it wrote config.json
    done = cli("text", "a red cube", "--out", out, "--steps", 2, "--refine", "off", "--no-export", "--quiet")
    assert done.code == 0, done.stderr
    assert (out / "config.json").is_file() and (out / LOCK_FILE).read_text().strip() == str(os.getpid())
