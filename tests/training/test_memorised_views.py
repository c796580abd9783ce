"""``views=memorised``: stage 1 renders from a memory prior's memorised views, each with its render's light;
``views=random`` (and any prior without memorised views) draws cameras in their ranges and jittered lights."""

from __future__ import annotations

import pytest
import torch

from dreamlift.errors import DreamliftError
from dreamlift.guidance.priors import ToyPriorConfig
from dreamlift.guidance.toy import ToyPrior
from dreamlift.presets import preset_config
from dreamlift.rendering.settings import CameraRanges
from dreamlift.toyworld import parse_caption
from dreamlift.training.config import TrainConfig
from dreamlift.distillation.sampling import draw_views
from dreamlift.training.trainer import Trainer

SMALL = ToyPriorConfig(renders_per_object=48, resolution=32)


def _rows(drawn, memorised):
    key = lambda c: [(round(float(e), 4), round(float(a), 4), round(float(r), 4)) for e, a, r in zip(c.elevation, c.azimuth, c.radius)]  # noqa: E731
    row_of = {k: i for i, k in enumerate(key(memorised.cameras))}
    return torch.tensor([row_of[k] for k in key(drawn)])


def test_memorised_views_come_with_the_lights_of_their_renders_and_random_ones_with_none():
    memorised = ToyPrior(parse_caption("a red cube"), SMALL).memorised_views()
    cameras, lights = draw_views(memorised, CameraRanges(), 64, torch.Generator().manual_seed(0))
    rows = _rows(cameras, memorised)  # every drawn camera is a memorised one (KeyError otherwise)
    assert len(set(rows.tolist())) > 20
    torch.testing.assert_close(lights.direction, memorised.lights.direction[rows])
    torch.testing.assert_close(lights.ambient, memorised.lights.ambient[rows])
    cameras, lights = draw_views(None, CameraRanges(), 64, torch.Generator().manual_seed(0))
    assert lights is None
    with pytest.raises(KeyError):
        _rows(cameras, memorised)


class Recording(Trainer):
    """A trainer that records the cameras and lights of each training render."""

    seen: list

    def render_training_view(self, cameras, shading, lights=None):
        self.seen.append((cameras, lights))
        return super().render_training_view(cameras, shading, lights)


def _config(views: str) -> TrainConfig:
    config = preset_config("toy")
    config.prompt, config.prior, config.steps, config.views, config.device = "a red cube", SMALL, 3, views, "cpu"
    config.export_mesh = config.export_video = False
    config.refine.enabled = False
    return config


def test_stage_one_renders_each_step_from_a_memorised_view_with_its_light(tmp_path):
    config = _config("memorised")
    config.validate()
    guidance = config.prior.setup(config_inputs(config))
    trainer = Recording(config, tmp_path / "run", guidance, show_progress=False)
    trainer.seen = []
    trainer.run()
    memorised = guidance.memorised_views()
    assert len(trainer.seen) == 3
    for cameras, lights in trainer.seen:
        rows = _rows(cameras, memorised)
        torch.testing.assert_close(lights.direction, memorised.lights.direction[rows])


def test_with_random_views_stage_one_draws_its_own_cameras_and_lights(tmp_path):
    config = _config("random")
    guidance = config.prior.setup(config_inputs(config))
    trainer = Recording(config, tmp_path / "run", guidance, show_progress=False)
    trainer.seen = []
    trainer.run()
    assert [lights for _, lights in trainer.seen] == [None, None, None]  # drawn inside the render, from the shading settings
    with pytest.raises(KeyError):
        _rows(trainer.seen[0][0], guidance.memorised_views())


def test_the_views_setting_takes_only_its_two_values():
    config = _config("sideways")
    with pytest.raises(DreamliftError, match="views is 'sideways': use one of random, memorised"):
        config.validate()


def config_inputs(config):
    from dreamlift.guidance.base import GuidanceInputs

    return GuidanceInputs(prompt=config.prompt, device=torch.device("cpu"))
