"""The CUDA fast path: the same render through ``gsplat.rasterization`` (imported here, only when used).

gsplat takes world-to-camera matrices in OpenCV axes (+Y down, looking down +Z), so the
project's OpenGL camera-to-world matrices are flipped in Y and Z and inverted; its pinhole
intrinsics use the same focal length and puts pixel centres at half-integers as
:mod:`~dreamlift.rendering.splatting.project` does. Each Gaussian is shaded once per camera
exactly as on the reference path; its facing normal rides along as three more colour channels
and gsplat's accumulated view depth (``RGB+D``) is turned into ray distance per pixel.

Differences from the PyTorch reference, which the GPU test bounds: gsplat culls at a 3-sigma
box (the reference at the exact 1/255 extent, the same box for opacities near 0.35), and it
does not compute the per-pixel orientation penalty (returned as 0; with normals that face the
camera it is 0 at every Gaussian's centre).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.renderer import RenderOutput, background_colours
from dreamlift.rendering.shading import Lights, ShadingMode
from dreamlift.rendering.splatting.project import LOW_PASS, Splats, facing_normals, focal_length
from dreamlift.rendering.splatting.rasterize import SplatRender, shade_gaussians

OPENGL_TO_OPENCV = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


def gsplat_cameras(cameras: OrbitCameras, size: int) -> tuple[Tensor, Tensor]:
    """gsplat's ``viewmats (B, 4, 4)`` (world → OpenCV camera) and ``Ks (B, 3, 3)`` for ``size``-pixel images."""
    c2w = cameras.camera_to_world() @ OPENGL_TO_OPENCV.to(cameras.elevation.device)
    focal = focal_length(cameras, size)
    intrinsics = torch.zeros(len(cameras), 3, 3, device=focal.device)
    intrinsics[:, 0, 0] = focal
    intrinsics[:, 1, 1] = focal
    intrinsics[:, :2, 2] = size / 2.0
    intrinsics[:, 2, 2] = 1.0
    return torch.linalg.inv(c2w), intrinsics


def render_splats_gsplat(
    splats: Splats,
    cameras: OrbitCameras,
    size: int,
    shading: ShadingMode | str = ShadingMode.ALBEDO,
    lights: Lights | None = None,
    background: Tensor | None = None,
    generator: torch.Generator | None = None,
    near: float = 1e-2,
) -> SplatRender:
    """:func:`~dreamlift.rendering.splatting.rasterize.render_splats` through gsplat (CUDA, float32)."""
    try:
        from gsplat import rasterization
    except ImportError as error:
        raise DreamliftError(f"the gsplat backend needs the gsplat package ({error}); install gsplat or use the torch backend") from None
    if splats.means.device.type != "cuda":
        raise DreamliftError("the gsplat backend renders on a CUDA device: move the Gaussians there or use the torch backend")
    cameras = cameras.to(splats.means.device)
    viewmats, intrinsics = gsplat_cameras(cameras, size)
    normals = facing_normals(splats, cameras.position)
    colours = shade_gaussians(splats, normals, ShadingMode(shading), lights)
    rendered, alphas, meta = rasterization(
        means=splats.means,
        quats=splats.quaternions,
        scales=torch.exp(splats.log_scales),
        opacities=splats.opacities,
        colors=torch.cat((colours, normals), dim=-1),
        viewmats=viewmats,
        Ks=intrinsics,
        width=size,
        height=size,
        near_plane=near,
        eps2d=LOW_PASS,
        packed=False,
        render_mode="RGB+D",
    )
    _, directions = generate_rays(cameras, size)
    backward_axis = cameras.camera_to_world()[:, :3, 2]
    cosine = -(directions * backward_axis[:, None, None, :]).sum(-1, keepdim=True)
    opacity = alphas
    image = rendered[..., :3] + (1.0 - opacity) * background_colours(background, directions, generator).reshape(opacity.shape[:-1] + (3,))
    means2d = meta["means2d"]
    if means2d.requires_grad:
        means2d.retain_grad()
    radii = meta["radii"].reshape(len(cameras), len(splats), -1)
    output = RenderOutput(
        image=image,
        opacity=opacity,
        depth=rendered[..., 6:7] / cosine,
        normals=rendered[..., 3:6],
        orientation=torch.zeros((), device=image.device),
        evaluated_fraction=float("nan"),
    )
    return SplatRender(output=output, means2d=means2d, visible=(radii > 0).any(-1))
