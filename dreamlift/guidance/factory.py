"""Build the guidance a run asks for, from its settings (explicit imports, no registry).

``toy`` is the bundled exact prior of the toy world; the real priors are imported
only when asked for, so their heavy dependencies stay optional.
"""

from __future__ import annotations

from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance
from dreamlift.training.config import TrainConfig

TEXT_PRIORS = ("toy", "stable-diffusion", "deepfloyd-if")


def make_text_guidance(config: TrainConfig) -> Guidance:
    """The :class:`Guidance` for a text run (raises a one-line error for a bad prompt or prior)."""
    if config.prior == "toy":
        from dreamlift.guidance.toy import ToyPrior
        from dreamlift.toyworld import parse_caption

        return ToyPrior(parse_caption(config.prompt), config.toy, config.timesteps, config.weighting)
    raise DreamliftError(f"unknown prior {config.prior!r}: choose one of {', '.join(TEXT_PRIORS)}")
