"""The priors a run can choose, as one typed union of their configs.

Each config class lives next to the guidance it builds and has a fixed ``name``
(the ``prior.name`` of ``config.json`` and the ``--prior`` word) and a
``setup(GuidanceInputs) -> Guidance``. This module only lists the classes, so that a
config file's ``prior`` section can be read back as the right one; importing it
imports no diffusers code (the real priors import diffusers inside ``setup``).
"""

from __future__ import annotations

from typing import Union

from dreamlift.errors import DreamliftError
from dreamlift.guidance.deepfloyd_if import DeepFloydIFConfig
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig
from dreamlift.guidance.toy import ToyPriorConfig
from dreamlift.guidance.toy_view import ToyViewPriorConfig
from dreamlift.guidance.zero123 import Zero123Config

PriorConfig = Union[ToyPriorConfig, StableDiffusionConfig, DeepFloydIFConfig, ToyViewPriorConfig, Zero123Config]
"""Any prior's config: ``TrainConfig.prior``."""

PRIOR_CONFIGS: tuple[type, ...] = (ToyPriorConfig, StableDiffusionConfig, DeepFloydIFConfig, ToyViewPriorConfig, Zero123Config)
"""Every prior config class, text priors first."""


def prior_names(kind: str | None = None) -> list[str]:
    """The priors' names, of one kind (``"text"`` or ``"image"``) or all."""
    return [cls.name for cls in PRIOR_CONFIGS if kind is None or cls.kind == kind]


def prior_config_class(name: str, kind: str | None = None) -> type:
    """The config class whose ``name`` is ``name`` (one-line error listing the names otherwise)."""
    for cls in PRIOR_CONFIGS:
        if cls.name == name and (kind is None or cls.kind == kind):
            return cls
    choices = ", ".join(prior_names(kind))
    what = f"{kind} prior" if kind else "prior"
    raise DreamliftError(f"unknown {what} {name!r}: choose one of {choices}")


def prior_for_model_path(path: str) -> str:
    """Which text prior a local model is for (``--prior PATH``): an IFPipeline folder → ``deepfloyd-if``;
    a Stable Diffusion folder or a ``.safetensors`` checkpoint → ``stable-diffusion``."""
    import json
    from pathlib import Path

    location = Path(path).expanduser()
    if not location.exists():
        raise DreamliftError(
            f"unknown prior {path!r}: choose one of {', '.join(prior_names('text'))}, or give a model folder or .safetensors file"
        )
    if location.is_file() and location.suffix.lower() == ".safetensors":
        return StableDiffusionConfig.name
    index = location / "model_index.json"
    if not index.is_file():
        raise DreamliftError(f"{path} is neither a diffusers folder (with model_index.json) nor a .safetensors file: give a model folder or a prior name")
    try:
        record = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DreamliftError(f"{index} is unreadable ({error.__class__.__name__}): the model folder is damaged") from None
    if not isinstance(record, dict):
        raise DreamliftError(f"{index} is not a diffusers model index: the model folder is damaged")
    pipeline = record.get("_class_name", "?")
    if pipeline == "IFPipeline":
        return DeepFloydIFConfig.name
    if pipeline.startswith("StableDiffusion") and "XL" not in pipeline and "3" not in pipeline:
        return StableDiffusionConfig.name
    raise DreamliftError(f"{path} holds a {pipeline}; text runs take Stable Diffusion 1.x/2.x or DeepFloyd IF stage I")
