"""3D Gaussians seen as a :class:`~dreamlift.scene.field.Field` (density and albedo at points), for export.

With ``g_i(x) = exp(−½ (x − μ_i)ᵀ Σ_i⁻¹ (x − μ_i))``, opacity ``o_i`` and scales ``s_i``:

    density(x) = Σ_i k_i g_i(x),   k_i = −ln(1 − min(o_i, 0.99)) / (√(2π) · s̄_i),
    albedo(x)  = Σ_i k_i g_i(x) c_i / (Σ_i k_i g_i(x) + ε)   (+ ε·0.5 grey: grey far from every Gaussian),

where ``s̄_i = (s_1 s_2 s_3)^(1/3)``. The weight makes each Gaussian an opacity-weighted kernel in
the units of a volume density: a ray through the centre of an isotropic Gaussian meets optical
depth ``−ln(1 − o)``, so the volume renderer sees it as opaque as the rasteriser draws it there
(the same holds for anisotropic ones up to the ratio of ``s̄`` to the scale along the ray).
Kernels are cut where ``g < 1e-4`` (Mahalanobis distance 4.29), or sooner where ``k_i g`` falls below
``min_density`` (faint Gaussians reach less far); each query gathers only the
Gaussians whose cut box overlaps its cell of a uniform grid over their boxes, so the cost grows
with the overlap, not with points × Gaussians. With a ``drawn_size`` (the run's training render size) the field
also gives the opacity the rasteriser draws (:meth:`GaussianField.drawn_opacity`), which the exporter fits the
mesh's level to: Gaussians trained at 32 px are about a pixel wide or less, and the rasteriser's 0.3 px² low-pass
draws them wider than these kernels, so the volume render of the kernels is thinner than what was trained.
Normals come from
:func:`~dreamlift.scene.normals.finite_difference_normals` of the density, like the NeRF field's.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from dreamlift.scene.albedo_grid import AlbedoGrid, bake_albedo
from dreamlift.scene.splats import MAX_ALPHA, covariances
from dreamlift.scene.gaussians import GaussianModel
from dreamlift.scene.normals import finite_difference_normals

CUT = math.sqrt(2.0 * math.log(1e4))
"""Kernels are zero beyond this Mahalanobis distance (``g < 1e-4``)."""
CELLS_PER_BOX = 4.0
"""Lookup cells across a typical Gaussian's cut box (up to ``max_cells`` a side). A point gathers every Gaussian whose box
meets its cell, so finer cells gather fewer that do not reach it: at 4 rather than 2, a 96³ query of a red sphere's
2,000 trained Gaussians takes 2.4 s rather than 3.6 s (a chair's 0.24 rather than 0.37 s), with the same values and
about 5× the cell-list entries (``tests/splats/test_gaussian_model.py``, ``docs/measurements.md``)."""
MAX_POINTS = 16384
"""Points per pass: a pass holds every (point, Gaussian) pair of its points, about a hundred a point inside a
trained object, so this bounds its memory (a query of more points goes in passes, with the same values)."""
EMPTY_WEIGHT = 1e-8
"""The ε of the albedo's weighted mean (its colour is grey)."""


class GaussianField(nn.Module):
    """A :class:`~dreamlift.scene.field.Field` of the model's Gaussians (see the module docstring).

    ``vertex_colour_turntable``: a query sums every Gaussian around each point, so a 512-px turntable colours its
    pixels from this albedo at the mesh's vertices (:func:`dreamlift.refine.export.turntable_albedo`).

    A module holding the model (``state_dict`` keys ``model.means`` ...; loading resizes), so it can be
    copied and moved as a NeRF field is; the refinement fine-tunes its albedo baked into a grid
    (:meth:`refinement_colour`), not the Gaussians. The lookup grid is
    built from the Gaussians at construction and rebuilt, when queried, whenever their positions, shapes or
    opacities differ from the copy taken at the last build (an optimiser step, densification, a load, a move). The
    copy is compared by value: fused Adam writes the parameters in place without bumping their version counters,
    so a check of identities and versions misses its steps. The values are computed from the live parameters,
    differentiably.
    """

    vertex_colour_turntable = True

    def __init__(
        self,
        model: GaussianModel,
        normal_epsilon: float = 1e-2,
        max_cells: int = 64,
        drawn_size: int | None = None,
        min_density: float = 0.0,
        draw: Callable | None = None,
    ):
        super().__init__()
        self.model = model
        self.drawn_size = drawn_size
        self.draw = draw
        """``draw(splats, cameras, drawn_size, size) -> (B, size, size)``: the rasteriser's drawn opacity
        (:func:`dreamlift.rendering.splatting.drawn_opacity`, handed in by the representation: the scene does not
        import the renderer, which imports the scene)."""
        self.min_density = float(min_density)
        self.normal_epsilon = normal_epsilon
        self.max_cells = max_cells
        self.builds = 0
        """How many times the lookup grid has been built (:meth:`geometry_version`)."""
        self._build()

    def refinement_colour(self, resolution: int, bound: float, bake: bool = True) -> AlbedoGrid:
        """The colour field the refinement fine-tunes in place of this one (whose albedo sums the Gaussians around every
        pixel): an :class:`~dreamlift.scene.albedo_grid.AlbedoGrid` of ``resolution``³ vertices over the box the
        kernels reach within ``[-bound, bound]³``, holding this albedo (:func:`~dreamlift.scene.albedo_grid.bake_albedo`);
        ``bake=False``: grey, only the layout, for a checkpoint to be loaded into."""
        if not bake:
            return AlbedoGrid(resolution)
        self._ensure_built()
        low, high = self.reach if self.reach is not None else (torch.full((3,), -bound), torch.full((3,), bound))
        low, high = low.clamp(-bound, bound).cpu(), high.clamp(-bound, bound).cpu()
        high = torch.maximum(high, low + 1e-3)  # a flat box still spans something
        return bake_albedo(self, resolution, low, high, min_density=1e3 * EMPTY_WEIGHT, device=self.model.means.device)

    def _geometry(self) -> tuple[Tensor, ...]:
        """The tensors the lookup grid depends on."""
        model = self.model
        return (model.means, model.log_scales, model.quaternions, model.opacity_logits)

    def geometry_version(self) -> int:
        """A number that changes exactly when the Gaussians' geometry has (the lookup grid is rebuilt first if needed):
        what a cache of anything made from this field's density keys on."""
        self._ensure_built()
        return self.builds

    def _ensure_built(self) -> None:
        """Rebuild the lookup grid (and ``reach``) if the geometry differs from the copy taken when it was built."""
        same = (a.shape == b.shape and a.device == b.device and torch.equal(a, b) for a, b in zip(self._built_from, self._geometry()))
        if not all(same):
            self._build()

    def _build(self) -> None:
        self._built_from = tuple(tensor.detach().clone() for tensor in self._geometry())
        self.builds += 1
        with torch.no_grad():
            means = self.model.means.detach()
            self.count = len(means)
            variance = torch.diagonal(covariances(self.model.log_scales.detach(), self.model.quaternions.detach()), dim1=-2, dim2=-1)
            self.cut = self._cut_radii()
            half = self.cut[:, None] * variance.sqrt()
            low, high = means - half, means + half
            reaching = self.cut > 0  # the box the kernels reach (None: none reaches anywhere)
            self.reach = (low[reaching].amin(0), high[reaching].amax(0)) if bool(reaching.any()) else None
            self.origin = low.amin(0) if self.count else means.new_zeros(3)
            span = (high.amax(0) - self.origin).amax() if self.count else means.new_ones(())
            typical = float((2 * half).median()) if self.count else 1.0
            self.cells = int(min(self.max_cells, max(1, math.ceil(CELLS_PER_BOX * float(span) / max(typical, 1e-9)))))
            self.cell = float(span) / self.cells + 1e-9
            first = self._cell_of(low)
            last = self._cell_of(high)
            extent = last - first + 1
            counts = torch.where(self.cut > 0, extent.prod(-1), 0)
            owner = torch.repeat_interleave(torch.arange(self.count, device=means.device), counts)
            local = torch.arange(len(owner), device=means.device) - (torch.cumsum(counts, 0) - counts)[owner]
            nx, ny = extent[owner, 0], extent[owner, 1]
            cx = first[owner, 0] + local % nx
            cy = first[owner, 1] + (local // nx) % ny
            cz = first[owner, 2] + local // (nx * ny)
            cell_id = (cx * self.cells + cy) * self.cells + cz
            order = torch.argsort(cell_id)
            self.members = owner[order]
            self.starts = torch.searchsorted(cell_id[order], torch.arange(self.cells**3 + 1, device=means.device))

    def _peaks(self) -> Tensor:
        """``(N,)`` each kernel's density at its mean, ``k_i`` (differentiable)."""
        model = self.model
        depth = -torch.log1p(-model.opacities.clamp_max(MAX_ALPHA))
        return depth / (math.sqrt(2.0 * math.pi) * torch.exp(model.log_scales.mean(-1)))

    def _cut_radii(self) -> Tensor:
        """``(N,)`` Mahalanobis radius of each kernel's cut: ``CUT``, or less where ``k_i g`` falls below ``min_density``
        sooner (0: the whole kernel is below it)."""
        if self.min_density <= 0:
            return torch.full((self.count,), CUT, device=self.model.means.device)
        ratio = self._peaks().detach() / self.min_density
        return torch.sqrt(2.0 * torch.log(ratio.clamp_min(1.0))).clamp_max(CUT)

    def _cell_of(self, points: Tensor) -> Tensor:
        return torch.floor((points - self.origin) / self.cell).long().clamp(0, self.cells - 1)

    def _pairs(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """(point, Gaussian) index pairs whose cell lists meet (points outside the grid have none); the lookup grid must
        be current (:meth:`forward` checks it once a query)."""
        with torch.no_grad():
            inside = ((points >= self.origin) & (points < self.origin + self.cell * self.cells)).all(-1)
            cell = self._cell_of(points)
            cell_id = (cell[:, 0] * self.cells + cell[:, 1]) * self.cells + cell[:, 2]
            counts = torch.where(inside, self.starts[cell_id + 1] - self.starts[cell_id], 0)
            point = torch.repeat_interleave(torch.arange(len(points), device=points.device), counts)
            local = torch.arange(len(point), device=points.device) - (torch.cumsum(counts, 0) - counts)[point]
            return point, self.members[self.starts[cell_id[point]] + local]

    def _weights(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Pairs ``(point, gaussian)`` and each pair's density term ``k_i g_i(x)``."""
        model = self.model
        point, gaussian = self._pairs(points)
        precision = covariances(-model.log_scales, model.quaternions)  # Σ⁻¹ = R S⁻² Rᵀ
        peak = self._peaks()
        # one gather per pair: the mean, the six distinct entries of Σ⁻¹ and the peak density
        table = torch.cat((model.means, precision[:, [0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]], peak[:, None]), dim=1)
        rows = table.index_select(0, gaussian)
        x, y, z = (points.index_select(0, point) - rows[:, :3]).unbind(-1)
        xx, yy, zz, xy, xz, yz = rows[:, 3:9].unbind(-1)
        mahalanobis = xx * x * x + yy * y * y + zz * z * z + 2.0 * (xy * x * y + xz * x * z + yz * y * z)
        kernel = torch.where(mahalanobis <= self.cut.index_select(0, gaussian) ** 2, torch.exp(-0.5 * mahalanobis), 0.0)
        return point, gaussian, rows[:, 9] * kernel

    def forward(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Density ``(M,)`` and albedo ``(M, 3)`` at ``points (M, 3)`` (in passes of ``MAX_POINTS``)."""
        self._ensure_built()
        if len(points) <= MAX_POINTS:
            return self._values(points)
        parts = [self._values(part) for part in points.split(MAX_POINTS)]
        return torch.cat([density for density, _ in parts]), torch.cat([albedo for _, albedo in parts])

    def _values(self, points: Tensor) -> tuple[Tensor, Tensor]:
        point, gaussian, weight = self._weights(points)
        density = points.new_zeros(len(points)).index_add(0, point, weight.to(points.dtype))
        coloured = points.new_zeros(len(points), 3).index_add(0, point, (weight[:, None] * self.model.colours[gaussian]).to(points.dtype))
        albedo = (coloured + 0.5 * EMPTY_WEIGHT) / (density[:, None] + EMPTY_WEIGHT)
        return density, albedo

    @torch.no_grad()
    def drawn_opacity(self, cameras, size: int) -> Tensor | None:
        """``(B, size, size)``: the Gaussians' opacity as the rasteriser draws them at ``drawn_size`` pixels (the run's
        training size), bilinearly resized to ``size``; None without a ``drawn_size`` and a ``draw``. The exporter fits the mesh's
        level to it (:mod:`dreamlift.export._render`), so the mesh has the silhouettes the run was trained on."""
        if self.drawn_size is None or self.draw is None:
            return None
        return self.draw(self.model.splats(), cameras, int(self.drawn_size), size)

    def density(self, points: Tensor) -> Tensor:
        """Density ``(M,)`` at ``points (M, 3)``."""
        return self(points)[0]

    def albedo(self, points: Tensor) -> Tensor:
        """Albedo ``(M, 3)`` at ``points (M, 3)``."""
        return self(points)[1]

    def density_albedo_normals(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Density ``(M,)``, albedo ``(M, 3)`` and unit outward normals ``(M, 3)`` (forward differences of the density)."""
        normals, (density, albedo) = finite_difference_normals(self.__call__, points, self.normal_epsilon)
        return density, albedo, normals
