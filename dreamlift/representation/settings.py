"""The representations' settings and the typed union a run chooses from (``TrainConfig.representation``), without torch.

Each config class has a fixed ``name`` (``representation.name`` in ``config.json``) and a
``setup(config, device)`` that builds its :class:`~dreamlift.representation.base.Representation`
from the run's whole :class:`~dreamlift.training.config.TrainConfig`. The NeRF reads the run's
``nerf``, ``occupancy``, ``render`` and ``background`` sections, which stay where they were
(run format 2), so an older ``config.json`` has no ``representation`` section and is a NeRF run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Union

from dreamlift.errors import DreamliftError
from dreamlift.scene.gaussian_settings import DensifyConfig, GaussianConfig

if TYPE_CHECKING:
    from dreamlift.representation.gaussians import GaussianRepresentation
    from dreamlift.representation.nerf import NeRFRepresentation

SPLAT_BACKENDS = ("auto", "torch", "gsplat")


@dataclass
class NeRFRepresentationConfig:
    """A NeRF (encoding + MLP) with empty-space skipping; its settings are the run's ``nerf``, ``occupancy`` and ``render``."""

    name: str = "nerf"
    """Which representation this is (``--set representation.name=gaussians`` chooses another)."""

    description: ClassVar[str] = "a NeRF field rendered by volume rendering (DreamFusion, Magic3D's coarse stage)"

    def validate(self) -> None:
        """Nothing of its own: the run's ``nerf`` and ``render`` sections are validated by the run."""

    def scene_bound(self, config) -> float:
        """Half-size of the scene's cube (world units): the NeRF's ``nerf.bound``."""
        return float(config.nerf.bound)

    def setup(self, config, device) -> "NeRFRepresentation":
        from dreamlift.representation.nerf import NeRFRepresentation

        return NeRFRepresentation(config, device)


@dataclass
class GaussianLearningRates:
    """Adam learning rates of the Gaussians' parameters (DreamGaussian ``configs/text.yaml``)."""

    means: float = 1e-3
    """Means at the start (``position_lr_init``); they decay to ``means_final`` (3DGS's exponential schedule)."""
    means_final: float = 2e-5
    """Means at and after ``means_steps`` (``position_lr_final``)."""
    means_delay_mult: float = 0.02
    """The schedule's warm-up: the rate starts at this fraction and eases in (``position_lr_delay_mult``)."""
    means_steps: int = 300
    """Steps over which the means' rate decays (``position_lr_max_steps``)."""
    log_scales: float = 5e-3
    """Scales (``scaling_lr``)."""
    quaternions: float = 5e-3
    """Rotations (``rotation_lr``)."""
    opacity_logits: float = 5e-2
    """Opacities (``opacity_lr``)."""
    colour_logits: float = 1e-2
    """Colours (``feature_lr``)."""

    def validate(self) -> None:
        rates = (self.means, self.means_final, self.log_scales, self.quaternions, self.opacity_logits, self.colour_logits)
        if not all(rate > 0 for rate in rates) or not 0 < self.means_delay_mult <= 1 or self.means_steps < 1:
            raise DreamliftError("representation.learning_rates must be > 0, means_delay_mult within (0, 1], means_steps >= 1")

    def means_at(self, step: int) -> float:
        """The means' rate at ``step``: log-linear from ``means`` to ``means_final`` over ``means_steps``, times 3DGS's
        delay ``delay_mult + (1 − delay_mult)·sin(π/2 · min(step/means_steps, 1))`` (``get_expon_lr_func``)."""
        import math

        t = min(max(step / self.means_steps, 0.0), 1.0)
        delay = self.means_delay_mult + (1.0 - self.means_delay_mult) * math.sin(0.5 * math.pi * t)
        return delay * math.exp((1.0 - t) * math.log(self.means) + t * math.log(self.means_final))


@dataclass
class GaussianRepresentationConfig:
    """3D Gaussians rasterised by splatting (DreamGaussian, arXiv 2309.16653), with adaptive density control."""

    name: str = "gaussians"
    """Which representation this is (``--set representation.name=nerf`` chooses another)."""
    init: GaussianConfig = field(default_factory=GaussianConfig)
    """How the Gaussians start: ``count`` points uniform in a ball of ``radius``."""
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    """How they are cloned, split and pruned."""
    densify_from: int = 0
    """First step (counted after it) at which the Gaussians are densified and pruned (DreamGaussian ``density_start_iter``)."""
    densify_until: int = 3000
    """Last step at which they are (``density_end_iter``); statistics are gathered from ``densify_from`` to here."""
    densify_every: int = 50
    """Steps between densifications (``densification_interval``)."""
    opacity_reset_every: int = 700
    """Steps between opacity resets within the densification window; 0 never (``opacity_reset_interval``)."""
    learning_rates: GaussianLearningRates = field(default_factory=GaussianLearningRates)
    """Adam learning rates per parameter."""
    bound: float = 1.0
    """Half-size of the scene's cube ``[-bound, bound]³`` that export and refinement sample (world units)."""
    min_density: float = 0.01
    """The Gaussian field (what export and refinement read) drops each kernel where it adds less than this density
    (world units⁻¹): the wide faint tails of the many nearly transparent Gaussians (DreamGaussian's mesh extraction
    drops Gaussians below opacity 0.005). Ours: a red chair's field 4.7× fewer pairs a point, export 40 -> 10 s,
    mesh IoU 0.705 -> 0.715 (docs/measurements.md); 0 cuts every kernel at g = 1e-4 only."""
    backend: str = "auto"
    """Rasteriser: ``torch`` (pure PyTorch, exact), ``gsplat`` (CUDA), ``auto`` (gsplat on CUDA when installed, else torch)."""

    description: ClassVar[str] = "3D Gaussians rendered by splatting, densified and pruned as they train (DreamGaussian)"

    def validate(self) -> None:
        self.init.validate()
        self.densify.validate()
        self.learning_rates.validate()
        if self.densify_every < 1 or self.densify_from < 0 or self.densify_until < self.densify_from:
            raise DreamliftError("representation: densify_every must be >= 1 and 0 <= densify_from <= densify_until")
        if self.opacity_reset_every < 0:
            raise DreamliftError(f"representation.opacity_reset_every must be >= 0 (0: never), got {self.opacity_reset_every}")
        if not self.bound > 0:
            raise DreamliftError(f"representation.bound must be > 0, got {self.bound}")
        if not self.min_density >= 0:
            raise DreamliftError(f"representation.min_density must be >= 0, got {self.min_density}")
        if self.backend not in SPLAT_BACKENDS:
            raise DreamliftError(f"representation.backend is {self.backend!r}: use one of {', '.join(SPLAT_BACKENDS)}")

    def scene_bound(self, config) -> float:
        return float(self.bound)

    def setup(self, config, device) -> "GaussianRepresentation":
        from dreamlift.representation.gaussians import GaussianRepresentation

        return GaussianRepresentation(config, device)


RepresentationConfig = Union[NeRFRepresentationConfig, GaussianRepresentationConfig]
"""What stage 1 distils into: ``representation.name`` chooses."""
REPRESENTATION_CONFIGS = (NeRFRepresentationConfig, GaussianRepresentationConfig)
"""Every representation's config class, in ``--help`` order."""
