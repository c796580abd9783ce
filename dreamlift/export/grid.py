"""A field sampled on a regular grid, and a fast stand-in field that interpolates it.

Grid convention: ``resolution`` points per axis at ``x_i = -bound + i · 2·bound / (resolution − 1)``
(the cube's faces are grid points), arrays indexed ``[ix, iy, iz]`` (x-major), world
units, +Y up. Density is the field's volume density σ ≥ 0; albedo is RGB in [0, 1].

A field is a :class:`~dreamlift.scene.field.Field`, queried with ``field(points) ->
(density, albedo)`` (and ``field.albedo`` for colour alone), always under
``torch.no_grad()`` and in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.scene.field import Field
from dreamlift.scene.normals import finite_difference_normals

DEFAULT_CHUNK = 1 << 18


@torch.no_grad()
def query_field(field: Field, points: Tensor, chunk: int = DEFAULT_CHUNK) -> tuple[Tensor, Tensor]:
    """Density ``(N,)`` and albedo ``(N, 3)`` of ``field`` at ``points (N, 3)``, chunk by chunk."""
    densities, albedos = [], []
    for part in points.split(chunk):
        density, albedo = field(part)
        densities.append(density.reshape(-1).float())
        albedos.append(albedo.reshape(-1, 3).float())
    if not densities:
        return torch.zeros(0), torch.zeros(0, 3)
    return torch.cat(densities), torch.cat(albedos)


@torch.no_grad()
def query_albedo(field: Field, points: Tensor, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Albedo ``(N, 3)`` in [0, 1] at ``points (N, 3)``."""
    out = [field.albedo(part).reshape(-1, 3).float() for part in points.split(chunk)]
    return torch.cat(out).clamp(0.0, 1.0) if out else torch.zeros(0, 3)


def grid_axis(resolution: int, bound: float) -> Tensor:
    """The ``resolution`` grid coordinates along one axis, from ``-bound`` to ``bound``."""
    return torch.linspace(-bound, bound, resolution)


@dataclass
class FieldGrid:
    """Density ``(R, R, R)`` and albedo ``(R, R, R, 3)`` of a field on the grid above."""

    density: Tensor
    albedo: Tensor
    bound: float

    @property
    def resolution(self) -> int:
        return int(self.density.shape[0])

    @property
    def spacing(self) -> float:
        """Distance between neighbouring grid points, world units."""
        return 2.0 * self.bound / (self.resolution - 1)

    def index_to_world(self, index: np.ndarray) -> np.ndarray:
        """Map (fractional) grid indices ``(..., 3)`` to world coordinates."""
        return -self.bound + np.asarray(index, dtype=np.float64) * self.spacing


def sample_grid(field: Field, resolution: int, bound: float = 1.0, chunk: int = DEFAULT_CHUNK) -> FieldGrid:
    """Evaluate ``field`` at every grid point (one slab of x at a time)."""
    axis = grid_axis(resolution, bound)
    ys, zs = torch.meshgrid(axis, axis, indexing="ij")
    plane = torch.stack((ys.reshape(-1), zs.reshape(-1)), dim=-1)  # (R², 2): (y, z)
    slabs_per_chunk = max(1, chunk // plane.shape[0])
    density = torch.empty(resolution, resolution, resolution)
    albedo = torch.empty(resolution, resolution, resolution, 3)
    for start in range(0, resolution, slabs_per_chunk):
        xs = axis[start : start + slabs_per_chunk]
        points = torch.cat([torch.cat((x.expand(plane.shape[0], 1), plane), dim=1) for x in xs])
        d, a = query_field(field, points, chunk)
        density[start : start + len(xs)] = d.reshape(len(xs), resolution, resolution)
        albedo[start : start + len(xs)] = a.reshape(len(xs), resolution, resolution, 3)
    return FieldGrid(density=density.clamp_min(0.0), albedo=albedo.clamp(0.0, 1.0), bound=bound)


class GridField:
    """A field answered by trilinear interpolation of a :class:`FieldGrid` (zero outside the cube).

    It is a :class:`~dreamlift.scene.field.Field` and much cheaper than a network, so
    the exporter renders it for the turntable and the mesh threshold. Normals are
    ``−∇σ/‖∇σ‖`` by forward differences of one grid spacing.
    """

    def __init__(self, grid: FieldGrid):
        self.grid = grid
        # grid_sample reads a (1, C, D, H, W) volume with coordinates (x, y, z) → (W, H, D)
        self._density = grid.density.permute(2, 1, 0)[None, None].contiguous()
        self._albedo = grid.albedo.permute(3, 2, 1, 0)[None].contiguous()

    def _lookup(self, volume: Tensor, points: Tensor) -> Tensor:
        coords = (points.float() / self.grid.bound).reshape(1, -1, 1, 1, 3)
        values = F.grid_sample(volume, coords, mode="bilinear", padding_mode="zeros", align_corners=True)
        return values.reshape(volume.shape[1], -1).t()

    def density(self, points: Tensor) -> Tensor:
        return self._lookup(self._density, points)[:, 0]

    def albedo(self, points: Tensor) -> Tensor:
        return self._lookup(self._albedo, points)

    def __call__(self, points: Tensor) -> tuple[Tensor, Tensor]:
        return self.density(points), self.albedo(points)

    def density_albedo_normals(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        normals, (density,) = finite_difference_normals(self.density, points, self.grid.spacing)
        return density, self.albedo(points), normals
