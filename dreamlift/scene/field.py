"""The NeRF field: position encoding + small MLP → volume density σ and albedo.

Points are world coordinates ``(N, 3)`` inside the bounding cube ``[-bound, bound]³``.
Density is ``softplus(raw + blob(x))`` where ``blob`` is DreamFusion's density blob,
``blob_density · (1 − |x| / blob_radius)``: a soft ball at the origin to start from
(positive inside ``blob_radius``, negative outside). Albedo is ``sigmoid`` of three
outputs. Normals are ``−∇σ / ‖∇σ‖`` by forward differences (three extra density
look-ups; cheaper than double back-propagation on a CPU and differentiable).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlift.scene.encodings import DenseGridEncoding, FrequencyEncoding, TriplaneEncoding


class EncodingKind(str, Enum):
    GRID = "grid"
    TRIPLANE = "triplane"
    FREQUENCY = "frequency"


@dataclass
class FieldConfig:
    """Settings of :class:`NeRFField`."""

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


def _make_encoding(config: FieldConfig) -> nn.Module:
    kind = EncodingKind(config.encoding)
    if kind is EncodingKind.GRID:
        return DenseGridEncoding(tuple(config.grid_resolutions), config.grid_features, config.bound)
    if kind is EncodingKind.TRIPLANE:
        return TriplaneEncoding(config.triplane_resolution, config.triplane_features, config.bound)
    return FrequencyEncoding(config.frequency_levels, config.bound)


class NeRFField(nn.Module):
    """Density and albedo of a scene; see the module docstring for the conventions."""

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
        return self.forward(points)[0]

    def albedo(self, points: Tensor) -> Tensor:
        return self.forward(points)[1]

    def density_albedo_normals(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Density ``(N,)``, albedo ``(N, 3)`` and unit outward normals ``(N, 3)`` in one batched pass."""
        eps = self.config.normal_epsilon
        offsets = torch.eye(3, dtype=points.dtype, device=points.device) * eps
        stacked = torch.cat((points, *(points + offsets[i] for i in range(3))), dim=0)
        density_all, albedo_all = self.forward(stacked)
        n = points.shape[0]
        density = density_all[:n]
        gradient = (density_all[n:].reshape(3, n) - density[None]).t() / eps
        normals = -gradient / gradient.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return density, albedo_all[:n], normals
