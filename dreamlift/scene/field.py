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

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlift.scene.encodings import DenseGridEncoding, FrequencyEncoding, HashGridConfig, HashGridEncoding, TriplaneEncoding
from dreamlift.scene.normals import finite_difference_normals
from dreamlift.scene.settings import EncodingKind, FieldConfig  # the settings live apart, without torch


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
