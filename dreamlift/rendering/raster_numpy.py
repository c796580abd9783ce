"""A small vectorised triangle rasteriser (numpy, not differentiable), shared by the UV bake, voxelisation and mesh ground-truth renders.

Coordinates are in pixel units: pixel ``(row, col)`` has its centre at
``(x, y) = (col + 0.5, row + 0.5)``. A pixel is covered by a triangle when its centre
is inside or on the edge (all barycentric weights ≥ 0). Work is split into batches of
at most ``max_pairs`` (triangle, pixel) candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Fragments:
    """Covered pixels: ``face``, ``row``, ``col`` ``(K,)`` and barycentric ``weights (K, 3)``."""

    face: np.ndarray
    row: np.ndarray
    col: np.ndarray
    weights: np.ndarray


def _cross(ax, ay, bx, by):
    return ax * by - ay * bx


def rasterize(triangles: np.ndarray, width: int, height: int, max_pairs: int = 1 << 22) -> Fragments:
    """Every (triangle, pixel) pair whose pixel centre lies in the triangle ``(F, 3, 2)``."""
    tri = np.asarray(triangles, dtype=np.float64)
    xs, ys = tri[..., 0], tri[..., 1]
    col0 = np.clip(np.ceil(xs.min(1) - 0.5), 0, width).astype(np.int64)
    col1 = np.clip(np.floor(xs.max(1) - 0.5), -1, width - 1).astype(np.int64)
    row0 = np.clip(np.ceil(ys.min(1) - 0.5), 0, height).astype(np.int64)
    row1 = np.clip(np.floor(ys.max(1) - 0.5), -1, height - 1).astype(np.int64)
    span_x = np.maximum(col1 - col0 + 1, 0)
    span_y = np.maximum(row1 - row0 + 1, 0)
    count = span_x * span_y
    parts: list[tuple[np.ndarray, ...]] = []
    ends = np.cumsum(count)
    start_face = 0
    while start_face < len(tri):
        base = ends[start_face - 1] if start_face else 0
        stop_face = max(int(np.searchsorted(ends, base + max_pairs, side="right")), start_face + 1)
        faces = np.arange(start_face, stop_face)
        n = count[faces]
        face = np.repeat(faces, n)
        local = np.arange(face.size) - np.repeat(np.cumsum(n) - n, n)
        col = col0[face] + local % np.maximum(span_x[face], 1)
        row = row0[face] + local // np.maximum(span_x[face], 1)
        px, py = col + 0.5, row + 0.5
        a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
        denom = _cross(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], c[:, 0] - a[:, 0], c[:, 1] - a[:, 1])
        safe = np.where(np.abs(denom) < 1e-12, 1.0, denom)
        w1 = _cross(px - a[:, 0], py - a[:, 1], c[:, 0] - a[:, 0], c[:, 1] - a[:, 1]) / safe
        w2 = _cross(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], px - a[:, 0], py - a[:, 1]) / safe
        w0 = 1.0 - w1 - w2
        keep = (np.abs(denom) >= 1e-12) & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        parts.append((face[keep], row[keep], col[keep], np.stack((w0, w1, w2), axis=1)[keep]))
        start_face = stop_face
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Fragments(empty, empty, empty, np.zeros((0, 3)))
    face, row, col, weights = (np.concatenate(items) for items in zip(*parts))
    return Fragments(face=face, row=row, col=col, weights=weights)
