"""A colour field on a regular grid, and baking a field's albedo into one (the refinement's colour of 3D Gaussians).

Grid convention: ``resolution`` vertices per axis over the box ``[low, high]`` (world units, the box's faces
are vertices), ``logits (1, 3, R, R, R)`` indexed ``[0, channel, iz, iy, ix]`` (``grid_sample``'s volume
layout). The albedo at ``x`` is ``sigmoid`` of the trilinear interpolation of the logits; points outside the
box take the nearest face's (border padding). A lookup costs the same for any field it was baked from.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

LOGIT_CLAMP = 1e-4
"""Baked albedo is clamped to ``[LOGIT_CLAMP, 1 − LOGIT_CLAMP]`` before its logit (so it is exact to 1e-4)."""
BAKE_POINTS = 1 << 16
"""Vertices per query while baking (a field may split them further)."""


class AlbedoGrid(nn.Module):
    """Albedo ``(N, 3)`` at points ``(N, 3)`` by trilinear interpolation of per-vertex logits (see the module docstring).

    ``state_dict``: ``logits`` and the box ``low``, ``high`` (``(3,)`` each), so a checkpoint restores the box too.
    """

    def __init__(self, resolution: int, low: Tensor | None = None, high: Tensor | None = None):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(1, 3, resolution, resolution, resolution))  # grey until baked or loaded
        self.register_buffer("low", torch.full((3,), -1.0) if low is None else torch.as_tensor(low, dtype=torch.float32).clone())
        self.register_buffer("high", torch.full((3,), 1.0) if high is None else torch.as_tensor(high, dtype=torch.float32).clone())

    @property
    def resolution(self) -> int:
        return int(self.logits.shape[-1])

    def vertices(self) -> tuple[Tensor, Tensor, Tensor]:
        """The vertex coordinates along x, y and z, ``(R,)`` each."""
        x, y, z = (torch.linspace(float(a), float(b), self.resolution) for a, b in zip(self.low, self.high))
        return x, y, z

    def albedo(self, points: Tensor) -> Tensor:
        """Albedo ``(N, 3)`` in (0, 1) at ``points (N, 3)``."""
        coords = (2.0 * (points - self.low) / (self.high - self.low) - 1.0).reshape(1, -1, 1, 1, 3).to(self.logits.dtype)
        values = F.grid_sample(self.logits, coords, mode="bilinear", padding_mode="border", align_corners=True)
        return torch.sigmoid(values.reshape(3, -1).t())


@torch.no_grad()
def bake_albedo(field, resolution: int, low: Tensor, high: Tensor, min_density: float = 1e-5, device: torch.device | str = "cpu") -> AlbedoGrid:
    """An :class:`AlbedoGrid` (on the CPU) over ``[low, high]`` holding ``field``'s albedo at its vertices.

    ``field(points) -> (density (N,), albedo (N, 3))`` is queried once per vertex, with points on ``device``.
    Vertices with density below ``min_density`` (outside the object, where a field's albedo means nothing and
    would bleed into the surface's colour through the interpolation) take the albedo of the nearest vertex
    above it; with none above it the grid is grey.
    """
    grid = AlbedoGrid(resolution, low, high)
    xs, ys, zs = grid.vertices()
    plane = torch.stack(torch.meshgrid(ys, zs, indexing="ij"), dim=-1).reshape(-1, 2)  # (R², 2): (y, z), z fastest
    density = torch.empty(resolution, resolution * resolution)
    albedo = torch.empty(resolution, resolution * resolution, 3)
    slabs = max(1, BAKE_POINTS // len(plane))
    for start in range(0, resolution, slabs):
        x = xs[start : start + slabs]
        points = torch.cat((x.repeat_interleave(len(plane))[:, None], plane.repeat(len(x), 1)), dim=1)
        d, a = field(points.to(device))
        density[start : start + len(x)] = d.detach().float().cpu().reshape(len(x), -1)
        albedo[start : start + len(x)] = a.detach().float().cpu().reshape(len(x), -1, 3)
    density = density.reshape(resolution, resolution, resolution)  # [ix, iy, iz]
    albedo = albedo.reshape(resolution, resolution, resolution, 3)
    occupied = (density >= min_density).numpy()
    if not occupied.any():
        return grid
    if not occupied.all():
        nearest = ndimage.distance_transform_edt(~occupied, return_distances=False, return_indices=True)
        albedo = albedo[tuple(torch.from_numpy(np.asarray(index)) for index in nearest)]
    logits = torch.logit(albedo.clamp(LOGIT_CLAMP, 1.0 - LOGIT_CLAMP))
    grid.logits.copy_(logits.permute(3, 2, 1, 0)[None])  # [ix, iy, iz, c] -> [0, c, iz, iy, ix]
    return grid
