"""Front-to-back alpha compositing of projected Gaussians over (pixel, Gaussian) pairs.

Only the pairs inside each visible Gaussian's pixel box are formed (so the cost grows with the
pixels the Gaussians cover, not with pixels × Gaussians). For each pair, with ``d`` the pixel
centre minus the 2D mean and ``Σ'⁻¹`` the conic,

    α = min(0.99, o · exp(−½ dᵀ Σ'⁻¹ d)),  skipped when α < 1/255,

and the pairs of a pixel, in increasing view depth of their Gaussians, are composited with
``T_i = Π_{j<i} (1 − α_j)`` and weights ``w_i = α_i T_i``; as in 3DGS a pixel stops at the first
pair after which the transmittance would fall below ``1e-4`` (that pair and all behind it get
weight 0). ``T`` is a segmented cumulative sum of ``log(1 − α)`` (in float64, one segment per
pixel), so everything is plain, differentiable tensor algebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.rendering.splatting.project import MAX_ALPHA, MIN_ALPHA, SplatProjection

MIN_TRANSMITTANCE = 1e-4
"""A pixel stops compositing before the pair that would bring its transmittance below this."""
MAX_PAIRS = 1 << 27
"""Most (pixel, Gaussian) pairs formed in one call (about 1 GB of indices); more is an error."""


@dataclass
class Fragments:
    """The composited (pixel, Gaussian) pairs, sorted by pixel then depth; row ``k`` is one pair."""

    pixel: Tensor
    """``(P,)`` flat pixel index ``b·H·W + row·W + col``."""
    instance: Tensor
    """``(P,)`` flat index ``b·N + n`` of the pair's Gaussian ``n`` in camera ``b``."""
    weight: Tensor
    """``(P,)`` compositing weight ``w = α·T`` (0 after a pixel's transmittance ran out); differentiable."""


def _box_pairs(boxes: Tensor, size: int, max_pairs: int) -> tuple[Tensor, Tensor]:
    """Every pixel of the inclusive pixel ``boxes (K, 4)``: the box's row ``(P,)`` and the pixel ``row·size + col`` ``(P,)``."""
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    counts = width * height
    total = int(counts.sum())
    if total > max_pairs:
        raise DreamliftError(
            f"the Gaussians cover {total} (pixel, Gaussian) pairs, more than {max_pairs}: render fewer cameras at once, "
            "a smaller size, or prune large Gaussians"
        )
    owner = torch.repeat_interleave(torch.arange(len(boxes), device=boxes.device), counts, output_size=total)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(total, device=boxes.device) - starts[owner]
    col = boxes[owner, 0] + local % width[owner]
    row = boxes[owner, 1] + local // width[owner]
    return owner, row * size + col


def _pair_alpha(table: Tensor, pixel_in_image: Tensor, size: int) -> Tensor:
    """``(P,)`` alpha ``min(0.99, o·exp(−½ dᵀΣ'⁻¹d))`` of each pair (before the 1/255 cut) from ``table (P, 6)``, the rows
    ``(mean x, mean y, conic a, b, c, opacity)`` of each pair's Gaussian."""
    mean_x, mean_y, a, b, c, opacity = table.unbind(-1)
    row = torch.div(pixel_in_image, size, rounding_mode="floor")
    dx = (pixel_in_image - row * size).to(table.dtype) + (0.5 - mean_x)
    dy = row.to(table.dtype) + (0.5 - mean_y)
    power = -0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy
    return torch.clamp(opacity * torch.exp(power.clamp_max(0.0)), max=MAX_ALPHA)


def fragments(projection: SplatProjection, size: int, max_pairs: int = MAX_PAIRS) -> Fragments:
    """Form, cut, sort and weight the (pixel, Gaussian) pairs of ``projection`` (see the module docstring)."""
    batch, count = projection.visible.shape
    instances = projection.visible.reshape(-1).nonzero().squeeze(1)
    device = instances.device
    owner, pixel_in_image = _box_pairs(projection.boxes.reshape(-1, 4)[instances], size, max_pairs)
    opacities = projection.opacities[None].expand(batch, count).reshape(-1, 1)
    table = torch.cat((projection.means2d.reshape(-1, 2), projection.conics.reshape(-1, 3), opacities), dim=1)
    table = table.index_select(0, instances)  # (K, 6): one row per visible (camera, Gaussian)
    with torch.no_grad():  # which pairs survive the 1/255 cut: decided without building a graph over all pairs
        keep = _pair_alpha(table.detach().index_select(0, owner), pixel_in_image, size) >= MIN_ALPHA
    owner, pixel_in_image = owner[keep], pixel_in_image[keep]
    image = torch.div(instances, count, rounding_mode="floor")
    pixel = image.index_select(0, owner) * (size * size) + pixel_in_image
    # owners are ranked by depth (ties by index), then one sort by (pixel, rank)
    depth = projection.depth.detach().reshape(-1).index_select(0, instances)
    rank = torch.empty_like(instances)
    rank[torch.argsort(depth, stable=True)] = torch.arange(len(instances), device=device)
    order = torch.argsort(pixel * max(len(instances), 1) + rank.index_select(0, owner))
    pixel, owner, pixel_in_image = pixel[order], owner[order], pixel_in_image[order]
    alpha = _pair_alpha(table.index_select(0, owner), pixel_in_image, size)
    return Fragments(pixel, instances.index_select(0, owner), alpha * _transmittance(alpha, pixel))


def _transmittance(alpha: Tensor, pixel: Tensor) -> Tensor:
    """``T_i`` within each pixel's run of ``alpha`` (runs are contiguous in ``pixel``), 0 once a pixel has stopped."""
    if alpha.numel() == 0:
        return alpha
    log_pass = torch.log1p(-alpha).double()
    inclusive = torch.cumsum(log_pass, 0)
    exclusive = inclusive - log_pass
    first = torch.ones_like(pixel, dtype=torch.bool)
    first[1:] = pixel[1:] != pixel[:-1]
    start = torch.cummax(torch.where(first, torch.arange(len(pixel), device=pixel.device), 0), 0).values
    before = exclusive - exclusive[start]
    transmittance = torch.exp(before).to(alpha.dtype)
    alive = torch.exp((inclusive - exclusive[start]).detach()) >= MIN_TRANSMITTANCE
    return transmittance * alive
