"""How much each input view conditions a view prior at a novel camera (image runs with several views).

For a training camera ``c`` and input views ``v`` at cameras ``c_v`` with the view
table's weights ``u_v`` (stable-dreamfusion's scheme, ``guidance/zero123_utils.py``
``train_step``, which this follows step by step):

1. ``θ_v``: the angle (radians) between the directions from the origin to ``c`` and
   to ``c_v`` (radius plays no part);
2. closeness ``k_v = min(1/θ_v, 100)`` (a camera on top of an input view gets the cap);
3. ``k_v ← k_v / max_w k_w``, and ``k_v ← 0`` where it is below 0.1;
4. ``w_v = u_v · k_v``; ``w_v ← w_v / max_w w_w``, and ``w_v ← 0`` below 0.1;
5. the weights are normalised to sum to 1: the prior's noise prediction is
   ``ε̂ = Σ_v w_v ε̂_v`` with ``ε̂_v`` conditioned on view ``v`` alone.

So the nearest view always counts fully, a view more than ten times farther (in
``1/θ``) or ten times lighter than the leading one not at all. With one view the
weight is 1 everywhere. Should every view with some closeness have weight 0 (only
possible through zero table weights), the table's weights alone are used.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras, orbit_position

CLOSENESS_CAP = 100.0
"""Largest closeness ``1/θ`` (θ in radians): the cap of stable-dreamfusion."""
CUTOFF = 0.1
"""Relative closeness and weight below which a view takes no part (stable-dreamfusion's 0.1)."""


def directions(cameras: OrbitCameras) -> Tensor:
    """``(B, 3)`` float64 unit vectors from the origin to each camera."""
    elevation = cameras.elevation.detach().cpu().double()
    return orbit_position(elevation, cameras.azimuth.detach().cpu().double(), torch.ones_like(elevation))


def view_angles(targets: OrbitCameras, views: OrbitCameras) -> Tensor:
    """``(B, V)`` angles in radians between each target camera's direction and each view's."""
    cosine = (directions(targets)[:, None, :] * directions(views)[None, :, :]).sum(-1)
    return torch.arccos(cosine.clamp(-1.0, 1.0))


def _relative(values: Tensor) -> Tensor:
    """Each row divided by its largest entry (rows of zeros stay zero), entries below the cutoff zeroed."""
    peak = values.amax(dim=1, keepdim=True)
    scaled = torch.where(peak > 0, values / peak.clamp_min(1e-30), torch.zeros_like(values))
    return torch.where(scaled < CUTOFF, torch.zeros_like(scaled), scaled)


def conditioning_weights(targets: OrbitCameras, views: OrbitCameras, table_weights: Tensor) -> Tensor:
    """``(B, V)`` float32 weights of each input view at each target camera, rows summing to 1 (module doc)."""
    table = table_weights.to(torch.float64).reshape(1, -1)
    if len(views) == 1:
        return torch.ones(len(targets), 1)
    angles = view_angles(targets, views)
    closeness = _relative(torch.clamp(1.0 / angles.clamp_min(1e-12), max=CLOSENESS_CAP))
    weights = _relative(closeness * table)
    empty = weights.sum(dim=1, keepdim=True) <= 0
    weights = torch.where(empty, table.expand_as(weights), weights)
    return (weights / weights.sum(dim=1, keepdim=True)).to(torch.float32)
