"""A regular tetrahedral grid and differentiable marching tetrahedra (DMTet, arXiv 2111.04276).

Grid: ``resolution`` cubes per axis over ``[-bound, bound]³``; its ``(resolution + 1)³``
vertices are the points ``x_i = -bound + i · 2·bound / resolution``, indexed x-major
(``(ix·(R+1) + iy)·(R+1) + iz``), exactly the layout of
:func:`dreamlift.export.grid.sample_grid` at ``resolution + 1``. Each cube is split into
six tetrahedra around its main diagonal (the Kuhn / Freudenthal split: corner 0 →
one axis step → two axis steps → corner 7, one tetrahedron per order of the axes), so
neighbouring cubes split their shared faces along the same diagonal and the tet mesh
is conforming.

Marching tetrahedra: with an SDF value per vertex (negative inside), every edge whose
ends differ in sign gets one surface vertex at the linear zero crossing
``p = v_a + s_a / (s_a − s_b) · (v_b − v_a)``; a tetrahedron with one (or three)
inside vertices emits one triangle, one with two emits a quad as two triangles.
Surface vertices are shared between neighbouring tetrahedra (one per unique edge), so
the mesh is closed wherever the surface stays inside the grid. Triangles are wound so
that their normal ``(b − a) × (c − a)`` points outward (toward positive SDF). The
positions are differentiable in the vertex positions (the deformation) and the SDF
values; which triangles exist is not (it changes only when a sign flips).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

import torch
from torch import Tensor

EDGE_SLOTS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
"""The six edges of a tetrahedron as pairs of its corners; ``tet_edges[:, k]`` is edge ``EDGE_SLOTS[k]``."""


def _slot(a: int, b: int) -> int:
    return EDGE_SLOTS.index((min(a, b), max(a, b)))


def _triangle_table() -> tuple[Tensor, Tensor]:
    """``(16, 2, 3)`` edge slots of the triangles of each inside-pattern (bit ``i``: corner ``i`` inside) and their count ``(16,)``."""
    table = torch.full((16, 2, 3), -1, dtype=torch.long)
    count = torch.zeros(16, dtype=torch.long)
    for code in range(16):
        inside = [i for i in range(4) if code >> i & 1]
        outside = [i for i in range(4) if not code >> i & 1]
        if len(inside) in (1, 3):
            single = inside[0] if len(inside) == 1 else outside[0]
            others = [i for i in range(4) if i != single]
            table[code, 0] = torch.tensor([_slot(single, o) for o in others])
            count[code] = 1
        elif len(inside) == 2:
            (a, b), (c, d) = inside, outside
            quad = [_slot(a, c), _slot(a, d), _slot(b, d), _slot(b, c)]  # a cycle around the quad
            table[code, 0] = torch.tensor(quad[:3])
            table[code, 1] = torch.tensor([quad[0], quad[2], quad[3]])
            count[code] = 2
    return table, count


TRIANGLE_TABLE, TRIANGLE_COUNT = _triangle_table()


@dataclass(frozen=True)
class TetGrid:
    """Vertices ``(V, 3)`` (world units), tetrahedra ``(T, 4)``, unique edges ``(E, 2)`` and each tet's edges ``(T, 6)``."""

    resolution: int
    bound: float
    vertices: Tensor
    tets: Tensor
    edges: Tensor
    tet_edges: Tensor

    @property
    def spacing(self) -> float:
        """Edge length of a grid cube, world units."""
        return 2.0 * self.bound / self.resolution


@lru_cache(maxsize=4)
def tet_grid(resolution: int, bound: float = 1.0) -> TetGrid:
    """The Kuhn-split grid of ``resolution³`` cubes over ``[-bound, bound]³`` (see the module docstring; cached)."""
    n = int(resolution)
    if n < 2:
        raise ValueError(f"a tet grid needs at least 2 cubes per axis, got {n}")
    side = n + 1
    axis = torch.linspace(-bound, bound, side)
    vertices = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    index = torch.arange(side**3).reshape(side, side, side)
    corners = torch.stack(
        [index[dx : dx + n, dy : dy + n, dz : dz + n].reshape(-1) for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)], dim=1
    )  # (n³, 8); corner c has offset (c & 1, c >> 1 & 1, c >> 2 & 1)
    tets = []
    for order in permutations((1, 2, 4)):
        path = [0, order[0], order[0] | order[1], 7]
        tets.append(corners[:, path])
    tets = torch.cat(tets)
    pairs = tets[:, list(EDGE_SLOTS)]  # (T, 6, 2)
    low, high = pairs.min(-1).values, pairs.max(-1).values
    keys = low * side**3 + high
    unique, inverse = torch.unique(keys.reshape(-1), return_inverse=True)
    edges = torch.stack((unique // side**3, unique % side**3), dim=1)
    return TetGrid(n, float(bound), vertices, tets.contiguous(), edges, inverse.reshape(-1, 6))


def narrow_band(grid: TetGrid, sdf: Tensor, band: float) -> TetGrid:
    """The part of ``grid`` whose tetrahedra have a corner with ``|sdf| < band``: every tetrahedron the surface
    can cross while no SDF value outside the band changes sign. Same vertices; fewer tets and edges."""
    near = sdf.abs() < band
    active = near[grid.tets].any(dim=1)
    tet_edges = grid.tet_edges[active]
    used, inverse = torch.unique(tet_edges.reshape(-1), return_inverse=True)
    return TetGrid(grid.resolution, grid.bound, grid.vertices, grid.tets[active], grid.edges[used], inverse.reshape(-1, 6))


def compacted(grid: TetGrid) -> tuple[TetGrid, Tensor]:
    """``grid`` over only the vertices its tetrahedra use, and those vertices' indices ``(U,)`` in ``grid`` (sorted).

    Vertex ``i`` of the result is vertex ``used[i]`` of ``grid``; the order of tets and edges is kept, so
    marching it with ``vertices[used]`` and ``sdf[used]`` gives the same mesh, point for point, as marching
    ``grid`` (a narrow band touches a few percent of the full grid's vertices).
    """
    used, inverse = torch.unique(grid.tets.reshape(-1), return_inverse=True)
    remap = torch.full((grid.vertices.shape[0],), -1, dtype=torch.long, device=grid.tets.device)
    remap[used] = torch.arange(used.shape[0], device=grid.tets.device)
    edges = remap.index_select(0, grid.edges.reshape(-1)).view(-1, 2)
    vertices = grid.vertices.index_select(0, used)
    return TetGrid(grid.resolution, grid.bound, vertices, inverse.view(-1, 4), edges, grid.tet_edges), used


@dataclass
class SurfaceMesh:
    """A triangle mesh: ``vertices (M, 3)`` (differentiable) and ``faces (K, 3)`` int64, wound outward."""

    vertices: Tensor
    faces: Tensor

    def corners(self) -> tuple[Tensor, Tensor, Tensor]:
        """The three corners ``(K, 3)`` of every face (``index_select``: much faster on CPU than advanced indexing)."""
        at = self.vertices.index_select(0, self.faces.reshape(-1)).view(-1, 3, 3)
        return at[:, 0], at[:, 1], at[:, 2]

    def area(self) -> Tensor:
        a, b, c = self.corners()
        return 0.5 * torch.linalg.cross(b - a, c - a, dim=-1).norm(dim=-1).sum()

    def volume(self) -> Tensor:
        """Signed enclosed volume (positive when wound outward and closed)."""
        a, b, c = self.corners()
        return (a * torch.linalg.cross(b, c, dim=-1)).sum() / 6.0


def marching_tetrahedra(vertices: Tensor, sdf: Tensor, grid: TetGrid) -> SurfaceMesh:
    """The zero level set of ``sdf (V,)`` on ``grid`` with (deformed) ``vertices (V, 3)``; see the module docstring.

    Gathers use ``index_select`` (on CPU several times faster than advanced indexing, forward and backward).
    """
    device = sdf.device
    inside = sdf < 0
    edge_inside = inside.index_select(0, grid.edges.reshape(-1)).view(-1, 2)
    crossing = torch.nonzero(edge_inside[:, 0] != edge_inside[:, 1]).squeeze(1)
    crossing_edges = grid.edges.index_select(0, crossing)
    remap = torch.full((grid.edges.shape[0],), -1, dtype=torch.long, device=device)
    remap[crossing] = torch.arange(crossing.shape[0], device=device)
    ends = crossing_edges.reshape(-1)
    s_ab = sdf.index_select(0, ends).view(-1, 2)
    s_a, s_b = s_ab[:, 0], s_ab[:, 1]
    weight = (s_a / (s_a - s_b))[:, None]
    v_ab = vertices.index_select(0, ends).view(-1, 2, 3)
    v_a, v_b = v_ab[:, 0], v_ab[:, 1]
    points = v_a + weight * (v_b - v_a)

    corner_inside = inside.index_select(0, grid.tets.reshape(-1)).view(-1, 4).long()  # (T, 4)
    code = corner_inside[:, 0] + 2 * corner_inside[:, 1] + 4 * corner_inside[:, 2] + 8 * corner_inside[:, 3]
    surface = torch.nonzero(TRIANGLE_COUNT.to(device).index_select(0, code) > 0).squeeze(1)
    code, tets, tet_edges = code.index_select(0, surface), grid.tets.index_select(0, surface), grid.tet_edges.index_select(0, surface)
    table = TRIANGLE_TABLE.to(device).index_select(0, code)  # (S, 2, 3)
    valid = table[:, :, 0] >= 0  # (S, 2)
    slots = table.clamp_min(0)
    faces = remap[torch.gather(tet_edges[:, None, :].expand(-1, 2, -1), 2, slots)]  # (S, 2, 3)
    # outward: from the tet's inside corners toward its outside corners
    with torch.no_grad():
        corner = vertices.detach().index_select(0, tets.reshape(-1)).view(-1, 4, 3)  # (S, 4, 3)
        weights_in = corner_inside.index_select(0, surface).to(vertices.dtype)
        centre_in = (corner * weights_in[..., None]).sum(1) / weights_in.sum(1, keepdim=True)
        centre_out = (corner * (1 - weights_in)[..., None]).sum(1) / (1 - weights_in).sum(1, keepdim=True)
        outward = (centre_out - centre_in)[:, None, :].expand(-1, 2, -1)
        tri = points.detach().index_select(0, faces.clamp_min(0).reshape(-1)).view(-1, 2, 3, 3)  # (S, 2, 3, 3)
        normal = torch.linalg.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
        flip = (normal * outward).sum(-1) < 0
    faces = torch.where(flip[..., None], faces[..., [0, 2, 1]], faces)
    return SurfaceMesh(points, faces[valid].reshape(-1, 3))
