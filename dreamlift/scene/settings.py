"""The settings of the scene (the NeRF field, the background), without torch.

They live apart from :mod:`~dreamlift.scene.field` and :mod:`~dreamlift.scene.background`
(which import them) so that the settings tree, and with it ``dreamlift --help`` and every
argument check, loads without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from dreamlift.errors import DreamliftError


class EncodingKind(str, Enum):
    GRID = "grid"
    HASH_GRID = "hash-grid"
    TRIPLANE = "triplane"
    FREQUENCY = "frequency"


@dataclass
class HashGridConfig:
    """Settings of :class:`HashGridEncoding` (Instant-NGP, Müller et al., arXiv 2201.05989, §3 and Table 1).

    Defaults are threestudio's ``implicit-volume`` geometry (``pos_encoding_config``, also in
    its dreamfusion-sd and zero123 configs), inside the ranges of the paper's Table 1.
    """

    levels: int = 16
    """Resolution levels L, coarse to fine (Instant-NGP Table 1: 16; threestudio n_levels 16)."""
    features_per_level: int = 2
    """Features F stored per table entry; the encoding gives L·F features (Instant-NGP Table 1: 2; threestudio 2)."""
    log2_table_size: int = 19
    """log₂ of the entries T per level's table (Instant-NGP Table 1: 14 to 24; threestudio log2_hashmap_size 19)."""
    base_resolution: int = 16
    """Cells per axis of the coarsest level, N_min, across the bounding cube (Instant-NGP Table 1: 16; threestudio 16)."""
    finest_resolution: int = 4096
    """Cells per axis of the finest level, N_max (Instant-NGP Table 1: 512 to 524288; threestudio: per_level_scale 1.447269237440378 = (4096/16)^(1/15))."""
    init_scale: float = 1e-4
    """Table entries start uniform in [−init_scale, init_scale] (Instant-NGP §4, "Initialization": 10⁻⁴)."""

    def validate(self) -> None:
        """Raise a one-line :class:`DreamliftError` for settings that cannot build a grid."""
        key = "nerf.hash_grid"
        if self.levels < 1 or self.features_per_level < 1:
            raise DreamliftError(f"{key}.levels and {key}.features_per_level must be at least 1")
        if not 4 <= self.log2_table_size <= 30:
            raise DreamliftError(f"{key}.log2_table_size {self.log2_table_size} is out of range: use 4 to 30 (Instant-NGP uses 14 to 24)")
        if self.base_resolution < 1 or self.finest_resolution < self.base_resolution:
            raise DreamliftError(
                f"{key}: base_resolution must be at least 1 and finest_resolution at least base_resolution, "
                f"got {self.base_resolution} and {self.finest_resolution}"
            )
        if self.finest_resolution > 2**20:
            raise DreamliftError(f"{key}.finest_resolution {self.finest_resolution} is too fine: use at most 1048576 cells per axis")
        if not self.init_scale >= 0:
            raise DreamliftError(f"{key}.init_scale must be zero or positive, got {self.init_scale}")

    def resolutions(self) -> list[int]:
        """Cells per axis of each level: ``N_l = ⌊N_min · b^l⌋`` with ``b = (N_max / N_min)^(1 / (L − 1))`` (Instant-NGP Eq. 2–3)."""
        if self.levels == 1:
            return [self.base_resolution]
        growth = math.exp((math.log(self.finest_resolution) - math.log(self.base_resolution)) / (self.levels - 1))
        # the 1e-6 keeps N_max itself from rounding down to N_max − 1
        return [int(math.floor(self.base_resolution * growth**level + 1e-6)) for level in range(self.levels)]


@dataclass
class FieldConfig:
    """Settings of :class:`~dreamlift.scene.field.NeRFField`."""

    encoding: EncodingKind = EncodingKind.GRID
    """Position encoding: dense multi-resolution grids (default; fastest on a CPU), Instant-NGP's hash grid, triplane, or frequency."""
    grid_resolutions: tuple[int, ...] = (16, 32)
    """Resolutions of the dense grids."""
    grid_features: int = 8
    """Features per grid cell."""
    triplane_resolution: int = 64
    """Resolution of each triplane plane."""
    triplane_features: int = 16
    """Features per triplane texel."""
    hash_grid: HashGridConfig = field(default_factory=HashGridConfig)
    """Settings of the hash grid (used when encoding is hash-grid)."""
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

    def validate(self) -> None:
        """Raise a one-line :class:`~dreamlift.errors.DreamliftError` for settings that cannot build the field."""
        if EncodingKind(self.encoding) is EncodingKind.HASH_GRID:
            self.hash_grid.validate()


class BackgroundKind(str, Enum):
    FIXED = "fixed"
    RANDOM = "random"
    LEARNED = "learned"
