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
"""

from __future__ import annotations

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
    """``(N, H, W, 4)`` straight-alpha float → ``(N, size, size, 4)``, each object centred and scaled."""
    rgba = rgba.to(torch.float32)
    alpha = rgba[..., 3]
    x0, y0, x1, y1 = object_boxes(alpha)
    side = torch.maximum(x1 - x0, y1 - y0) / (1.0 - border_ratio)
    step = side / size
    rows = resample_matrices(rgba.shape[1], 0.5 * (y0 + y1) - 0.5 * side, step, size).float()
    cols = resample_matrices(rgba.shape[2], 0.5 * (x0 + x1) - 0.5 * side, step, size).float()
    premultiplied = torch.cat([rgba[..., :3] * alpha[..., None], alpha[..., None]], dim=-1)
    out = torch.einsum("nuy,nyxc->nuxc", rows, premultiplied)
    out = torch.einsum("nvx,nuxc->nuvc", cols, out).clamp(0.0, 1.0)
    out_alpha = out[..., 3:]
    colour = torch.where(out_alpha > 1e-8, out[..., :3] / out_alpha.clamp(min=1e-8), torch.zeros_like(out[..., :3]))
    return torch.cat([colour.clamp(0.0, 1.0), out_alpha], dim=-1)


def frame_object(rgba: Tensor, size: int, border_ratio: float) -> Tensor:
    """``(H, W, 4)`` straight-alpha float → ``(size, size, 4)`` with the object centred and scaled."""
    return frame_batch(rgba[None], size, border_ratio)[0]
