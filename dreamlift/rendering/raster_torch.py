"""A differentiable triangle rasteriser in pure PyTorch (CPU and GPU): the reference for nvdiffrast.

The four operations follow nvdiffrast's split (Laine et al. 2020, "Modular Primitives for
High-Performance Differentiable Rendering"):

* :func:`project`: world vertices → screen ``(x, y, depth)`` for :class:`OrbitCameras`,
  exactly the inverse of :func:`dreamlift.rendering.cameras.generate_rays`.
* :func:`rasterize`: per pixel the nearest triangle covering its centre (a z-buffer, no
  gradient through the choice), with perspective-correct barycentric weights and depth that
  carry gradients to the screen vertices.
* :func:`interpolate`: vertex attributes at the pixels, perspective-correct.
* :func:`antialias`: nvdiffrast's analytic silhouette blending, the only source of gradients
  that move a silhouette. Unlike nvdiffrast's kernel, which looks at the front pixel's own
  triangle only, it follows the segment on across interior edges to the outline, so a mesh
  finer than the pixels is blended where its outline is (see :func:`_silhouette_crossing`).

Screen coordinates are in pixels as in :mod:`dreamlift.rendering.raster_numpy`: pixel
``(row, col)`` has its centre at ``(x, y) = (col + 0.5, row + 0.5)``, row 0 at the top; a pixel
is covered when its centre is inside a triangle or on an edge (all barycentric weights ≥ 0).

The forward pass is vectorised: every triangle's pixel bounding box is enumerated into
(triangle, pixel) candidates (in chunks of at most ``max_pairs``), edge functions are
evaluated as planes anchored at the box's first pixel centre, and the nearest inside
candidate per pixel wins a ``scatter_reduce(amin)`` over one int64 key that packs the
float32 depth bits (monotone for positive floats) above the face index, so equal depths go
to the lower face index. Only the winners' weights are then recomputed with autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras

NEAR_PLANE = 1e-2
"""Faces with a vertex at view depth ≤ this (world units) are not drawn."""

MAX_PAIRS = 1 << 20
"""(triangle, pixel) candidates evaluated at once; bounds the z-buffer pass's memory (~150 MB)."""

_DEGENERATE = 1e-12
"""Twice the screen area (pixels²) under which a triangle covers nothing (as raster_numpy)."""

_FACE_BITS = 31

SILHOUETTE_HOPS = 64
"""Triangles the antialiasing follows a segment through, looking for the outline: a mesh finer than the pixels
has many across an edge pixel where it is seen edge-on (a 40k-face sphere at 32 px needs ~64)."""


def project(vertices: Tensor, cameras: OrbitCameras, size: int) -> Tensor:
    """Vertices ``(V, 3)`` or ``(B, V, 3)`` in the world → ``(B, V, 3)``: pixel x (column), pixel y (row), view depth.

    Agrees with :func:`~dreamlift.rendering.cameras.generate_rays` at ``height = width = size``:
    a point on the ray through the centre of pixel ``(r, c)`` lands on ``(c + 0.5, r + 0.5)``;
    depth is the distance along the camera's viewing axis (positive in front). Differentiable.
    """
    c2w = cameras.camera_to_world().to(device=vertices.device, dtype=vertices.dtype)
    if vertices.dim() == 2:
        vertices = vertices.unsqueeze(0).expand(c2w.shape[0], -1, -1)
    rotation, centre = c2w[:, :3, :3], c2w[:, None, :3, 3]
    local = torch.einsum("bvi,bij->bvj", vertices - centre, rotation)  # camera axes: +X right, +Y up, view −Z
    depth = -local[..., 2]
    safe = torch.where(depth.abs() < 1e-9, torch.full_like(depth, 1e-9), depth)
    tan_half = torch.tan(torch.deg2rad(cameras.fovy.to(device=vertices.device, dtype=vertices.dtype)) / 2.0)[:, None]
    x = (local[..., 0] / (safe * tan_half) + 1.0) * (0.5 * size)
    y = (1.0 - local[..., 1] / (safe * tan_half)) * (0.5 * size)
    return torch.stack((x, y, depth), dim=-1)


@dataclass
class Rasterized:
    """What :func:`rasterize` found at each pixel centre."""

    face: Tensor
    """``(B, H, W)`` int64 index into ``faces`` of the visible triangle, −1 where none covers the centre."""
    bary: Tensor
    """``(B, H, W, 3)`` perspective-correct barycentric weights of ``face`` at the pixel centre,
    differentiable w.r.t. the screen vertices; 0 where ``face == -1``."""
    depth: Tensor
    """``(B, H, W)`` view depth, differentiable; 0 where ``face == -1``."""
    covered: Tensor | None = None
    """``(K,)`` flat indices into ``B·H·W`` of the covered pixels (the reference sets it, so that
    :func:`interpolate` only visits those); None: derive it from ``face``."""
    raw: Tensor | None = None
    """nvdiffrast's own ``(B, H, W, 4)`` rasteriser output when that backend made this; else None."""
    clip: Tensor | None = None
    """The clip-space vertices ``(B, V, 4)`` nvdiffrast rasterised (nvdiffrast backend only)."""

    @property
    def mask(self) -> Tensor:
        """``(B, H, W)`` bool: a triangle covers the pixel centre."""
        return self.face >= 0


def _min3(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    return torch.minimum(torch.minimum(a, b), c)  # elementwise: reductions over a size-3 axis are slow on CPU


def _max3(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    return torch.maximum(torch.maximum(a, b), c)


def _face_planes(x: tuple[Tensor, ...], y: tuple[Tensor, ...], z: tuple[Tensor, ...], col0: Tensor, row0: Tensor) -> Tensor:
    """``(12, N)``: for w0, w1, w2 and 1/depth, the value at each triangle's first box centre, d/dx and d/dy."""
    ex1, ey1 = x[1] - x[0], y[1] - y[0]
    ex2, ey2 = x[2] - x[0], y[2] - y[0]
    denom = ex1 * ey2 - ey1 * ex2
    inverse = 1.0 / torch.where(denom.abs() < _DEGENERATE, torch.ones_like(denom), denom)
    px = col0.to(ex1.dtype) + 0.5 - x[0]
    py = row0.to(ex1.dtype) + 0.5 - y[0]
    w1 = ((px * ey2 - py * ex2) * inverse, ey2 * inverse, -ex2 * inverse)
    w2 = ((ex1 * py - ey1 * px) * inverse, -ey1 * inverse, ex1 * inverse)
    w0 = (1.0 - w1[0] - w2[0], -(w1[1] + w2[1]), -(w1[2] + w2[2]))
    iz = [1.0 / depth for depth in z]
    inverse_depth = tuple(w0[k] * iz[0] + w1[k] * iz[1] + w2[k] * iz[2] for k in range(3))
    return torch.stack((*w0, *w1, *w2, *inverse_depth))


@torch.no_grad()
def _zbuffer(screen: Tensor, faces: Tensor, size: int, near: float, max_pairs: int) -> Tensor:
    """``(B·H·W,)`` int64 winning face per pixel (−1 for none), no gradient."""
    batch, count_faces = screen.shape[0], faces.shape[0]
    pixels = size * size
    key_none = torch.iinfo(torch.int64).max
    zbuf = torch.full((batch * pixels,), key_none, dtype=torch.int64, device=screen.device)
    if count_faces == 0:
        return torch.full_like(zbuf, -1)
    corners = _all_corners(screen.detach(), faces)
    x, y, z = (tuple(corners[:, k, axis] for k in range(3)) for axis in range(3))
    col0 = torch.ceil(_min3(*x) - 0.5).clamp(0, size).long()
    col1 = torch.floor(_max3(*x) - 0.5).clamp(-1, size - 1).long()
    row0 = torch.ceil(_min3(*y) - 0.5).clamp(0, size).long()
    row1 = torch.floor(_max3(*y) - 0.5).clamp(-1, size - 1).long()
    area2 = (x[1] - x[0]) * (y[2] - y[0]) - (y[1] - y[0]) * (x[2] - x[0])
    drawn = (_min3(*z) > near) & (area2.abs() >= _DEGENERATE) & torch.isfinite(sum(x) + sum(y) + sum(z))
    span_x = (col1 - col0 + 1).clamp(min=0)
    count = span_x * (row1 - row0 + 1).clamp(min=0) * drawn
    live = torch.nonzero(count).squeeze(1)
    if live.numel() == 0:
        return torch.full_like(zbuf, -1)
    col0, row0, span_x, count = col0[live], row0[live], span_x[live], count[live]
    planes = _face_planes(*((tuple(v[live] for v in axis) for axis in (x, y, z))), col0, row0)
    batch_of = torch.div(live, count_faces, rounding_mode="floor")
    face_of = live - batch_of * count_faces
    base = batch_of * pixels + row0 * size + col0
    ends = torch.cumsum(count, 0)
    ends_list = ends.tolist()
    start = 0
    while start < live.numel():
        offset = ends_list[start - 1] if start else 0
        stop = max(int(torch.searchsorted(ends, offset + max_pairs, right=True)), start + 1)
        n = count[start:stop]
        local_face = torch.repeat_interleave(torch.arange(start, stop, device=screen.device), n)
        local = torch.arange(local_face.numel(), device=screen.device) - torch.repeat_interleave(ends[start:stop] - n - offset, n)
        width = span_x[local_face]
        dy = torch.div(local, width, rounding_mode="floor")
        dx = local - dy * width
        coef = planes.index_select(1, local_face)  # (12, n); far faster than planes[:, local_face] on CPU
        fx, fy = dx.to(coef.dtype), dy.to(coef.dtype)
        w0, w1, w2, inverse_depth = (coef[3 * k] + coef[3 * k + 1] * fx + coef[3 * k + 2] * fy for k in range(4))
        inside = torch.nonzero((w0 >= 0) & (w1 >= 0) & (w2 >= 0)).squeeze(1)
        chosen = local_face[inside]
        depth = (1.0 / inverse_depth[inside]).float()
        key = (depth.view(torch.int32).long() << _FACE_BITS) | face_of[chosen]
        pixel = base[chosen] + dy[inside] * size + dx[inside]
        zbuf.scatter_reduce_(0, pixel, key, reduce="amin")
        start = stop
    return torch.where(zbuf == key_none, -1, zbuf & ((1 << _FACE_BITS) - 1))


def screen_weights(corners: Tensor, px: Tensor, py: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Linear (screen-space) barycentric weights ``w0, w1, w2 (K,)`` of points ``(px, py)`` in triangles ``corners (K, 3, ≥2)``."""
    ax, ay = corners[:, 0, 0], corners[:, 0, 1]
    e1x, e1y = corners[:, 1, 0] - ax, corners[:, 1, 1] - ay
    e2x, e2y = corners[:, 2, 0] - ax, corners[:, 2, 1] - ay
    px, py = px - ax, py - ay
    denom = e1x * e2y - e1y * e2x
    denom = torch.where(denom.abs() < _DEGENERATE, torch.ones_like(denom), denom)
    w1 = (px * e2y - py * e2x) / denom
    w2 = (e1x * py - e1y * px) / denom
    return 1.0 - w1 - w2, w1, w2


def _weight_planes(corners: Tensor) -> tuple[Tensor, Tensor]:
    """Screen-space barycentric weights of triangles ``corners (K, 3, ≥2)`` as planes about the first corner
    ``(ax, ay)``: ``(K, 8)`` rows ``ax, ay, g0x, g0y, g1x, g1y, g2x, g2y`` with
    ``w_k(x, y) = [k = 0] + g_kx·(x − ax) + g_ky·(y − ay)`` (as :func:`screen_weights`), and the triangles'
    doubled signed areas ``(K,)``."""
    ax, ay = corners[:, 0, 0], corners[:, 0, 1]
    e1x, e1y = corners[:, 1, 0] - ax, corners[:, 1, 1] - ay
    e2x, e2y = corners[:, 2, 0] - ax, corners[:, 2, 1] - ay
    area = e1x * e2y - e1y * e2x
    inverse = 1.0 / torch.where(area.abs() < _DEGENERATE, torch.ones_like(area), area)
    g1x, g1y, g2x, g2y = e2y * inverse, -e2x * inverse, -e1y * inverse, e1x * inverse
    return torch.stack((ax, ay, -(g1x + g2x), -(g1y + g2y), g1x, g1y, g2x, g2y), 1), area


def _centre(flat: Tensor, size: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Pixel centres ``x, y (K,)`` of flat indices into ``B·size·size``."""
    within = torch.remainder(flat, size * size)
    row = torch.div(within, size, rounding_mode="floor")
    return (within - row * size).to(dtype) + 0.5, row.to(dtype) + 0.5


def _all_corners(screen: Tensor, faces: Tensor) -> Tensor:
    """``(B·F, 3, 3)`` screen corners of every face in every image of ``screen (B, V, 3)``, image-major."""
    offsets = torch.arange(screen.shape[0], device=screen.device)[:, None, None] * screen.shape[1]
    return screen.reshape(-1, 3).index_select(0, (faces[None] + offsets).reshape(-1)).view(-1, 3, 3)


def _gather_corners(screen: Tensor, faces: Tensor, batch_of: Tensor, face_index: Tensor) -> Tensor:
    """``(K, 3, 3)`` screen corners of ``faces[face_index]`` in batch ``batch_of``, differentiable
    (``index_select`` on flat buffers: much faster on CPU than advanced indexing)."""
    corner = faces.index_select(0, face_index) + (batch_of * screen.shape[1])[:, None]
    return screen.reshape(-1, 3).index_select(0, corner.reshape(-1)).view(-1, 3, 3)


def rasterize(screen: Tensor, faces: Tensor, size: int, near: float = NEAR_PLANE, max_pairs: int = MAX_PAIRS) -> Rasterized:
    """Rasterise triangles ``faces (F, 3)`` int64 of ``screen (B, V, 3)`` (from :func:`project`) into ``size × size``.

    Visibility by a z-buffer on perspective-correct depth (no gradient through the choice of
    face); coverage as raster_numpy (pixel centre inside or on an edge); faces with a vertex at
    depth ≤ ``near`` are skipped; both windings are drawn (no culling).
    """
    if screen.dim() != 3 or screen.shape[-1] != 3:
        raise ValueError(f"screen must be (B, V, 3), got {tuple(screen.shape)}")
    faces = faces.to(device=screen.device, dtype=torch.int64)
    batch = screen.shape[0]
    winner = _zbuffer(screen, faces, size, near, max_pairs)
    covered = torch.nonzero(winner >= 0).squeeze(1)
    batch_of = torch.div(covered, size * size, rounding_mode="floor")
    corners = _gather_corners(screen, faces, batch_of, winner.index_select(0, covered))
    w0, w1, w2 = screen_weights(corners, *_centre(covered, size, screen.dtype))
    q0, q1, q2 = w0 / corners[:, 0, 2], w1 / corners[:, 1, 2], w2 / corners[:, 2, 2]
    inverse_depth = q0 + q1 + q2
    bary = screen.new_zeros(batch * size * size, 3).index_put((covered,), torch.stack((q0, q1, q2), 1) / inverse_depth[:, None])
    depth = screen.new_zeros(batch * size * size).index_put((covered,), 1.0 / inverse_depth)
    return Rasterized(
        face=winner.view(batch, size, size),
        bary=bary.view(batch, size, size, 3),
        depth=depth.view(batch, size, size),
        covered=covered,
    )


def interpolate(attributes: Tensor, faces: Tensor, rast: Rasterized) -> Tensor:
    """Attributes ``(V, C)`` or ``(B, V, C)`` → ``(B, H, W, C)`` at the pixels, perspective-correct, 0 at background.

    Gradients reach the attributes and, through ``rast.bary``, the vertex positions.
    """
    batch, height, width = rast.face.shape
    channels = attributes.shape[-1]
    faces = faces.to(device=rast.face.device, dtype=torch.int64)
    covered = rast.covered if rast.covered is not None else torch.nonzero(rast.face.reshape(-1) >= 0).squeeze(1)
    corner = faces.index_select(0, rast.face.reshape(-1).index_select(0, covered))  # (K, 3)
    if attributes.dim() == 3:  # per-batch attributes: offset into the flattened (B·V, C)
        corner = corner + (torch.div(covered, height * width, rounding_mode="floor") * attributes.shape[1])[:, None]
        attributes = attributes.reshape(-1, channels)
    bary = rast.bary.reshape(-1, 3).index_select(0, covered)
    at = attributes.index_select(0, corner.reshape(-1)).view(-1, 3, channels)
    values = bary[:, 0:1] * at[:, 0] + bary[:, 1:2] * at[:, 1] + bary[:, 2:3] * at[:, 2]
    out = attributes.new_zeros(batch * height * width, channels).index_put((covered,), values)
    return out.view(batch, height, width, channels)


def face_neighbours(faces: Tensor) -> Tensor:
    """``(F, 3)`` int64: the face across the edge opposite each corner, −1 on a boundary edge.

    Where more than two faces share an edge, each is paired with its neighbour in sorted order.
    """
    faces = faces.to(torch.int64)
    count = faces.shape[0]
    if count == 0:
        return faces.new_zeros(0, 3)
    start, end = faces.roll(-1, 1), faces.roll(-2, 1)  # the edge opposite corner k
    key = (torch.minimum(start, end) * (int(faces.max()) + 1) + torch.maximum(start, end)).reshape(-1)
    sorted_key, order = torch.sort(key, stable=True)  # stable: a radix sort on CPU, ~5× faster
    same = sorted_key[1:] == sorted_key[:-1]
    neighbours = torch.full((3 * count,), -1, dtype=torch.int64, device=faces.device)
    first, second = order[:-1][same], order[1:][same]
    neighbours[first] = torch.div(second, 3, rounding_mode="floor")
    neighbours[second] = torch.div(first, 3, rounding_mode="floor")
    return neighbours.view(count, 3)


def antialias(image: Tensor, rast: Rasterized, screen: Tensor, faces: Tensor, neighbours: Tensor | None = None) -> Tensor:
    """``(B, H, W, C)`` → ``(B, H, W, C)``: nvdiffrast's analytic antialiasing of silhouette edges.

    For each pair of horizontally or vertically adjacent pixels whose triangles differ (one may
    be background) and are not neighbours in the mesh, the front pixel's triangle (the covered
    one, or the nearer) is followed from its pixel centre towards the other's, on through
    neighbouring triangles while it crosses interior edges: where that segment leaves the
    surface through a silhouette edge, at fraction ``t``, is the outline (no silhouette edge
    before the other pixel centre: no blending). A crossing beyond the
    midpoint (``t > ½``) blends ``t − ½`` of the front colour into the other pixel, one before
    it blends ``½ − t`` of the other colour into the front pixel. Between two triangles the
    crossed edge must be a silhouette edge (a boundary, or its neighbour faces the other way on
    the screen), so a fine mesh is not blurred inside, and a mesh finer than the pixels keeps its
    outline where it is (a first crossing taken as the outline would shrink it). ``t`` depends on the screen positions of
    the edge's vertices, which is how a mask loss moves a silhouette. ``neighbours`` is
    :func:`face_neighbours` of ``faces`` (computed when not given).
    """
    batch, height, width = rast.face.shape
    faces = faces.to(device=rast.face.device, dtype=torch.int64)
    if faces.shape[0] == 0:
        return image
    if neighbours is None:
        neighbours = face_neighbours(faces)
    grid = rast.face
    horizontal = _boundary(grid[:, :, :-1], grid[:, :, 1:], height, width)
    vertical = _boundary(grid[:, :-1, :], grid[:, 1:, :], height, width)
    first = torch.cat((horizontal, vertical))
    second = first + torch.cat((torch.ones_like(horizontal), torch.full_like(vertical, width)))
    face = grid.reshape(-1)
    depth = rast.depth.detach().reshape(-1)
    fa, fb = face.index_select(0, first), face.index_select(0, second)
    both = (fa >= 0) & (fb >= 0)
    across_a = neighbours.index_select(0, fa.clamp(min=0))
    adjacent = both & ((across_a[:, 0] == fb) | (across_a[:, 1] == fb) | (across_a[:, 2] == fb))
    apart = torch.nonzero(~adjacent).squeeze(1)  # most pairs inside a smooth mesh are neighbours: drop them first
    first, second, fa, fb, both = (v.index_select(0, apart) for v in (first, second, fa, fb, both))
    a_front = (fb < 0) | (both & (depth.index_select(0, first) <= depth.index_select(0, second)))
    front = torch.where(a_front, first, second)
    other = torch.where(a_front, second, first)
    front_face = torch.where(a_front, fa, fb)
    batch_of = torch.div(front, height * width, rounding_mode="floor")
    front_xy, other_xy = _centre(front, width, screen.dtype), _centre(other, width, screen.dtype)
    owner, edge, found = _silhouette_crossing(screen.detach(), faces, neighbours, batch_of, front_face, front_xy, other_xy)
    rows = torch.nonzero(found).squeeze(1)
    pick = edge.index_select(0, rows)[:, None]
    corners = _gather_corners(screen, faces, batch_of.index_select(0, rows), owner.index_select(0, rows))  # (K, 3, 3), differentiable
    p = torch.stack(screen_weights(corners, *(c.index_select(0, rows) for c in front_xy)), 1).gather(1, pick)[:, 0]
    q = torch.stack(screen_weights(corners, *(c.index_select(0, rows) for c in other_xy)), 1).gather(1, pick)[:, 0]
    t = (p / (p - q)).clamp(0.0, 1.0)
    front, other = front.index_select(0, rows), other.index_select(0, rows)
    flat = image.reshape(batch * height * width, -1)
    alpha = (t - 0.5)[:, None]
    target = torch.where(t > 0.5, other, front)
    delta = alpha * (flat.index_select(0, front) - flat.index_select(0, other))  # t > ½: other += (t−½)(front − other); else front += (½−t)(other − front)
    return flat.index_add(0, target, delta).view_as(image)


@torch.no_grad()
def _silhouette_crossing(
    screen: Tensor, faces: Tensor, neighbours: Tensor, batch_of: Tensor, face: Tensor,
    front_xy: tuple[Tensor, Tensor], other_xy: tuple[Tensor, Tensor], max_hops: int = SILHOUETTE_HOPS,
) -> tuple[Tensor, Tensor, Tensor]:
    """Where the segment from each front pixel centre to the other's leaves the surface's outline.

    The segment starts in ``face (K,)``; where it leaves a triangle through an interior edge (a
    neighbour facing the same way on the screen), it goes on in that neighbour, up to
    ``max_hops`` triangles: a mesh finer than the pixels rarely has the outline in the front
    pixel's own triangle, and taking the first edge crossed would blend the background into
    every such pixel (a shrunken outline, and a fit that grows the mesh to make up for it).
    Returns the triangle that owns the silhouette edge ``(K,)``, which of its edges ``(K,)``
    (opposite that corner) and whether one was found before the other pixel centre ``(K,)``.
    """
    batch, count = screen.shape[0], faces.shape[0]
    planes, area = _weight_planes(_all_corners(screen, faces))  # per (image, face): once, not per hop
    first_corner = torch.tensor([1.0, 0.0, 0.0], dtype=screen.dtype, device=screen.device)  # w_k's constant term
    ends_all = torch.stack((*front_xy, *other_xy), 1)  # (K, 4): front x, y, other x, y
    across_all = neighbours.reshape(-1)
    facing = area > 0
    theirs = facing.view(batch, count).gather(1, across_all.clamp(min=0).expand(batch, -1)).view(batch * count, 3)
    silhouette = (neighbours < 0).repeat(batch, 1) | (facing[:, None] != theirs)  # (B·F, 3): edge opposite corner k is an outline
    owner, edge = face.clone(), torch.zeros_like(face)
    found = torch.zeros(face.shape[0], dtype=torch.bool, device=face.device)
    active = torch.arange(face.shape[0], device=face.device)
    key_of = batch_of * count
    inf = torch.tensor(float("inf"), dtype=screen.dtype, device=screen.device)
    for _ in range(max_hops):
        if active.numel() == 0:
            break
        here = owner.index_select(0, active)
        key = key_of.index_select(0, active) + here
        plane = planes.index_select(0, key)  # (K, 8), see _weight_planes
        ends = ends_all.index_select(0, active)
        dx, dy = ends[:, 0::2] - plane[:, 0:1], ends[:, 1::2] - plane[:, 1:2]  # (K, 2): front, other
        gx, gy = plane[:, 2::2], plane[:, 3::2]  # (K, 3)
        p = gx * dx[:, 0:1] + gy * dy[:, 0:1] + first_corner
        q = gx * dx[:, 1:2] + gy * dy[:, 1:2] + first_corner
        crossing = torch.where((q < 0) & (q < p), (p / (p - q).clamp(min=1e-30)).clamp(min=0.0), inf)
        best, leaving = crossing.min(dim=1)
        exits = torch.isfinite(best)  # else the segment ends inside this triangle: no outline between the pixels
        slot = key * 3 + leaving
        outline = exits & silhouette.reshape(-1).index_select(0, slot)
        done = active[outline]
        found[done], edge[done] = True, leaving[outline]
        onward = exits & ~outline
        owner[active[onward]] = across_all.index_select(0, here * 3 + leaving)[onward]
        active = active[onward]
    return owner, edge, found


def _boundary(a: Tensor, b: Tensor, height: int, width: int) -> Tensor:
    """Flat indices (into ``B·height·width``) of the first pixel of each neighbour pair: ``a`` and
    ``b`` are equal-shaped views of the face image, the pair is kept where their faces differ and
    at least one is covered."""
    _, rows, columns = a.shape
    index = torch.nonzero(((a != b) & ((a >= 0) | (b >= 0))).reshape(-1)).squeeze(1)
    batch = torch.div(index, rows * columns, rounding_mode="floor")
    within = index - batch * rows * columns
    row = torch.div(within, columns, rounding_mode="floor")
    return batch * height * width + row * width + (within - row * columns)
