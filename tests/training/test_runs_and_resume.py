"""Training runs: exact resume, determinism, fault handling, checkpoints."""

import json

import pytest
from _helpers import StopAt
import torch

from dreamlift.guidance.base import GuidanceInputs
from dreamlift.guidance.toy import ToyPriorConfig
from dreamlift.distillation.checkpoint import load_latest_checkpoint
from dreamlift.presets import toy_text
from dreamlift.training.trainer import RunInterrupted, Trainer


def small_config(steps=24, **changes):
    config = toy_text()
    config.prompt = "a red cube"
    config.steps = steps
    config.checkpoint_every = 8
    config.preview_every = 0
    config.log_every = 4
    config.prior = ToyPriorConfig(renders_per_object=256)
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def make_trainer(config, folder, hooks=None):
    return Trainer(config, folder, config.prior.setup(GuidanceInputs(prompt=config.prompt)), hooks=hooks, show_progress=False)


def final_tensors(folder):
    checkpoint, _ = load_latest_checkpoint(folder / "checkpoints")
    return checkpoint


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    config = small_config(steps=24)
    make_trainer(config, tmp_path / "whole").run()

    # the same run stopped by SIGTERM at step 13 (checkpoint saved at 13), then resumed by a new trainer
    with pytest.raises(RunInterrupted, match="--resume"):
        make_trainer(config, tmp_path / "split", hooks=[StopAt(13)]).run()
    assert final_tensors(tmp_path / "split").step == 13
    resumed = make_trainer(config, tmp_path / "split")
    resumed.run(resume=True)

    whole, split = final_tensors(tmp_path / "whole"), final_tensors(tmp_path / "split")
    assert whole.step == split.step == 24
    assert whole.tensors.keys() == split.tensors.keys()
    for key in whole.tensors:
        assert torch.equal(whole.tensors[key], split.tensors[key]), key
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [4, 8, 12, 16, 20, 24]



def test_same_seed_repeats_and_another_seed_differs(tmp_path):
    make_trainer(small_config(steps=8), tmp_path / "a").run()
    make_trainer(small_config(steps=8), tmp_path / "b").run()
    make_trainer(small_config(steps=8, seed=1), tmp_path / "c").run()
    a, b, c = (final_tensors(tmp_path / n).tensors["field.mlp.0.weight"] for n in "abc")
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_a_corrupt_checkpoint_falls_back_to_the_previous_good_one(tmp_path):
    make_trainer(small_config(steps=16), tmp_path).run()
    newest = sorted((tmp_path / "checkpoints").glob("step-*.safetensors"))[-1]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    checkpoint, skipped = load_latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint.step == 8
    assert skipped and "checksum" in skipped[0]


class InjectNaN:
    """A hook that poisons the loss at chosen steps."""

    def __init__(self, steps):
        self.steps = set(steps)
        self.hits = 0

    def losses(self, step, trainer):
        if step in self.steps:  # once per step: a transient fault
            self.steps.discard(step)
            self.hits += 1
            return {"poison": torch.tensor(float("nan"))}
        return {}


def test_a_nan_step_is_skipped_and_the_run_finishes(tmp_path):
    hook = InjectNaN({5})
    trainer = make_trainer(small_config(steps=16), tmp_path, hooks=[hook])
    summary = trainer.run()
    assert hook.hits == 1 and summary["skipped_steps"] == 1 and summary["step"] == 16
    assert all(torch.isfinite(p).all() for p in trainer.field.parameters())
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert any(row.get("event") == "skipped non-finite step" for row in events)


def test_repeated_nan_steps_roll_back_with_a_lower_learning_rate(tmp_path):
    hook = InjectNaN(range(10, 10 + 5))  # max_bad_steps = 5 in a row, after the checkpoint at step 8
    config = small_config(steps=16)
    trainer = make_trainer(config, tmp_path, hooks=[hook])
    summary = trainer.run()
    assert summary["rollbacks"] == 1 and summary["step"] == 16
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(config.learning_rate * 0.5)
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert any(row.get("event") == "rolled back after non-finite steps" for row in events)


def test_toy_run_learns_the_cube_silhouette(tmp_path):
    """300 steps are enough for the cube's silhouette to beat the initial blob clearly."""
    from dreamlift.evaluation.scores import score_field
    from dreamlift.toyworld import parse_caption

    config = small_config(steps=300)
    config.checkpoint_every = 1000
    trainer = make_trainer(config, tmp_path)
    blob = score_field(trainer.field, parse_caption("a red cube"), search_turn=False)
    trainer.run()
    scores = score_field(trainer.field, parse_caption("a red cube"), occupancy=trainer.occupancy, search_turn=False)
    assert scores.silhouette_iou > 0.85 and scores.silhouette_iou > blob.silhouette_iou + 0.1
    assert scores.color_error < 0.1
