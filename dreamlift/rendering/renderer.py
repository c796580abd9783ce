"""Volume rendering of a field from orbit cameras, with empty-space skipping.

Per ray: the segment inside the bounding sphere (radius ``bound``) is cut into
``samples_per_ray`` equal steps (stratified jitter in training), samples in cells
that the occupancy grid marks empty are not evaluated (density 0), and the rest are
composited front to back:

    α_i = 1 − exp(−σ_i δ_i),  T_i = Π_{j<i} (1 − α_j),  w_i = T_i α_i,
    image = Σ w_i c_i + (1 − Σ w_i) · background.

Depth is ``Σ w_i t_i`` (ray distance), normals ``Σ w_i n_i`` (world space, not
renormalised, zero where empty), opacity ``Σ w_i``. Shading is per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.shading import Lights, ShadingMode, lambertian


@dataclass
class RenderConfig:
    """Settings of the volume renderer."""

    samples_per_ray: int = 32
    """Samples along each ray inside the bounding sphere."""
    bound: float = 1.0
    """Radius of the bounding sphere that holds the scene."""
    skip_empty: bool = True
    """Skip samples in cells the occupancy grid marks empty, and samples hidden behind the surface."""
    min_transmittance: float = 1e-3
    """With skipping: samples whose transmittance falls below this are not evaluated (early ray termination)."""
    min_weight: float = 1e-4
    """With skipping: samples whose compositing weight falls below this get no normal (they are not seen)."""


@dataclass
class RenderOutput:
    """Images ``(B, H, W, C)`` and the scalar regulariser terms of one render."""

    image: Tensor
    opacity: Tensor
    depth: Tensor
    normals: Tensor
    orientation: Tensor
    """DreamFusion's orientation penalty ``mean_rays Σ_i w_i · max(0, n_i · d)²`` (0 without normals)."""
    evaluated_fraction: float
    """Share of samples that were evaluated (the rest were skipped as empty)."""


def intersect_sphere(origins: Tensor, directions: Tensor, radius: float) -> tuple[Tensor, Tensor, Tensor]:
    """Entry and exit distances of unit-direction rays with a centred sphere, and a hit mask."""
    b = (origins * directions).sum(-1)
    c = (origins * origins).sum(-1) - radius**2
    disc = b * b - c
    hit = disc > 0
    root = disc.clamp_min(0.0).sqrt()
    near = (-b - root).clamp_min(0.0)
    far = -b + root
    return near, far, hit & (far > near)


def composite_weights(density: Tensor, deltas: Tensor) -> Tensor:
    """Front-to-back compositing weights ``w = T·α`` for ``density`` and ``deltas`` ``(R, S)``."""
    alpha = 1.0 - torch.exp(-density * deltas)
    transmittance = torch.cumprod(torch.cat((torch.ones_like(alpha[:, :1]), 1.0 - alpha[:, :-1] + 1e-10), dim=1), dim=1)
    return alpha * transmittance


class VolumeRenderer:
    """Renders a field (``NeRFField`` or anything with ``forward`` and ``density_albedo_normals``)."""

    def __init__(self, config: RenderConfig | None = None, occupancy: OccupancyGrid | None = None):
        self.config = config or RenderConfig()
        self.occupancy = occupancy

    def render(
        self,
        field,
        cameras: OrbitCameras,
        size: int,
        shading: ShadingMode = ShadingMode.ALBEDO,
        lights: Lights | None = None,
        background: Tensor | None = None,
        generator: torch.Generator | None = None,
        stratified: bool = True,
        need_normals: bool = False,
        skip_empty: bool | None = None,
    ) -> RenderOutput:
        """Render ``(B, size, size, ·)`` images.

        ``background`` is a tensor ``(B, H, W, 3)``, or a callable ``(directions (B, H, W, 3), generator)
        -> (B, H, W, 3)`` such as :class:`~dreamlift.scene.background.Background`; white when None.
        """
        shading = ShadingMode(shading)
        skip = self.config.skip_empty if skip_empty is None else skip_empty
        origins, directions = generate_rays(cameras, size)
        device = origins.device
        batch = origins.shape[0]
        o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
        num_rays, num_samples = o.shape[0], self.config.samples_per_ray
        near, far, hit = intersect_sphere(o, d, self.config.bound)
        # random draws on the generator's device (a CPU generator also serves GPU renders)
        offsets = (
            torch.rand(num_rays, num_samples, generator=generator, device=generator.device if generator else device).to(device)
            if stratified
            else torch.full((num_rays, num_samples), 0.5, device=device)
        )
        steps = (torch.arange(num_samples, dtype=torch.float32, device=device)[None] + offsets) / num_samples
        span = (far - near).clamp_min(0.0)
        t = near[:, None] + span[:, None] * steps
        deltas = (span / num_samples)[:, None].expand(-1, num_samples)
        points = o[:, None, :] + d[:, None, :] * t[..., None]

        valid = hit[:, None].expand(-1, num_samples)
        surface = valid
        if skip:
            if self.occupancy is not None:
                valid = valid & self.occupancy.lookup(points)
            visible, surface = self._visible(field, points, valid, deltas)
            valid = valid & visible
        index = valid.reshape(-1).nonzero().squeeze(1)
        selected = points.reshape(-1, 3)[index]

        with_normals = need_normals or shading is not ShadingMode.ALBEDO
        total = num_rays * num_samples
        density = torch.zeros(total, dtype=points.dtype, device=device)
        colors = torch.zeros(total, 3, dtype=points.dtype, device=device)
        normals = torch.zeros(total, 3, dtype=points.dtype, device=device)
        if index.numel() > 0:
            if with_normals:
                # normals (three extra look-ups each) only where the sample can be seen at all
                on_surface = surface.reshape(-1)[index]
                sel_density, sel_albedo = field(selected[~on_surface]) if skip else (None, None)
                surf_density, surf_albedo, surf_normals = field.density_albedo_normals(selected[on_surface])
                if skip:
                    order = torch.cat((index[~on_surface], index[on_surface]))
                    index = order
                    sel_density = torch.cat((sel_density, surf_density))
                    sel_albedo = torch.cat((sel_albedo, surf_albedo))
                    sel_normals = torch.cat((torch.zeros_like(sel_albedo[: (~on_surface).sum()]), surf_normals))
                else:
                    sel_density, sel_albedo, sel_normals = surf_density, surf_albedo, surf_normals
                normals = normals.index_put((index,), sel_normals)
            else:
                sel_density, sel_albedo = field(selected)
            if shading is ShadingMode.TEXTURELESS:
                sel_albedo = torch.ones_like(sel_albedo)
            if shading is not ShadingMode.ALBEDO:
                if lights is None:
                    raise ValueError("lambertian and textureless shading need lights")
                ray_image = torch.arange(batch, device=device).repeat_interleave(size * size)
                sample_image = ray_image[:, None].expand(-1, num_samples).reshape(-1)[index]
                sel_albedo = lambertian(sel_albedo, sel_normals, lights.direction[sample_image], lights.ambient[sample_image])
            density = density.index_put((index,), sel_density)
            colors = colors.index_put((index,), sel_albedo)
        density = density.reshape(num_rays, num_samples)
        weights = composite_weights(density, deltas)
        opacity = weights.sum(1, keepdim=True)
        rgb = (weights[..., None] * colors.reshape(num_rays, num_samples, 3)).sum(1)
        if background is None:
            background_flat = torch.ones_like(rgb)
        elif callable(background):
            background_flat = background(directions, generator).reshape(-1, 3)
        else:
            background_flat = background.reshape(-1, 3)
        image = rgb + (1.0 - opacity) * background_flat
        depth = (weights * t).sum(1, keepdim=True)
        normals = normals.reshape(num_rays, num_samples, 3)
        normal_image = (weights[..., None] * normals).sum(1)
        if with_normals:
            facing = (normals * d[:, None, :]).sum(-1).clamp_min(0.0) ** 2
            orientation = (weights.detach() * facing).sum(1).mean()
        else:
            orientation = torch.zeros((), device=device)
        shape = (batch, size, size)
        return RenderOutput(
            image=image.reshape(*shape, 3),
            opacity=opacity.reshape(*shape, 1),
            depth=depth.reshape(*shape, 1),
            normals=normal_image.reshape(*shape, 3),
            orientation=orientation,
            evaluated_fraction=float(index.numel()) / float(total),
        )


    def _visible(self, field, points: Tensor, valid: Tensor, deltas: Tensor) -> tuple[Tensor, Tensor]:
        """Masks ``(R, S)`` of samples not hidden behind earlier ones, and of those that are also seen.

        A cheap density-only pass without gradients. *Visible*: transmittance above
        ``min_transmittance`` (samples behind the surface have weight, and so gradient,
        below it). *Surface*: visible with compositing weight above ``min_weight``; only
        these need normals for shading.
        """
        with torch.no_grad():
            index = valid.reshape(-1).nonzero().squeeze(1)
            density = torch.zeros(valid.numel(), dtype=points.dtype, device=points.device)
            if index.numel() > 0:
                density = density.index_put((index,), field.density(points.reshape(-1, 3)[index]))
            tau = density.reshape(valid.shape) * deltas
            transmittance = torch.exp(-(tau.cumsum(1) - tau))
            visible = transmittance > self.config.min_transmittance
            weight = transmittance * (1.0 - torch.exp(-tau))
            return visible, visible & (weight > self.config.min_weight)


@torch.no_grad()
def render_field(
    field,
    cameras: OrbitCameras,
    size: int,
    shading: str = "albedo",
    lights: Lights | None = None,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    samples_per_ray: int = 64,
    occupancy: OccupancyGrid | None = None,
    normals: bool = True,
    cameras_per_batch: int = 8,
) -> dict[str, Tensor]:
    """Render a field for viewing, scoring or export: no gradients, no jitter, in batches of cameras.

    Returns ``image (B,H,W,3)``, ``opacity (B,H,W,1)``, ``depth (B,H,W,1)``, ``normals (B,H,W,3)``
    (zeros when ``normals`` is False and the shading needs none). Empty space is skipped with
    ``occupancy`` grown by one cell, and samples hidden behind the surface are not evaluated.
    """
    parameters = field.parameters() if hasattr(field, "parameters") else iter(())
    device = next((p.device for p in parameters), torch.device("cpu"))
    occupancy = None if occupancy is None else occupancy.dilated().to(device)
    renderer = VolumeRenderer(RenderConfig(samples_per_ray=samples_per_ray, skip_empty=True), occupancy)
    outputs: dict[str, list[Tensor]] = {"image": [], "opacity": [], "depth": [], "normals": []}
    cameras = cameras.to(device)
    lights = None if lights is None else lights.to(device)
    color = torch.tensor(background, dtype=torch.float32, device=device)
    for start in range(0, len(cameras), cameras_per_batch):
        part = torch.arange(start, min(start + cameras_per_batch, len(cameras)), device=device)
        light = None if lights is None else Lights(lights.direction[part], lights.ambient[part])
        out = renderer.render(
            field,
            cameras[part],
            size,
            shading=ShadingMode(shading),
            lights=light,
            background=color.expand(len(part), size, size, 3),
            stratified=False,
            need_normals=normals,
        )
        for key in outputs:
            outputs[key].append(getattr(out, key))
    return {key: torch.cat(value).cpu() for key, value in outputs.items()}
