"""Build the guidance a run asks for, from its settings (explicit imports, no registry).

``toy`` is the bundled exact prior of the toy world; the real priors are imported
only when asked for, so their heavy dependencies stay optional.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance
from dreamlift.training.config import TrainConfig

TEXT_PRIORS = ("toy", "stable-diffusion", "deepfloyd-if")
IMAGE_PRIORS = ("toy", "zero123")


def make_text_guidance(config: TrainConfig) -> Guidance:
    """The :class:`Guidance` for a text run (raises a one-line error for a bad prompt or prior)."""
    if config.prior == "toy":
        from dreamlift.guidance.toy import ToyPrior
        from dreamlift.toyworld import parse_caption

        return ToyPrior(parse_caption(config.prompt), config.toy, config.timesteps, config.weighting)
    if config.prior in ("stable-diffusion", "deepfloyd-if"):
        from dreamlift.guidance.real_presets import build_real_text_guidance

        from dreamlift.training.trainer import resolve_device

        return build_real_text_guidance(config, device=resolve_device(config))
    raise DreamliftError(f"unknown prior {config.prior!r}: choose one of {', '.join(TEXT_PRIORS)}")


@dataclass
class ImageGuidance:
    """What an image run is guided by."""

    guidance: Guidance
    """The view-conditioned prior."""
    references: list
    """The input views (:class:`~dreamlift.inputs.ViewInput`) the reference-view losses match."""
    candidates: list | None = None
    """The toy view prior's candidates (:class:`~dreamlift.guidance.toy_view.ViewCandidate`), else None."""


def make_image_guidance(config: TrainConfig, views: list, candidates: list | None = None, device=None) -> ImageGuidance:
    """The prior of an image run for ``views`` (``ViewInput`` s as the loader gives them).

    ``toy``: the toy objects are identified from the views and the views are put back
    into the toy world's framing; given ``candidates`` (a resumed run), no
    identification is done and ``views`` are taken as already in that framing.
    ``zero123``: Zero-1-to-3 from ``config.model`` conditioned on the first view
    (a view table's other views are used by the reference losses only).
    """
    settings = config.image
    if settings is None:
        raise DreamliftError("an image run needs image settings")
    if config.prior == "toy":
        from dreamlift.guidance.toy_view import ToyViewPrior, identify, native_views

        references = views
        if candidates is None:
            found = identify(views, settings.toy_view, settings.border_ratio)
            candidates, references = found.candidates, native_views(views, found.best_renders, settings.border_ratio)
        prior = ToyViewPrior(candidates, references, config.toy, settings.toy_view, config.timesteps, config.weighting)
        return ImageGuidance(prior, references, candidates)
    if config.prior == "zero123":
        import torch

        from dreamlift.guidance.zero123 import build_zero123_guidance

        zero123 = dataclasses.replace(settings.zero123, model=config.model or settings.zero123.model, weighting=config.weighting)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        guidance = build_zero123_guidance(views[0].image, views[0].camera, zero123, config.timesteps, device)
        return ImageGuidance(guidance, views, None)
    raise DreamliftError(f"unknown image prior {config.prior!r}: choose one of {', '.join(IMAGE_PRIORS)}, or give a model folder")
