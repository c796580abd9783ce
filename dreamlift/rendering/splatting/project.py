"""EWA projection of 3D Gaussians into orbit cameras: 2D means, conics, pixel boxes, normals.

A Gaussian has a mean ``μ``, scales ``s = exp(log_scales)``, a rotation ``R`` from a unit
quaternion ``(w, x, y, z)`` (normalised here) and an opacity ``o = sigmoid(logit)``; its world
covariance is ``Σ = R S Sᵀ Rᵀ`` with ``S = diag(s)``. Its mean lands on the pixel coordinates of
:func:`dreamlift.rendering.raster_torch.project` (column, row; pixel centres at half-integers,
row 0 at the top), so a splat and a mesh vertex at the same point land on the same spot. The
2D covariance is ``J W Σ Wᵀ Jᵀ + 0.3·I`` (pixels²): ``W`` turns world into camera axes and ``J``
is the Jacobian of the perspective map at the mean (its ``x/z``, ``y/z`` clamped to 1.3 times
the half field of view, as 3DGS does, so Gaussians far off screen stay finite); the 0.3 px²
is the usual low-pass dilation.

Each Gaussian's pixel box is the exact extent of the pixels where its alpha can reach
``1/255``: ``o·exp(−½ m²) ≥ 1/255`` gives ``m ≤ k = sqrt(2 ln(255 o))``, so the box is
``μ ± k·(√Σ'ₓₓ, √Σ'ᵧᵧ)``. That is the 3-sigma box of 3DGS at ``o ≈ 0.35``, tighter for fainter
Gaussians and 3.33 sigma at ``o = 0.99``: culling by it drops nothing the compositor would keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.rendering import raster_torch
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.scene.splats import MAX_ALPHA, Splats, covariances, quaternion_to_matrix  # noqa: F401 - re-exported

NEAR_PLANE = raster_torch.NEAR_PLANE
"""Gaussians whose mean is closer to the camera plane than this (view depth) are culled."""
LOW_PASS = 0.3
"""Pixels² added to every 2D covariance (the EWA low-pass filter)."""
MIN_ALPHA = 1.0 / 255.0
"""A (pixel, Gaussian) pair with a smaller alpha is skipped."""
JACOBIAN_CLAMP = 1.3
"""The Jacobian's ``x/z``, ``y/z`` are clamped to this many times ``tan(fovy / 2)``."""


def facing_normals(splats: Splats, camera_centres: Tensor) -> Tensor:
    """Each Gaussian's shortest axis, flipped to face each camera: ``(B, N, 3)`` unit world vectors.

    ``camera_centres (B, 3)``. Differentiable through the rotation (the choice of axis is not).
    """
    rotation = quaternion_to_matrix(splats.quaternions)
    shortest = splats.log_scales.argmin(dim=-1)
    axis = torch.gather(rotation, 2, shortest[:, None, None].expand(-1, 3, 1)).squeeze(-1)  # (N, 3)
    toward = camera_centres[:, None, :] - splats.means[None]
    sign = torch.where((toward * axis[None]).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(axis.dtype)
    return sign * axis[None]


@dataclass
class SplatProjection:
    """``N`` Gaussians seen by ``B`` cameras at ``size × size`` pixels; every field is ``(B, N, ...)``."""

    means2d: Tensor
    """``(B, N, 2)`` pixel coordinates (column, row) of the means; differentiable, and the tensor whose
    gradient densification reads (see :func:`~dreamlift.rendering.splatting.rasterize.render_splats`)."""
    depth: Tensor
    """``(B, N)`` view depth of the means (distance along the viewing axis, positive in front)."""
    conics: Tensor
    """``(B, N, 3)`` the inverse 2D covariance ``(a, b, c)`` for ``[[a, b], [b, c]]``, pixels⁻²."""
    opacities: Tensor
    """``(N,)`` ``sigmoid(opacity_logits)``."""
    boxes: Tensor
    """``(B, N, 4)`` int64 inclusive pixel box ``(col0, row0, col1, row1)`` clipped to the image."""
    visible: Tensor
    """``(B, N)`` bool: in front of the near plane, able to reach alpha 1/255, and its box on the image."""
    normals: Tensor
    """``(B, N, 3)`` the shortest axis, facing the camera (:func:`facing_normals`)."""


def project_splats(splats: Splats, cameras: OrbitCameras, size: int, near: float = NEAR_PLANE) -> SplatProjection:
    """Project ``splats`` into ``cameras`` at ``size × size`` pixels (see the module docstring)."""
    means = splats.means
    cameras = cameras.to(means.device)
    screen = raster_torch.project(means, cameras, size)  # (B, N, 3): column, row, view depth
    means2d = screen[..., :2]
    depth = screen[..., 2]
    c2w = cameras.camera_to_world().to(dtype=means.dtype)
    world_to_camera = c2w[:, :3, :3].transpose(1, 2)  # (B, 3, 3)
    focal = focal_length(cameras, size).to(means.dtype)[:, None]  # (B, 1)
    tan_half = size / (2.0 * focal)
    limit = JACOBIAN_CLAMP * tan_half
    # x/z and y/z from the projection itself (not from means2d, whose gradient is the 2D one alone)
    tx = torch.clamp((screen[..., 0] - 0.5 * size) / focal, -limit, limit)
    ty = torch.clamp((0.5 * size - screen[..., 1]) / focal, -limit, limit)
    scale = focal / depth.clamp_min(near)
    zero = torch.zeros_like(tx)
    jacobian = scale[..., None, None] * torch.stack(
        (torch.stack((torch.ones_like(tx), zero, tx), -1), torch.stack((zero, -torch.ones_like(tx), -ty), -1)), -2
    )  # (B, N, 2, 3) with respect to camera coordinates (x right, y up, z backward)
    transform = jacobian @ world_to_camera[:, None]  # (B, N, 2, 3)
    cov2d = transform @ covariances(splats.log_scales, splats.quaternions)[None] @ transform.transpose(-1, -2)
    a = cov2d[..., 0, 0] + LOW_PASS
    b = cov2d[..., 0, 1]
    c = cov2d[..., 1, 1] + LOW_PASS
    det = (a * c - b * b).clamp_min(1e-12)
    conics = torch.stack((c / det, -b / det, a / det), dim=-1)
    opacities = splats.opacities
    boxes, inside = _pixel_boxes(means2d.detach(), a.detach(), c.detach(), opacities.detach(), size)
    visible = inside & (depth.detach() > near) & (opacities.detach() > MIN_ALPHA)[None]
    normals = facing_normals(splats, cameras.position.to(means.dtype))
    return SplatProjection(means2d, depth, conics, opacities, boxes, visible, normals)


def _pixel_boxes(means2d: Tensor, var_x: Tensor, var_y: Tensor, opacities: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Inclusive pixel boxes ``(B, N, 4)`` of the region where alpha can reach 1/255, and whether each is non-empty."""
    reach = torch.sqrt(2.0 * torch.log((opacities / MIN_ALPHA).clamp_min(1.0)))[None]  # (1, N)
    margin = 1e-3  # pixels: the box is conservative; the compositor makes the exact 1/255 decision
    half = torch.stack((reach * var_x.sqrt(), reach * var_y.sqrt()), dim=-1) + margin
    low = torch.ceil(means2d - half - 0.5).clamp(-1.0, float(size))
    high = torch.floor(means2d + half - 0.5).clamp(-1.0, float(size))
    low, high = low.clamp_min(0.0), high.clamp_max(size - 1.0)
    finite = torch.isfinite(means2d).all(-1) & torch.isfinite(half).all(-1)
    inside = (low <= high).all(-1) & finite
    boxes = torch.cat((low, high), dim=-1).nan_to_num(0.0).long()
    return boxes, inside


def focal_length(cameras: OrbitCameras, size: int) -> Tensor:
    """``(B,)`` focal length in pixels of ``size``-pixel images (square pixels; ``fovy`` is the full vertical angle)."""
    return size / (2.0 * torch.tan(torch.deg2rad(cameras.fovy) / 2.0))
