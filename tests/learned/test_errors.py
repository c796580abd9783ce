"""Bad input to ``dreamlift train-prior``: exit status 2, one line ``error: ...``, nothing written."""

from __future__ import annotations

import shutil

import torch

from _helpers import error_message
from dreamlift.learned.train import config_for

from .conftest import tiny_args


def test_usage_errors_are_one_line(cli, tmp_path):
    out = tmp_path / "new"
    cli("train-prior", "cube", "--out", out, unchanged=tmp_path).one_line_error("invalid choice: 'cube'")
    cli("train-prior", "text", "--out", out, "--steps", "0", unchanged=tmp_path).one_line_error("--steps", "positive")
    cli("train-prior", "text", "--out", out, "--seed", "-1", unchanged=tmp_path).one_line_error("--seed")
    cli("train-prior", "text", unchanged=tmp_path).one_line_error("--out")
    cli("train-prior", "text", "--out", out, "--ema-decay", "high", unchanged=tmp_path).one_line_error("--ema-decay")
    for decay in ("1", "-0.5", "nan"):
        cli("train-prior", "text", "--out", out, "--ema-decay", decay, unchanged=tmp_path).one_line_error("ema_decay must be in [0, 1)")
    (tmp_path / "file").write_text("x")
    cli(*tiny_args("text", tmp_path / "file"), unchanged=tmp_path).one_line_error("is a file")
    if not torch.cuda.is_available():
        cli(*tiny_args("text", out, "--device", "cuda"), unchanged=tmp_path).one_line_error("no CUDA GPU")


def test_a_finished_or_missing_training_is_not_overwritten_or_invented(cli, trained_text, tmp_path):
    folder = trained_text.out
    cli(*tiny_args("text", folder), unchanged=folder).one_line_error("already holds a training", "--resume")
    cli("train-prior", "view", "--out", folder, "--resume", unchanged=folder).one_line_error("holds a text training")
    cli("train-prior", "text", "--out", folder, "--resume", "--seed", "3", unchanged=folder).one_line_error("drop --seed")
    cli("train-prior", "text", "--out", tmp_path, "--resume", unchanged=tmp_path).one_line_error("no training to resume")


def test_a_training_folder_in_use_is_refused_and_left_alone(cli, trained_text, tmp_path):
    import os

    from dreamlift.pipeline.lock import RunLock

    copy = tmp_path / "copy"
    shutil.copytree(trained_text.out, copy)
    with RunLock(copy):  # as a training process holds it
        cli("train-prior", "text", "--out", copy, "--resume", "--steps", 50, unchanged=copy).one_line_error(f"in use by process {os.getpid()}")
    assert cli("train-prior", "text", "--out", copy, "--resume", "--quiet").code == 0  # free again once its holder is done


def test_a_damaged_checkpoint_is_one_line(cli, trained_text, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained_text.out, copy)
    (copy / "checkpoints" / "latest.json").write_text("{not json")
    cli("train-prior", "text", "--out", copy, "--resume").one_line_error("cannot be read", "new --out")
    (copy / "config.json").write_text('{"kind": "text", "steps": "many"}')
    cli("train-prior", "text", "--out", copy, "--resume", unchanged=copy).one_line_error("steps")


def test_bad_settings_in_the_library_are_one_line():
    error_message(lambda: config_for("text", "huge"), "unknown size 'huge'", "default or tiny")
    error_message(lambda: config_for("sound").validate(), "unknown prior kind 'sound'")
    error_message(lambda: config_for("text", condition_dropout=1.5).validate(), "condition_dropout")
