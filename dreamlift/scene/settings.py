"""The settings of the scene (the NeRF field, the background), without torch.

They live apart from :mod:`~dreamlift.scene.field` and :mod:`~dreamlift.scene.background`
(which import them) so that the settings tree, and with it ``dreamlift --help`` and every
argument check, loads without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class EncodingKind(str, Enum):
    GRID = "grid"
    TRIPLANE = "triplane"
    FREQUENCY = "frequency"


@dataclass
class FieldConfig:
    """Settings of :class:`~dreamlift.scene.field.NeRFField`."""

    encoding: EncodingKind = EncodingKind.GRID
    """Position encoding: dense multi-resolution grids (default; fastest on a CPU), triplane, or frequency."""
    grid_resolutions: tuple[int, ...] = (16, 32)
    """Resolutions of the dense grids."""
    grid_features: int = 8
    """Features per grid cell."""
    triplane_resolution: int = 64
    """Resolution of each triplane plane."""
    triplane_features: int = 16
    """Features per triplane texel."""
    frequency_levels: int = 6
    """Octaves of the frequency encoding."""
    hidden: int = 64
    """Width of the MLP."""
    layers: int = 2
    """Hidden layers of the MLP."""
    bound: float = 1.0
    """Half-size of the bounding cube, world units."""
    blob_density: float = 10.0
    """Density of the initial blob at the origin (pre-activation)."""
    blob_radius: float = 0.5
    """Radius where the blob's pre-activation density crosses zero."""
    normal_epsilon: float = 0.02
    """Step of the finite-difference normals, world units."""


class BackgroundKind(str, Enum):
    FIXED = "fixed"
    RANDOM = "random"
    LEARNED = "learned"
