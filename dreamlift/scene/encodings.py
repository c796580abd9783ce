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
from dataclasses import dataclass

from dreamlift.errors import DreamliftError

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


@dataclass
class HashGridConfig:
    """Settings of :class:`HashGridEncoding` (Instant-NGP, Müller et al., arXiv 2201.05989, §3 and Table 1).

    Defaults are threestudio's ``implicit-volume`` geometry (``pos_encoding_config``, also in
    its dreamfusion-sd and zero123 configs), inside the ranges of the paper's Table 1.
    """

    levels: int = 16
    """Resolution levels L, coarse to fine (Instant-NGP Table 1: 16; threestudio n_levels 16)."""
    features_per_level: int = 2
    """Features F stored per table entry; the encoding gives L·F features (Instant-NGP Table 1: 2; threestudio 2)."""
    log2_table_size: int = 19
    """log₂ of the entries T per level's table (Instant-NGP Table 1: 14 to 24; threestudio log2_hashmap_size 19)."""
    base_resolution: int = 16
    """Cells per axis of the coarsest level, N_min, across the bounding cube (Instant-NGP Table 1: 16; threestudio 16)."""
    finest_resolution: int = 4096
    """Cells per axis of the finest level, N_max (Instant-NGP Table 1: 512 to 524288; threestudio: per_level_scale 1.447269237440378 = (4096/16)^(1/15))."""
    init_scale: float = 1e-4
    """Table entries start uniform in [−init_scale, init_scale] (Instant-NGP §4, "Initialization": 10⁻⁴)."""

    def validate(self) -> None:
        """Raise a one-line :class:`DreamliftError` for settings that cannot build a grid."""
        key = "nerf.hash_grid"
        if self.levels < 1 or self.features_per_level < 1:
            raise DreamliftError(f"{key}.levels and {key}.features_per_level must be at least 1")
        if not 4 <= self.log2_table_size <= 30:
            raise DreamliftError(f"{key}.log2_table_size {self.log2_table_size} is out of range: use 4 to 30 (Instant-NGP uses 14 to 24)")
        if self.base_resolution < 1 or self.finest_resolution < self.base_resolution:
            raise DreamliftError(
                f"{key}: base_resolution must be at least 1 and finest_resolution at least base_resolution, "
                f"got {self.base_resolution} and {self.finest_resolution}"
            )
        if self.finest_resolution > 2**20:
            raise DreamliftError(f"{key}.finest_resolution {self.finest_resolution} is too fine: use at most 1048576 cells per axis")
        if not self.init_scale >= 0:
            raise DreamliftError(f"{key}.init_scale must be zero or positive, got {self.init_scale}")

    def resolutions(self) -> list[int]:
        """Cells per axis of each level: ``N_l = ⌊N_min · b^l⌋`` with ``b = (N_max / N_min)^(1 / (L − 1))`` (Instant-NGP Eq. 2–3)."""
        if self.levels == 1:
            return [self.base_resolution]
        growth = math.exp((math.log(self.finest_resolution) - math.log(self.base_resolution)) / (self.levels - 1))
        # the 1e-6 keeps N_max itself from rounding down to N_max − 1
        return [int(math.floor(self.base_resolution * growth**level + 1e-6)) for level in range(self.levels)]


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
