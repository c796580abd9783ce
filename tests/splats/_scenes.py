"""Small random Gaussian scenes and the brute-force compositor the splat tests compare against."""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.splatting import Splats, project_splats

CAMERAS = OrbitCameras.make([10.0, -5.0], [30.0, 200.0], [3.0, 2.6], [40.0, 50.0])


def random_splats(count: int, seed: int, dtype=torch.float64, radius: float = 0.6, log_scale=(-3.0, -1.8)) -> Splats:
    """``count`` Gaussians with means uniform in a ball, random rotations, opacities in about (0.1, 0.95)."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(count, 3, generator=generator, dtype=dtype)
    means = direction / direction.norm(dim=-1, keepdim=True) * radius * torch.rand(count, 1, generator=generator, dtype=dtype) ** (1 / 3)
    low, high = log_scale
    return Splats(
        means=means,
        log_scales=low + (high - low) * torch.rand(count, 3, generator=generator, dtype=dtype),
        quaternions=torch.randn(count, 4, generator=generator, dtype=dtype),
        opacity_logits=torch.empty(count, dtype=dtype).uniform_(-2.0, 3.0, generator=generator),
        colours=torch.rand(count, 3, generator=generator, dtype=dtype),
    )


def brute_force(splats: Splats, cameras: OrbitCameras, size: int, background: float = 1.0) -> dict[str, Tensor]:
    """Composite every Gaussian at every pixel, one Gaussian at a time in depth order, with no box cull.

    Uses the projection (means, conics, depth, normals) of ``project_splats``; the 1/255 cut, the
    0.99 clamp and the 1e-4 transmittance stop as the rasteriser states them.
    """
    projection = project_splats(splats, cameras, size)
    _, directions = generate_rays(cameras, size)
    directions = directions.to(splats.means.dtype)
    backward_axis = cameras.camera_to_world()[:, :3, 2].to(directions.dtype)
    rows, cols = torch.meshgrid(torch.arange(size, dtype=directions.dtype) + 0.5, torch.arange(size, dtype=directions.dtype) + 0.5, indexing="ij")
    out = {key: [] for key in ("image", "opacity", "depth", "normals")}
    for b in range(len(cameras)):
        cosine = -(directions[b] * backward_axis[b]).sum(-1)
        transmittance = torch.ones(size, size, dtype=directions.dtype)
        done = torch.zeros(size, size, dtype=torch.bool)
        rgb = torch.zeros(size, size, 3, dtype=directions.dtype)
        opacity = torch.zeros(size, size, dtype=directions.dtype)
        depth = torch.zeros(size, size, dtype=directions.dtype)
        normals = torch.zeros(size, size, 3, dtype=directions.dtype)
        for n in torch.argsort(projection.depth[b], stable=True).tolist():
            if projection.depth[b, n] <= 1e-2:
                continue
            a, c_, d = projection.conics[b, n]
            dx = cols - projection.means2d[b, n, 0]
            dy = rows - projection.means2d[b, n, 1]
            power = (-0.5 * (a * dx * dx + 2 * c_ * dx * dy + d * dy * dy)).clamp_max(0.0)
            alpha = torch.clamp(projection.opacities[n] * torch.exp(power), max=0.99)
            alpha = torch.where(alpha < 1.0 / 255.0, torch.zeros_like(alpha), alpha)
            after = transmittance * (1.0 - alpha)
            done = done | ((alpha > 0) & (after < 1e-4))
            weight = torch.where(done, torch.zeros_like(alpha), alpha * transmittance)
            transmittance = torch.where(done, transmittance, after)
            rgb = rgb + weight[..., None] * splats.colours[n]
            opacity = opacity + weight
            depth = depth + weight * projection.depth[b, n] / cosine
            normals = normals + weight[..., None] * projection.normals[b, n]
        out["image"].append(rgb + (1.0 - opacity[..., None]) * background)
        out["opacity"].append(opacity[..., None])
        out["depth"].append(depth[..., None])
        out["normals"].append(normals)
    return {key: torch.stack(value) for key, value in out.items()}
