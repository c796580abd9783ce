"""Rendering a surface mesh with a colour field: what the refinement stage shows the prior.

Per pixel (:mod:`dreamlift.rendering.raster_torch`): the nearest triangle at the pixel
centre, the world position and the smooth normal there (vertex normals, area-weighted
means of the face normals, interpolated and renormalised), the albedo of the colour
field at that position, shaded as in stage 1 (:class:`~dreamlift.rendering.shading.ShadingMode`:
albedo, Lambertian under the image's light, or textureless = white albedo), composited
over the background and antialiased across silhouettes, which is what gives the
geometry gradients at its outline. Colours are display RGB in [0, 1], images
``(B, H, W, C)`` with row 0 at the top, as the volume renderer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from dreamlift.refine.regularisers import face_normals
from dreamlift.refine.tets import SurfaceMesh
from dreamlift.rendering.mesh_rasterizer import MeshRasterizer
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.shading import Lights, ShadingMode, lambertian

DEFAULT_RASTERIZER = MeshRasterizer("auto")
"""nvdiffrast on CUDA tensors when it imports, else the PyTorch reference."""

AlbedoFn = Callable[[Tensor], Tensor]
"""``points (N, 3) → albedo (N, 3)`` in [0, 1]."""


@dataclass
class MeshRender:
    """Images of a mesh: ``image (B, H, W, 3)``, ``opacity (B, H, W, 1)``, ``normals (B, H, W, 3)`` (world, unit
    where covered, 0 elsewhere), ``depth (B, H, W, 1)`` (view depth, 0 where empty)."""

    image: Tensor
    opacity: Tensor
    normals: Tensor
    depth: Tensor


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Unit vertex normals ``(V, 3)``: the area-weighted sum of the adjacent faces' normals."""
    at = vertices.index_select(0, faces.reshape(-1)).view(-1, 3, 3)
    a, b, c = at[:, 0], at[:, 1], at[:, 2]
    weighted = torch.linalg.cross(b - a, c - a, dim=-1)  # length = twice the area
    total = torch.zeros_like(vertices)
    for corner in range(3):
        total = total.index_add(0, faces[:, corner], weighted)
    return total / total.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def render_mesh(
    mesh: SurfaceMesh,
    albedo: AlbedoFn,
    cameras: OrbitCameras,
    size: int,
    shading: ShadingMode | str = ShadingMode.LAMBERTIAN,
    lights: Lights | None = None,
    background: Callable | Tensor | None = None,
    generator: torch.Generator | None = None,
    flat: bool = False,
    rasterizer: MeshRasterizer | None = None,
    supersample: int = 1,
) -> MeshRender:
    """Render ``mesh`` from ``cameras`` at ``size``×``size`` (see the module docstring).

    ``background``: None for white, a ``(3,)`` colour, or a callable of the view
    directions ``(B, H, W, 3)`` (the stage-1 :class:`~dreamlift.scene.background.Background`).
    ``flat`` shades with face normals instead of smooth ones. ``rasterizer`` picks the
    backend (default: nvdiffrast on CUDA when it is installed, else the PyTorch reference).
    ``supersample`` renders at ``size·supersample`` and averages each block of pixels, as the toy
    world's renders are made (:func:`supersampled`).
    """
    if supersample > 1:
        fine = render_mesh(mesh, albedo, cameras, size * supersample, shading, lights, background, generator, flat, rasterizer)
        return supersampled(fine, supersample)
    raster = rasterizer or DEFAULT_RASTERIZER
    shading = ShadingMode(shading)
    vertices, faces = mesh.vertices, mesh.faces
    screen = raster.project(vertices, cameras, size)
    rast = raster.rasterize(screen, faces, size)
    covered = rast.mask  # (B, H, W)
    if flat:
        normal_at_face = face_normals(vertices, faces)
        index = rast.face.clamp_min(0)
        normals = normal_at_face[index] * covered[..., None]
    else:
        normals = raster.interpolate(vertex_normals(vertices, faces), faces, rast)
        normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    points = raster.interpolate(vertices, faces, rast)
    batch = covered.shape[0]
    pixel = rast.covered if rast.covered is not None else torch.nonzero(covered.reshape(-1)).squeeze(1)  # flat, ascending
    at_pixels = lambda values: values.reshape(-1, values.shape[-1]).index_select(0, pixel)  # noqa: E731
    if shading is ShadingMode.TEXTURELESS:
        base = torch.ones(pixel.shape[0], 3, device=vertices.device, dtype=vertices.dtype)
    else:
        base = albedo(at_pixels(points))
    if shading is ShadingMode.ALBEDO or lights is None:
        shaded = base
    else:
        pixel_image = torch.div(pixel, size * size, rounding_mode="floor")
        shaded = lambertian(base, at_pixels(normals), lights.direction.index_select(0, pixel_image), lights.ambient.index_select(0, pixel_image))
    colour = torch.zeros(batch * size * size, 3, device=vertices.device, dtype=vertices.dtype).index_put((pixel,), shaded).view(batch, size, size, 3)
    alpha = covered[..., None].to(vertices.dtype)
    behind = _background(background, cameras, size, generator, vertices)
    image = colour * alpha + behind * (1.0 - alpha)
    blended = raster.antialias(torch.cat((image, alpha), dim=-1), rast, screen, faces)
    return MeshRender(image=blended[..., :3], opacity=blended[..., 3:], normals=normals, depth=rast.depth[..., None])


def supersampled(fine: MeshRender, factor: int) -> MeshRender:
    """``fine`` averaged over blocks of ``factor × factor`` pixels: colour and opacity as box-filtered coverage
    (what the toy renders are; shading taken at one pixel centre and antialiased only at the outline is
    brighter there than the pixel's mean, which a fit makes up for by growing the mesh), normals as the
    unit mean of the covered ones, depth as the mean over the covered ones (0 where none is)."""
    pool = lambda x: torch.nn.functional.avg_pool2d(x.permute(0, 3, 1, 2), factor).permute(0, 2, 3, 1)  # noqa: E731
    covered = (fine.depth > 0).to(fine.depth.dtype)
    share = pool(covered)
    normals = pool(fine.normals)
    normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12) * (share > 0)
    depth = pool(fine.depth) / share.clamp_min(1e-12)
    return MeshRender(image=pool(fine.image), opacity=pool(fine.opacity), normals=normals, depth=depth)


def _background(background, cameras: OrbitCameras, size: int, generator, like: Tensor) -> Tensor:
    if background is None:
        return torch.ones(len(cameras), size, size, 3, device=like.device, dtype=like.dtype)
    if callable(background):
        _, directions = generate_rays(cameras, size)
        return background(directions, generator)
    return background.to(like).expand(len(cameras), size, size, 3)
