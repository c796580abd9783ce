"""Assets from the refined surface: ``mesh.glb`` (and OBJ/PLY) with colour, and a mesh turntable.

The marching-tetrahedra surface is cleaned as the stage-1 exporter cleans its mesh
(duplicate vertices merged, degenerate faces dropped, floaters below
``min_part_fraction`` removed, faces wound outward) and coloured from the refined colour
field (:func:`dreamlift.export.texture.apply_colour`: vertex colours or a baked UV
texture). The turntable is rasterised from a mesh and a colour field
(:func:`dreamlift.refine.render.render_mesh`), frames of :func:`dreamlift.rendering.views.turntable_views`,
Lambertian under a head light, antialiased: far cheaper than volume rendering at 512 px. A field whose albedo
is costly a point (``vertex_colour_turntable = True``: the Gaussian field, which sums the Gaussians around
each point) colours the turntable from its albedo at the mesh's vertices instead (:func:`vertex_albedo`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import trimesh

from dreamlift.errors import DreamliftError
from dreamlift.export.mesh import orient_outward, remove_floaters
from dreamlift.export.texture import to_uint8
from dreamlift.export.video import TurntableConfig, write_gif, write_mp4
from dreamlift.refine.render import AlbedoFn, render_mesh
from dreamlift.refine.tets import SurfaceMesh
from dreamlift.rendering.shading import head_lights
from dreamlift.rendering.views import turntable_views

FRAMES_PER_RENDER = 4
"""Turntable frames rasterised in one call."""


def clean_surface(surface: SurfaceMesh, min_part_fraction: float = 0.05) -> trimesh.Trimesh:
    """A clean, outward-wound trimesh of ``surface`` (see the module docstring)."""
    mesh = trimesh.Trimesh(surface.vertices.detach().cpu().double().numpy(), surface.faces.cpu().numpy(), process=True)
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise DreamliftError("the refined surface is empty: there is no mesh to export; refine with fewer steps or start a new run")
    mesh, _ = remove_floaters(mesh, min_part_fraction)
    return orient_outward(mesh)


def vertex_albedo(mesh: trimesh.Trimesh, albedo: AlbedoFn, neighbours: int = 4) -> AlbedoFn:
    """An albedo function ``(M, 3) -> (M, 3)`` near ``mesh``: ``albedo`` queried once at its vertices, then at any point
    the inverse-distance mean of its ``neighbours`` nearest vertices' (a vertex's own colour on it)."""
    from scipy.spatial import cKDTree

    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    with torch.no_grad():
        colours = torch.cat([albedo(part) for part in torch.as_tensor(vertices, dtype=torch.float32).split(1 << 15)]).float()
    tree, k = cKDTree(vertices), min(neighbours, len(vertices))

    def lookup(points: torch.Tensor) -> torch.Tensor:
        distance, index = tree.query(points.detach().cpu().double().numpy().reshape(-1, 3), k=k)
        distance, index = np.asarray(distance).reshape(len(points), k), np.asarray(index).reshape(len(points), k)
        weight = torch.as_tensor(1.0 / np.maximum(distance, 1e-9), dtype=torch.float32)
        mixed = (weight[..., None] * colours[torch.as_tensor(index)]).sum(1) / weight.sum(1, keepdim=True)
        return mixed.to(points.device)

    return lookup


def turntable_albedo(mesh: trimesh.Trimesh, field) -> AlbedoFn:
    """What colours ``mesh``'s turntable: ``field.albedo``, or :func:`vertex_albedo` for a field with ``vertex_colour_turntable``."""
    if getattr(field, "vertex_colour_turntable", False):
        return vertex_albedo(mesh, field.albedo)
    return field.albedo


def as_surface(mesh: trimesh.Trimesh) -> SurfaceMesh:
    return SurfaceMesh(torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32), torch.as_tensor(np.asarray(mesh.faces), dtype=torch.long))


@torch.no_grad()
def write_mesh_turntable(surface: SurfaceMesh, albedo: AlbedoFn, path: str | Path, config: TurntableConfig | None = None) -> list[Path]:
    """Rasterise the turntable of ``surface`` coloured by ``albedo`` and write ``path`` (.mp4), plus a GIF if asked."""
    config = config or TurntableConfig()
    config.validate()
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise DreamliftError(f"the turntable is written as .mp4, not {path.name!r}: give a path ending in .mp4")
    size = int(config.size) + int(config.size) % 2
    cameras = turntable_views(config.frames, config.elevation, config.radius, config.fovy)
    frames = []
    for start in range(0, len(cameras), FRAMES_PER_RENDER):
        chunk = cameras[start : start + FRAMES_PER_RENDER]
        lights = head_lights(chunk, float(config.ambient)) if config.shading != "albedo" else None
        out = render_mesh(surface, albedo, chunk, size, shading=config.shading, lights=lights)
        frames += [to_uint8(image.clamp(0.0, 1.0).numpy()) for image in out.image]
    written = [path]
    write_mp4(frames, path, int(config.fps))
    if config.gif:
        written.append(path.with_suffix(".gif"))
        write_gif(frames, written[-1], int(config.fps))
    return written
