"""Render 3D Gaussians into the volume renderer's :class:`~dreamlift.rendering.renderer.RenderOutput`.

Per camera: :func:`~dreamlift.rendering.splatting.project.project_splats`, shade each visible
Gaussian once with the renderer's own :func:`~dreamlift.rendering.renderer.shade_samples` (its
albedo and its facing normal, under the image's light), then composite the pairs
(:mod:`~dreamlift.rendering.splatting.composite`). The outputs follow the volume renderer's:

* ``image = Σ w·c + (1 − Σ w)·background``, ``opacity = Σ w``;
* ``depth = Σ w·t`` (not divided by the opacity) where ``t`` is the ray distance, through the
  pixel centre, to the plane at the Gaussian's view depth (``z / cos θ``);
* ``normals = Σ w·n`` (world space, not renormalised);
* ``orientation = mean_rays Σ w·max(0, n·d)²`` with the weights detached;
* ``evaluated_fraction`` = pairs composited / (pixels × Gaussians).

:func:`render_splats` also returns the projected 2D means ``(B, N, 2)``; when they need a
gradient it is retained, so after ``backward()`` ``means2d.grad`` holds each Gaussian's
screen-space (pixel) gradient, which densification accumulates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.renderer import RenderOutput, background_colours, shade_samples
from dreamlift.rendering.shading import Lights, ShadingMode
from dreamlift.rendering.splatting.composite import MAX_PAIRS, fragments
from dreamlift.rendering.splatting.project import NEAR_PLANE, Splats, project_splats


@dataclass
class SplatRender:
    """A render of Gaussians: the renderer's outputs and what densification needs."""

    output: RenderOutput
    means2d: Tensor
    """``(B, N, 2)`` pixel coordinates of the means; ``means2d.grad`` after backward (retained)."""
    visible: Tensor
    """``(B, N)`` bool: the Gaussian reached the image of camera ``b``."""


def render_splats(
    splats: Splats,
    cameras: OrbitCameras,
    size: int,
    shading: ShadingMode | str = ShadingMode.ALBEDO,
    lights: Lights | None = None,
    background: Tensor | None = None,
    generator: torch.Generator | None = None,
    near: float = NEAR_PLANE,
    max_pairs: int = MAX_PAIRS,
    backend: str = "torch",
) -> SplatRender:
    """Render ``(B, size, size, ·)`` images of ``splats`` from ``cameras``.

    ``shading``, ``lights`` and ``background`` mean what they mean to
    :meth:`~dreamlift.rendering.renderer.VolumeRenderer.render` (white background when None).
    ``backend`` is ``"torch"`` (this module) or ``"gsplat"``
    (:func:`~dreamlift.rendering.splatting.gsplat_backend.render_splats_gsplat`, CUDA only).
    """
    if backend == "gsplat":
        from dreamlift.rendering.splatting.gsplat_backend import render_splats_gsplat

        return render_splats_gsplat(splats, cameras, size, shading, lights, background, generator, near)
    shading = ShadingMode(shading)
    cameras = cameras.to(splats.means.device)
    projection = project_splats(splats, cameras, size, near)
    if projection.means2d.requires_grad:
        projection.means2d.retain_grad()
    _, directions = generate_rays(cameras, size)
    directions = directions.to(splats.means.dtype)
    colours = shade_gaussians(splats, projection.normals, shading, lights)
    frags = fragments(projection, size, max_pairs)
    batch, count = projection.visible.shape
    pixels = batch * size * size
    # one gather and one scatter of every per-Gaussian quantity: colour, 1 (opacity), view depth, normal
    table = torch.cat((colours, torch.ones_like(projection.depth)[..., None], projection.depth[..., None], projection.normals), dim=-1)
    values = table.reshape(-1, 8).index_select(0, frags.instance)
    sums = torch.zeros(pixels, 8, dtype=values.dtype, device=values.device).index_add(0, frags.pixel, frags.weight[:, None] * values)
    rgb, opacity, view_depth, normal_image = sums[:, :3], sums[:, 3:4], sums[:, 4:5], sums[:, 5:]
    flat_directions = directions.reshape(-1, 3)
    backward_axis = cameras.camera_to_world()[:, :3, 2].to(directions.dtype)  # (B, 3) camera +Z in the world
    cosine = -(directions * backward_axis[:, None, None, :]).sum(-1).reshape(-1, 1)  # cos θ of each pixel's ray
    depth = view_depth / cosine  # Σ w·z / cos θ = Σ w·t: every pair of a pixel shares its ray
    image = rgb + (1.0 - opacity) * background_colours(background, directions, generator).to(rgb.dtype)
    facing = (values[:, 5:] * flat_directions.index_select(0, frags.pixel)).sum(-1).clamp_min(0.0) ** 2
    orientation = (frags.weight.detach() * facing).sum() / pixels
    shape = (batch, size, size)
    output = RenderOutput(
        image=image.reshape(*shape, 3),
        opacity=opacity.reshape(*shape, 1),
        depth=depth.reshape(*shape, 1),
        normals=normal_image.reshape(*shape, 3),
        orientation=orientation,
        evaluated_fraction=float(len(frags.pixel)) / float(max(pixels * count, 1)),
    )
    return SplatRender(output=output, means2d=projection.means2d, visible=projection.visible)


def shade_gaussians(splats: Splats, normals: Tensor, shading: ShadingMode, lights: Lights | None) -> Tensor:
    """``(B, N, 3)`` colour of each Gaussian in each camera from its albedo and its facing ``normals (B, N, 3)``,
    through :func:`~dreamlift.rendering.renderer.shade_samples` (albedo, Lambertian or textureless)."""
    batch, count = normals.shape[:2]
    albedo = splats.colours[None].expand(batch, count, 3).reshape(-1, 3)
    image = torch.arange(batch, device=albedo.device).repeat_interleave(count)
    if lights is not None:
        lights = Lights(lights.direction.to(albedo), lights.ambient.to(albedo))
    return shade_samples(albedo, normals.reshape(-1, 3), ShadingMode(shading), lights, image).reshape(batch, count, 3)


@torch.no_grad()
def drawn_opacity(splats: Splats, cameras, drawn_size: int, size: int) -> Tensor:
    """``(B, size, size)``: the opacity the rasteriser draws of ``splats`` at ``drawn_size`` pixels, bilinearly resized to
    ``size`` (what the exporter fits a Gaussian field's mesh level to: :class:`~dreamlift.scene.gaussian_field.GaussianField`)."""
    opacity = render_splats(splats, cameras, int(drawn_size)).output.opacity.permute(0, 3, 1, 2)
    if opacity.shape[-1] != size:
        opacity = torch.nn.functional.interpolate(opacity, size=(size, size), mode="bilinear", align_corners=False)
    return opacity[:, 0]
