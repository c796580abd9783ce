"""Image runs: their settings, and the reference-view losses as a :class:`~dreamlift.training.trainer.TrainingHook`.

The input view is rendered from the input camera (elevation ``--elevation``,
azimuth 0, radius and fovy the prior's; or each camera of a view table) and matched
to the input image:

* RGB: mean squared error of the render composited on white against the image
  composited on white, ``(B, H, W, 3)``;
* mask: mean squared error (or binary cross-entropy) of the rendered opacity
  against the image's alpha;
* depth (only when a depth map is given): ``1 − Pearson correlation`` of the
  rendered depth (ray distance, divided by opacity) and the given depth on the
  pixels the mask covers: scale and offset free, so a monocular estimate works.
  Give depth, not disparity (larger = farther).

Rendering: the shading of ``ReferenceLoss.shading`` (Lambertian by default) with a
head light exactly at the input camera and ambient ``ReferenceLoss.ambient``, the
middle of TOYWORLD's range, over a white background. The field's albedo then stays
the object's colour, as the toy priors see it.

Alternation with distillation, as stable-dreamfusion does with
``known_view_interval``: the reference terms are added on every ``every``-th step
(``every = 1``: every step) with their weights; distillation runs on every step.
The views' weights (a view table's ``weight`` column) are normalised to sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.guidance.combined import TextGuidanceSettings
from dreamlift.rendering.cameras import TOY_CAMERA, OrbitCameras
from dreamlift.rendering.shading import ShadingMode, head_lights


class MaskLoss(str, Enum):
    """How rendered opacity is compared with the input's alpha."""

    MSE = "mse"
    BCE = "bce"


@dataclass
class ReferenceCamera:
    """One input view of an image run: its camera and the file in the run folder that holds its image."""

    elevation: float = 0.0
    """Degrees above the horizon (``--elevation``)."""
    azimuth: float = 0.0
    """Degrees; the single-image input camera is at 0 (the result's front faces the input camera)."""
    radius: float = TOY_CAMERA.radius
    """Camera distance, world units (the prior's: 3 for the toy world)."""
    fovy: float = TOY_CAMERA.fovy
    """Vertical field of view, degrees (the prior's: 40 for the toy world)."""
    weight: float = 1.0
    """Relative weight of this view in the reference losses (and the toy prior's likelihood)."""
    file: str = "input.png"
    """The processed image the view is fitted to, relative to the run folder (RGBA PNG)."""


@dataclass
class ReferenceLoss:
    """Weights and schedule of the reference-view losses (see the module docstring)."""

    rgb: float = 1000.0
    """Weight of the RGB mean squared error."""
    mask: float = 500.0
    """Weight of the mask loss."""
    depth: float = 10.0
    """Weight of ``1 − Pearson(depth)``; used only when a depth map is given."""
    mask_loss: MaskLoss = MaskLoss.MSE
    """Mean squared error or binary cross-entropy of opacity against alpha."""
    every: int = 1
    """The reference terms are added on steps that are multiples of this (1: every step)."""
    shading: ShadingMode = ShadingMode.LAMBERTIAN
    """Shading of the reference render."""
    ambient: float = 0.4
    """Ambient term of the head light of the reference render."""

    def validate(self) -> None:
        if self.every < 1:
            raise DreamliftError(f"reference loss: 'every' must be at least 1, got {self.every}")
        if min(self.rgb, self.mask, self.depth) < 0:
            raise DreamliftError("reference loss weights must be >= 0")
        if not 0.0 <= self.ambient <= 1.0:
            raise DreamliftError(f"reference loss: ambient must lie in [0, 1], got {self.ambient}")


@dataclass
class ImageSettings:
    """Everything an image run adds to :class:`~dreamlift.training.config.TrainConfig` (its prior is in ``prior``)."""

    source: str = ""
    """The image file or view table the user gave (for the record)."""
    views: list[ReferenceCamera] = field(default_factory=lambda: [ReferenceCamera()])
    """The input views: cameras and processed image files (``input.png`` first)."""
    matting: str = "auto"
    """How the object was separated from its background (``--matting``)."""
    border_ratio: float = 0.2
    """Share of the image left empty around the object when it is recentred (the loader's and the toy prior's)."""
    recentre: bool = True
    """Frame the inputs: one image on its own box, a view table's images together (one 3D centre, one zoom);
    false (``--no-recentre``) keeps every image as it is, for cameras that are exact."""
    loss: ReferenceLoss = field(default_factory=ReferenceLoss)
    """The reference-view losses."""
    text: TextGuidanceSettings = field(default_factory=TextGuidanceSettings)
    """The text prior added when the run has a prompt (``--prompt``, ``--prior-text``; Magic123)."""

    def __post_init__(self) -> None:
        # from_dict leaves a list of dataclasses as a list of dicts
        self.views = [ReferenceCamera(**v) if isinstance(v, dict) else v for v in self.views]

    def cameras(self) -> OrbitCameras:
        """The input cameras, ``(V,)``."""
        views = self.views
        return OrbitCameras.make([v.elevation for v in views], [v.azimuth for v in views], [v.radius for v in views], [v.fovy for v in views])

    def validate(self) -> None:
        if not self.views:
            raise DreamliftError("an image run needs at least one input view")
        for v in self.views:
            if not -90.0 <= v.elevation <= 90.0:
                raise DreamliftError(f"--elevation {v.elevation:g} is outside [-90, 90] degrees")
            if v.radius <= 1.0 or not 0.0 < v.fovy < 180.0:
                raise DreamliftError("input camera radius must exceed 1 and fovy lie in (0, 180) degrees")
            if v.weight < 0:
                raise DreamliftError("input view weights must be >= 0")
        if sum(v.weight for v in self.views) <= 0:
            raise DreamliftError("input view weights must not all be 0")
        if not 0.0 <= self.border_ratio < 0.9:
            raise DreamliftError(f"border ratio must lie in [0, 0.9), got {self.border_ratio}")
        self.loss.validate()
        self.text.validate()


@dataclass
class ReferenceTargets:
    """What the reference views are matched to, stacked over the ``V`` views."""

    rgb: Tensor
    """``(V, H, W, 3)`` images composited on white."""
    mask: Tensor
    """``(V, H, W)`` alpha in [0, 1]."""
    cameras: OrbitCameras
    """``(V,)`` input cameras."""
    weights: Tensor
    """``(V,)`` view weights summing to 1."""
    depth: Tensor | None = None
    """``(V, H, W)`` depth maps (any scale and offset), or None."""

    @staticmethod
    def from_views(views, depth: Tensor | None = None) -> "ReferenceTargets":
        """From :class:`~dreamlift.inputs.ViewInput` s (all of one size)."""
        if not views:
            raise DreamliftError("reference losses need at least one input view")
        weights = torch.tensor([float(v.weight) for v in views])
        cameras = OrbitCameras.cat([v.camera for v in views])
        return ReferenceTargets(
            rgb=torch.stack([v.image.rgb_on_white for v in views]),
            mask=torch.stack([v.image.mask for v in views]),
            cameras=cameras,
            weights=weights / weights.sum(),
            depth=depth,
        )


def pearson(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation of two 1-D tensors (0 when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    return (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


class ReferenceViewHook:
    """The reference-view losses of an image run (a :class:`~dreamlift.training.trainer.TrainingHook`)."""

    def __init__(self, settings: ReferenceLoss, targets: ReferenceTargets):
        settings.validate()
        self.settings = settings
        self.targets = targets

    def _targets_on(self, trainer) -> ReferenceTargets:
        """The targets on the trainer's device (moved once; a trainer without ``device`` is on the CPU)."""
        device = torch.device(getattr(trainer, "device", "cpu"))
        t = self.targets
        if t.rgb.device != device:
            move = lambda x: None if x is None else x.to(device)  # noqa: E731
            self.targets = ReferenceTargets(move(t.rgb), move(t.mask), t.cameras.to(device), move(t.weights), move(t.depth))
        return self.targets

    def render(self, trainer):
        """The field seen from the input cameras, shaded as :attr:`settings` says."""
        targets = self._targets_on(trainer)
        cameras, size = targets.cameras, targets.rgb.shape[1]
        if size != trainer.config.size:
            raise DreamliftError(f"input views are {size}x{size} but the run renders {trainer.config.size}x{trainer.config.size}")
        return trainer.renderer.render(
            trainer.field,
            cameras,
            size,
            shading=self.settings.shading,
            lights=head_lights(cameras, self.settings.ambient),
            background=None,
            generator=trainer.generator,
        )

    def losses(self, step: int, trainer) -> dict[str, Tensor]:
        s = self.settings
        if step % s.every != 0:
            return {}
        out = self.render(trainer)
        t = self._targets_on(trainer)
        weights = t.weights
        per_view = lambda x: (x.flatten(1).mean(1) * weights).sum()  # noqa: E731
        terms: dict[str, Tensor] = {}
        if s.rgb > 0:
            terms["reference_rgb"] = s.rgb * per_view((out.image - t.rgb) ** 2)
        if s.mask > 0:
            opacity = out.opacity[..., 0]
            if MaskLoss(s.mask_loss) is MaskLoss.BCE:
                error = F.binary_cross_entropy(opacity.clamp(1e-5, 1.0 - 1e-5), t.mask, reduction="none")
            else:
                error = (opacity - t.mask) ** 2
            terms["reference_mask"] = s.mask * per_view(error)
        if s.depth > 0 and t.depth is not None:
            depth = out.depth[..., 0] / out.opacity[..., 0].clamp_min(1e-4)
            correlations = []
            for v in range(len(weights)):
                covered = t.mask[v] > 0.5
                if int(covered.sum()) < 2:
                    correlations.append(torch.ones((), device=weights.device))
                    continue
                correlations.append(pearson(depth[v][covered], t.depth[v][covered]))
            terms["reference_depth"] = s.depth * ((1.0 - torch.stack(correlations)) * weights).sum()
        return terms
