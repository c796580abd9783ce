"""dreamlift: text or one image to a 3D asset by score distillation, on any machine.

The public API (imported on first use, so ``import dreamlift`` and the command line's
argument checks stay fast)::

    from dreamlift import Run, make_run, resolve_config            # the pipeline (dreamlift.pipeline)
    from dreamlift import TrainConfig, Trainer, Guidance, GuidanceInputs
    from dreamlift import ToyPriorConfig, StableDiffusionConfig, DeepFloydIFConfig, ToyViewPriorConfig, Zero123Config
    from dreamlift import PRESETS, preset_config

A run: ``config = resolve_config("text", settings=["prompt=a red cube"])``, then
``make_run(config, folder)`` makes it, both stages and the assets, and ``Run.open(folder)``
reads it back (its final asset: ``Run.open(folder).asset()``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from dreamlift.errors import DreamliftError  # noqa: E402

_EXPORTS = {
    "TrainConfig": "dreamlift.training.config",
    "Trainer": "dreamlift.training.trainer",
    "Run": "dreamlift.pipeline.run",
    "make_run": "dreamlift.pipeline.stages",
    "resolve_config": "dreamlift.pipeline.settings",
    "Guidance": "dreamlift.guidance.base",
    "GuidanceInputs": "dreamlift.guidance.base",
    "PriorConfig": "dreamlift.guidance.priors",
    "ToyPriorConfig": "dreamlift.guidance.priors",
    "ToyViewPriorConfig": "dreamlift.guidance.priors",
    "StableDiffusionConfig": "dreamlift.guidance.priors",
    "DeepFloydIFConfig": "dreamlift.guidance.priors",
    "Zero123Config": "dreamlift.guidance.priors",
    "PRESETS": "dreamlift.presets",
    "preset_config": "dreamlift.presets",
}

__all__ = ["DreamliftError", "__version__", *_EXPORTS]

if TYPE_CHECKING:  # for type checkers and go-to-definition
    from dreamlift.guidance.base import Guidance, GuidanceInputs
    from dreamlift.guidance.priors import DeepFloydIFConfig, PriorConfig, StableDiffusionConfig, ToyPriorConfig, ToyViewPriorConfig, Zero123Config
    from dreamlift.presets import PRESETS, preset_config
    from dreamlift.training.config import TrainConfig
    from dreamlift.pipeline.run import Run
    from dreamlift.pipeline.settings import resolve_config
    from dreamlift.pipeline.stages import make_run
    from dreamlift.training.trainer import Trainer


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dreamlift' has no attribute {name!r}")
