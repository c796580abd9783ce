"""The job queue (SQLite, transactions) and what a job runs: claims, recovery, cancels, checked submissions."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading

import pytest

from dreamlift.errors import DreamliftError
from dreamlift.jobs.queue import JobQueue
from dreamlift.jobs.spec import JobSpec, parse_submission
from dreamlift.jobs.worker import failure_reason


def test_concurrent_claims_take_each_job_exactly_once(tmp_path):
    queue = JobQueue(tmp_path)
    for i in range(40):
        queue.submit(f"job-{i:02d}", {"kind": "text", "prompt": "a red cube"})
    claimed: list[str] = []

    def claim_all(worker: int) -> None:
        own = JobQueue(tmp_path)  # its own connections, as a worker process has
        while (job := own.claim(worker)) is not None:
            claimed.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [f"job-{i:02d}" for i in range(40)]  # every job once, none twice
    assert {job.status for job in queue.jobs()} == {"running"}


def test_jobs_are_claimed_oldest_first_and_only_their_holder_ends_them(tmp_path):
    queue = JobQueue(tmp_path)
    queue.submit("a", {}), queue.submit("b", {})
    first = queue.claim(worker=11)
    assert first.id == "a" and first.status == "running" and first.attempts == 1 and first.worker == 11
    assert not queue.finish("a", worker=12, status="done")  # another worker cannot end it
    assert not queue.release("a", worker=12)
    assert queue.finish("a", worker=11, status="done")
    assert queue.get("a").status == "done" and queue.get("a").finished is not None
    assert queue.claim(worker=11).id == "b"
    assert queue.claim(worker=11) is None


def test_recover_requeues_running_jobs_and_cancels_the_ones_asked_to_stop(tmp_path):
    queue = JobQueue(tmp_path)
    for name in ("run", "stop", "wait"):
        queue.submit(name, {})
    queue.claim(worker=1), queue.claim(worker=2)
    queue.cancel("stop")  # running: only flagged
    assert queue.get("stop").status == "running" and queue.get("stop").cancel_requested
    reopened = JobQueue(tmp_path)  # as a restarted app opens it
    assert reopened.recover() == 1
    assert [(j.id, j.status) for j in reopened.jobs()] == [("run", "queued"), ("stop", "cancelled"), ("wait", "queued")]
    again = reopened.claim(worker=3)
    assert again.id == "run" and again.attempts == 2 and not again.cancel_requested


def test_recover_of_one_dead_worker_leaves_the_others_jobs(tmp_path):
    queue = JobQueue(tmp_path)
    queue.submit("a", {}), queue.submit("b", {})
    queue.claim(worker=1), queue.claim(worker=2)
    assert queue.recover(worker=2) == 1
    assert [(j.id, j.status) for j in queue.jobs()] == [("a", "running"), ("b", "queued")]


def test_cancel_a_queued_job_and_resume_it(tmp_path):
    queue = JobQueue(tmp_path)
    queue.submit("a", {})
    assert queue.cancel("a").status == "cancelled"
    assert queue.claim(worker=1) is None
    assert queue.resume("a").status == "queued"
    assert queue.claim(worker=1).id == "a"
    assert queue.resume("a").status == "running"  # only cancelled or failed jobs are resumed


def test_a_failed_transaction_leaves_no_row(tmp_path):
    queue = JobQueue(tmp_path)
    queue.submit("a", {})
    with pytest.raises(sqlite3.IntegrityError):
        queue.submit("a", {"other": 1})  # the same id twice
    with pytest.raises(RuntimeError), queue._transaction() as db:
        db.execute("UPDATE jobs SET status = 'done' WHERE id = 'a'")
        raise RuntimeError("crash inside the transaction")
    assert [(j.id, j.status, j.spec) for j in queue.jobs()] == [("a", "queued", {})]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": "a red flurb"}, "unknown word 'flurb'"),
        ({"prompt": "a red cube", "steps": -5}, "steps must be a positive whole number, got -5"),
        ({"prompt": "a red cube", "steps": "0"}, "steps must be a positive whole number, got 0"),
        ({"prompt": "a red cube", "steps": 2.5}, "steps must be a whole number"),
        ({"prompt": "a red cube", "steps": True}, "steps must be a whole number"),
        ({"prompt": "   "}, "the prompt is empty"),
        ({}, "give a prompt"),
        ({"prompt": "a red cube", "prior": "dall-e"}, "unknown prior 'dall-e'"),
        ({"prompt": "a red cube", "seed": -1}, "seed must be a whole number from 0"),
        ({"prompt": "a red cube", "colour": "red"}, "unknown field 'colour'"),
        ({"prompt": "a red cube", "set": {"../x": 1}}, "is not a setting name"),
        ({"prompt": "a red cube", "set": ["a=1"]}, "set must be an object"),
        ({"prompt": "a red cube", "set": {"render.samples": 3}}, "unknown setting 'render.samples': did you mean render.samples_per_ray"),
        ({"prompt": "a red cube", "set": {"render.samples_per_ray": "many"}}, "render.samples_per_ray takes whole number, got 'many'"),
        ({"prompt": "a red cube", "set": {"checkpoint_every": 0}}, "checkpoint_every must be at least 1"),
        ({"prompt": "a red cube", "export": "maybe"}, "export must be true or false"),
        ({"prompt": "a red cube\x07"}, "control characters"),
    ],
)
def test_bad_submissions_are_one_line_errors(fields, message):
    with pytest.raises(DreamliftError, match=message.replace("(", r"\(").replace(".", r"\.")) as error:
        parse_submission(fields, has_image=False)
    assert "\n" not in str(error.value)


def test_image_submissions(tmp_path):
    assert parse_submission({"prompt": "", "prior": "toy", "steps": "7"}, has_image=True).kind == "image"
    with pytest.raises(DreamliftError, match="not both"):
        parse_submission({"prompt": "a red cube"}, has_image=True)
    with pytest.raises(DreamliftError, match="zero123 prior needs a model"):
        parse_submission({"prior": "zero123"}, has_image=True)
    with pytest.raises(DreamliftError, match="unknown prior 'stable-diffusion' for an image job: choose one of toy, zero123"):
        parse_submission({"prior": "stable-diffusion"}, has_image=True)


def test_the_command_line_of_a_job_forwards_every_option(tmp_path):
    spec = parse_submission(
        {"prompt": " a  red cube ", "steps": 40, "seed": "3", "checkpoint_every": 10, "export": False,
         "set": {"preview_every": 20, "shading.ambient": [0.3, 0.5], "prior.azimuth_window": 25}},
        has_image=False,
    )
    assert spec.prompt == "a red cube"
    assert JobSpec.from_dict(spec.to_dict()) == spec
    out = tmp_path / "job"
    argv = spec.argv(out, resume=False)
    assert argv[:5] == [sys.executable, "-m", "dreamlift.jobs.run_job", "--out", str(out)] and argv[5] == "--spec"
    assert JobSpec.from_dict(json.loads(argv[6])) == spec and len(argv) == 7
    assert spec.argv(out, resume=True) == [*argv, "--resume"]
    from dreamlift.jobs.run_job import job_config
    from dreamlift.jobs.spec import spec_config

    config = job_config(spec, out, resume=False)  # what the child will run with: the pipeline's settings of the spec
    assert config == spec_config(spec) and config.prompt == "a red cube"
    assert (config.preview_every, config.shading.ambient, config.prior.azimuth_window, config.steps, config.seed) == (20, (0.3, 0.5), 25.0, 40, 3)
    assert (config.checkpoint_every, config.export_mesh, config.export_video) == (10, False, False)


def test_failure_reason_is_the_last_error_line_or_how_the_run_ended():
    assert failure_reason("loading\nerror: first\nerror: the scene is empty after 4 steps\n", 2) == "the scene is empty after 4 steps"
    assert failure_reason("Traceback...\nMemoryError\n", 1) == "the run exited with status 1: MemoryError"
    assert failure_reason("", -9) == "the run was killed by SIGKILL"
