"""Position encodings for the NeRF field. Points are in world units inside ``[-bound, bound]³``.

Three encodings, chosen for a CPU (bench/encodings.py measures them):

* :class:`DenseGridEncoding` (default): learned feature grids at a few resolutions
  (16³ and 32³), trilinear lookup with ``grid_sample``. Cheapest per step on a CPU.
* :class:`TriplaneEncoding`: three axis-aligned learned feature planes, bilinear.
* :class:`FrequencyEncoding`: NeRF's sin/cos features (no parameters).
"""

from __future__ import annotations

import math

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
