"""Build the guidance a run asks for, from its settings (explicit imports, no registry).

``toy`` is the bundled exact prior of the toy world; the real priors are imported
only when asked for, so their heavy dependencies stay optional.
"""

from __future__ import annotations

import dataclasses

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


def recognise_toy_views(config: TrainConfig, views: list) -> tuple[list, list]:
    """The toy view prior's candidates for ``views`` (as the loader frames them), and the views in the toy world's framing.

    The second list is what an image run with the toy prior fits its input views to
    (see :mod:`dreamlift.guidance.toy_view`).
    """
    from dreamlift.guidance.toy_view import identify, native_views

    settings = config.image
    found = identify(views, settings.toy_view, settings.border_ratio)
    return found.candidates, native_views(views, found.best_renders, settings.border_ratio)


def make_image_guidance(config: TrainConfig, references: list, candidates: list | None = None, device=None) -> Guidance:
    """The prior of an image run given its input views (``ViewInput`` s, as the reference losses fit them).

    ``toy``: the toy view prior of ``candidates`` (from :func:`recognise_toy_views`,
    or a resumed run's saved ones) with ``references`` in the toy world's framing.
    ``zero123``: Zero-1-to-3 from ``config.model``, conditioned on the first view
    (a view table's further views are used by the reference losses only).
    """
    settings = config.image
    if settings is None:
        raise DreamliftError("an image run needs image settings")
    if config.prior == "toy":
        from dreamlift.guidance.toy_view import ToyViewPrior

        if not candidates:
            raise ValueError("the toy view prior needs its candidates: call recognise_toy_views first")
        return ToyViewPrior(candidates, references, config.toy, settings.toy_view, config.timesteps, config.weighting)
    if config.prior == "zero123":
        from dreamlift.guidance.zero123 import build_zero123_guidance
        from dreamlift.training.trainer import resolve_device

        zero123 = dataclasses.replace(settings.zero123, model=config.model or settings.zero123.model, weighting=config.weighting)
        device = device or resolve_device(config)
        return build_zero123_guidance(references[0].image, references[0].camera, zero123, config.timesteps, device)
    raise DreamliftError(f"unknown image prior {config.prior!r}: choose one of {', '.join(IMAGE_PRIORS)}, or give a model folder")
