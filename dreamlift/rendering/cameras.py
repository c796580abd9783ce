"""Orbit cameras, rays and the random camera sampler.

Conventions (mirrored from TOYWORLD.md, and used by every part of dreamlift):

* World frame: right-handed, **+Y up**, the front of an object faces **+Z**.
* An orbit camera is ``(elevation, azimuth, radius, fovy)`` in degrees and world
  units. It sits at ``(r·cos(el)·sin(az), r·sin(el), r·cos(el)·cos(az))`` and looks
  at the origin. ``az = 0, el = 0`` looks at the front from +Z; ``az = 90`` looks
  from +X (the object's right side); ``el = 90`` looks straight down.
* Camera axes follow OpenGL: the camera looks down its own −Z, +Y is up, +X is
  right. The camera's +X is ``(cos az, 0, −sin az)``: the horizontal direction
  perpendicular to the view, which is what world +Y as the up hint gives, and is
  defined even at ``el = ±90`` (there image-up points away from the azimuth).
* Image row 0 is the top row; pixel centres are at half-integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from dreamlift.rendering.settings import TOY_CAMERA, CameraRanges, OrbitLens  # noqa: F401 (re-exported; the settings live apart, without torch)


@dataclass
class OrbitCameras:
    """A batch of orbit cameras; every field has shape ``(B,)``, angles in degrees."""

    elevation: Tensor
    azimuth: Tensor
    radius: Tensor
    fovy: Tensor

    @staticmethod
    def make(elevation, azimuth, radius=TOY_CAMERA.radius, fovy=TOY_CAMERA.fovy) -> "OrbitCameras":
        """Build from scalars or sequences (broadcast to a common batch size)."""
        values = [torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in (elevation, azimuth, radius, fovy)]
        size = max(v.numel() for v in values)
        values = [v.expand(size).clone() for v in values]
        return OrbitCameras(*values)

    @staticmethod
    def cat(batches: "list[OrbitCameras]") -> "OrbitCameras":
        """One batch of the cameras of ``batches``, in order."""
        return OrbitCameras(*(torch.cat([getattr(b, f) for b in batches]) for f in ("elevation", "azimuth", "radius", "fovy")))

    def __len__(self) -> int:
        return self.elevation.numel()

    def __getitem__(self, index) -> "OrbitCameras":
        pick = lambda v: v[index].reshape(-1)  # noqa: E731
        return OrbitCameras(pick(self.elevation), pick(self.azimuth), pick(self.radius), pick(self.fovy))

    def to(self, device) -> "OrbitCameras":
        return OrbitCameras(*(v.to(device) for v in (self.elevation, self.azimuth, self.radius, self.fovy)))

    @property
    def position(self) -> Tensor:
        """Camera centres, ``(B, 3)``."""
        return orbit_position(self.elevation, self.azimuth, self.radius)

    def camera_to_world(self) -> Tensor:
        """``(B, 4, 4)`` matrices whose columns are the camera's +X, +Y, +Z and centre."""
        return camera_to_world(self.elevation, self.azimuth, self.radius)


def orbit_position(elevation: Tensor, azimuth: Tensor, radius: Tensor) -> Tensor:
    """``(B, 3)`` camera centres for angles in degrees."""
    el, az = torch.deg2rad(elevation), torch.deg2rad(azimuth)
    return torch.stack(
        (radius * torch.cos(el) * torch.sin(az), radius * torch.sin(el), radius * torch.cos(el) * torch.cos(az)),
        dim=-1,
    )


def camera_to_world(elevation: Tensor, azimuth: Tensor, radius: Tensor) -> Tensor:
    """OpenGL camera-to-world matrices ``(B, 4, 4)`` of orbit cameras looking at the origin."""
    el, az = torch.deg2rad(elevation), torch.deg2rad(azimuth)
    backward = torch.stack((torch.cos(el) * torch.sin(az), torch.sin(el), torch.cos(el) * torch.cos(az)), dim=-1)
    right = torch.stack((torch.cos(az), torch.zeros_like(az), -torch.sin(az)), dim=-1)
    up = torch.linalg.cross(backward, right, dim=-1)
    matrix = torch.zeros(elevation.shape[0], 4, 4, dtype=backward.dtype, device=backward.device)
    matrix[:, :3, 0] = right
    matrix[:, :3, 1] = up
    matrix[:, :3, 2] = backward
    matrix[:, :3, 3] = backward * radius[:, None]
    matrix[:, 3, 3] = 1.0
    return matrix


def generate_rays(cameras: OrbitCameras, height: int, width: int | None = None) -> tuple[Tensor, Tensor]:
    """Rays through pixel centres: origins and unit directions, each ``(B, H, W, 3)``.

    Row 0 is the top of the image; ``fovy`` is the full vertical field of view.
    """
    width = height if width is None else width
    device = cameras.elevation.device
    c2w = cameras.camera_to_world()
    rows = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    cols = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    v, u = torch.meshgrid(1.0 - 2.0 * rows, 2.0 * cols - 1.0, indexing="ij")
    tan_half = torch.tan(torch.deg2rad(cameras.fovy) / 2.0)[:, None, None]
    aspect = width / height
    directions_cam = torch.stack(
        (u[None] * tan_half * aspect, v[None] * tan_half, -torch.ones_like(u)[None].expand_as(u[None] * tan_half)),
        dim=-1,
    )  # (B, H, W, 3)
    directions = torch.einsum("bij,bhwj->bhwi", c2w[:, :3, :3], directions_cam)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    origins = c2w[:, None, None, :3, 3].expand_as(directions)
    return origins, directions


def sample_cameras(ranges: CameraRanges, count: int, generator: torch.Generator | None = None) -> OrbitCameras:
    """Draw ``count`` cameras uniformly from ``ranges`` (elevation uniform in degrees)."""

    def uniform(bounds):
        low, high = bounds
        return low + (high - low) * torch.rand(count, generator=generator)

    return OrbitCameras(uniform(ranges.elevation), uniform(ranges.azimuth), uniform(ranges.radius), uniform(ranges.fovy))


def wrap_degrees(angle: Tensor | float) -> Tensor:
    """Wrap angles to ``[-180, 180)``."""
    angle = torch.as_tensor(angle, dtype=torch.float32)
    return torch.remainder(angle + 180.0, 360.0) - 180.0
