"""Choosing the density level of the mesh so that its silhouettes match the rendered opacity.

The mesh is the level set ``{σ = τ}`` of the trilinearly interpolated density grid.
Seen from a camera, that surface covers the pixels whose ray meets a point with
``σ > τ``, i.e. the pixels whose *ray maximum* ``M = max_t σ(o + t·d)`` exceeds τ.
The volume renderer shows the pixels with opacity ``> 0.5``. For a few views we
compute both and choose the τ whose silhouettes ``{M > τ}`` have the best
intersection-over-union with the opacity masks, pooled over all pixels. The IoU
only changes where τ crosses a pixel's ``M``, so an exact sweep over the sorted
``M`` values finds the optimum; τ is the geometric mean of the two ``M`` values
around the chosen cut (the middle cut when several tie).

This is not a magic constant: a sharp field gets a level near its peak density's
edge, a soft one a low level far out in its fall-off, wherever the renders put the
edge. The fitted IoU is returned so callers can report how well the mesh matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dreamlift.export.grid import FieldGrid, GridField
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.renderer import intersect_box


@dataclass
class LevelFit:
    """The chosen density level and how well its silhouettes match the renders."""

    level: float
    """Density τ of the mesh surface (world units⁻¹)."""
    silhouette_iou: float
    """IoU between ``{M > τ}`` and the opacity > 0.5 masks, pooled over the views."""
    opaque_pixels: int
    """Pixels with opacity > 0.5 over all views (0 means an empty field)."""


@torch.no_grad()
def ray_maximum(grid: FieldGrid, cameras: OrbitCameras, size: int, step: float = 0.5, chunk: int = 1 << 21) -> Tensor:
    """``M (B, size, size)``: the largest interpolated grid density along each pixel's ray.

    Samples are ``step`` grid spacings apart inside the grid's cube.
    """
    origins, directions = generate_rays(cameras, size)
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    near, far = intersect_box(o, d, -grid.bound, grid.bound)
    delta = step * grid.spacing
    samples = int(np.ceil(2.0 * np.sqrt(3.0) * grid.bound / delta)) + 1
    lookup = GridField(grid)
    steps = torch.arange(samples, dtype=torch.float32) * delta
    result = torch.zeros(o.shape[0])
    rays_per_chunk = max(1, chunk // samples)
    for start in range(0, o.shape[0], rays_per_chunk):
        sl = slice(start, start + rays_per_chunk)
        t = near[sl, None] + steps[None]
        inside = t <= far[sl, None]
        points = o[sl, None] + d[sl, None] * t[..., None]
        values = lookup.density(points.reshape(-1, 3)).reshape(t.shape) * inside
        result[sl] = values.amax(dim=1)
    return result.reshape(len(cameras), size, size)


def fit_level(ray_max: Tensor, opaque: Tensor) -> LevelFit:
    """Best τ for ray maxima ``M`` and opacity masks ``opaque`` (same shape, bool)."""
    m = ray_max.reshape(-1).double().numpy()
    o = opaque.reshape(-1).numpy().astype(bool)
    total_opaque = int(o.sum())
    if total_opaque == 0 or m.max() <= 0.0:
        return LevelFit(level=float("nan"), silhouette_iou=0.0, opaque_pixels=total_opaque)
    order = np.argsort(-m, kind="stable")
    m_sorted, o_sorted = m[order], o[order]
    inter = np.cumsum(o_sorted)
    count = np.arange(1, m.size + 1)
    iou = inter / (count + total_opaque - inter)
    # a cut after position k (keep the k+1 largest) is possible only where M strictly drops
    nxt = np.append(m_sorted[1:], 0.0)
    valid = (m_sorted > nxt) & (m_sorted > 0.0)
    cuts = np.flatnonzero(valid)
    best = iou[cuts].max()
    ties = cuts[iou[cuts] >= best - 1e-12]
    k = int(ties[len(ties) // 2])
    upper, lower = m_sorted[k], nxt[k]
    level = float(np.sqrt(upper * lower)) if lower > 0.0 else float(0.5 * upper)
    return LevelFit(level=level, silhouette_iou=float(best), opaque_pixels=total_opaque)


def silhouette_iou(ray_max: Tensor, opaque: Tensor, level: float) -> float:
    """IoU of ``{M > level}`` with the opacity masks (for a level given by hand)."""
    predicted = ray_max > level
    union = (predicted | opaque).sum().item()
    return float((predicted & opaque).sum().item() / union) if union else 0.0
