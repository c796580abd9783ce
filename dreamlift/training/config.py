"""Settings of a distillation run: one dataclass tree, written whole into ``config.json``.

Every field has a docstring; presets live in :mod:`dreamlift.training.presets`.
``to_dict``/``from_dict`` turn the tree into JSON and back (enums as their values,
tuples as lists), so a run folder records exactly what ran.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import TimestepSchedule, Weighting
from dreamlift.guidance.deepfloyd_if import DeepFloydIFConfig
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig
from dreamlift.guidance.toy import ToyPriorConfig
from dreamlift.rendering.cameras import CameraRanges
from dreamlift.rendering.occupancy import OccupancyConfig
from dreamlift.rendering.renderer import RenderConfig
from dreamlift.scene.background import BackgroundKind
from dreamlift.scene.field import FieldConfig
from dreamlift.training.reference import ImageSettings
from dreamlift.training.seed import check_seed


@dataclass
class Ramp:
    """A value that moves linearly from ``start`` (at ``start_step``) to ``end`` (at ``end_step``)."""

    start_step: int = 0
    start: float = 0.0
    end_step: int = 0
    end: float = 0.0

    def at(self, step: int) -> float:
        if step <= self.start_step:
            return self.start
        if step >= self.end_step:
            return self.end
        fraction = (step - self.start_step) / (self.end_step - self.start_step)
        return self.start + (self.end - self.start) * fraction


@dataclass
class LossWeights:
    """Weights of the regularisers added to the SDS loss (DreamFusion §3, threestudio)."""

    orientation: Ramp = field(default_factory=lambda: Ramp(0, 0.0, 0, 0.0))
    """Orientation penalty: normals facing away from the camera, weighted by the render weights."""
    opacity: float = 0.0
    """Sparsity: mean rendered opacity (pushes empty space to stay empty)."""
    entropy: Ramp = field(default_factory=lambda: Ramp(0, 0.0, 0, 0.0))
    """Binary entropy of the rendered opacity, summed over pixels (pushes it to 0 or 1: crisp silhouettes)."""


@dataclass
class ShadingSchedule:
    """Which shading each training render gets."""

    albedo_warmup_steps: int = 0
    """Steps at the start rendered with albedo only (DreamFusion's warm-up)."""
    lambertian_probability: float = 1.0
    """After warm-up: probability of Lambertian shading; the rest is split by ``textureless_share``."""
    textureless_share: float = 0.0
    """Of the non-Lambertian renders, the share rendered textureless (the rest albedo)."""
    light_jitter: float = 30.0
    """Largest angle in degrees between the head light and the camera direction."""
    ambient: tuple[float, float] = (0.3, 0.5)
    """Range of the ambient term of Lambertian shading."""


@dataclass
class TrainConfig:
    """Everything a text-to-3D run needs; written to ``config.json``."""

    prompt: str = ""
    """The text prompt."""
    prior: str = "toy"
    """Guidance: ``toy`` (bundled, CPU), ``stable-diffusion``, ``deepfloyd-if``, or a path to a diffusers folder."""
    model: str | None = None
    """Model folder, single file or hub id for the real priors."""
    steps: int = 1200
    """Training steps."""
    seed: int = 0
    """Seed of every random draw of the run (a CPU run repeats exactly)."""
    size: int = 32
    """Render size during training (square)."""
    batch_size: int = 1
    """Cameras per step."""
    learning_rate: float = 0.03
    """Adam learning rate of the field's encoding."""
    mlp_learning_rate: float = 0.003
    """Adam learning rate of the field's MLP and background."""
    cameras: CameraRanges = field(default_factory=CameraRanges)
    """Random training cameras."""
    nerf: FieldConfig = field(default_factory=FieldConfig)
    """The NeRF field."""
    render: RenderConfig = field(default_factory=RenderConfig)
    """The volume renderer."""
    occupancy: OccupancyConfig = field(default_factory=OccupancyConfig)
    """Empty-space skipping."""
    background: BackgroundKind = BackgroundKind.FIXED
    """Background behind the scene (white when fixed)."""
    shading: ShadingSchedule = field(default_factory=ShadingSchedule)
    """Shading of training renders."""
    timesteps: TimestepSchedule = field(default_factory=lambda: TimestepSchedule(0.02, 0.98, 0.3, 1.0))
    """Diffusion timestep range and its annealing."""
    weighting: Weighting = Weighting.SDS
    """The SDS weighting w(t)."""
    losses: LossWeights = field(default_factory=LossWeights)
    """Regularisers."""
    toy: ToyPriorConfig = field(default_factory=ToyPriorConfig)
    """The bundled toy prior."""
    checkpoint_every: int = 200
    """Steps between checkpoints (also written at the end and on Ctrl-C)."""
    preview_every: int = 300
    """Steps between preview images."""
    log_every: int = 10
    """Steps between lines of log.jsonl."""
    export_mesh: bool = True
    """Write mesh.glb at the end of the run."""
    export_video: bool = True
    """Write turntable.mp4 at the end of the run."""
    device: str = "auto"
    """Where the NeRF trains: ``cpu``, ``cuda``, or ``auto`` (CUDA for real priors when there is a GPU, else the CPU)."""
    max_bad_steps: int = 5
    """Consecutive non-finite steps before rolling back to the last checkpoint."""
    stable_diffusion: StableDiffusionConfig | None = None
    """Stable Diffusion settings (``--prior stable-diffusion`` only)."""
    deepfloyd_if: DeepFloydIFConfig | None = None
    """DeepFloyd IF settings (``--prior deepfloyd-if`` only)."""
    image: ImageSettings | None = None
    """Image runs only: the input views, reference-view losses and image priors (None for text runs)."""

    def validate(self) -> None:
        """Raise a one-line :class:`DreamliftError` for settings that cannot run."""
        if self.steps <= 0:
            raise DreamliftError(f"--steps must be a positive number of training steps, got {self.steps}")
        if self.size < 8 or self.size > 1024:
            raise DreamliftError(f"render size {self.size} is not allowed: use 8 to 1024 pixels")
        if self.prior == "toy" and self.size != self.toy.resolution:
            raise DreamliftError(f"the toy prior takes {self.toy.resolution}x{self.toy.resolution} renders: leave --size at {self.toy.resolution}")
        if self.batch_size < 1:
            raise DreamliftError("batch size must be at least 1")
        if not (self.learning_rate > 0 and self.mlp_learning_rate > 0):
            raise DreamliftError("learning rates must be positive")
        if self.render.samples_per_ray < 2:
            raise DreamliftError("samples per ray must be at least 2")
        check_seed(self.seed)
        self.cameras.validate()
        self.timesteps.validate()


def to_dict(obj: Any) -> Any:
    """A dataclass tree as JSON-ready data."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Inverse of :func:`to_dict` for dataclass ``cls``; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise DreamliftError(f"unknown settings {sorted(unknown)} for {cls.__name__}")
    values = {}
    for name, value in data.items():
        values[name] = _convert(hints[name], value)
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        return None if value is None else _convert(options[0], value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value
