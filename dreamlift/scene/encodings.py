"""Position encodings for the NeRF field. Points are in world units inside ``[-bound, bound]³``.

Four encodings (bench/encodings.py measures them):

* :class:`DenseGridEncoding` (default): learned feature grids at a few resolutions
  (16³ and 32³), trilinear lookup with ``grid_sample``. Cheapest per step on a CPU.
* :class:`HashGridEncoding`: Instant-NGP's multiresolution hash grid (many levels,
  fine ones hashed into fixed-size tables), trilinear, in pure PyTorch.
* :class:`TriplaneEncoding`: three axis-aligned learned feature planes, bilinear.
* :class:`FrequencyEncoding`: NeRF's sin/cos features (no parameters).

Learned encodings draw their initial values from torch's global generator, which the
trainer seeds with the run's seed, so a run's initial scene follows from its seed.
"""

from __future__ import annotations

import math

from dreamlift.errors import DreamliftError
from dreamlift.scene.settings import HashGridConfig  # the settings live apart, without torch

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DenseGridEncoding(nn.Module):
    """Concatenated trilinear features from dense grids; output ``(N, features·len(resolutions))``."""

    def __init__(self, resolutions: tuple[int, ...] = (16, 32), features: int = 8, bound: float = 1.0, init_scale: float = 1e-2):
        super().__init__()
        self.bound = bound
        self.grids = nn.ParameterList(
            [nn.Parameter(init_scale * torch.randn(1, features, r, r, r)) for r in resolutions]
        )
        self.output_dim = features * len(resolutions)

    def forward(self, points: Tensor) -> Tensor:
        # grid_sample wants (x, y, z) in [-1, 1] indexing (W, H, D) of a (1, C, D, H, W) volume
        coords = (points / self.bound).reshape(1, -1, 1, 1, 3)
        out = [
            F.grid_sample(grid, coords, mode="bilinear", padding_mode="border", align_corners=True).reshape(grid.shape[1], -1)
            for grid in self.grids
        ]
        return torch.cat(out, dim=0).t()


class TriplaneEncoding(nn.Module):
    """Sum of bilinear features from the XY, XZ and YZ planes; output ``(N, features)``."""

    def __init__(self, resolution: int = 128, features: int = 16, bound: float = 1.0, init_scale: float = 1e-2):
        super().__init__()
        self.bound = bound
        self.planes = nn.Parameter(init_scale * torch.randn(3, features, resolution, resolution))
        self.output_dim = features

    def forward(self, points: Tensor) -> Tensor:
        p = points / self.bound
        coords = torch.stack((p[:, [0, 1]], p[:, [0, 2]], p[:, [1, 2]]), dim=0).unsqueeze(2)  # (3, N, 1, 2)
        features = F.grid_sample(self.planes, coords, mode="bilinear", padding_mode="border", align_corners=True)
        return features.sum(0).squeeze(-1).t()


class FrequencyEncoding(nn.Module):
    """``[x, sin(2^k π x), cos(2^k π x)]`` for ``k < levels``; output ``(N, 3 + 6·levels)``."""

    def __init__(self, levels: int = 6, bound: float = 1.0):
        super().__init__()
        self.bound = bound
        self.register_buffer("frequencies", (2.0 ** torch.arange(levels)) * math.pi, persistent=False)
        self.output_dim = 3 + 6 * levels

    def forward(self, points: Tensor) -> Tensor:
        p = points / self.bound
        scaled = (p[:, None, :] * self.frequencies[None, :, None]).reshape(p.shape[0], 3 * self.frequencies.numel())
        return torch.cat((p, torch.sin(scaled), torch.cos(scaled)), dim=-1)


# --------------------------------------------------------------------------- hash grid

HASH_PRIMES = (1, 2654435761, 805459861)
"""Instant-NGP's spatial hash primes π₁, π₂, π₃ (Müller et al., arXiv 2201.05989, Eq. 4)."""


def hash_corners(corners: Tensor, table_size: int) -> Tensor:
    """Instant-NGP's spatial hash ``(x·π₁ ⊕ y·π₂ ⊕ z·π₃) mod T`` of integer ``corners (..., 3)``; ``T`` a power of two."""
    return _xor_mod(corners[..., 0] * HASH_PRIMES[0], corners[..., 1] * HASH_PRIMES[1], corners[..., 2] * HASH_PRIMES[2], table_size)


def _xor_mod(x: Tensor, y: Tensor, z: Tensor, table_size: int) -> Tensor:
    """``(x ⊕ y ⊕ z) mod T`` of int64 terms ``c·π`` (broadcast together), ``T`` a power of two.

    In int64 the products stay below 2⁶³ for coordinates below 2³¹, and their low bits
    (all that ``mod T`` keeps) are those of the paper's wrapping uint32 arithmetic.
    """
    return torch.bitwise_and(torch.bitwise_xor(torch.bitwise_xor(x, y), z), table_size - 1)


class _GatherRows(torch.autograd.Function):
    """``table[rows]`` whose backward is one ``index_add_`` (several times faster on a CPU than ``F.embedding``'s)."""

    @staticmethod
    def forward(ctx, table: Tensor, rows: Tensor) -> Tensor:
        ctx.save_for_backward(rows)
        ctx.table_shape = table.shape
        return table.index_select(0, rows.reshape(-1)).view(*rows.shape, table.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        (rows,) = ctx.saved_tensors
        grad_table = grad.new_zeros(ctx.table_shape).index_add_(0, rows.reshape(-1), grad.reshape(-1, ctx.table_shape[1]))
        return grad_table, None


class HashGridEncoding(nn.Module):
    """Instant-NGP's multiresolution hash encoding; output ``(N, levels · features_per_level)``.

    Level ``l`` divides the bounding cube into ``N_l`` cells per axis (its vertices are
    ``0 … N_l`` along each axis). A level whose ``(N_l + 1)³`` vertices fit in ``T``
    entries stores them densely (index ``i + s·j + s²·k``, ``s = N_l + 1``, a 1:1 map, as
    the paper does for coarse levels); a finer level hashes its vertices into ``T``
    entries with :func:`hash_corners`, and the gradients of the cells that collide add
    up. Each level's features are the trilinear blend of its cell's eight corners; points
    outside the cube take the nearest face's values (as the dense grids' ``border``).
    Vectorised over points; a short loop over levels keeps the temporaries at one
    level's ``(N, 8)`` indices. Works on any device and floating dtype; on a CPU the result
    is deterministic (on CUDA ``index_add_`` sums colliding gradients in any order).
    """

    def __init__(self, config: HashGridConfig | None = None, bound: float = 1.0):
        super().__init__()
        self.config = config or HashGridConfig()
        self.config.validate()
        self.bound = bound
        table_size = 2**self.config.log2_table_size
        self.resolutions = self.config.resolutions()
        self.dense = [(n + 1) ** 3 <= table_size for n in self.resolutions]  # per level: stored 1:1, or hashed
        scale = self.config.init_scale
        self.tables = nn.ParameterList(
            [
                nn.Parameter(torch.empty((n + 1) ** 3 if dense else table_size, self.config.features_per_level).uniform_(-scale, scale))
                for n, dense in zip(self.resolutions, self.dense)
            ]
        )
        self.output_dim = self.config.levels * self.config.features_per_level

    def axis_factors(self, level: int) -> tuple[int, int, int]:
        """What a vertex's x, y and z coordinates are multiplied by at ``level``: ``(1, s, s²)`` dense, the primes hashed."""
        if self.dense[level]:
            side = self.resolutions[level] + 1
            return (1, side, side * side)
        return HASH_PRIMES

    def _rows(self, level: int, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
        """Table rows from the axes' multiplied coordinates (broadcast together): their sum dense, their hash otherwise."""
        if self.dense[level]:
            return x + y + z
        return _xor_mod(x, y, z, self.tables[level].shape[0])

    def level_indices(self, level: int, corners: Tensor) -> Tensor:
        """Table rows of integer vertex coordinates ``corners (..., 3)`` (each in ``0 … N_l``) at ``level``."""
        fx, fy, fz = self.axis_factors(level)
        return self._rows(level, corners[..., 0] * fx, corners[..., 1] * fy, corners[..., 2] * fz)

    def forward(self, points: Tensor) -> Tensor:
        unit = ((points / self.bound + 1.0) * 0.5).clamp(0.0, 1.0)  # the cube as [0, 1]³
        low_high = torch.tensor([[0], [1]], device=points.device)  # a cell's low and high vertex along each axis
        out = []
        for level, resolution in enumerate(self.resolutions):
            scaled = unit * resolution
            low = scaled.detach().floor().clamp(max=resolution - 1)
            fraction = scaled - low  # (N, 3) in [0, 1]; carries the gradient to the points
            # per axis, the low and high vertex's term (N, 2, 3); the eight corners broadcast them, x slowest, z fastest
            terms = (low.long()[:, None, :] + low_high) * torch.tensor(self.axis_factors(level), device=points.device)
            tx, ty, tz = terms[:, :, 0], terms[:, :, 1], terms[:, :, 2]
            rows = self._rows(level, tx[:, :, None, None], ty[:, None, :, None], tz[:, None, None, :]).reshape(-1, 8)
            # a corner's weight: the product over axes of 1 − f (low side) or f (high side), in the same order
            per_axis = torch.stack((1.0 - fraction, fraction), dim=1)  # (N, 2, 3)
            wx, wy, wz = per_axis[:, :, 0], per_axis[:, :, 1], per_axis[:, :, 2]
            weights = (wx[:, :, None, None] * wy[:, None, :, None] * wz[:, None, None, :]).reshape(-1, 8)
            features = _GatherRows.apply(self.tables[level], rows)  # (N, 8, F)
            out.append(torch.bmm(weights.unsqueeze(1), features).squeeze(1))  # (N, F); bmm: 4x the speed of mul + sum on a CPU
        return torch.cat(out, dim=-1)
