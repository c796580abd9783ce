"""Mesh regularisers of the refinement stage (Magic3D §4, stable-dreamfusion's ``--dmtet``).

Both are means, so their weights do not depend on how many faces the surface has:

* normal consistency: ``mean over interior edges of 1 − n_a · n_b`` for the unit normals of
  the two faces sharing the edge (0 for a plane, 2 for a fold);
* Laplacian smoothness: ``mean over vertices of ‖v − mean(neighbours of v)‖`` (uniform
  weights; world units).
"""

from __future__ import annotations

import torch
from torch import Tensor


def mesh_edges(faces: Tensor) -> tuple[Tensor, Tensor]:
    """Unique undirected edges ``(E, 2)`` of ``faces (K, 3)`` and, per face corner edge, its edge index ``(K, 3)``.

    Edge ``k`` of a face joins its corners ``k`` and ``k + 1 (mod 3)``.
    """
    pairs = torch.stack((faces, faces.roll(-1, dims=1)), dim=-1)  # (K, 3, 2)
    low, high = pairs.min(-1).values, pairs.max(-1).values
    span = int(faces.max()) + 1 if faces.numel() else 1
    unique, inverse = torch.unique((low * span + high).reshape(-1), return_inverse=True)
    return torch.stack((unique // span, unique % span), dim=1), inverse.reshape(-1, 3)


def face_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Unit normals ``(K, 3)`` of ``faces``, ``(b − a) × (c − a)`` normalised."""
    at = vertices.index_select(0, faces.reshape(-1)).view(-1, 3, 3)  # index_select: much faster on CPU than indexing
    a, b, c = at[:, 0], at[:, 1], at[:, 2]
    normal = torch.linalg.cross(b - a, c - a, dim=-1)
    return normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def normal_consistency(vertices: Tensor, faces: Tensor, edges: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Mean ``1 − n_a·n_b`` over the edges shared by exactly two faces (0 when there are none).

    ``edges`` is :func:`mesh_edges` of ``faces`` when the caller has it already.
    """
    if faces.shape[0] < 2:
        return vertices.sum() * 0.0
    _, edge_of = edges if edges is not None else mesh_edges(faces)
    flat = edge_of.reshape(-1)
    face_index = torch.arange(faces.shape[0], device=faces.device).repeat_interleave(3)
    order = torch.argsort(flat, stable=True)
    sorted_edges, sorted_faces = flat[order], face_index[order]
    pair = sorted_edges[1:] == sorted_edges[:-1]
    if not bool(pair.any()):
        return vertices.sum() * 0.0
    normals = face_normals(vertices, faces)
    a, b = sorted_faces[:-1][pair], sorted_faces[1:][pair]
    return (1.0 - (normals.index_select(0, a) * normals.index_select(0, b)).sum(-1)).mean()


def laplacian_smoothness(vertices: Tensor, faces: Tensor, edges: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Mean ``‖v − mean(neighbours)‖`` over the vertices that have neighbours (``edges``: as in :func:`normal_consistency`)."""
    if faces.shape[0] == 0:
        return vertices.sum() * 0.0
    edges, _ = edges if edges is not None else mesh_edges(faces)
    both = torch.cat((edges, edges.flip(1)))
    total = torch.zeros_like(vertices).index_add_(0, both[:, 0], vertices.index_select(0, both[:, 1]))
    degree = torch.zeros(vertices.shape[0], device=vertices.device).index_add_(0, both[:, 0], torch.ones(both.shape[0], device=vertices.device))
    used = torch.nonzero(degree > 0).squeeze(1)
    offset = vertices.index_select(0, used) - total.index_select(0, used) / degree.index_select(0, used)[:, None]
    return offset.norm(dim=-1).mean()
