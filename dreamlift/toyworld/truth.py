"""Ground truth of toy objects for scoring: occupancy, a reference mesh, silhouettes.

All in the world frame of TOYWORLD.md (+Y up, front +Z, world units).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.toyworld.render import coverage
from dreamlift.toyworld.shapes import ToyObject, distance, evaluate

MESH_HALF_EXTENT = 1.0
"""The marching-cubes grid spans ``[-1, 1]³``: the bounding sphere plus a margin, so the mesh is closed."""

_LEVEL = 1e-6
"""Marching-cubes level of ``-sdf``: the surface moves inward by a negligible 1e-6 world units."""


def inside(obj: ToyObject, points: Tensor) -> Tensor:
    """Occupancy ``(N,)`` bool of ``points`` ``(N, 3)``: the signed distance is ``<= 0``."""
    return distance(obj.shape, points) <= 0.0


def truth_mesh(obj: ToyObject, resolution: int = 128):
    """A watertight ``trimesh.Trimesh`` of ``obj`` by marching cubes on its SDF.

    ``resolution`` samples per axis over ``[-1, 1]³``; vertices in world units (+Y up,
    front +Z), faces wound outward (positive volume), vertex colours the albedo of the
    nearest part (RGBA bytes).
    """
    import mcubes
    import trimesh

    if int(resolution) < 8:
        raise DreamliftError(f"truth mesh resolution {resolution} is too small: use at least 8 (128 is the default)")
    axis = torch.linspace(-MESH_HALF_EXTENT, MESH_HALF_EXTENT, int(resolution))
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    values = torch.cat([distance(obj.shape, chunk) for chunk in grid.split(1 << 20)])
    volume = values.reshape(resolution, resolution, resolution).double().numpy()
    # Positive inside. The level sits a hair above 0 so that no sample lies exactly on it
    # (faces through grid points would give coincident vertices and a non-manifold mesh).
    vertices, faces = mcubes.marching_cubes(-volume, _LEVEL)
    spacing = 2.0 * MESH_HALF_EXTENT / (resolution - 1)
    vertices = vertices * spacing - MESH_HALF_EXTENT
    _, albedo = evaluate(obj, torch.as_tensor(vertices, dtype=torch.float32))
    colors = np.concatenate([np.round(albedo.numpy() * 255.0), np.full((len(vertices), 1), 255.0)], axis=1)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=colors.astype(np.uint8), process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def silhouette(obj: ToyObject, cameras: OrbitCameras, size: int = 32, supersample: int = 2) -> Tensor:
    """Coverage ``(B, size, size)`` in [0, 1]: the alpha channel of the object's render."""
    return coverage(obj, cameras, size, supersample)


__all__ = ["inside", "silhouette", "truth_mesh"]
