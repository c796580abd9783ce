"""3D Gaussians as raw parameters (:class:`Splats`) and their geometry: rotations and covariances.

The rasteriser (:mod:`dreamlift.rendering.splatting`) draws them; the scene's
:class:`~dreamlift.scene.gaussians.GaussianModel` holds and optimises them. They live in
``scene`` so that the scene does not import the renderer (the renderer imports the scene).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

MAX_ALPHA = 0.99
"""Alphas are clamped to at most this (the rasteriser's, and the Gaussian field's opacity cap)."""


@dataclass
class Splats:
    """The rasteriser's input: ``N`` Gaussians (raw parameters, as optimised).

    ``means (N, 3)`` world positions; ``log_scales (N, 3)`` logs of the standard deviations along the
    Gaussian's own axes; ``quaternions (N, 4)`` ``(w, x, y, z)``, any length (normalised here);
    ``opacity_logits (N,)``; ``colours (N, 3)`` albedo in [0, 1].
    """

    means: Tensor
    log_scales: Tensor
    quaternions: Tensor
    opacity_logits: Tensor
    colours: Tensor

    def __len__(self) -> int:
        return int(self.means.shape[0])

    @property
    def opacities(self) -> Tensor:
        return torch.sigmoid(self.opacity_logits)


def quaternion_to_matrix(quaternions: Tensor) -> Tensor:
    """Rotation matrices ``(N, 3, 3)`` of quaternions ``(N, 4)`` ``(w, x, y, z)`` (normalised here)."""
    w, x, y, z = torch.nn.functional.normalize(quaternions, dim=-1).unbind(-1)
    rows = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def covariances(log_scales: Tensor, quaternions: Tensor) -> Tensor:
    """World covariances ``R S Sᵀ Rᵀ`` ``(N, 3, 3)``."""
    factor = quaternion_to_matrix(quaternions) * torch.exp(log_scales)[:, None, :]
    return factor @ factor.transpose(-1, -2)
