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
  that move a silhouette.

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

MAX_PAIRS = 1 << 21
"""(triangle, pixel) candidates evaluated at once; bounds the rasteriser's memory (~100 MB)."""

_DEGENERATE = 1e-12
"""Twice the screen area (pixels²) under which a triangle covers nothing (as raster_numpy)."""

_FACE_BITS = 31


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
    raw: Tensor | None = None
    """nvdiffrast's own ``(B, H, W, 4)`` rasteriser output when that backend made this; else None."""
    clip: Tensor | None = None
    """The clip-space vertices ``(B, V, 4)`` nvdiffrast rasterised (nvdiffrast backend only)."""

    @property
    def mask(self) -> Tensor:
        """``(B, H, W)`` bool: a triangle covers the pixel centre."""
        return self.face >= 0


def _face_planes(tri: Tensor, col0: Tensor, row0: Tensor) -> Tensor:
    """``(N, 3, 3)`` per triangle: rows w0, w1, w2, 1/depth; columns value at the first box centre, d/dx, d/dy."""
    ax, ay = tri[:, 0, 0], tri[:, 0, 1]
    ex1, ey1 = tri[:, 1, 0] - ax, tri[:, 1, 1] - ay
    ex2, ey2 = tri[:, 2, 0] - ax, tri[:, 2, 1] - ay
    denom = ex1 * ey2 - ey1 * ex2
    denom = torch.where(denom.abs() < _DEGENERATE, torch.ones_like(denom), denom)
    px = col0.to(tri.dtype) + 0.5 - ax
    py = row0.to(tri.dtype) + 0.5 - ay
    w1 = torch.stack(((px * ey2 - py * ex2) / denom, ey2 / denom, -ex2 / denom), dim=1)
    w2 = torch.stack(((ex1 * py - ey1 * px) / denom, -ey1 / denom, ex1 / denom), dim=1)
    w0 = -(w1 + w2)
    w0[:, 0] += 1.0
    weights = torch.stack((w0, w1, w2), dim=1)  # (N, 3 weights, 3 coefficients)
    inverse_depth = (weights / tri[:, :, 2:3]).sum(1, keepdim=True)
    return torch.cat((weights, inverse_depth), dim=1)  # (N, 4, 3)


@torch.no_grad()
def _zbuffer(screen: Tensor, faces: Tensor, size: int, near: float, max_pairs: int) -> Tensor:
    """``(B·H·W,)`` int64 winning face per pixel (−1 for none), no gradient."""
    batch, count_faces = screen.shape[0], faces.shape[0]
    pixels = size * size
    key_none = torch.iinfo(torch.int64).max
    zbuf = torch.full((batch * pixels,), key_none, dtype=torch.int64, device=screen.device)
    if count_faces == 0:
        return torch.full_like(zbuf, -1)
    tri = screen.detach()[:, faces].reshape(batch * count_faces, 3, 3)
    xs, ys = tri[..., 0], tri[..., 1]
    col0 = torch.ceil(xs.amin(1) - 0.5).clamp(0, size).long()
    col1 = torch.floor(xs.amax(1) - 0.5).clamp(-1, size - 1).long()
    row0 = torch.ceil(ys.amin(1) - 0.5).clamp(0, size).long()
    row1 = torch.floor(ys.amax(1) - 0.5).clamp(-1, size - 1).long()
    area2 = (tri[:, 1, 0] - xs[:, 0]) * (tri[:, 2, 1] - ys[:, 0]) - (tri[:, 1, 1] - ys[:, 0]) * (tri[:, 2, 0] - xs[:, 0])
    drawn = (tri[..., 2] > near).all(1) & (area2.abs() >= _DEGENERATE) & torch.isfinite(tri).all(2).all(1)
    span_x = (col1 - col0 + 1).clamp(min=0)
    span_y = (row1 - row0 + 1).clamp(min=0)
    count = span_x * span_y * drawn
    live = torch.nonzero(count).squeeze(1)
    if live.numel() == 0:
        return torch.full_like(zbuf, -1)
    tri, col0, row0, span_x, count = tri[live], col0[live], row0[live], span_x[live], count[live]
    planes = _face_planes(tri, col0, row0).reshape(-1, 12)
    batch_of = live // count_faces
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
        coef = planes[local_face].view(-1, 4, 3)
        values = coef[:, :, 0] + coef[:, :, 1] * dx[:, None].to(coef.dtype) + coef[:, :, 2] * dy[:, None].to(coef.dtype)
        inside = (values[:, :3] >= 0).all(1)
        inside_index = torch.nonzero(inside).squeeze(1)
        chosen = local_face[inside_index]
        depth = (1.0 / values[inside_index, 3]).float()
        key = (depth.view(torch.int32).long() << _FACE_BITS) | face_of[chosen]
        pixel = base[chosen] + dy[inside_index] * size + dx[inside_index]
        zbuf.scatter_reduce_(0, pixel, key, reduce="amin")
        start = stop
    return torch.where(zbuf == key_none, -1, zbuf & ((1 << _FACE_BITS) - 1))


def screen_weights(corners: Tensor, points: Tensor) -> Tensor:
    """Linear (screen-space) barycentric weights ``(..., 3)`` of ``points (..., 2)`` in triangles ``corners (..., 3, ≥2)``."""
    a = corners[..., 0, :2]
    e1, e2 = corners[..., 1, :2] - a, corners[..., 2, :2] - a
    p = points - a
    denom = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
    denom = torch.where(denom.abs() < _DEGENERATE, torch.ones_like(denom), denom)
    w1 = (p[..., 0] * e2[..., 1] - p[..., 1] * e2[..., 0]) / denom
    w2 = (e1[..., 0] * p[..., 1] - e1[..., 1] * p[..., 0]) / denom
    return torch.stack((1.0 - w1 - w2, w1, w2), dim=-1)


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
    face_index = winner[covered]
    batch_of = torch.div(covered, size * size, rounding_mode="floor")
    within = covered - batch_of * size * size
    row = torch.div(within, size, rounding_mode="floor")
    centres = torch.stack((within - row * size, row), dim=1).to(screen.dtype) + 0.5
    corners = screen[batch_of[:, None], faces[face_index]]  # (K, 3, 3), differentiable
    linear = screen_weights(corners, centres)
    perspective = linear / corners[..., 2]
    inverse_depth = perspective.sum(1, keepdim=True)
    bary = screen.new_zeros(batch * size * size, 3).index_put((covered,), perspective / inverse_depth)
    depth = screen.new_zeros(batch * size * size).index_put((covered,), 1.0 / inverse_depth[:, 0])
    return Rasterized(
        face=winner.view(batch, size, size),
        bary=bary.view(batch, size, size, 3),
        depth=depth.view(batch, size, size),
    )


def interpolate(attributes: Tensor, faces: Tensor, rast: Rasterized) -> Tensor:
    """Attributes ``(V, C)`` or ``(B, V, C)`` → ``(B, H, W, C)`` at the pixels, perspective-correct, 0 at background.

    Gradients reach the attributes and, through ``rast.bary``, the vertex positions.
    """
    batch, height, width = rast.face.shape
    faces = faces.to(device=rast.face.device, dtype=torch.int64)
    if faces.shape[0] == 0:
        return attributes.new_zeros(batch, height, width, attributes.shape[-1])
    corner = faces[rast.face.clamp(min=0)]  # (B, H, W, 3)
    if attributes.dim() == 2:
        values = attributes[corner]
    else:
        values = attributes[torch.arange(batch, device=corner.device)[:, None, None, None], corner]
    return (rast.bary.unsqueeze(-1) * values).sum(-2)  # bary is 0 at background


def face_neighbours(faces: Tensor) -> Tensor:
    """``(F, 3)`` int64: the face across the edge opposite each corner, −1 on a boundary edge.

    Where more than two faces share an edge, each is paired with its neighbour in sorted order.
    """
    faces = faces.to(torch.int64)
    count = faces.shape[0]
    ends = torch.stack((faces[:, [1, 2, 0]], faces[:, [2, 0, 1]]), dim=-1).reshape(-1, 2)  # edge opposite corner k
    low, high = ends.amin(1), ends.amax(1)
    key = low * (int(faces.max()) + 1 if count else 1) + high
    order = torch.argsort(key)
    sorted_key = key[order]
    same = sorted_key[1:] == sorted_key[:-1]
    neighbours = torch.full((3 * count,), -1, dtype=torch.int64, device=faces.device)
    first, second = order[:-1][same], order[1:][same]
    neighbours[first] = torch.div(second, 3, rounding_mode="floor")
    neighbours[second] = torch.div(first, 3, rounding_mode="floor")
    return neighbours.view(count, 3)


def _signed_area(corners: Tensor) -> Tensor:
    e1, e2 = corners[..., 1, :2] - corners[..., 0, :2], corners[..., 2, :2] - corners[..., 0, :2]
    return e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]


def antialias(image: Tensor, rast: Rasterized, screen: Tensor, faces: Tensor, neighbours: Tensor | None = None) -> Tensor:
    """``(B, H, W, C)`` → ``(B, H, W, C)``: nvdiffrast's analytic antialiasing of silhouette edges.

    For each pair of horizontally or vertically adjacent pixels whose triangles differ (one may
    be background) and are not neighbours in the mesh, the front pixel's triangle (the covered
    one, or the nearer) is followed from its pixel centre towards the other's: where that
    segment leaves the triangle, at fraction ``t``, is the silhouette. A crossing beyond the
    midpoint (``t > ½``) blends ``t − ½`` of the front colour into the other pixel, one before
    it blends ``½ − t`` of the other colour into the front pixel. Between two triangles the
    crossed edge must be a silhouette edge (a boundary, or its neighbour faces the other way on
    the screen), so a fine mesh is not blurred inside. ``t`` depends on the screen positions of
    the edge's vertices, which is how a mask loss moves a silhouette. ``neighbours`` is
    :func:`face_neighbours` of ``faces`` (computed when not given).
    """
    batch, height, width = rast.face.shape
    faces = faces.to(device=rast.face.device, dtype=torch.int64)
    if faces.shape[0] == 0:
        return image
    if neighbours is None:
        neighbours = face_neighbours(faces)
    face = rast.face.reshape(-1)
    depth = rast.depth.detach().reshape(-1)
    grid = torch.arange(batch * height * width, device=face.device).view(batch, height, width)
    pairs = torch.cat((
        torch.stack((grid[:, :, :-1].reshape(-1), grid[:, :, 1:].reshape(-1)), 1),
        torch.stack((grid[:, :-1, :].reshape(-1), grid[:, 1:, :].reshape(-1)), 1),
    ))
    fa, fb = face[pairs[:, 0]], face[pairs[:, 1]]
    keep = (fa != fb) & ((fa >= 0) | (fb >= 0))
    pairs, fa, fb = pairs[keep], fa[keep], fb[keep]
    both = (fa >= 0) & (fb >= 0)
    adjacent = both & (neighbours[fa.clamp(min=0)] == fb[:, None]).any(1)
    pairs, fa, fb, both = pairs[~adjacent], fa[~adjacent], fb[~adjacent], both[~adjacent]
    a_front = (fb < 0) | (both & (depth[pairs[:, 0]] <= depth[pairs[:, 1]]))
    front = torch.where(a_front, pairs[:, 0], pairs[:, 1])
    other = torch.where(a_front, pairs[:, 1], pairs[:, 0])
    front_face = torch.where(a_front, fa, fb)
    pixels = height * width
    batch_of = torch.div(front, pixels, rounding_mode="floor")

    def centre(index: Tensor) -> Tensor:
        within = index - batch_of * pixels
        row = torch.div(within, width, rounding_mode="floor")
        return torch.stack((within - row * width, row), dim=1).to(screen.dtype) + 0.5

    corners = screen[batch_of[:, None], faces[front_face]]  # (K, 3, 3), differentiable
    at_front = screen_weights(corners, centre(front))
    at_other = screen_weights(corners, centre(other))
    with torch.no_grad():
        leaving = at_other < 0
        crossing = torch.where(leaving, at_front / (at_front - at_other).clamp(min=1e-12), torch.full_like(at_front, float("inf")))
        edge = crossing.argmin(1)
        found = leaving.any(1)
        across = neighbours[front_face, edge]
        own_area = _signed_area(corners.detach())
        across_corners = screen[batch_of[:, None], faces[across.clamp(min=0)]].detach()
        silhouette = (across < 0) | (torch.sign(_signed_area(across_corners)) != torch.sign(own_area))
        found &= ~both | silhouette
    rows = torch.nonzero(found).squeeze(1)
    pick = edge[rows, None]
    p = at_front[rows].gather(1, pick)[:, 0]
    q = at_other[rows].gather(1, pick)[:, 0]
    t = (p / (p - q)).clamp(0.0, 1.0)
    front, other = front[rows], other[rows]
    flat = image.reshape(batch * pixels, -1)
    difference = flat[front] - flat[other]
    alpha = (t - 0.5)[:, None]
    target = torch.where(t > 0.5, other, front)
    delta = alpha * difference  # t > ½: other += (t−½)(front − other); else front += (½−t)(other − front)
    return flat.index_add(0, target, delta).view_as(image)
