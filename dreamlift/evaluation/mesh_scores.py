"""Scores of an exported mesh against ground truth: volumetric IoU (best turn about +Y) and Chamfer distance.

Occupancy of the mesh is computed exactly on a voxel grid by ray parity: each column
of voxel centres along +Z is a ray; the mesh's triangles are rasterised onto the
XY grid (:mod:`dreamlift.rendering.raster_numpy`), every crossing toggles inside/outside above
it. That is exact for a closed (watertight) mesh, with no extra package (trimesh's
``contains`` needs rtree or embree). For a mesh with holes the vote of the parities
along X, Y and Z is used instead (a small hole flips at most one of them).

Grid: ``resolution³`` voxel centres over ``[-bound, bound]³``, world units, +Y up.

Turn: the truth occupancy is evaluated at points turned by ``θ`` about +Y, i.e. the
score of the mesh turned by ``θ`` (right-handed about +Y). ``θ`` is searched over the
full circle (15° steps, then 3° and 1° around the best) unless given, so a result
that is right but turned still scores; ``iou_unturned`` is the IoU at ``θ = 0``.

Chamfer distance: ``(mean_a d(a, B) + mean_b d(b, A)) / 2`` over points sampled
uniformly on both surfaces (50 000 each by default), Euclidean (not squared), world
units, at the best turn. Point-to-point distances between samples make a floor of
about ``0.5·sqrt(area / samples)`` (≈ 0.003 for a unit-sized object).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from dreamlift.errors import DreamliftError
from dreamlift.rendering.raster_numpy import rasterize

InsideFn = Callable[[np.ndarray], np.ndarray]
"""``points (N, 3) float -> (N,) bool``: the ground truth's occupancy."""

TOY_WORLD_RADIUS = 0.9
"""Every toy-world object lies inside the ball of this radius (TOYWORLD.md)."""
_JITTER = (1.2345e-4 * math.sqrt(2.0), 1.2345e-4 * math.sqrt(3.0))
"""Sub-pixel shift of the rays so that none passes exactly through a shared edge."""


@dataclass
class MeshScores:
    """Volumetric IoU and Chamfer distance of a mesh against the truth."""

    iou: float
    """Volumetric IoU at the best turn."""
    turn: float
    """Turn of the mesh about +Y (degrees) that scores best."""
    iou_unturned: float
    """Volumetric IoU as exported (turn 0)."""
    chamfer: float
    """Symmetric mean surface distance at the best turn, world units."""

    def as_dict(self) -> dict:
        return asdict(self)


def voxel_centres(resolution: int, bound: float) -> np.ndarray:
    """``(R³, 3)`` voxel centres, x-major (index ``(ix·R + iy)·R + iz``)."""
    axis = -bound + (np.arange(resolution) + 0.5) * (2.0 * bound / resolution)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def _parity(vertices: np.ndarray, faces: np.ndarray, resolution: int, bound: float, axis: int) -> np.ndarray:
    """Inside-by-parity along ``axis``; returns ``(R, R, R)`` bool indexed ``[ix, iy, iz]``."""
    u_axis, v_axis = [a for a in range(3) if a != axis]
    scale = resolution / (2.0 * bound)
    pixel = (vertices + bound) * scale  # voxel-index units; centres at i + 0.5
    flat = np.stack((pixel[:, u_axis] + _JITTER[0], pixel[:, v_axis] + _JITTER[1]), axis=1)
    frags = rasterize(flat[faces], width=resolution, height=resolution)
    depth = (pixel[faces[frags.face], axis] * frags.weights).sum(1) - 0.5  # crossing, in centre-index units
    first_above = np.clip(np.floor(depth).astype(np.int64) + 1, 0, resolution)
    counts = np.zeros((resolution, resolution, resolution + 1), dtype=np.int32)  # [u, v, along axis]
    np.add.at(counts, (frags.col, frags.row, first_above), 1)
    inside = (np.cumsum(counts, axis=2)[:, :, :resolution] % 2) == 1
    order = [0, 0, 0]
    order[u_axis], order[v_axis], order[axis] = 0, 1, 2
    return np.transpose(inside, order)


def mesh_occupancy(mesh: trimesh.Trimesh, resolution: int = 96, bound: float = 1.0) -> np.ndarray:
    """``(R, R, R)`` bool: which voxel centres lie inside ``mesh`` (see the module docstring)."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        return np.zeros((resolution,) * 3, dtype=bool)
    if mesh.is_watertight:
        return _parity(vertices, faces, resolution, bound, axis=2)
    votes = sum(_parity(vertices, faces, resolution, bound, axis=a).astype(np.int8) for a in range(3))
    return votes >= 2


def turn_about_y(points: np.ndarray, degrees: float) -> np.ndarray:
    """Points turned by ``degrees`` about +Y (right-handed: +Z goes toward +X)."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return np.stack((c * x + s * z, y, -s * x + c * z), axis=1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def _iou_at(mesh: trimesh.Trimesh, inside: InsideFn, resolution: int, bound: float, truth_radius: float | None) -> Callable[[float], float]:
    """``θ -> IoU`` of the mesh turned by θ against the truth, on one voxel grid (memoised)."""
    occupied = mesh_occupancy(mesh, resolution, bound).reshape(-1)
    centres = voxel_centres(resolution, bound)
    near = np.ones(len(centres), dtype=bool) if truth_radius is None else np.linalg.norm(centres, axis=1) <= truth_radius
    cache: dict[float, float] = {}

    def score(theta: float) -> float:
        theta = round(float(theta % 360.0), 6)
        if theta not in cache:
            # the mesh turned by θ covers p where the unturned mesh covers turn(p, -θ):
            # compare occupancy at the centres with the truth at the centres turned by +θ
            truth = np.zeros(len(centres), dtype=bool)
            truth[near] = np.asarray(inside(turn_about_y(centres[near], theta)), dtype=bool)
            cache[theta] = _iou(occupied, truth)
        return cache[theta]

    return score


def _signed(theta: float) -> float:
    theta = float(theta % 360.0)
    return theta if theta <= 180.0 else theta - 360.0


def volumetric_iou(
    mesh: trimesh.Trimesh,
    inside: InsideFn,
    *,
    resolution: int = 96,
    bound: float = 1.0,
    turn: float | None = None,
    truth_radius: float | None = None,
) -> tuple[float, float, float]:
    """``(iou at the best turn, that turn in degrees, iou at turn 0)``; ``turn`` fixes the turn instead of searching.

    The search takes 15° steps on a grid of half the resolution, then 3° and 1° steps
    around the best on the full grid; ties go to the smallest turn. ``truth_radius``
    (when the truth is known to lie inside that ball, 0.9 in the toy world) skips
    evaluating the truth elsewhere.
    """
    fine = _iou_at(mesh, inside, resolution, bound, truth_radius)
    unturned = fine(0.0)
    if turn is not None:
        return fine(float(turn)), float(turn), unturned
    coarse = _iou_at(mesh, inside, max(16, resolution // 2), bound, truth_radius)
    best = max(np.arange(0.0, 360.0, 15.0), key=lambda t: (coarse(t), -abs(_signed(t))))
    for step in (3.0, 1.0):
        best = max([best + k * step for k in range(-4, 5)], key=lambda t: (fine(t), -abs(_signed(t))))
    return fine(best), _signed(best), unturned


def chamfer_distance(a: trimesh.Trimesh, b: trimesh.Trimesh, samples: int = 50000, seed: int = 0) -> float:
    """Symmetric mean surface distance between two meshes (see the module docstring)."""
    pa, _ = trimesh.sample.sample_surface(a, samples, seed=seed)
    pb, _ = trimesh.sample.sample_surface(b, samples, seed=seed + 1)
    da, _ = cKDTree(pb).query(pa)
    db, _ = cKDTree(pa).query(pb)
    return float(0.5 * (da.mean() + db.mean()))


def score_mesh(
    mesh: trimesh.Trimesh,
    inside: InsideFn,
    truth: trimesh.Trimesh,
    *,
    resolution: int = 96,
    bound: float = 1.0,
    turn: float | None = None,
    truth_radius: float | None = None,
    samples: int = 50000,
) -> MeshScores:
    """IoU (best turn, or ``turn``) and Chamfer distance at that turn."""
    iou, best, unturned = volumetric_iou(mesh, inside, resolution=resolution, bound=bound, turn=turn, truth_radius=truth_radius)
    turned = mesh.copy()
    turned.vertices = turn_about_y(np.asarray(mesh.vertices), best)
    return MeshScores(iou=iou, turn=best, iou_unturned=unturned, chamfer=chamfer_distance(turned, truth, samples))


def score_toy_mesh(
    mesh: trimesh.Trimesh, obj, *, resolution: int = 96, turn: float | None = None, truth_resolution: int = 128
) -> MeshScores:
    """:func:`score_mesh` against the toy-world object ``obj`` (a ``ToyObject``); the truth's
    surface for the Chamfer distance is its marching-cubes mesh at ``truth_resolution``."""
    from dreamlift.toyworld.truth import inside, truth_mesh

    def inside_np(points: np.ndarray) -> np.ndarray:
        parts = [inside(obj, torch.as_tensor(chunk, dtype=torch.float32)) for chunk in np.array_split(points, max(1, len(points) // (1 << 18)))]
        return torch.cat(parts).numpy()

    truth = truth_mesh(obj, resolution=truth_resolution)
    return score_mesh(mesh, inside_np, truth, resolution=resolution, turn=turn, truth_radius=TOY_WORLD_RADIUS)


def score_mesh_file(path, obj) -> dict:
    """Volumetric IoU and Chamfer distance of the run's exported mesh against the truth."""
    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as error:  # a damaged file must not hide the other scores behind a traceback
        raise DreamliftError(f"cannot read {path} ({error.__class__.__name__}): re-export it with 'dreamlift export'") from None
    result = score_toy_mesh(mesh, obj)
    return {"mesh_iou": result.iou, "mesh_turn": result.turn, "mesh_chamfer": result.chamfer}
