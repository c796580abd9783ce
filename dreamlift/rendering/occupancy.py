"""An occupancy grid for empty-space skipping (Instant-NGP style), kept up to date in training.

The grid covers ``[-bound, bound]³`` with ``resolution³`` cells. Each update evaluates
the density at one random point per cell and keeps ``max(decay · old, new)``; a cell
is occupied when that value exceeds ``threshold`` (a density whose alpha over one
sample step is about 1%); jittered look-ups and the decaying maximum keep surfaces
inside occupied cells (``dilate`` grows the mask by a cell for extra safety).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from dreamlift.rendering.settings import OccupancyConfig


def dilate(mask: Tensor) -> Tensor:
    """Grow a boolean ``(r, r, r)`` mask by one cell in every direction."""
    return F.max_pool3d(mask.float()[None, None], kernel_size=3, stride=1, padding=1)[0, 0] > 0


class OccupancyGrid:
    """Occupied cells of a field; ``lookup(points)`` says which samples to evaluate."""

    def __init__(self, config: OccupancyConfig | None = None, bound: float = 1.0, device: str | torch.device = "cpu"):
        self.config = config or OccupancyConfig()
        self.bound = bound
        r = self.config.resolution
        self.density = torch.full((r, r, r), float("inf"), device=device)  # everything occupied until the first update
        self.mask = torch.ones((r, r, r), dtype=torch.bool, device=device)

    def cell_index(self, points: Tensor) -> Tensor:
        r = self.config.resolution
        scaled = ((points / self.bound + 1.0) * 0.5 * r).long().clamp_(0, r - 1)
        return (scaled[..., 0] * r + scaled[..., 1]) * r + scaled[..., 2]

    def lookup(self, points: Tensor) -> Tensor:
        """Boolean occupancy of ``points (..., 3)``."""
        return self.mask.reshape(-1)[self.cell_index(points)]

    @torch.no_grad()
    def update(self, density_fn, generator: torch.Generator | None = None) -> None:
        """Re-evaluate ``density_fn(points (N, 3)) -> (N,)`` at one jittered point per cell."""
        r = self.config.resolution
        idx = torch.arange(r, device=self.density.device, dtype=torch.float32)
        grid = torch.stack(torch.meshgrid(idx, idx, idx, indexing="ij"), dim=-1).reshape(-1, 3)
        draw_device = generator.device if generator is not None else grid.device
        jitter = torch.rand(grid.shape, generator=generator, device=draw_device).to(grid.device)
        points = ((grid + jitter) / r * 2.0 - 1.0) * self.bound
        values = torch.cat([density_fn(chunk) for chunk in points.split(65536)]).reshape(r, r, r)
        previous = torch.where(torch.isinf(self.density), values, self.density * self.config.decay)
        self.density = torch.maximum(previous, values)
        occupied = self.density > self.config.threshold
        self.mask = dilate(occupied) if self.config.dilate else occupied

    def to(self, device) -> "OccupancyGrid":
        """A copy on ``device``."""
        grid = OccupancyGrid(self.config, self.bound, device)
        grid.density, grid.mask = self.density.to(device), self.mask.to(device)
        return grid

    def dilated(self) -> "OccupancyGrid":
        """A copy whose mask is grown by one cell (for final renders, where no update follows)."""
        grid = OccupancyGrid(self.config, self.bound, self.mask.device)
        grid.density, grid.mask = self.density, dilate(self.mask)
        return grid

    @property
    def occupied_fraction(self) -> float:
        return float(self.mask.float().mean())

    def state_dict(self) -> dict[str, Tensor]:
        return {"density": self.density.clone(), "mask": self.mask.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load ``state``; other names or shapes than this grid's raise RuntimeError (as torch's strict loading does)."""
        if state.keys() != {"density", "mask"} or any(state[k].shape != v.shape for k, v in (("density", self.density), ("mask", self.mask))):
            raise RuntimeError("the occupancy grid's names or shapes differ from this grid's")
        self.density = state["density"].to(self.density.device).clone()
        self.mask = state["mask"].to(self.mask.device).bool().clone()
