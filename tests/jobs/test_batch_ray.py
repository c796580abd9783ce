"""``dreamlift batch`` on a real local Ray cluster (2 CPUs, one per test module): runs, failures, crashes, restarts."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from dreamlift.cli import main  # noqa: E402
from dreamlift.jobs.task import KILL_ONCE_VARIABLE  # noqa: E402

FEW_STEPS = ["--steps", "6", "--checkpoint-every", "2", "--no-export", "--refine", "off", "--quiet"]
GOOD = ("a red cube", "a blue sphere", "a green cone", "a yellow cylinder")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray for the module; its workers inherit the fault hook (armed for the folder 'crashing' only)."""
    marker = tmp_path_factory.mktemp("fault") / "killed"
    os.environ[KILL_ONCE_VARIABLE] = f"{marker}:crashing:10"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield {"marker": marker, "address": ray.get_runtime_context().gcs_address}
    ray.shutdown()
    os.environ.pop(KILL_ONCE_VARIABLE, None)


def summary(out):
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        return {row["folder"]: row for row in csv.DictReader(handle)}


def logged_steps(folder):
    return [json.loads(line)["step"] for line in (folder / "log.jsonl").read_text().splitlines()]


def files_and_mtimes(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_four_prompts_finish_and_bad_rows_fail_alone(cluster, tmp_path, capsys):
    table = tmp_path / "prompts.csv"
    table.write_text("prompt,seed\n" + "".join(f"{p},\n" for p in GOOD) + "a red blorp,\na blue cube,abc\n")
    out = tmp_path / "batch"
    assert main(["batch", str(table), "--out", str(out), "--no-scores", *FEW_STEPS]) == 2  # two rows failed
    assert "4 of 6 runs finished (0 already before), 2 failed" in capsys.readouterr().out
    rows = summary(out)
    for prompt in GOOD:
        row, folder = rows[prompt.replace(" ", "_")], out / prompt.replace(" ", "_")
        assert (row["status"], row["steps"], row["start_step"], row["error"]) == ("done", "6", "0", "")
        assert json.loads((folder / "config.json").read_text())["config"]["prompt"] == prompt
        assert sorted(p.name for p in (folder / "checkpoints").glob("*.json")) == ["step-000004.json", "step-000006.json"]
        assert logged_steps(folder) == [6] and row["silhouette_iou"] == ""  # --no-scores
    blorp, seed = rows["a_red_blorp"], rows["a_blue_cube"]
    assert blorp["status"] == "failed" and "blorp" in blorp["error"] and not (out / "a_red_blorp" / "config.json").exists()
    assert seed["status"] == "failed" and "--seed" in seed["error"] and "'abc'" in seed["error"]
    index = (out / "index.html").read_text()
    assert index.count('class="card"') == 4 and 'href="a_red_cube/"' in index
    for src in (part.split('"')[0] for part in index.split('src="')[1:]):
        assert (out / src).is_file()  # the gallery's images are the run folders' own previews
    # the same command again: finished runs are skipped untouched, the bad rows fail again
    before = {name: files_and_mtimes(out / name) for name in rows if rows[name]["status"] == "done"}
    assert main(["batch", str(table), "--out", str(out), "--no-scores", *FEW_STEPS]) == 2
    assert "4 of 6 runs finished (4 already before), 2 failed" in capsys.readouterr().out
    assert {name: files_and_mtimes(out / name) for name in before} == before
    assert summary(out)["a_red_cube"]["seconds"] == rows["a_red_cube"]["seconds"]  # kept from the first summary


def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(cluster, tmp_path, capsys):
    table = tmp_path / "crash.jsonl"
    table.write_text(json.dumps({"prompt": "a red cube", "out": "crashing", "steps": 40}) + "\n")
    out = tmp_path / "batch"
    assert main(["batch", str(table), "--out", str(out), "--checkpoint-every", "10", "--no-export", "--refine", "off", "--quiet"]) == 0
    assert cluster["marker"].exists()  # the first attempt's worker really died (os._exit once its step-10 checkpoint existed)
    row = summary(out)["crashing"]
    assert row["status"] == "done" and row["steps"] == "40"
    assert int(row["start_step"]) >= 10  # the retry resumed, it did not start over
    assert logged_steps(out / "crashing") == [10, 20, 30, 40]  # contiguous, nothing repeated or lost
    # dreamlift eval's scores of the finished run (text_run_scores), for a toy caption
    assert 0.0 < float(row["silhouette_iou"]) <= 1.0 and float(row["psnr"]) > 5.0 and 0.0 <= float(row["turn"]) < 360.0
    assert 0.0 <= float(row["color_error"]) <= 1.0 and row["janus"] == "" and row["mesh_iou"] == ""  # a cube has no Janus test; --no-export


def test_a_driver_killed_by_sigkill_redoes_nothing_that_finished(cluster, tmp_path):
    table = tmp_path / "prompts.txt"
    table.write_text("a red cube\na blue sphere\na green cone\n")
    out = tmp_path / "batch"
    argv = ["batch", str(table), "--out", str(out), "--workers", "1", "--steps", "60", "--checkpoint-every", "10", "--no-export", "--refine", "off", "--no-scores", "--quiet"]
    env = dict(os.environ)
    env.pop(KILL_ONCE_VARIABLE, None)
    driver = subprocess.Popen(
        [sys.executable, "-m", "dreamlift.cli", *argv, "--address", cluster["address"]], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    second = out / "a_blue_sphere" / "checkpoints"
    deadline = time.monotonic() + 240
    while not list(second.glob("step-*.json")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    first = out / "a_red_cube"
    assert summary(out)["a_red_cube"]["status"] == "done"  # written as the first row finished
    finished = files_and_mtimes(first)
    time.sleep(2)  # Ray ends the dead driver's tasks
    stopped = max(int(p.stem[5:]) for p in second.glob("step-*.json"))
    assert 10 <= stopped < 60
    assert main(argv) == 0
    rows = summary(out)
    assert [rows[name]["status"] for name in ("a_red_cube", "a_blue_sphere", "a_green_cone")] == ["done"] * 3
    assert files_and_mtimes(first) == finished  # the finished run was not touched
    assert int(rows["a_blue_sphere"]["start_step"]) >= stopped  # resumed from its checkpoint
    assert rows["a_green_cone"]["start_step"] == "0"
    assert logged_steps(out / "a_blue_sphere") == list(range(10, 61, 10))
    # asking for more steps resumes the finished runs to them, from their last checkpoint
    longer = [a if a != "60" else "70" for a in argv]
    assert main(longer) == 0
    rows = summary(out)
    assert [(rows[n]["start_step"], rows[n]["steps"]) for n in ("a_red_cube", "a_blue_sphere", "a_green_cone")] == [("60", "70")] * 3
    assert logged_steps(out / "a_red_cube") == list(range(10, 71, 10))
