"""Mesh extraction: density grid → level fitted to the renders → marching cubes → clean-up.

Steps (each a small function below):

1. Sample the field's density and albedo on a ``resolution³`` grid over
   ``[-bound, bound]³`` (:mod:`dreamlift.export.grid`).
2. Render the field from a few views with dreamlift's volume renderer and choose
   the density level of the grid whose silhouettes best match the opacity > 0.5
   masks (:mod:`dreamlift.export.threshold`), unless a level is given.
3. Marching cubes (PyMCubes) on the grid padded with one layer of zero density, so
   every surface is closed (watertight) even where the object touches the cube.
4. Remove floaters: connected pieces whose enclosed volume is below
   ``min_part_fraction`` of the largest piece's.
5. Optionally decimate to a face budget: quadric decimation when the
   ``fast-simplification`` package is installed (trimesh uses it), otherwise marching
   cubes on a coarser, trilinearly resampled grid (no extra package; uniform detail).
6. Orient faces outward (positive enclosed volume; marching cubes winds them
   consistently, so one global check keeps the insides of hollows facing in).

The mesh is in world units, +Y up, front +Z: the toy world's and glTF's frame.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from enum import Enum

import mcubes
import numpy as np
import torch
import torch.nn.functional as F
import trimesh

from dreamlift.errors import DreamliftError
from dreamlift.export._render import render_opacity
from dreamlift.export.grid import FieldGrid, sample_grid
from dreamlift.export.threshold import LevelFit, fit_level, ray_maximum, silhouette_iou
from dreamlift.rendering.views import fit_views
from dreamlift.scene.field import Field


class Decimation(str, Enum):
    """How a face budget is met."""

    AUTO = "auto"
    """Quadric decimation when fast-simplification is installed, else a coarser grid."""
    QUADRIC = "quadric"
    """trimesh's quadric decimation (needs ``pip install fast-simplification``)."""
    GRID = "grid"
    """Marching cubes on a coarser resampled grid (no extra package)."""


@dataclass
class MeshConfig:
    """Settings of mesh extraction."""

    resolution: int = 96
    """Grid points per axis; the mesh's detail is ``2·bound / (resolution − 1)`` world units (96: 0.021).
    Export time grows with its cube: on 2 CPU cores 96 takes a few seconds, 128 about twice that."""
    bound: float = 1.0
    """Half-size of the sampled cube ``[-bound, bound]³`` (the scene's bound)."""
    threshold: float | None = None
    """Density level of the surface; None fits it to the rendered opacity (recommended)."""
    fit_size: int = 64
    """Image size of the renders the level is fitted to."""
    min_part_fraction: float = 0.05
    """Pieces enclosing less than this share of the largest piece's volume are removed."""
    faces: int | None = None
    """Face budget; None keeps every face marching cubes makes."""
    decimation: Decimation = Decimation.AUTO
    """How the face budget is met."""

    def validate(self) -> None:
        if not 16 <= int(self.resolution) <= 1024:
            raise DreamliftError(f"mesh resolution {self.resolution} is out of range: give 16 to 1024 (96 is the default)")
        if not self.bound > 0:
            raise DreamliftError(f"mesh bound {self.bound} must be > 0")
        if self.threshold is not None and not (math.isfinite(self.threshold) and self.threshold > 0):
            raise DreamliftError(f"threshold {self.threshold} must be a positive density, or leave it out to fit it")
        if self.faces is not None and int(self.faces) < 100:
            raise DreamliftError(f"face budget {self.faces} is too small: give at least 100 faces")
        if not 0.0 <= self.min_part_fraction < 1.0:
            raise DreamliftError(f"min_part_fraction {self.min_part_fraction} must be in [0, 1)")
        if not 8 <= int(self.fit_size) <= 512:
            raise DreamliftError(f"fit_size {self.fit_size} must be 8 to 512 pixels")
        try:
            Decimation(self.decimation)
        except ValueError:
            raise DreamliftError(f"unknown decimation {self.decimation!r}: choose auto, quadric or grid") from None


@dataclass
class ExtractedMesh:
    """A clean, outward-facing mesh (no colours yet) and how it was made."""

    mesh: trimesh.Trimesh
    grid: FieldGrid
    """The sampled density and albedo (its spacing sets the UV bake's offset; the turntable reuses it)."""
    level: float
    """Density level of the surface."""
    silhouette_iou: float
    """IoU of the mesh level's silhouettes against the rendered opacity > 0.5 masks."""
    parts_removed: int
    """Floating pieces removed."""
    decimation: str | None
    """How the face budget was met ("quadric", "grid"), or None when not needed."""


def _empty_error(detail: str) -> DreamliftError:
    return DreamliftError(
        f"the field is empty: {detail}, so there is no surface to export; "
        "train for more steps (--steps), try another --seed, or give a lower --threshold"
    )


def fit_grid_level(
    field: Field, grid: FieldGrid, size: int = 64, occupancy=None
) -> tuple[LevelFit, torch.Tensor, torch.Tensor]:
    """Fit the level of ``grid`` to renders of ``field``; also return the ray maxima and opacity masks ``(B, size, size)``."""
    cameras = fit_views()
    opaque = render_opacity(field, cameras, size, occupancy) > 0.5
    ray_max = ray_maximum(grid, cameras, size)
    return fit_level(ray_max, opaque), ray_max, opaque


def marching_cubes(grid: FieldGrid, level: float) -> trimesh.Trimesh:
    """The closed level set ``{σ = level}`` of ``grid`` in world coordinates (may be empty).

    Where the object reaches the cube's faces, the zero padding closes the surface
    within one grid spacing outside the cube.
    """
    padded = np.pad(grid.density.numpy().astype(np.float64), 1, mode="constant", constant_values=0.0)
    vertices, faces = mcubes.marching_cubes(padded, float(level))
    vertices = grid.index_to_world(vertices - 1.0)
    return trimesh.Trimesh(vertices=vertices, faces=faces.astype(np.int64), process=True)


def remove_floaters(mesh: trimesh.Trimesh, min_fraction: float) -> tuple[trimesh.Trimesh, int]:
    """Drop pieces whose enclosed volume is below ``min_fraction`` of the largest's; return the count removed."""
    pieces = mesh.split(only_watertight=False)
    if len(pieces) <= 1:
        return mesh, 0
    volumes = np.array([abs(piece.volume) for piece in pieces])
    keep = volumes >= min_fraction * volumes.max()
    kept = [piece for piece, k in zip(pieces, keep) if k]
    return trimesh.util.concatenate(kept), int((~keep).sum())


def orient_outward(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Flip every face when the enclosed volume is negative (normals then point out)."""
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _resample(grid: FieldGrid, resolution: int) -> FieldGrid:
    density = F.interpolate(grid.density[None, None], size=(resolution,) * 3, mode="trilinear", align_corners=True)[0, 0]
    return FieldGrid(density=density, albedo=grid.albedo, bound=grid.bound)


def decimate(
    mesh: trimesh.Trimesh, grid: FieldGrid, level: float, config: MeshConfig, opaque: torch.Tensor | None = None
) -> tuple[trimesh.Trimesh, str | None]:
    """Meet ``config.faces``; return the mesh and the method used (None if already within budget).

    The coarser-grid method refits the level of each coarser grid to the opacity masks
    ``opaque`` (from :func:`fit_grid_level`) when given, since interpolating a soft
    density fall-off over wider cells moves its level set.
    """
    budget = int(config.faces)
    if len(mesh.faces) <= budget:
        return mesh, None
    method = Decimation(config.decimation)
    has_quadric = importlib.util.find_spec("fast_simplification") is not None
    if method is Decimation.QUADRIC and not has_quadric:
        raise DreamliftError("quadric decimation needs the fast-simplification package: pip install fast-simplification")
    if method is Decimation.QUADRIC or (method is Decimation.AUTO and has_quadric):
        reduced = mesh.simplify_quadric_decimation(face_count=budget)
        return reduced, Decimation.QUADRIC.value
    resolution = grid.resolution
    for _ in range(8):
        # marching-cubes face counts scale with the square of the resolution
        resolution = max(8, int(resolution * math.sqrt(budget / len(mesh.faces)) * 0.97))
        coarse = _resample(grid, resolution)
        coarse_level = level
        if opaque is not None:
            fit = fit_level(ray_maximum(coarse, fit_views(), opaque.shape[-1]), opaque)
            coarse_level = fit.level if fit.opaque_pixels else level
        mesh = marching_cubes(coarse, coarse_level)
        mesh, _ = remove_floaters(mesh, config.min_part_fraction)
        if len(mesh.faces) <= budget or resolution == 8:
            break
    if len(mesh.faces) > budget:
        raise DreamliftError(f"could not bring the mesh under {budget} faces; give a larger --faces")
    return mesh, Decimation.GRID.value


def extract_mesh(field: Field, config: MeshConfig | None = None, occupancy=None) -> ExtractedMesh:
    """Extract the surface of ``field`` (see the module docstring). Raises DreamliftError when empty.

    ``occupancy`` (the run's occupancy grid) lets the renderer skip empty space.
    """
    config = config or MeshConfig()
    config.validate()
    grid = sample_grid(field, int(config.resolution), float(config.bound))
    peak = float(grid.density.max())
    if not math.isfinite(peak):
        raise DreamliftError("the field's density is not finite (NaN or inf): the run diverged; train again with another --seed")
    if config.threshold is None:
        fit, _, opaque = fit_grid_level(field, grid, int(config.fit_size), occupancy)
        if fit.opaque_pixels == 0:
            raise _empty_error(f"no pixel of its renders is more than half opaque (peak density {peak:.3g})")
        level, match = fit.level, fit.silhouette_iou
    else:
        level = float(config.threshold)
        if peak <= level:
            raise _empty_error(f"no density exceeds the threshold {level:.3g} (peak density {peak:.3g})")
        _, ray_max, opaque = fit_grid_level(field, grid, int(config.fit_size), occupancy)
        match = silhouette_iou(ray_max, opaque, level)
        opaque = None  # a level given by hand is kept on coarser grids too
    mesh = marching_cubes(grid, level)
    if len(mesh.faces) == 0:
        raise _empty_error(f"marching cubes found no surface at density {level:.3g}")
    mesh, removed = remove_floaters(mesh, float(config.min_part_fraction))
    method = None
    if config.faces is not None:
        mesh, method = decimate(mesh, grid, level, config, opaque)
    mesh = orient_outward(mesh)
    return ExtractedMesh(mesh=mesh, grid=grid, level=level, silhouette_iou=match, parts_removed=removed, decimation=method)
