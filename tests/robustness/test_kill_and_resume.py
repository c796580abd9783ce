"""A real ``dreamlift text`` process killed with SIGKILL at random moments, resumed each time,
ends bit for bit like the same run left alone (issue 6: "exact resume").

Each killed process is allowed to write at least one checkpoint of its own, then killed
after a random delay, so kills land anywhere: inside a step, while a checkpoint or a log
line is written, or just after. The resumed run redoes the steps since the last good
checkpoint and must end with every tensor of the final checkpoint (field, background,
occupancy grid, Adam moments, random-generator state) ``torch.equal`` to the
uninterrupted run's, and the same log (apart from timings).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dreamlift.distillation.checkpoint import load_latest_checkpoint

STEPS = 60
CHECKPOINT_EVERY = 5
KILLS = 5
PROMPT = "a red cube"

def start(out: Path, resume: bool, env: dict[str, str]) -> subprocess.Popen:
    args = ["text", PROMPT, "--out", str(out), "--steps", str(STEPS), "--no-export", "--quiet"]
    extra = ["--resume"] if resume else ["--checkpoint-every", str(CHECKPOINT_EVERY), "--refine", "off"]
    command = [sys.executable, "-m", "dreamlift.cli", *args, *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def checkpoint_steps(out: Path) -> list[int]:
    return sorted(int(p.stem.split("-")[1]) for p in (out / "checkpoints").glob("step-*.json")) if (out / "checkpoints").is_dir() else []


def resumed_at(stderr: str) -> int | None:
    """The step a process said it resumed at (``resuming DIR at step N``), if any."""
    found = re.search(r"resuming .* at step (\d+)", stderr)
    return int(found.group(1)) if found else None


def kill_after_a_new_checkpoint(out: Path, rng: random.Random, env: dict[str, str], timeout: float = 120.0) -> tuple[int, float]:
    """Start (or resume) the run, wait for a checkpoint newer than any before, then SIGKILL it after a random delay.

    Returns the newest checkpoint before the start and the delay; checks that a resumed
    process said it continued from exactly that checkpoint.
    """
    before = max(checkpoint_steps(out), default=-1)
    process = start(out, resume=(out / "config.json").exists(), env=env)
    deadline = time.monotonic() + timeout
    try:
        while max(checkpoint_steps(out), default=-1) <= before:
            assert process.poll() is None, f"the run ended before it was killed: {process.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline, "no new checkpoint in time"
            time.sleep(0.01)
        delay = rng.uniform(0.0, 0.2)
        time.sleep(delay)
        assert process.poll() is None, f"the run ended before it was killed (delay {delay:.3f} s)"
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert resumed_at(stderr) == (before if before >= 0 else None), (before, stderr[-1000:])
    return before, delay


def log_without_timings(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.fixture(scope="module")
def warm_cache():
    """Build the toy prior's memorised renders once (in this session's private cache) before timing-sensitive runs."""
    from dreamlift.guidance.toy import ToyPrior, ToyPriorConfig
    from dreamlift.toyworld import parse_caption

    ToyPrior(parse_caption(PROMPT), ToyPriorConfig())


def test_sigkill_at_random_moments_then_resume_ends_bit_for_bit_like_an_uninterrupted_run(tmp_path, warm_cache, child_env):
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    whole, killed = tmp_path / "whole", tmp_path / "killed"

    reference = start(whole, resume=False, env=child_env)  # runs alongside the killed one (one thread each)
    try:
        moments = [kill_after_a_new_checkpoint(killed, rng, child_env) for _ in range(KILLS)]
        last = max(checkpoint_steps(killed))
        finish = start(killed, resume=True, env=child_env)
        _, finish_err = finish.communicate(timeout=300)
        _, reference_err = reference.communicate(timeout=300)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    context = f"seed {seed}, kills after checkpoints/delays {moments}"
    assert reference.returncode == 0, reference_err[-2000:]
    assert finish.returncode == 0, (context, finish_err[-2000:])
    assert resumed_at(finish_err) == last, (context, finish_err[-1000:])
    a, _ = load_latest_checkpoint(whole / "checkpoints")
    b, skipped = load_latest_checkpoint(killed / "checkpoints")
    assert not skipped, skipped
    assert a.step == b.step == STEPS
    assert a.tensors.keys() == b.tensors.keys()
    different = [key for key in a.tensors if not torch.equal(a.tensors[key], b.tensors[key])]
    assert not different, (context, different)
    assert {k: v for k, v in a.meta.items() if k not in ("sha256",)} == {k: v for k, v in b.meta.items() if k not in ("sha256",)}
    assert a.meta["sha256"] == b.meta["sha256"]  # the tensor files are identical byte for byte
    assert log_without_timings(whole) == log_without_timings(killed), context
    # nothing half-written is left behind, in any folder of the run
    assert not [p for p in killed.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".write-test-")]


def test_resume_tidies_what_a_killed_process_leaves_and_a_run_killed_before_its_first_checkpoint_restarts(cli, tmp_path):
    """Deterministic versions of two kill moments: mid-write (temp files, a tensor file without
    its record) and before the first checkpoint (config.json only): --resume cleans up, or starts
    over, and ends exactly like the run left alone."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert cli("text", PROMPT, "--out", whole, "--steps", "4", "--no-export", "--quiet", "--refine", "off").code == 0
    killed.mkdir()
    shutil.copy(whole / "config.json", killed / "config.json")  # what a kill right after the start leaves
    (killed / "log.jsonl").write_text('{"step": 2, "loss": 0.5}\n{"step": 3, "lo')  # with a torn last line
    (killed / "checkpoints").mkdir()
    (killed / "previews").mkdir()
    leftovers = [
        killed / ".config.json.k2j3.tmp",
        killed / ".write-test-abc123",
        killed / "checkpoints" / ".step-000002.safetensors.x1y2.tmp",
        killed / "checkpoints" / "step-000002.safetensors",  # renamed, but its JSON record never written
        killed / "previews" / ".step-000002.png.q9.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"half")
    outcome = cli("text", PROMPT, "--out", killed, "--steps", "4", "--no-export", "--quiet", "--resume")
    assert outcome.code == 0, outcome.stderr
    assert not [p for p in leftovers if p.exists()]
    a, _ = load_latest_checkpoint(whole / "checkpoints")
    b, _ = load_latest_checkpoint(killed / "checkpoints")
    assert a.step == b.step == 4
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert log_without_timings(whole) == log_without_timings(killed)
