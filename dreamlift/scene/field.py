"""The field protocol, and the NeRF field: position encoding + small MLP → volume density σ and albedo.

:class:`Field` is what the renderer, the exporter and the evaluation call on a scene
(the NeRF field, the exporter's grid field, the analytic fields of
:mod:`dreamlift.export.analytic`, test fields). For the NeRF field, points are world coordinates ``(N, 3)`` inside the bounding cube ``[-bound, bound]³``.
Density is ``softplus(raw + blob(x))`` where ``blob`` is DreamFusion's density blob,
``blob_density · (1 − |x| / blob_radius)``: a soft ball at the origin to start from
(positive inside ``blob_radius``, negative outside). Albedo is ``sigmoid`` of three
outputs. Normals are ``−∇σ / ‖∇σ‖`` by forward differences
(:func:`~dreamlift.scene.normals.finite_difference_normals`: three extra density
look-ups in the same batch; cheaper than double back-propagation on a CPU and
differentiable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlift.scene.encodings import DenseGridEncoding, FrequencyEncoding, HashGridConfig, HashGridEncoding, TriplaneEncoding
from dreamlift.scene.normals import finite_difference_normals


@runtime_checkable
class Field(Protocol):
    """A scene as the renderer, the exporter and the evaluation see it.

    ``points`` are world coordinates ``(N, 3)`` (+Y up, front +Z; ``N`` may be 0).
    Density is the volume density σ ≥ 0 ``(N,)``, world units⁻¹; albedo is display RGB
    in [0, 1] ``(N, 3)``; normals are unit outward vectors ``(N, 3)`` (down the density
    gradient), differentiable where the field is. Row ``i`` of every output belongs to
    ``points[i]``.
    """

    def __call__(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Density ``(N,)`` and albedo ``(N, 3)`` at ``points (N, 3)``."""
        ...

    def density(self, points: Tensor) -> Tensor:
        """Density ``(N,)`` at ``points (N, 3)``."""
        ...

    def albedo(self, points: Tensor) -> Tensor:
        """Albedo ``(N, 3)`` at ``points (N, 3)``."""
        ...

    def density_albedo_normals(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Density ``(N,)``, albedo ``(N, 3)`` and unit outward normals ``(N, 3)`` at ``points (N, 3)``."""
        ...


class EncodingKind(str, Enum):
    GRID = "grid"
    HASH_GRID = "hash-grid"
    TRIPLANE = "triplane"
    FREQUENCY = "frequency"


@dataclass
class FieldConfig:
    """Settings of :class:`NeRFField`."""

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


def _make_encoding(config: FieldConfig) -> nn.Module:
    kind = EncodingKind(config.encoding)
    if kind is EncodingKind.GRID:
        return DenseGridEncoding(tuple(config.grid_resolutions), config.grid_features, config.bound)
    if kind is EncodingKind.HASH_GRID:
        return HashGridEncoding(config.hash_grid, config.bound)
    if kind is EncodingKind.TRIPLANE:
        return TriplaneEncoding(config.triplane_resolution, config.triplane_features, config.bound)
    return FrequencyEncoding(config.frequency_levels, config.bound)


class NeRFField(nn.Module):
    """Density and albedo of a scene (a :class:`Field`); see the module docstring for the conventions."""

    def __init__(self, config: FieldConfig | None = None):
        super().__init__()
        self.config = config or FieldConfig()
        self.encoding = _make_encoding(self.config)
        layers: list[nn.Module] = []
        width = self.encoding.output_dim
        for _ in range(self.config.layers):
            layers += [nn.Linear(width, self.config.hidden), nn.ReLU(inplace=True)]
            width = self.config.hidden
        layers.append(nn.Linear(width, 4))
        self.mlp = nn.Sequential(*layers)

    def blob(self, points: Tensor) -> Tensor:
        radius = points.norm(dim=-1)
        return self.config.blob_density * (1.0 - radius / self.config.blob_radius)

    def forward(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """``points (N, 3)`` → ``density (N,)``, ``albedo (N, 3)``."""
        raw = self.mlp(self.encoding(points))
        density = F.softplus(raw[:, 0] + self.blob(points))
        albedo = torch.sigmoid(raw[:, 1:])
        return density, albedo

    def density(self, points: Tensor) -> Tensor:
        """Density ``(N,)`` at ``points (N, 3)``."""
        return self.forward(points)[0]

    def albedo(self, points: Tensor) -> Tensor:
        """Albedo ``(N, 3)`` at ``points (N, 3)``."""
        return self.forward(points)[1]

    def density_albedo_normals(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Density ``(N,)``, albedo ``(N, 3)`` and unit outward normals ``(N, 3)`` in one batched pass."""
        normals, (density, albedo) = finite_difference_normals(self.forward, points, self.config.normal_epsilon)
        return density, albedo, normals
