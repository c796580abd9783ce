"""The settings of cameras, the renderer and empty-space skipping, without torch.

The dataclasses and enums here are parts of :class:`~dreamlift.training.config.TrainConfig`;
they live apart from the code they configure (:mod:`~dreamlift.rendering.cameras`,
:mod:`~dreamlift.rendering.renderer`, :mod:`~dreamlift.rendering.occupancy`,
:mod:`~dreamlift.rendering.shading`, which import them) so that the settings tree, and with
it ``dreamlift --help`` and every argument check, loads without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from dreamlift.errors import DreamliftError


@dataclass(frozen=True)
class OrbitLens:
    """Distance and field of view of an orbit camera."""

    radius: float
    """Distance from the origin, world units."""
    fovy: float
    """Vertical field of view, degrees."""


TOY_CAMERA = OrbitLens(radius=3.0, fovy=40.0)
"""The toy world's camera: the middle of TOYWORLD's training range (radius 2.8 to 3.2, fovy 40).
Every fixed view (:mod:`dreamlift.rendering.views`) and every camera default uses it."""

VIEW_SOURCES = ("random", "memorised")
"""Where training views come from: ``random`` (cameras drawn in their ranges, jittered head lights) or ``memorised``
(among a memory prior's memorised views, each with the light its render was made with); ``views``, ``refine.cameras``
and ``refine.lights`` take these values."""


@dataclass
class CameraRanges:
    """Ranges the random training cameras are drawn from (uniformly), in degrees and world units."""

    elevation: tuple[float, float] = (-10.0, 60.0)
    """Elevation range, degrees (TOYWORLD's prior training range)."""
    azimuth: tuple[float, float] = (-180.0, 180.0)
    """Azimuth range, degrees; the upper end is excluded."""
    radius: tuple[float, float] = (2.8, 3.2)
    """Camera distance from the origin."""
    fovy: tuple[float, float] = (TOY_CAMERA.fovy, TOY_CAMERA.fovy)
    """Vertical field of view, degrees."""

    def validate(self) -> None:
        for name in ("elevation", "azimuth", "radius", "fovy"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise DreamliftError(f"camera {name} range [{low}, {high}] is invalid: give min <= max, both finite")
        if self.radius[0] <= 0 or not (0 < self.fovy[0] and self.fovy[1] < 180):
            raise DreamliftError("camera radius must be > 0 and fovy within (0, 180) degrees")


@dataclass
class RenderConfig:
    """Settings of the volume renderer."""

    samples_per_ray: int = 32
    """Samples along each ray inside the bounding sphere."""
    bound: float = 1.0
    """Radius of the bounding sphere that holds the scene."""
    skip_empty: bool = True
    """Skip samples in cells the occupancy grid marks empty, and samples hidden behind the surface."""
    min_transmittance: float = 1e-3
    """With skipping: samples whose transmittance falls below this are not evaluated (early ray termination)."""
    min_weight: float = 1e-4
    """With skipping: samples whose compositing weight falls below this get no normal (they are not seen)."""


@dataclass
class OccupancyConfig:
    """Settings of :class:`~dreamlift.rendering.occupancy.OccupancyGrid`."""

    resolution: int = 32
    """Cells per axis."""
    threshold: float = 0.2
    """Density above which a cell is occupied."""
    decay: float = 0.9
    """Decay of the running density maximum per update."""
    update_every: int = 16
    """Training steps between updates."""
    dilate: bool = False
    """Grow the occupied cells by one cell (safer for thin parts, more samples evaluated)."""


class ShadingMode(str, Enum):
    """How a render turns albedo into colour (DreamFusion's three modes)."""

    ALBEDO = "albedo"
    LAMBERTIAN = "lambertian"
    TEXTURELESS = "textureless"


NVDIFFRAST_INSTALL = "pip install git+https://github.com/NVlabs/nvdiffrast (needs CUDA and a compiler)"
"""How to install the optional nvdiffrast rasteriser."""


def nvdiffrast_installed() -> bool:
    """Whether the nvdiffrast package is there to import (found without importing it or torch)."""
    import importlib.util

    return importlib.util.find_spec("nvdiffrast") is not None


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
