"""The settings of the 3D Gaussian representation (initialisation, densification), without torch.

Defaults follow DreamGaussian (Tang et al., arXiv 2309.16653; its ``configs/text.yaml`` and the
``densify_and_prune(threshold, min_opacity=0.01, extent=4, ...)`` call of its trainer), which
follow 3D Gaussian splatting (Kerbl et al., SIGGRAPH 2023, §5).
"""

from __future__ import annotations

from dataclasses import dataclass

from dreamlift.errors import DreamliftError


@dataclass
class GaussianConfig:
    """How the Gaussians start."""

    count: int = 5000
    """Gaussians at the start (DreamGaussian ``num_pts``)."""
    radius: float = 0.5
    """Their means are uniform in the ball of this radius at the origin (world units)."""
    opacity: float = 0.1
    """Starting opacity of every Gaussian."""
    scale: float | None = None
    """Starting standard deviation (world units) on every axis; None: each Gaussian's RMS distance to its
    three nearest neighbours, as 3DGS starts from a point cloud."""
    colour: str = "random"
    """``random`` (uniform in [0, 1]) or ``grey`` (0.5)."""

    def validate(self) -> None:
        if self.count < 1 or self.radius <= 0 or not 0 < self.opacity < 1:
            raise DreamliftError("gaussians: count must be >= 1, radius > 0 and opacity within (0, 1)")
        if self.scale is not None and self.scale <= 0:
            raise DreamliftError(f"gaussians: scale {self.scale} must be > 0, or leave it out to use neighbour distances")
        if self.colour not in ("random", "grey"):
            raise DreamliftError(f"gaussians: colour {self.colour!r} must be 'random' or 'grey'")


@dataclass
class DensifyConfig:
    """When and how Gaussians are cloned, split and pruned (3DGS adaptive density control)."""

    grad_threshold: float = 0.01
    """Densify Gaussians whose mean 2D-mean gradient norm (NDC units) reaches this (DreamGaussian 0.01; 3DGS 0.0002)."""
    percent_dense: float = 0.01
    """Gaussians larger than ``percent_dense · extent`` (largest scale) are split, smaller ones cloned."""
    extent: float = 4.0
    """The scene's extent in world units (DreamGaussian passes 4)."""
    split_into: int = 2
    """A split Gaussian becomes this many, each with scales divided by ``0.8 · split_into`` (1.6 for 2)."""
    min_opacity: float = 0.01
    """Prune Gaussians less opaque than this."""
    max_size: float = 0.1
    """Prune Gaussians whose largest scale exceeds ``max_size · extent``."""
    reset_opacity: float = 0.01
    """An opacity reset clamps every opacity to at most this."""

    def validate(self) -> None:
        if self.grad_threshold <= 0 or self.percent_dense <= 0 or self.extent <= 0 or self.split_into < 2:
            raise DreamliftError("densify: grad_threshold, percent_dense and extent must be > 0, split_into >= 2")
        if not 0 <= self.min_opacity < 1 or not 0 < self.reset_opacity < 1 or self.max_size <= 0:
            raise DreamliftError("densify: min_opacity within [0, 1), reset_opacity within (0, 1), max_size > 0")
