"""Lights and shading, as TOYWORLD.md defines them.

Lambertian: ``albedo · (ambient + (1 − ambient) · max(0, n·l))``. The light ``l`` is a
head light: the unit vector from the origin toward the camera, turned by a random
angle of at most ``max_angle`` degrees (uniform over that spherical cap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.settings import ShadingMode  # noqa: F401 (re-exported; the settings live apart, without torch)


@dataclass
class Lights:
    """Per-image light: unit ``direction`` ``(B, 3)`` and ``ambient`` ``(B,)``."""

    direction: Tensor
    ambient: Tensor

    def to(self, device) -> "Lights":
        return Lights(self.direction.to(device), self.ambient.to(device))

    def __len__(self) -> int:
        return int(self.ambient.shape[0])

    def __getitem__(self, index) -> "Lights":
        """The lights of the images ``index`` (an int, index tensor, slice or mask), as :class:`OrbitCameras` indexes."""
        return Lights(self.direction[index].reshape(-1, 3), self.ambient[index].reshape(-1))

    def turned(self, degrees: float) -> "Lights":
        """The lights turned by ``degrees`` about +Y, as a camera's azimuth turns (right-handed: +Z goes toward +X)."""
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        x, y, z = self.direction.unbind(-1)
        return Lights(torch.stack((c * x + s * z, y, -s * x + c * z), dim=-1), self.ambient)


def sample_lights(
    cameras: OrbitCameras,
    max_angle: float = 30.0,
    ambient_range: tuple[float, float] = (0.3, 0.5),
    generator: torch.Generator | None = None,
) -> Lights:
    """Head lights jittered within ``max_angle`` degrees, ambient uniform in ``ambient_range``."""
    count = len(cameras)
    device = cameras.elevation.device
    draw_device = generator.device if generator is not None else torch.device("cpu")
    position = cameras.position.to(draw_device)  # drawn where the generator lives, returned on the cameras' device
    toward = position / position.norm(dim=-1, keepdim=True)
    cos_max = math.cos(math.radians(max_angle))
    cos_theta = 1.0 - (1.0 - cos_max) * torch.rand(count, generator=generator, device=draw_device)
    phi = 2.0 * math.pi * torch.rand(count, generator=generator, device=draw_device)
    sin_theta = torch.sqrt((1.0 - cos_theta**2).clamp_min(0.0))
    # an orthonormal frame around `toward`
    helper = torch.where(
        toward[:, 1:2].abs() < 0.9,
        toward.new_tensor([0.0, 1.0, 0.0]).expand_as(toward),
        toward.new_tensor([1.0, 0.0, 0.0]).expand_as(toward),
    )
    axis_a = torch.linalg.cross(helper, toward, dim=-1)
    axis_a = axis_a / axis_a.norm(dim=-1, keepdim=True)
    axis_b = torch.linalg.cross(toward, axis_a, dim=-1)
    direction = (
        cos_theta[:, None] * toward
        + sin_theta[:, None] * torch.cos(phi)[:, None] * axis_a
        + sin_theta[:, None] * torch.sin(phi)[:, None] * axis_b
    )
    low, high = ambient_range
    ambient = low + (high - low) * torch.rand(count, generator=generator, device=draw_device)
    return Lights(direction=direction.to(device), ambient=ambient.to(device))


def lambertian(albedo: Tensor, normals: Tensor, light_direction: Tensor, ambient: Tensor) -> Tensor:
    """Shade ``albedo`` ``(..., 3)`` with unit ``normals`` ``(..., 3)``.

    ``light_direction`` and ``ambient`` broadcast against the leading dimensions.
    """
    diffuse = (normals * light_direction).sum(-1, keepdim=True).clamp_min(0.0)
    ambient = ambient[..., None] if ambient.dim() == albedo.dim() - 1 else ambient
    return albedo * (ambient + (1.0 - ambient) * diffuse)


def head_lights(cameras: OrbitCameras, ambient: float = 0.4) -> Lights:
    """A head light exactly at each camera (no jitter): previews, evaluation and exports."""
    direction = cameras.position / cameras.position.norm(dim=-1, keepdim=True)
    return Lights(direction=direction, ambient=torch.full((len(cameras),), ambient, device=direction.device))
