"""Render-size milestones (``size_milestones``, threestudio's ``resolution_milestones``): the training render
size and batch follow the step, a resumed run keeps them, and the settings are checked."""

from __future__ import annotations

import pytest
import torch.nn.functional as F

from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance, linear_alphas_cumprod
from dreamlift.guidance.priors import StableDiffusionConfig, Zero123Config
from dreamlift.guidance.settings import TimestepSchedule
from dreamlift.presets import preset_config, toy_text
from dreamlift.training.config import TrainConfig
from dreamlift.distillation.image_settings import ImageSettings
from dreamlift.training.trainer import RunInterrupted, Trainer
from test_runs_and_resume import StopAt  # SIGTERM at a chosen step, as kill would

MILESTONES = ((3, 24, 2), (5, 32, 1))


class RecordingGuidance(Guidance):
    """A stand-in real prior: renders resized to 16 px, the exact denoiser of x ~ N(0, I) (ε̂ = √(1 − ᾱ)·x_t);
    records the (B, H, W) of every render it is given."""

    def __init__(self):
        self.alphas_cumprod = linear_alphas_cumprod()
        self.schedule = TimestepSchedule()
        self.shapes: list[tuple[int, int, int]] = []

    def encode(self, images):
        self.shapes.append(tuple(images.shape[:3]))
        return F.interpolate(images.permute(0, 3, 1, 2) * 2 - 1, size=(16, 16), mode="bilinear", align_corners=False)

    def predict_noise(self, x_t, timesteps, cameras):
        return (1.0 - self.alphas_cumprod[timesteps]).sqrt().reshape(-1, 1, 1, 1) * x_t


def real_prior_config(steps=7, milestones=MILESTONES) -> TrainConfig:
    config = TrainConfig(prompt="a red cube", prior=StableDiffusionConfig(), steps=steps, size=16, batch_size=1, device="cpu")
    config.size_milestones = milestones
    config.checkpoint_every, config.preview_every, config.log_every = 2, 1000, 1
    config.render.samples_per_ray = 8
    config.export_mesh = config.export_video = False
    return config


def test_the_view_follows_the_last_milestone_reached():
    config = real_prior_config()
    views = [config.training_view_at(step) for step in range(8)]
    assert views == [(16, 1), (16, 1), (16, 1), (24, 2), (24, 2), (32, 1), (32, 1), (32, 1)]
    config.size_milestones = ()
    assert {config.training_view_at(step) for step in range(8)} == {(16, 1)}


def test_training_renders_change_size_at_the_milestones(tmp_path):
    config = real_prior_config()
    config.validate()
    guidance = RecordingGuidance()
    Trainer(config, tmp_path / "run", guidance, show_progress=False).run()
    assert guidance.shapes == [(1, 16, 16)] * 3 + [(2, 24, 24)] * 2 + [(1, 32, 32)] * 2


def test_a_resumed_run_renders_at_the_size_of_its_step(tmp_path):
    config = real_prior_config()
    whole = RecordingGuidance()
    Trainer(config, tmp_path / "whole", whole, show_progress=False).run()
    first = RecordingGuidance()
    with pytest.raises(RunInterrupted):
        Trainer(config, tmp_path / "split", first, hooks=[StopAt(4)], show_progress=False).run()
    second = RecordingGuidance()
    Trainer(config, tmp_path / "split", second, show_progress=False).run(resume=True)
    assert first.shapes == whole.shapes[:4]
    assert second.shapes == whole.shapes[4:] == [(2, 24, 24), (1, 32, 32), (1, 32, 32)]


@pytest.mark.parametrize(
    "milestones, words",
    [
        (((3, 24, 1), (3, 32, 1)), "positive and increasing"),
        (((0, 24, 1),), "positive and increasing"),
        (((5, 24, 1), (3, 32, 1)), "positive and increasing"),
        (((3, 4, 1),), "render size 4"),
        (((3, 2048, 1),), "render size 2048"),
        (((3, 24, 0),), "batch size must be at least 1"),
    ],
)
def test_bad_milestones_are_one_line_errors(milestones, words):
    with pytest.raises(DreamliftError, match=words):
        real_prior_config(milestones=milestones).validate()


def test_the_toy_prior_and_image_runs_refuse_milestones():
    toy = toy_text()
    toy.size_milestones = ((10, 64, 1),)
    with pytest.raises(DreamliftError, match="the toy prior takes 32-px renders only"):
        toy.validate()
    image = TrainConfig(prior=Zero123Config(model="x"), size=64, image=ImageSettings(), size_milestones=((10, 128, 1),))
    with pytest.raises(DreamliftError, match="for text runs"):
        image.validate()


@pytest.mark.parametrize("name", ["sd-dreamfusion", "sd-perp-neg", "if-dreamfusion", "if-perp-neg"])
def test_the_real_prior_presets_go_64_128_256_as_threestudio(name):
    config = preset_config(name)
    config.validate()
    assert config.size == 64 and config.batch_size == 1
    assert config.size_milestones == ((3333, 128, 1), (5000, 256, 1))
    assert [config.training_view_at(s)[0] for s in (0, 3332, 3333, 4999, 5000, config.steps - 1)] == [64, 64, 128, 128, 256, 256]


def test_the_toy_presets_have_none():
    assert preset_config("toy").size_milestones == () and preset_config("toy-image").size_milestones == ()


def test_milestones_are_a_setting(capsys):
    from dreamlift.cli import main

    assert main(["text", "a cube", "--prior", "stable-diffusion", "--set", "size_milestones=[[100, 128, 2]]", "--print-config"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["config"]["size_milestones"] == [[100, 128, 2]]
