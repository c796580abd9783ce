"""The settings an image run adds to :class:`~dreamlift.training.config.TrainConfig`: its input
views and the reference-view losses (computed in :mod:`~dreamlift.distillation.reference`), without torch,
so that the settings tree loads without importing torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from dreamlift._limits import MAX_VIEWS
from dreamlift.errors import DreamliftError
from dreamlift.guidance.priors import TextGuidanceSettings
from dreamlift.rendering.settings import TOY_CAMERA, ShadingMode

if TYPE_CHECKING:
    from dreamlift.rendering.cameras import OrbitCameras



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
    normal: float = 1.0
    """Weight of ``1 − cos`` between rendered normals and the depth map's; used only when a depth map is given."""
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
        if min(self.rgb, self.mask, self.depth, self.normal) < 0:
            raise DreamliftError("reference loss weights must be >= 0")
        if not 0.0 <= self.ambient <= 1.0:
            raise DreamliftError(f"reference loss: ambient must lie in [0, 1], got {self.ambient}")


@dataclass
class DepthSettings:
    """Depth maps of the input views (:mod:`dreamlift.inputs.depth`); both empty: no depth or normal loss."""

    file: str = ""
    """A depth map of the one input image (``--depth``): ``.npy`` or a one-channel PNG of the image's size."""
    model: str = ""
    """A DPT depth model (``DPTForDepthEstimation`` folder or hub id, ``--depth-model``) that estimates every view's depth."""
    file_is_disparity: bool = False
    """Read ``file`` as disparity (larger = nearer)."""
    model_is_disparity: bool = True
    """Read the model's output as disparity (MiDaS-trained DPTs predict relative inverse depth)."""
    allow_network: bool = False
    """Whether a hub id for ``model`` missing from the local cache may be downloaded."""

    def validate(self) -> None:
        if self.file and self.model:
            raise DreamliftError("give --depth FILE or --depth-model DIR, not both")


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
    depth: DepthSettings = field(default_factory=DepthSettings)
    """Where the input views' depth maps come from (``--depth``, ``--depth-model``)."""
    text: TextGuidanceSettings = field(default_factory=TextGuidanceSettings)
    """The text prior added when the run has a prompt (``--prompt``, ``--prior-text``; Magic123)."""

    def __post_init__(self) -> None:
        # from_dict leaves a list of dataclasses as a list of dicts
        self.views = [ReferenceCamera(**v) if isinstance(v, dict) else v for v in self.views]

    def cameras(self) -> OrbitCameras:
        """The input cameras, ``(V,)``."""
        from dreamlift.rendering.cameras import OrbitCameras

        views = self.views
        return OrbitCameras.make([v.elevation for v in views], [v.azimuth for v in views], [v.radius for v in views], [v.fovy for v in views])

    def validate(self) -> None:
        if not self.views:
            raise DreamliftError("an image run needs at least one input view")
        if len(self.views) > MAX_VIEWS:
            raise DreamliftError(f"an image run takes at most {MAX_VIEWS} input views, got {len(self.views)}")
        for v in self.views:
            if not -90.0 <= v.elevation <= 90.0:
                raise DreamliftError(f"--elevation {v.elevation:g} is outside [-90, 90] degrees")
            if not 1.0 < v.radius <= 1000.0 or not 0.0 < v.fovy < 180.0:
                raise DreamliftError("input camera radius must exceed 1 and fovy lie in (0, 180) degrees")
            if v.weight < 0:
                raise DreamliftError("input view weights must be >= 0")
            file = PurePosixPath(str(v.file))
            if not str(v.file) or file.is_absolute() or ".." in file.parts or "\\" in str(v.file):
                raise DreamliftError(f"input view file {str(v.file)[:80]!r} must be a file name inside the run folder (such as input.png)")
        if sum(v.weight for v in self.views) <= 0:
            raise DreamliftError("input view weights must not all be 0")
        if not 0.0 <= self.border_ratio < 0.9:
            raise DreamliftError(f"border ratio must lie in [0, 0.9), got {self.border_ratio}")
        self.loss.validate()
        self.depth.validate()
        self.text.validate()
