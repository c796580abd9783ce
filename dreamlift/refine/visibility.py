"""Which outside vertices of an SDF grid no training camera can see: the hollows a refinement starts filled.

The prior judges renders, so a hollow that no camera of the training range looks into gets
no gradient and stays in the asset: a distilled field can leave a dome-shaped cavity under a
cone's base that the lowest cameras (−10°) see only edge-on, and the refinement kept it
(docs/measurements.md). A vertex is *seen* when the straight segment from it to at least one
camera leaves the surface without passing deeper than ``block`` grid spacings inside it
(the SDF, trilinear, at steps of half a spacing); every other outside vertex is *unseen*.
Enclosed pockets are the extreme case (:func:`~dreamlift.refine.geometry.enclosed_outside`).

The SDF is given at the vertices of a :class:`~dreamlift.refine.tets.TetGrid` (its convention: ``side³``
vertices over ``[-bound, bound]³``, x-major), negative inside, in world units.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from dreamlift.refine.tets import TetGrid
from dreamlift.rendering.cameras import orbit_position
from dreamlift.rendering.renderer import intersect_box
from dreamlift.rendering.settings import CameraRanges


def range_cameras(ranges: CameraRanges, step: float = 15.0) -> Tensor:
    """Camera centres ``(C, 3)`` spread over ``ranges``: elevations from its lowest to its highest and azimuths
    around its span, at most ``step`` degrees apart, at the middle radius."""
    (e0, e1), (a0, a1) = ranges.elevation, ranges.azimuth
    elevations = torch.linspace(e0, e1, max(2, math.ceil((e1 - e0) / step) + 1)) if e1 > e0 else torch.tensor([e0])
    full_turn = a1 - a0 >= 360.0 - 1e-6
    count = max(1, math.ceil((a1 - a0) / step) + (0 if full_turn else 1))
    azimuths = a0 + (a1 - a0) * torch.arange(count) / (count if full_turn else max(1, count - 1))
    elevation, azimuth = torch.meshgrid(elevations, azimuths, indexing="ij")
    radius = torch.full_like(elevation, 0.5 * (ranges.radius[0] + ranges.radius[1]))
    return orbit_position(elevation.reshape(-1), azimuth.reshape(-1), radius.reshape(-1))


@torch.no_grad()
def unseen_outside(sdf: Tensor, grid: TetGrid, cameras: Tensor, block: float = 0.5) -> Tensor:
    """``(V,)`` bool: outside vertices of ``grid`` (``sdf (V,) ≥ 0``) that no camera of ``cameras (C, 3)`` sees
    (module docstring).

    Only vertices inside the bounding box of the inside vertices are tested (a segment from
    outside that box meets no surface on its way out of it); the others count as seen.
    """
    side, bound, spacing = grid.resolution + 1, grid.bound, grid.spacing
    values = sdf.reshape(side, side, side).float()  # [ix, iy, iz]
    inside = values < 0
    unseen = torch.zeros_like(inside)
    if not bool(inside.any()):
        return unseen.reshape(-1)
    occupied = torch.nonzero(inside)
    low, high = occupied.min(0).values, occupied.max(0).values
    box = tuple(slice(int(a), int(b) + 1) for a, b in zip(low, high))
    candidate = torch.zeros_like(inside)
    candidate[box] = ~inside[box]
    index = torch.nonzero(candidate.reshape(-1)).squeeze(1)
    if index.numel() == 0:
        return unseen.reshape(-1)
    points = grid.vertices.index_select(0, index).float()
    volume = values.permute(2, 1, 0)[None, None]  # (1, 1, z, y, x): grid_sample's (x, y, z) coordinates index it
    box_low, box_high = -bound + low.float() * spacing, -bound + high.float() * spacing
    step = 0.5 * spacing
    hidden = torch.ones(index.shape[0], dtype=torch.bool)
    order = torch.randperm(cameras.shape[0], generator=torch.Generator().manual_seed(0))  # spread early views: most vertices are seen soon
    for camera in cameras.float().index_select(0, order):
        todo = torch.nonzero(hidden).squeeze(1)
        if todo.numel() == 0:
            break
        seen = _seen_from(volume, bound, points.index_select(0, todo), camera, box_low, box_high, step, -block * spacing)
        hidden[todo[seen]] = False
    unseen.view(-1)[index[hidden]] = True
    return unseen.reshape(-1)


def _seen_from(volume: Tensor, bound: float, points: Tensor, camera: Tensor, box_low: Tensor, box_high: Tensor, step: float, threshold: float, block: int = 8) -> Tensor:
    """``(K,)`` bool: the segment from each of ``points (K, 3)`` toward ``camera (3,)`` leaves the box
    ``[box_low, box_high]`` (beyond which nothing is inside) with the SDF ``volume`` never below ``threshold``
    on the way, sampled every ``step`` from one step out; rays are marched ``block`` steps at a time and
    dropped once decided."""
    direction = F.normalize(camera - points, dim=-1)
    far = intersect_box(points, direction, box_low, box_high)[1].clamp_min(0.0)  # where the ray leaves the box
    seen = torch.zeros(points.shape[0], dtype=torch.bool)
    active = torch.arange(points.shape[0])
    offsets = torch.arange(1, block + 1, dtype=torch.float32) * step
    start = 0.0
    while active.numel() > 0:
        t = start + offsets  # (block,)
        origin, heading = points.index_select(0, active), direction.index_select(0, active)
        along = origin[:, None, :] + heading[:, None, :] * t[None, :, None]
        values = F.grid_sample(volume, (along / bound).reshape(1, -1, 1, 1, 3), mode="bilinear", padding_mode="border", align_corners=True)
        exit_at = far.index_select(0, active)
        blocked = ((values.reshape(active.shape[0], block) < threshold) & (t[None, :] <= exit_at[:, None])).any(dim=1)
        out = ~blocked & (exit_at <= t[-1])
        seen[active[out]] = True
        active = active[~blocked & ~out]
        start += block * step
    return seen
