"""A stopped or killed training resumes to the same weights, bit for bit, and the same log, as one never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from _helpers import process_env
from dreamlift.learned.train import Trainer, TrainingInterrupted, read_config, start_folder

from .conftest import UNET_STEPS, VAE_STEPS, tiny_args, tiny_config

PARTS = ("unet", "vae", "text_encoder")


def model_weights(out: Path) -> dict[str, torch.Tensor]:
    weights = {}
    for part in PARTS:
        for key, value in load_file(str(out / "model" / part / "model.safetensors" if part == "text_encoder" else out / "model" / part / "diffusion_pytorch_model.safetensors")).items():
            weights[f"{part}.{key}"] = value
    return weights


def assert_identical(out: Path, reference: Path) -> None:
    ours, theirs = model_weights(out), model_weights(reference)
    assert ours.keys() == theirs.keys()
    different = [key for key in ours if not torch.equal(ours[key], theirs[key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[0]}"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (reference / "log.jsonl").read_text().splitlines()]
    assert [(e["phase"], e["step"], e["loss"]) for e in log] == [(e["phase"], e["step"], e["loss"]) for e in expected]


def test_stopped_twice_then_resumed_matches_an_uninterrupted_run(trained_text, tmp_path):
    out = tmp_path / "stopped"
    start_folder(out, tiny_config("text"))
    with pytest.raises(TrainingInterrupted):
        Trainer(read_config(out), out).run(stop_after=VAE_STEPS - 1)  # inside the VAE phase (not at a checkpoint step)
    checkpoint = json.loads((out / "checkpoints" / "latest.json").read_text())
    assert (checkpoint["phase"], checkpoint["step"]) == ("vae", VAE_STEPS - 1)
    with pytest.raises(TrainingInterrupted):
        Trainer(read_config(out), out).run(resume=True, stop_after=4)  # across the phase boundary, into the UNet's
    checkpoint = json.loads((out / "checkpoints" / "latest.json").read_text())
    assert (checkpoint["phase"], checkpoint["step"]) == ("unet", 3)
    assert not (out / "model").exists()
    Trainer(read_config(out), out).run(resume=True)
    assert_identical(out, trained_text.out)
    assert len(list((out / "checkpoints").glob("state-*.safetensors"))) == 1


def signal_in_the_unet_phase(out: Path, sign: int, *extra) -> subprocess.Popen:
    """Start a tiny text training in a process, send it ``sign`` once its UNet phase is 3 steps in, wait for it."""
    args = [str(a) for a in tiny_args("text", out, *extra, "--quiet")]
    process = subprocess.Popen([sys.executable, "-m", "dreamlift.cli", *args], env=process_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log, deadline = out / "log.jsonl", time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            lines = log.read_text().splitlines() if log.is_file() else []
            if sum('"unet"' in line for line in lines) >= 3:
                break
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        os.kill(process.pid, sign)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process


def test_sigkilled_process_resumes_to_the_same_weights(trained_text, tmp_path, cli):
    out = tmp_path / "killed"
    signal_in_the_unet_phase(out, signal.SIGKILL, "--checkpoint-every", 1)
    assert not (out / "model").exists()
    checkpoint = json.loads((out / "checkpoints" / "latest.json").read_text())
    assert checkpoint["phase"] == "unet" and 2 <= checkpoint["step"] < UNET_STEPS  # killed in the middle of the UNet phase
    outcome = cli("train-prior", "text", "--out", out, "--resume", "--checkpoint-every", 100, "--quiet")
    assert outcome.code == 0, outcome.stderr[-2000:]
    assert_identical(out, trained_text.out)


def test_ctrl_c_checkpoints_the_step_it_stopped_at_and_exits_130(trained_text, tmp_path, cli):
    out = tmp_path / "interrupted"
    process = signal_in_the_unet_phase(out, signal.SIGINT, "--checkpoint-every", 100)
    assert process.returncode == 130, process.stderr.read().decode()[-2000:]
    assert process.stderr.read().decode().strip().splitlines()[-1] == "interrupted"
    checkpoint = json.loads((out / "checkpoints" / "latest.json").read_text())
    logged = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert checkpoint["phase"] == logged["phase"] == "unet" and checkpoint["step"] == logged["step"] >= 3  # not a multiple of 100
    assert cli("train-prior", "text", "--out", out, "--resume", "--quiet").code == 0
    assert_identical(out, trained_text.out)


def test_a_training_stopped_before_its_first_checkpoint_resumes_from_the_start(trained_text, tmp_path):
    out = tmp_path / "early"
    start_folder(out, tiny_config("text"))
    (out / "log.jsonl").write_text('{"phase": "vae", "step": 1, "loss": 9.0, "seconds": 0.1}\n{"phase": "va')  # no checkpoint yet, a torn line
    Trainer(read_config(out), out).run(resume=True)
    assert_identical(out, trained_text.out)
