"""Shared set-up of the image-run tests: the toy image preset made small, so runs take seconds."""

from dataclasses import replace

import pytest

from dreamlift import presets
from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.toy import ToyPriorConfig
from dreamlift.guidance.toy_view import ToyViewPriorConfig


@pytest.fixture
def small_toy_preset(monkeypatch):
    """The toy image preset with a small memory, a coarse turn search and a small toy text prior, no refinement unless
    asked (--refine on); logs every step."""
    original = presets.toy_image

    def small():
        config = original()
        config.prior = ToyViewPriorConfig(renders_per_object=64, elevation_window=None, coarse_turn_step=30.0, refine_factor=3, max_colours=1)
        config.image.text.prior = ToyPriorConfig(renders_per_object=64, timesteps=TimestepSchedule())
        config.checkpoint_every = 2
        config.log_every = 1
        config.refine.enabled = False  # the preset refines; tests that are about refinement say --refine on
        return config

    monkeypatch.setattr(presets, "PRESETS", tuple(replace(p, build=small) if p.name == "toy-image" else p for p in presets.PRESETS))
