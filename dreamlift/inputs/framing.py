"""Recentre an object and resample it to a square of a given size.

Coordinates are continuous pixel coordinates: source pixel ``(row y, column x)``
covers ``[x, x + 1) × [y, y + 1)``; row 0 is the top.

The object's box is the bounding box of the pixels with ``α ≥ 0.5`` (of the
largest alpha when the image is fainter than that), refined to a fraction of a
pixel by the partial coverage of its edge pixels (:func:`object_boxes`). The output square of side
``L = max(box width, box height) / (1 − border_ratio)`` source pixels is centred
on the box's centre, so the larger side of the object spans ``1 − border_ratio``
of the output. It is resampled separably in premultiplied colour (so transparent
pixels carry no colour into edges); whatever falls outside the source is
transparent. Downscaling averages exactly over each output pixel's footprint
(area resampling, antialiased); upscaling interpolates linearly.

**Views with known cameras share one framing** (:func:`shared_windows`): one image
alone is framed on its own box as above; several images of one object seen from
known orbit cameras (all of one size) are framed about one 3D centre and with one
zoom, so that they keep agreeing with their cameras. The centre is the point nearest
(least squares) to the rays through every image's box centre; every image's square is
centred on that point's projection and has one side for all, the smallest that puts
every box edge of every image within ``(1 − border_ratio)/2`` of a side from the
centre. All images are thus zoomed alike, as if every camera's focal length were
scaled by one factor: the scene comes out scaled and shifted, its views still agree
(to the weak-perspective approximation that framing one image already makes).
``recentre=False`` frames nothing: the whole image, padded to a square about its
centre, is resampled.

A framing is a :class:`Windows`: the square of each source image that becomes the
output; :func:`unframe` puts a framed image back into its source.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def object_boxes(alpha: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``x0, y0, x1, y1 (N,)``: the bounding boxes of the objects of ``alpha (N, H, W)``, to a fraction of a pixel.

    Along each axis the profile ``p`` is the largest alpha of each column (row),
    divided by the image's largest alpha when that is below 1. The box spans the
    pixels with ``p ≥ 0.5``, and each end moves by the partial coverage of the end
    pixel and of its outside neighbour (exact for an antialiased straight edge:
    an edge at ``c + f`` gives ``p[c] = 1 − f``).
    """
    peak = alpha.flatten(1).amax(1).clamp_min(1e-8)
    normalised = (alpha / peak.clamp(max=1.0)[:, None, None]).clamp(0.0, 1.0)
    x0, x1 = _extents(normalised.amax(dim=1))
    y0, y1 = _extents(normalised.amax(dim=2))
    return x0, y0, x1, y1


def object_box(alpha: Tensor) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)``: :func:`object_boxes` of one ``alpha (H, W)``."""
    return tuple(float(end[0]) for end in object_boxes(alpha[None]))  # type: ignore[return-value]


def _extents(profile: Tensor) -> tuple[Tensor, Tensor]:
    """Starts and ends ``(N,)`` of the profiles ``(N, L)`` (see :func:`object_boxes`)."""
    inside = profile >= 0.5
    length = profile.shape[1]
    first = inside.float().argmax(dim=1)
    last = length - 1 - inside.flip(1).float().argmax(dim=1)
    rows = torch.arange(profile.shape[0])
    padded = torch.nn.functional.pad(profile, (1, 1))
    before, after = padded[rows, first], padded[rows, last + 2]
    return first + (1.0 - profile[rows, first]) - before, last + profile[rows, last] + after


def resample_matrices(source_length: int, start: Tensor, step: Tensor, count: int) -> Tensor:
    """``(N, count, source_length)`` float64 weights: output pixel ``u`` covers ``[start + u·step, start + (u+1)·step)``.

    ``step ≥ 1``: the fraction of the footprint each source pixel covers (area
    average). ``step < 1``: linear interpolation at the footprint's centre. Rows do
    not sum to 1 where the footprint leaves the source (outside is zero).
    """
    u = torch.arange(count, dtype=torch.float64)[None, :, None]
    x = torch.arange(source_length, dtype=torch.float64)[None, None, :]
    start, step = start.double()[:, None, None], step.double()[:, None, None]
    low, high = start + u * step, start + (u + 1.0) * step
    area = torch.clamp(torch.minimum(high, x + 1.0) - torch.maximum(low, x), min=0.0) / step
    centre = start + (u + 0.5) * step
    linear = torch.clamp(1.0 - (centre - (x + 0.5)).abs(), min=0.0)
    return torch.where(step >= 1.0, area, linear)


def resample_matrix(source_length: int, start: float, step: float, count: int) -> Tensor:
    """:func:`resample_matrices` for one footprint: ``(count, source_length)``."""
    as_tensor = lambda v: torch.tensor([float(v)], dtype=torch.float64)  # noqa: E731
    return resample_matrices(source_length, as_tensor(start), as_tensor(step), count)[0]


def frame_batch(rgba: Tensor, size: int, border_ratio: float) -> Tensor:
    """``(N, H, W, 4)`` straight-alpha float → ``(N, size, size, 4)``, each object centred and scaled on its own box."""
    rgba = rgba.to(torch.float32)
    return frame_windows(rgba, box_windows(rgba[..., 3], border_ratio), size)


def frame_object(rgba: Tensor, size: int, border_ratio: float) -> Tensor:
    """``(H, W, 4)`` straight-alpha float → ``(size, size, 4)`` with the object centred and scaled."""
    return frame_batch(rgba[None], size, border_ratio)[0]


# ----------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Windows:
    """Squares of source images that become the framed images: ``(N,)`` tensors in source pixels."""

    x0: Tensor
    """Left edge of each square."""
    y0: Tensor
    """Top edge of each square."""
    side: Tensor
    """Side of each square."""

    def __len__(self) -> int:
        return int(self.side.shape[0])

    def __getitem__(self, index) -> "Windows":
        pick = lambda t: t[index].reshape(-1)  # noqa: E731
        return Windows(pick(self.x0), pick(self.y0), pick(self.side))


def box_windows(alpha: Tensor, border_ratio: float) -> Windows:
    """Each image ``alpha (N, H, W)`` framed on its own box (the one-image framing of the module doc)."""
    x0, y0, x1, y1 = object_boxes(alpha)
    side = torch.maximum(x1 - x0, y1 - y0) / (1.0 - border_ratio)
    return Windows(0.5 * (x0 + x1) - 0.5 * side, 0.5 * (y0 + y1) - 0.5 * side, side)


def whole_windows(count: int, height: int, width: int) -> Windows:
    """The whole image, padded to a square about its centre (``recentre=False``)."""
    side = float(max(height, width))
    full = lambda v: torch.full((count,), float(v), dtype=torch.float64)  # noqa: E731
    return Windows(full(0.5 * (width - side)), full(0.5 * (height - side)), full(side))


def _camera_frames(cameras, height: int) -> tuple[Tensor, Tensor, Tensor]:
    """Camera centres ``(V, 3)``, rotations ``(V, 3, 3)`` (columns +X, +Y, +Z) and focal lengths ``(V,)`` in pixels."""
    c2w = cameras.camera_to_world().double()
    focal = height / (2.0 * torch.tan(torch.deg2rad(cameras.fovy.double()) / 2.0))
    return c2w[:, :3, 3], c2w[:, :3, :3], focal


def shared_centre(alpha: Tensor, cameras) -> Tensor:
    """``(3,)`` float64: the point nearest, in least squares, to the rays through the box centres of ``alpha (V, H, W)``.

    Along directions the rays do not fix (one view; or views straight opposite each other, whose
    rays nearly coincide) the point nearest to the origin is taken: the least-squares system is
    solved by a pseudo-inverse that drops singular values below 5% of the largest.
    """
    views, height, width = alpha.shape
    x0, y0, x1, y1 = (t.double() for t in object_boxes(alpha))
    centres, rotations, focal = _camera_frames(cameras, height)
    direction_cam = torch.stack(
        ((0.5 * (x0 + x1) - 0.5 * width) / focal, -(0.5 * (y0 + y1) - 0.5 * height) / focal, -torch.ones(views, dtype=torch.float64)), dim=-1
    )
    direction = torch.einsum("vij,vj->vi", rotations, direction_cam)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    projector = torch.eye(3, dtype=torch.float64)[None] - direction[:, :, None] * direction[:, None, :]
    matrix = projector.sum(0)
    target = torch.einsum("vij,vj->i", projector, centres)
    return torch.linalg.pinv(matrix, rtol=0.05, hermitian=True) @ target


def project(point: Tensor, cameras, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """Pixel ``x, y`` and depth ``(V,)`` of the world ``point (3,)`` in each camera (row 0 on top, pixel centres at +0.5)."""
    centres, rotations, focal = _camera_frames(cameras, height)
    local = torch.einsum("vji,vj->vi", rotations, point.double()[None] - centres)  # camera coordinates
    depth = -local[:, 2]
    return 0.5 * width + focal * local[:, 0] / depth, 0.5 * height - focal * local[:, 1] / depth, depth


def shared_windows(alpha: Tensor, cameras, border_ratio: float) -> Windows:
    """One framing for the images ``alpha (V, H, W)`` of one object seen from ``cameras`` (see the module doc)."""
    views, height, width = alpha.shape
    if views == 1:
        return box_windows(alpha, border_ratio)
    centre = shared_centre(alpha, cameras)
    px, py, _ = project(centre, cameras, height, width)
    x0, y0, x1, y1 = (t.double() for t in object_boxes(alpha))
    reach = torch.stack(((x0 - px).abs(), (x1 - px).abs(), (y0 - py).abs(), (y1 - py).abs()), dim=-1).amax(-1)
    side = torch.full_like(px, 2.0 * float(reach.max()) / (1.0 - border_ratio))
    return Windows(px - 0.5 * side, py - 0.5 * side, side)


def frame_windows(rgba: Tensor, windows: Windows, size: int) -> Tensor:
    """``(N, H, W, 4)`` straight-alpha float → ``(N, size, size, 4)``: each image's window resampled to ``size``."""
    rgba = rgba.to(torch.float32)
    alpha = rgba[..., 3]
    step = windows.side / size
    rows = resample_matrices(rgba.shape[1], windows.y0, step, size).float()
    cols = resample_matrices(rgba.shape[2], windows.x0, step, size).float()
    premultiplied = torch.cat([rgba[..., :3] * alpha[..., None], alpha[..., None]], dim=-1)
    out = torch.einsum("nuy,nyxc->nuxc", rows, premultiplied)
    out = torch.einsum("nvx,nuxc->nuvc", cols, out).clamp(0.0, 1.0)
    return _straight(out)


def _straight(premultiplied: Tensor) -> Tensor:
    alpha = premultiplied[..., 3:]
    colour = torch.where(alpha > 1e-8, premultiplied[..., :3] / alpha.clamp(min=1e-8), torch.zeros_like(premultiplied[..., :3]))
    return torch.cat([colour.clamp(0.0, 1.0), alpha], dim=-1)


def unframe(framed: Tensor, windows: Windows, height: int, width: int) -> Tensor:
    """Inverse of :func:`frame_windows`: ``(N, S, S, 4)`` framed RGBA → ``(N, height, width, 4)``, each in its window."""
    size = framed.shape[1]
    step = windows.side.double() / size  # source pixels per framed pixel
    rows = resample_matrices(size, -windows.y0.double() / step, 1.0 / step, height).float()
    cols = resample_matrices(size, -windows.x0.double() / step, 1.0 / step, width).float()
    alpha = framed[..., 3:]
    premultiplied = torch.cat((framed[..., :3] * alpha, alpha), dim=-1)
    out = torch.einsum("nuy,nyxc->nuxc", rows, premultiplied)
    out = torch.einsum("nvx,nuxc->nuvc", cols, out).clamp(0.0, 1.0)
    return _straight(out)


def view_windows(alpha: Tensor, cameras, border_ratio: float, recentre: bool = True) -> Windows:
    """The framing of the images ``alpha (V, H, W)`` of one object: shared (several known cameras), own box (one), or none."""
    if not recentre:
        return whole_windows(alpha.shape[0], alpha.shape[1], alpha.shape[2])
    return shared_windows(alpha, cameras, border_ratio)


def frame_view_sets(rgba: Tensor, cameras, size: int, border_ratio: float, recentre: bool = True) -> Tensor:
    """``(T, V, H, W, 4)``: ``T`` sets of images of one object from the ``V`` ``cameras``, each set framed as
    :func:`view_windows` frames a view table → ``(T, V, size, size, 4)``."""
    sets, views = rgba.shape[:2]
    flat = rgba.reshape(sets * views, *rgba.shape[2:]).to(torch.float32)
    alpha = flat[..., 3]
    if not recentre:
        windows = whole_windows(sets * views, rgba.shape[2], rgba.shape[3])
    elif views == 1:
        windows = box_windows(alpha, border_ratio)
    else:
        parts = [shared_windows(alpha[t * views : (t + 1) * views], cameras, border_ratio) for t in range(sets)]
        windows = Windows(*(torch.cat([getattr(w, f).double() for w in parts]) for f in ("x0", "y0", "side")))
    return frame_windows(flat, windows, size).reshape(sets, views, size, size, 4)
