"""Presets: the settings each prior trains best with, as Python objects in one place."""

from __future__ import annotations

from dreamlift.errors import DreamliftError
from dreamlift.guidance.toy import ToyPriorConfig
from dreamlift.training.config import LossWeights, Ramp, TrainConfig


def toy_text() -> TrainConfig:
    """The bundled toy prior on a CPU: 32x32 renders, about 1.5 minutes on 2 cores (see bench/text.py).

    The prior's memory is windowed in elevation as well as azimuth (±15°), so each
    training view is judged against renders from about the same height: without it a
    view from 20° may match a memorised view from −10°, and parts that only show from
    below (a mushroom's cap, a cone's base) never come out right.
    """
    return TrainConfig(
        prior="toy",
        steps=2400,
        size=32,
        learning_rate=0.03,
        mlp_learning_rate=0.003,
        losses=LossWeights(orientation=Ramp(0, 0.0, 0, 0.0), opacity=0.0, entropy=Ramp(0, 0.0, 0, 0.0)),
        toy=ToyPriorConfig(elevation_window=15.0),
    )


def preset_for_prior(prior: str) -> TrainConfig:
    """A fresh preset for ``prior`` (raises a one-line error for an unknown name)."""
    if prior == "toy":
        return toy_text()
    if prior in ("stable-diffusion", "deepfloyd-if"):
        from dreamlift.guidance.real_presets import PRIOR_FIELDS, preset_for

        preset = preset_for(prior)
        config = preset.train_config()
        setattr(config, PRIOR_FIELDS[prior], preset.prior_config())
        return config
    raise DreamliftError(f"unknown prior {prior!r}: choose toy, stable-diffusion or deepfloyd-if")
