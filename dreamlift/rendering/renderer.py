"""Volume rendering of a field from orbit cameras, with empty-space skipping.

Per ray: the segment inside the bounding sphere (radius ``bound``) is cut into
``samples_per_ray`` equal steps (stratified jitter in training), samples in cells
that the occupancy grid marks empty are not evaluated (density 0), and the rest are
composited front to back:

    α_i = 1 − exp(−σ_i δ_i),  T_i = Π_{j<i} (1 − α_j),  w_i = T_i α_i,
    image = Σ w_i c_i + (1 − Σ w_i) · background.

Depth is ``Σ w_i t_i`` (ray distance), normals ``Σ w_i n_i`` (world space, not
renormalised, zero where empty), opacity ``Σ w_i``. Shading is per sample.

:meth:`VolumeRenderer.render` runs five stages, each a function of its own:
:func:`sample_rays` (rays → sample points), :func:`select_samples` (occupancy and
visibility: which samples to evaluate), :func:`evaluate_samples` (the field there),
:func:`shade_samples` (albedo → colour) and :func:`composite` (+
:func:`orientation_penalty`). Samples are indexed flat, ``r · S + s`` for sample ``s``
of ray ``r``; the rays of image ``b`` are ``b·H·W`` to ``(b+1)·H·W − 1``, row-major.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.shading import Lights, ShadingMode, lambertian
from dreamlift.scene.field import Field
from dreamlift.rendering.settings import RenderConfig


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


def intersect_box(origins: Tensor, directions: Tensor, low: Tensor | float, high: Tensor | float) -> tuple[Tensor, Tensor]:
    """Entry and exit distances of rays ``(N, 3)`` with the box ``[low, high]`` (per axis, or one value for all;
    the slab method): the entry is clamped at 0, and far ≤ near means a miss."""
    safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0 = (low - origins) / safe
    t1 = (high - origins) / safe
    return torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0), torch.maximum(t0, t1).amin(dim=-1)


def composite_weights(density: Tensor, deltas: Tensor) -> Tensor:
    """Front-to-back compositing weights ``w = T·α`` for ``density`` and ``deltas`` ``(R, S)``."""
    alpha = 1.0 - torch.exp(-density * deltas)
    transmittance = torch.cumprod(torch.cat((torch.ones_like(alpha[:, :1]), 1.0 - alpha[:, :-1] + 1e-10), dim=1), dim=1)
    return alpha * transmittance


# ------------------------------------------------------------------ 1. sampling
@dataclass
class RaySamples:
    """``S`` samples on each of ``R`` rays (the rays of a batch of images, image by image, row-major)."""

    directions: Tensor
    """``(R, 3)`` unit ray directions."""
    hit: Tensor
    """``(R,)`` bool: the ray meets the bounding sphere (samples of the others are never evaluated)."""
    t: Tensor
    """``(R, S)`` ray distance of each sample (all equal to the entry distance on a missing ray)."""
    deltas: Tensor
    """``(R, S)`` length of each sample's step (the segment inside the sphere over ``S``; 0 on a missing ray)."""
    points: Tensor
    """``(R, S, 3)`` world positions ``origin + t · direction``."""


def sample_rays(
    origins: Tensor,
    directions: Tensor,
    bound: float,
    samples_per_ray: int,
    stratified: bool = True,
    generator: torch.Generator | None = None,
) -> RaySamples:
    """Cut each ray's segment inside the sphere of radius ``bound`` into ``samples_per_ray`` equal steps.

    ``origins``, ``directions`` ``(R, 3)``. Sample ``i`` sits at fraction ``(i + u) / S``
    of the segment: ``u`` uniform in [0, 1) per sample (``stratified``, drawn from
    ``generator``, on the generator's device) or 0.5 (step midpoints).
    """
    near, far, hit = intersect_sphere(origins, directions, bound)
    device = origins.device
    num_rays, num_samples = origins.shape[0], samples_per_ray
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
    points = origins[:, None, :] + directions[:, None, :] * t[..., None]
    return RaySamples(directions=directions, hit=hit, t=t, deltas=deltas, points=points)


# ------------------------------------------------------------------ 2. selection
@dataclass
class SampleSelection:
    """The samples to evaluate."""

    index: Tensor
    """``(K,)`` flat indices ``r · S + s`` of the selected samples, ascending."""
    surface: Tensor | None
    """``(R, S)`` bool: samples that are seen (compositing weight above ``min_weight``), the only ones
    that need normals; None when every selected sample may need them (no skipping)."""


def visible_samples(
    field: Field, points: Tensor, valid: Tensor, deltas: Tensor, min_transmittance: float, min_weight: float
) -> tuple[Tensor, Tensor]:
    """Masks ``(R, S)`` of samples not hidden behind earlier ones, and of those that are also seen.

    A cheap density-only pass over the ``valid`` samples (``points (R, S, 3)``), without
    gradients; the others count as empty. *Visible*: transmittance above
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
        visible = transmittance > min_transmittance
        weight = transmittance * (1.0 - torch.exp(-tau))
        return visible, visible & (weight > min_weight)


def select_samples(
    field: Field,
    samples: RaySamples,
    occupancy: OccupancyGrid | None = None,
    skip: bool = True,
    min_transmittance: float = 1e-3,
    min_weight: float = 1e-4,
) -> SampleSelection:
    """The samples worth evaluating: on rays that hit the sphere and, with ``skip``, in cells
    ``occupancy`` marks occupied (when given) and not hidden (:func:`visible_samples`)."""
    valid = samples.hit[:, None].expand(-1, samples.t.shape[1])
    surface = None
    if skip:
        if occupancy is not None:
            valid = valid & occupancy.lookup(samples.points)
        visible, surface = visible_samples(field, samples.points, valid, samples.deltas, min_transmittance, min_weight)
        valid = valid & visible
    return SampleSelection(index=valid.reshape(-1).nonzero().squeeze(1), surface=surface)


# ------------------------------------------------------------------ 3. evaluation
@dataclass
class SampleValues:
    """The field at the selected samples; row ``k`` belongs to flat sample ``index[k]``."""

    index: Tensor
    """``(K,)`` flat sample indices (the selection's, possibly reordered)."""
    density: Tensor
    """``(K,)``."""
    albedo: Tensor
    """``(K, 3)``."""
    normals: Tensor | None
    """``(K, 3)`` unit outward normals, zero at samples off the surface; None when not asked for."""


def evaluate_samples(field: Field, points: Tensor, selection: SampleSelection, normals: bool) -> SampleValues:
    """Evaluate ``field`` at the selected rows of ``points (R·S, 3)``.

    With ``normals``, samples on the selection's surface get them from
    ``field.density_albedo_normals`` (three extra look-ups each) and the others from a
    plain ``field(...)`` call; the surface samples then come last in ``index``.
    """
    index = selection.index
    selected = points[index]
    if not normals:
        density, albedo = field(selected)
        return SampleValues(index, density, albedo, None)
    if selection.surface is None:
        density, albedo, sample_normals = field.density_albedo_normals(selected)
        return SampleValues(index, density, albedo, sample_normals)
    on_surface = selection.surface.reshape(-1)[index]
    density, albedo = field(selected[~on_surface])
    surf_density, surf_albedo, surf_normals = field.density_albedo_normals(selected[on_surface])
    return SampleValues(
        index=torch.cat((index[~on_surface], index[on_surface])),
        density=torch.cat((density, surf_density)),
        albedo=torch.cat((albedo, surf_albedo)),
        normals=torch.cat((torch.zeros_like(albedo), surf_normals)),
    )


# ------------------------------------------------------------------ 4. shading
def shade_samples(
    albedo: Tensor, normals: Tensor | None, shading: ShadingMode, lights: Lights | None, image: Tensor
) -> Tensor:
    """Colours ``(K, 3)`` of samples with ``albedo``, ``normals`` ``(K, 3)``; ``image (K,)`` is each sample's
    image in the batch, whose light (``lights``: ``(B, ·)``) shades it. Albedo shading returns ``albedo``;
    textureless shades white."""
    shading = ShadingMode(shading)
    if shading is ShadingMode.TEXTURELESS:
        albedo = torch.ones_like(albedo)
    if shading is ShadingMode.ALBEDO:
        return albedo
    if lights is None:
        raise ValueError("lambertian and textureless shading need lights")
    return lambertian(albedo, normals, lights.direction[image], lights.ambient[image])


# ------------------------------------------------------------------ 5. compositing
@dataclass
class Composite:
    """Per-ray results of compositing ``R`` rays of ``S`` samples."""

    image: Tensor
    """``(R, 3)`` colour over the background."""
    opacity: Tensor
    """``(R, 1)`` ``Σ w``."""
    depth: Tensor
    """``(R, 1)`` ``Σ w·t`` (not divided by the opacity)."""
    normals: Tensor
    """``(R, 3)`` ``Σ w·n`` (not renormalised)."""
    weights: Tensor
    """``(R, S)`` compositing weights ``w``."""


def composite(density: Tensor, colours: Tensor, normals: Tensor, t: Tensor, deltas: Tensor, background: Tensor) -> Composite:
    """Composite front to back (see the module docstring): ``density``, ``t``, ``deltas`` ``(R, S)``,
    ``colours``, ``normals`` ``(R, S, 3)`` (zero where nothing was evaluated), ``background (R, 3)``."""
    weights = composite_weights(density, deltas)
    opacity = weights.sum(1, keepdim=True)
    rgb = (weights[..., None] * colours).sum(1)
    image = rgb + (1.0 - opacity) * background
    depth = (weights * t).sum(1, keepdim=True)
    normal_image = (weights[..., None] * normals).sum(1)
    return Composite(image=image, opacity=opacity, depth=depth, normals=normal_image, weights=weights)


def orientation_penalty(weights: Tensor, normals: Tensor, directions: Tensor) -> Tensor:
    """DreamFusion's ``mean_rays Σ_i w_i · max(0, n_i · d)²`` for ``weights (R, S)``, ``normals (R, S, 3)``,
    ``directions (R, 3)``; the weights are detached (the penalty moves normals, not density)."""
    facing = (normals * directions[:, None, :]).sum(-1).clamp_min(0.0) ** 2
    return (weights.detach() * facing).sum(1).mean()


def background_colours(background, directions: Tensor, generator: torch.Generator | None) -> Tensor:
    """``(R, 3)`` background behind each ray of ``directions (B, H, W, 3)``: white for None, a tensor
    ``(B, H, W, 3)`` as it is, or a callable ``(directions, generator) -> (B, H, W, 3)``."""
    if background is None:
        return torch.ones(directions.shape[:-1].numel(), 3, dtype=directions.dtype, device=directions.device)
    if callable(background):
        return background(directions, generator).reshape(-1, 3)
    return background.reshape(-1, 3)


class VolumeRenderer:
    """Renders a :class:`~dreamlift.scene.field.Field`: the five stages above, in order."""

    def __init__(self, config: RenderConfig | None = None, occupancy: OccupancyGrid | None = None):
        self.config = config or RenderConfig()
        self.occupancy = occupancy

    def render(
        self,
        field: Field,
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
        batch, device = origins.shape[0], origins.device
        samples = sample_rays(
            origins.reshape(-1, 3), directions.reshape(-1, 3), self.config.bound, self.config.samples_per_ray, stratified, generator
        )
        selection = select_samples(
            field, samples, self.occupancy, skip, self.config.min_transmittance, self.config.min_weight
        )
        with_normals = need_normals or shading is not ShadingMode.ALBEDO
        num_rays, num_samples = samples.t.shape
        total = num_rays * num_samples
        density = torch.zeros(total, dtype=samples.points.dtype, device=device)
        colours = torch.zeros(total, 3, dtype=samples.points.dtype, device=device)
        normals = torch.zeros(total, 3, dtype=samples.points.dtype, device=device)
        if selection.index.numel() > 0:
            values = evaluate_samples(field, samples.points.reshape(-1, 3), selection, with_normals)
            image_of_sample = values.index // (num_samples * size * size)
            shaded = shade_samples(values.albedo, values.normals, shading, lights, image_of_sample)
            if values.normals is not None:
                normals = normals.index_put((values.index,), values.normals)
            density = density.index_put((values.index,), values.density)
            colours = colours.index_put((values.index,), shaded)
        normals = normals.reshape(num_rays, num_samples, 3)
        out = composite(
            density.reshape(num_rays, num_samples),
            colours.reshape(num_rays, num_samples, 3),
            normals,
            samples.t,
            samples.deltas,
            background_colours(background, directions, generator),
        )
        if with_normals:
            orientation = orientation_penalty(out.weights, normals, samples.directions)
        else:
            orientation = torch.zeros((), device=device)
        shape = (batch, size, size)
        return RenderOutput(
            image=out.image.reshape(*shape, 3),
            opacity=out.opacity.reshape(*shape, 1),
            depth=out.depth.reshape(*shape, 1),
            normals=out.normals.reshape(*shape, 3),
            orientation=orientation,
            evaluated_fraction=float(selection.index.numel()) / float(total),
        )


@torch.no_grad()
def render_field(
    field: Field,
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
