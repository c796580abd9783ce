"""Analytic fields with known shapes, for tests, benchmarks and checking an export by eye.

``SDFField`` turns a signed distance function (negative inside) into a
:class:`~dreamlift.scene.field.Field`: density ``σ(x) = peak · sigmoid(−sdf(x) / width)`` and an albedo function.
``width`` sets how soft the edge is (world units); ``peak`` the density deep inside. Normals are the SDF's
gradient (tetrahedral finite differences, step ``1e-3``), which stays well defined
deep inside, where the density is flat.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from dreamlift.scene.normals import Stencil, finite_difference_normals

NORMAL_STEP = 1e-3
"""Finite-difference step of the SDF normals, world units."""

Albedo = Callable[[Tensor], Tensor] | Sequence[float]


def sphere_sdf(center: Sequence[float] = (0.0, 0.0, 0.0), radius: float = 0.5) -> Callable[[Tensor], Tensor]:
    """Signed distance to a ball."""
    c = torch.tensor(center, dtype=torch.float32)
    return lambda p: (p - c).norm(dim=-1) - radius


def box_sdf(low: Sequence[float], high: Sequence[float]) -> Callable[[Tensor], Tensor]:
    """Signed distance to the axis-aligned box ``[low, high]``."""
    lo, hi = torch.tensor(low, dtype=torch.float32), torch.tensor(high, dtype=torch.float32)
    centre, half = (lo + hi) / 2, (hi - lo) / 2

    def sdf(p: Tensor) -> Tensor:
        q = (p - centre).abs() - half
        return q.clamp_min(0.0).norm(dim=-1) + q.amax(dim=-1).clamp_max(0.0)

    return sdf


def union_sdf(*sdfs: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """Signed distance (exact outside) to the union of shapes."""
    return lambda p: torch.stack([f(p) for f in sdfs]).amin(dim=0)


class SDFField:
    """A field with density ``peak · sigmoid(−sdf / width)`` and the given albedo (see the module docstring)."""

    def __init__(self, sdf: Callable[[Tensor], Tensor], albedo: Albedo = (0.86, 0.12, 0.12), peak: float = 100.0, width: float = 0.02):
        self.sdf, self.peak, self.width = sdf, float(peak), float(width)
        if callable(albedo):
            self._albedo = albedo
        else:
            colour = torch.tensor(albedo, dtype=torch.float32)
            self._albedo = lambda p: colour.expand(p.shape[0], 3)

    def density(self, points: Tensor) -> Tensor:
        return self.peak * torch.sigmoid(-self.sdf(points) / self.width)

    def albedo(self, points: Tensor) -> Tensor:
        return self._albedo(points)

    def __call__(self, points: Tensor) -> tuple[Tensor, Tensor]:
        return self.density(points), self.albedo(points)

    def density_albedo_normals(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Density, albedo and outward unit normals (the SDF's gradient; see the module docstring)."""
        normals, _ = finite_difference_normals(self.sdf, points, NORMAL_STEP, descending=False, stencil=Stencil.TETRAHEDRAL)
        return self.density(points), self.albedo(points), normals
