"""Recentre an object and resample it to a square of a given size.

Coordinates are continuous pixel coordinates: source pixel ``(row y, column x)``
covers ``[x, x + 1) × [y, y + 1)``; row 0 is the top.

The object's box is the bounding box of the pixels with ``α ≥ 0.5`` (of the
largest alpha when the image is fainter than that), refined to a fraction of a
pixel by the partial coverage of its edge pixels (:func:`object_box`). The output square of side
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


def object_box(alpha: Tensor) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)``: the object's bounding box, to a fraction of a pixel.

    Along each axis the profile ``p`` is the largest alpha of each column (row),
    divided by the image's largest alpha when that is below 1. The box spans the
    pixels with ``p ≥ 0.5``, and each end moves by the partial coverage of the end
    pixel and of its outside neighbour (exact for an antialiased straight edge:
    an edge at ``c + f`` gives ``p[c] = 1 − f``).
    """
    scale = max(float(alpha.max()), 1e-8)
    alpha = (alpha / min(scale, 1.0)).clamp(0.0, 1.0)
    x0, x1 = _extent(alpha.amax(dim=0))
    y0, y1 = _extent(alpha.amax(dim=1))
    return x0, y0, x1, y1


def _extent(profile: Tensor) -> tuple[float, float]:
    inside = torch.nonzero(profile >= 0.5).flatten()
    first, last = int(inside[0]), int(inside[-1])
    before = float(profile[first - 1]) if first > 0 else 0.0
    after = float(profile[last + 1]) if last + 1 < profile.numel() else 0.0
    return first + (1.0 - float(profile[first])) - before, last + float(profile[last]) + after


def resample_matrix(source_length: int, start: float, step: float, count: int) -> Tensor:
    """``(count, source_length)`` weights: output pixel ``u`` covers ``[start + u·step, start + (u+1)·step)``.

    ``step ≥ 1``: the fraction of the footprint each source pixel covers (area
    average). ``step < 1``: linear interpolation at the footprint's centre. Rows do
    not sum to 1 where the footprint leaves the source (outside is zero).
    """
    u = torch.arange(count, dtype=torch.float64)[:, None]
    x = torch.arange(source_length, dtype=torch.float64)[None, :]
    if step >= 1.0:
        low, high = start + u * step, start + (u + 1.0) * step
        overlap = torch.clamp(torch.minimum(high, x + 1.0) - torch.maximum(low, x), min=0.0)
        return overlap / step
    centre = start + (u + 0.5) * step
    return torch.clamp(1.0 - (centre - (x + 0.5)).abs(), min=0.0)


def frame_object(rgba: Tensor, size: int, border_ratio: float) -> Tensor:
    """``(H, W, 4)`` straight-alpha float → ``(size, size, 4)`` with the object centred and scaled."""
    rgba = rgba.to(torch.float32)
    alpha = rgba[..., 3]
    x0, y0, x1, y1 = object_box(alpha)
    side = max(x1 - x0, y1 - y0) / (1.0 - border_ratio)
    step = side / size
    start_x = 0.5 * (x0 + x1) - 0.5 * side
    start_y = 0.5 * (y0 + y1) - 0.5 * side
    premultiplied = torch.cat([rgba[..., :3] * alpha[..., None], alpha[..., None]], dim=-1)
    rows = resample_matrix(rgba.shape[0], start_y, step, size).to(torch.float32)
    cols = resample_matrix(rgba.shape[1], start_x, step, size).to(torch.float32)
    out = torch.einsum("uy,yxc->uxc", rows, premultiplied)
    out = torch.einsum("vx,uxc->uvc", cols, out).clamp(0.0, 1.0)
    out_alpha = out[..., 3:]
    colour = torch.where(out_alpha > 1e-8, out[..., :3] / out_alpha.clamp(min=1e-8), torch.zeros_like(out[..., :3]))
    return torch.cat([colour.clamp(0.0, 1.0), out_alpha], dim=-1)
