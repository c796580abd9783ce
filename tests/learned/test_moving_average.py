"""The model a training writes holds the moving average of its UNet phase's weights, and that average resumes exactly.

The average follows diffusers' ``EMAModel``: ``e_1 = w_1`` and ``e_n = e_(n-1) - (1 - d_n) (e_(n-1) - w_n)`` with
``d_n = min(ema_decay, n / (9 + n))``, where ``w_n`` are the weights after the n-th step of the UNet phase. The test
computes it by hand from the weights after each step.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from dreamlift.errors import DreamliftError
from dreamlift.learned.train import Trainer, TrainingInterrupted, read_config, start_folder

from .conftest import tiny_config

STEPS = 12
MOVING = dict(steps=STEPS, ema_decay=0.5, learning_rate=1e-2, warmup_steps=1)
"""A rate at which each step moves the weights far more than the tolerance of the by-hand comparison."""


class RecordingTrainer(Trainer):
    """A trainer that keeps a copy of the UNet's weights after every UNet step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.after_steps: list[dict[str, torch.Tensor]] = []

    def _text_step(self, step, optimizer):
        loss = super()._text_step(step, optimizer)
        self.after_steps.append({k: v.detach().clone() for k, v in self.components.unet.state_dict().items()})
        return loss


def by_hand(after_steps: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    average = {k: v.clone() for k, v in after_steps[0].items()}
    for n, weights in enumerate(after_steps[1:], start=2):
        d = min(decay, n / (9 + n))
        for key, value in weights.items():
            average[key] -= (1 - d) * (average[key] - value)
    return average


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("ema") / "text"
    config = tiny_config("text", **MOVING)
    start_folder(out, config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = RecordingTrainer(config, out)
        trainer.run()
    finally:
        torch.set_num_threads(threads)
    return out, trainer


def test_the_written_model_holds_the_moving_average_of_the_steps_weights(recorded):
    out, trainer = recorded
    assert len(trainer.after_steps) == STEPS
    written = load_file(str(out / "model" / "unet" / "diffusion_pytorch_model.safetensors"))
    expected = by_hand(trainer.after_steps, 0.5)
    assert largest_difference(written, expected) < 1e-6
    # the average is not the last step's weights: the test can tell the two apart
    assert largest_difference(written, trainer.after_steps[-1]) > 1e-3


def test_without_the_average_the_model_is_the_last_steps_weights(tmp_path):
    out = tmp_path / "plain"
    config = tiny_config("text", steps=4, ema_decay=0.0)
    start_folder(out, config)
    trainer = RecordingTrainer(config, out)
    trainer.run()
    written = load_file(str(out / "model" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert largest_difference(written, trainer.after_steps[-1]) == 0.0


def test_a_checkpoint_without_an_average_resumes_with_the_average_starting_at_its_step(recorded, tmp_path):
    out = tmp_path / "older"
    start_folder(out, tiny_config("text", **MOVING))
    with pytest.raises(TrainingInterrupted):
        Trainer(read_config(out), out).run(stop_after=4 + 5)  # 4 VAE steps, then 5 UNet steps
    latest = json.loads((out / "checkpoints" / "latest.json").read_text())
    assert (latest["phase"], latest["step"], latest["ema_step"]) == ("unet", 5, 5)
    weights = out / "checkpoints" / latest["weights"]
    tensors = load_file(str(weights))
    save_file({k: v for k, v in tensors.items() if not k.startswith("ema.")}, str(weights))  # as an older version wrote it
    del latest["ema_step"]
    (out / "checkpoints" / "latest.json").write_text(json.dumps(latest))
    messages = []
    trainer = RecordingTrainer(read_config(out), out, progress=messages.append)
    trainer.run(resume=True)
    assert any("holds no moving average" in m for m in messages)
    _, reference_run = recorded
    assert largest_difference(trainer.after_steps[-1], reference_run.after_steps[-1]) == 0.0  # steps 6..12 as uninterrupted
    written = load_file(str(out / "model" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert largest_difference(written, by_hand(trainer.after_steps, 0.5)) < 1e-6  # the average of steps 6..12 only
    assert largest_difference(written, by_hand(reference_run.after_steps, 0.5)) > 1e-6


def test_a_moving_average_that_does_not_fit_is_a_one_line_error(tmp_path):
    out = tmp_path / "bad"
    start_folder(out, tiny_config("text", **MOVING))
    with pytest.raises(TrainingInterrupted):
        Trainer(read_config(out), out).run(stop_after=4 + 2)
    latest = json.loads((out / "checkpoints" / "latest.json").read_text())
    weights = out / "checkpoints" / latest["weights"]
    tensors = load_file(str(weights))
    tensors["ema.0"] = torch.zeros(3)
    save_file(tensors, str(weights))
    with pytest.raises(DreamliftError, match="moving average does not fit"):
        Trainer(read_config(out), out).run(resume=True)


@pytest.mark.parametrize("decay", [-0.1, 1.0, float("nan")])
def test_a_decay_outside_zero_to_one_is_refused(decay):
    with pytest.raises(DreamliftError, match="ema_decay must be in"):
        tiny_config("text", ema_decay=decay).validate()
