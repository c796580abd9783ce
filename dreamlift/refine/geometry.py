"""The refinement stage's geometry: an SDF value and a bounded deformation per tet-grid vertex (DMTet).

Vertex ``i`` sits at ``x_i + max_shift · h · tanh(d_i)`` (``h`` the grid spacing, so a vertex
never leaves its half-cell neighbourhood and tetrahedra cannot flip), and carries an SDF
value ``s_i`` (world units, negative inside). The surface is the marching-tetrahedra
level set of ``s`` over the deformed vertices (:mod:`dreamlift.refine.tets`).

Initialisation from a first-stage field: its density is sampled at the grid vertices
and the level ``τ`` the exporter fits to the renders (:func:`dreamlift.export.mesh.fit_grid_level`)
sets the surface, so stage 2 starts from the stage-1 mesh (:func:`sdf_from_density`: the
linear estimate ``(τ − σ) / g`` next to the surface, so every zero crossing sits where
marching cubes puts it, and a distance transform further out). Pieces of the inside
smaller than ``min_part_fraction`` of the largest (floaters) start outside, as the
exporter removes them.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor, nn

from dreamlift.errors import DreamliftError
from dreamlift.refine.tets import SurfaceMesh, TetGrid, compacted, marching_tetrahedra, narrow_band


def sdf_from_density(density: Tensor, level: float, spacing: float, clamp: float = 4.0, min_part_fraction: float = 0.05) -> Tensor:
    """SDF values ``(R, R, R)`` (world units, negative inside) of the level set ``{σ = level}`` of a density grid ``(R, R, R)``.

    Vertices next to the surface (with a neighbour of the other sign, any of the 26) get the
    linear estimate ``(level − σ) / g``, so every zero crossing sits where marching cubes puts
    it; the others get their distance to the nearest vertex of the other sign less half a
    spacing (a Euclidean distance transform), so values grow with distance as an SDF's do and
    the narrow band around the surface stays narrow. All are clamped to ``±clamp`` spacings.
    """
    sigma = density.double().numpy()
    inside = sigma > level
    if not inside.any():
        raise DreamliftError(
            f"the first stage is empty at density level {level:.3g}: there is no surface to refine; "
            "train stage 1 for more steps or with another --seed"
        )
    labels, count = ndimage.label(inside)
    if count > 1:
        sizes = np.bincount(labels.reshape(-1))[1:]
        keep = np.flatnonzero(sizes >= min_part_fraction * sizes.max()) + 1
        inside &= np.isin(labels, keep)
    gradient = np.stack(np.gradient(sigma, spacing), axis=-1)
    magnitude = np.linalg.norm(gradient, axis=-1)
    ball = np.ones((3, 3, 3), dtype=bool)
    near = (inside & ndimage.binary_dilation(~inside, ball)) | (~inside & ndimage.binary_dilation(inside, ball))
    scale = float(np.median(magnitude[near & inside])) if (near & inside).any() else 1.0
    linear = (level - sigma) / max(scale, 1e-8)
    linear = np.where(inside, np.clip(linear, -spacing, -1e-6), np.clip(linear, 1e-6, spacing))  # floaters removed: outside
    far = np.where(inside, -(ndimage.distance_transform_edt(inside) - 0.5), ndimage.distance_transform_edt(~inside) - 0.5) * spacing
    sdf = np.clip(np.where(near, linear, far), -clamp * spacing, clamp * spacing)
    return torch.from_numpy(sdf).float()


def enclosed_outside(sdf: Tensor, side: int) -> Tensor:
    """``(V,)`` bool: vertices outside (``sdf ≥ 0``) in pockets that no path of outside vertices joins to the grid's
    boundary (26-connected, so a pocket that touches the outside even at a corner is kept open)."""
    outside = (sdf >= 0).reshape(side, side, side).cpu().numpy()
    labels, count = ndimage.label(outside, structure=np.ones((3, 3, 3), dtype=bool))
    if count <= 1:
        return torch.zeros(sdf.shape[0], dtype=torch.bool, device=sdf.device)
    border = np.unique(np.concatenate([labels[i].ravel() for i in (0, -1)] + [labels[:, i].ravel() for i in (0, -1)] + [labels[:, :, i].ravel() for i in (0, -1)]))
    enclosed = outside & ~np.isin(labels, border)
    return torch.from_numpy(enclosed.reshape(-1)).to(sdf.device)


class DMTetGeometry(nn.Module):
    """Per-vertex SDF ``sdf (V,)`` and deformation ``deform (V, 3)`` on a :class:`TetGrid`."""

    def __init__(self, grid: TetGrid, sdf: Tensor, max_shift: float = 0.5, band: float = 2.0):
        super().__init__()
        self.grid = grid
        self.max_shift = float(max_shift)
        self.band = float(band)
        self.sdf = nn.Parameter(sdf.reshape(-1).float().clone())
        self.deform = nn.Parameter(torch.zeros(grid.vertices.shape[0], 3))
        self.register_buffer("base", grid.vertices.clone(), persistent=False)
        self._band_grid: TetGrid | None = None  # the narrow band over its own vertices (tets.compacted)
        self._band_vertices: Tensor | None = None  # their indices in the full grid
        self._band_sdf: Tensor | None = None

    def deformed_vertices(self, index: Tensor) -> Tensor:
        """Positions ``(K, 3)`` of the grid vertices ``index (K,)``: ``x_i + max_shift · h · tanh(d_i)``."""
        return self.base.index_select(0, index) + self.max_shift * self.grid.spacing * torch.tanh(self.deform.index_select(0, index))

    def _active_grid(self) -> tuple[TetGrid, Tensor]:
        """The narrow band of tetrahedra around the surface over its own vertices, and their indices in the full
        grid; rebuilt once some SDF value has moved half the band.

        A vertex outside the band (``|s| ≥ band·h``) cannot change sign before some value has
        moved by ``band·h / 2`` from when the band was built, so marching the band alone gives
        exactly the full grid's surface.
        """
        sdf = self.sdf.detach()
        h = self.grid.spacing
        if self._band_grid is None or self._band_sdf is None or float((sdf - self._band_sdf).abs().max()) >= 0.5 * self.band * h:
            self.fill_pockets()
            sdf = self.sdf.detach()
            self._band_grid, self._band_vertices = compacted(narrow_band(self.grid, sdf, self.band * h))
            self._band_sdf = sdf.clone()
        return self._band_grid, self._band_vertices

    @torch.no_grad()
    def fill_pockets(self) -> int:
        """Turn enclosed pockets of outside vertices inside; returns how many vertices changed.

        The prior only sees the outer surface, so when it moves outward the vertices it
        passes may keep their sign and leave a hollow shell (an inner surface nobody can
        see); a solid is what the asset is. Run whenever the narrow band is rebuilt.
        """
        pocket = enclosed_outside(self.sdf, self.grid.resolution + 1)
        count = int(pocket.sum())
        if count:
            self.sdf[pocket] = -0.5 * self.grid.spacing
        return count

    def surface(self) -> SurfaceMesh:
        """The current surface mesh (differentiable in ``sdf`` and ``deform``); only the band's vertices are deformed."""
        band, used = self._active_grid()
        return marching_tetrahedra(self.deformed_vertices(used), self.sdf.index_select(0, used), band)

    def to(self, *args, **kwargs):  # the grid's index tensors follow the parameters
        module = super().to(*args, **kwargs)
        device = self.sdf.device
        g = self.grid
        if g.tets.device != device:
            self.grid = TetGrid(g.resolution, g.bound, g.vertices.to(device), g.tets.to(device), g.edges.to(device), g.tet_edges.to(device))
            self._band_grid = None
        return module
