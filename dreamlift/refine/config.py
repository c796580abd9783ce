"""Settings of the refinement stage (stage 2: a DMTet mesh distilled at a higher render size).

Part of the run's :class:`~dreamlift.training.config.TrainConfig` as ``refine``; the
presets set it per prior (sources in :mod:`dreamlift.presets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dreamlift.errors import DreamliftError
from dreamlift.guidance.settings import TimestepSchedule
from dreamlift.rendering.settings import NVDIFFRAST_INSTALL, VIEW_SOURCES, nvdiffrast_installed


@dataclass
class RefineConfig:
    """Stage 2 (Magic3D §4, stable-dreamfusion ``--dmtet``): a tet-grid SDF and a colour field, rendered as a mesh.

    The defaults are ours, measured with the toy prior (``bench/refine.py``, docs/measurements.md);
    the real-prior presets take the peers' values (:mod:`dreamlift.presets`).
    """

    enabled: bool = False
    """Run the refinement stage after stage 1 (``--refine on|off``)."""
    steps: int = 300
    """Refinement steps."""
    size: int = 64
    """Render size of the mesh during refinement (square); the toy prior takes 32, 64 or 128."""
    supersample: int = 2
    """Training renders are made at ``size·supersample`` and averaged down, as the toy world's are (a sphere
    fitted to the toy renders came out 1.1 % too large in radius with 1, 0.2 % with 2: docs/measurements.md)."""
    tet_resolution: int = 64
    """Cubes per axis of the tetrahedral grid over the scene's bound (each split into 6 tetrahedra)."""
    initial_level: float = 1.0
    """The stage-1 density level the surface starts at, as a multiple of the level the exporter fits to the renders
    (below 1: a fuller start; the outline then trims what the silhouettes disagree with, while dents that no
    silhouette shows, which stage 1 leaves in flat faces, are not carved in)."""
    fill_unseen: bool = False
    """Start with the hollows no training camera sees into filled (outside SDF vertices that no camera of stage 1's
    ranges sees, :mod:`dreamlift.refine.visibility`): the prior gives them no gradient, so they would stay in the asset."""
    max_shift: float = 0.5
    """Largest deformation of a grid vertex, in grid spacings."""
    batch_size: int = 2
    """Cameras per step."""
    cameras: str = "memorised"
    """Where the cameras are drawn: ``memorised`` (among a memory prior's memorised cameras, where its
    score is exact: the toy priors; with a learned prior, which has none, stage 1's ranges) or ``random``
    (stage 1's ranges for every prior). Measured in docs/measurements.md (bench/refine.py)."""
    lights: str = "random"
    """The light of each training render: ``random`` (stage 1's jittered head lights) or ``memorised`` (with
    ``cameras=memorised``, the light the memorised render of that camera was made with, so that the view's own
    render is the one the prior's low-noise score points at; a prior without memorised views gets random ones)."""
    sdf_learning_rate: float = 0.001
    """Adam learning rate of the SDF values (world units)."""
    deform_learning_rate: float = 0.015
    """Adam learning rate of the deformations (pre-tanh)."""
    colour_learning_rate: float = 0.001
    """Adam learning rate of the colour field (a NeRF: the stage-1 field's encoding and MLP; 3D Gaussians: the logits
    of the grid their albedo is baked into, as the Gaussians' own colours are logits)."""
    colour_grid: int = 64
    """Vertices per axis of the grid that a stage-1 field with a costly albedo (3D Gaussians) is baked into before
    refinement, over the box its Gaussians reach (:mod:`dreamlift.scene.albedo_grid`); a NeRF is fine-tuned itself."""
    timesteps: TimestepSchedule = field(default_factory=lambda: TimestepSchedule(0.02, 0.5, 0.5, 1.0))
    """Diffusion timestep range during refinement (Magic3D / threestudio magic3d-refine: U(0.02, 0.5))."""
    normal_consistency: float = 300.0
    """Weight of the normal-consistency loss (mean 1 − cos between neighbouring faces)."""
    laplacian: float = 50.0
    """Weight of the Laplacian smoothness loss (mean distance of a vertex from its neighbours' mean)."""
    rasterizer: str = "auto"
    """Triangle rasteriser: ``auto`` (nvdiffrast on a GPU when it is installed, else the PyTorch reference), ``torch`` or ``nvdiffrast``."""
    flat_shading: bool = False
    """Shade training renders with face normals instead of smooth vertex normals."""
    preview_size: int = 128
    """Size of each view in the refinement's preview strips."""
    checkpoint_every: int = 100
    """Steps between refinement checkpoints (also written at the end and on Ctrl-C)."""
    preview_every: int = 100
    """Steps between refinement previews."""
    log_every: int = 10
    """Steps between lines of refine/log.jsonl."""
    max_bad_steps: int = 5
    """Consecutive non-finite steps before rolling back to the last refinement checkpoint."""

    def validate(self) -> None:
        if self.steps < 1:
            raise DreamliftError(f"refine.steps must be at least 1, got {self.steps}")
        if not 16 <= self.size <= 1024:
            raise DreamliftError(f"refine.size {self.size} is not allowed: use 16 to 1024 pixels")
        if not 8 <= self.tet_resolution <= 256:
            raise DreamliftError(f"refine.tet_resolution {self.tet_resolution} is out of range: use 8 to 256 (64 by default, 48 in the toy preset)")
        if not 0.0 < self.initial_level <= 4.0:
            raise DreamliftError(f"refine.initial_level {self.initial_level} is out of range: use a multiple of the fitted level in (0, 4] (1 is the exporter's)")
        if not 0.0 <= self.max_shift <= 0.5:
            raise DreamliftError(f"refine.max_shift {self.max_shift} must be in [0, 0.5] grid spacings (more lets tetrahedra flip)")
        for name in ("cameras", "lights"):
            if getattr(self, name) not in VIEW_SOURCES:
                raise DreamliftError(f"refine.{name} is {getattr(self, name)!r}: use one of {', '.join(VIEW_SOURCES)}")
        if not 8 <= self.colour_grid <= 256:
            raise DreamliftError(f"refine.colour_grid {self.colour_grid} is out of range: use 8 to 256 vertices per axis")
        if not 1 <= self.supersample <= 4:
            raise DreamliftError(f"refine.supersample {self.supersample} is out of range: use 1 to 4")
        if self.batch_size < 1:
            raise DreamliftError("refine.batch_size must be at least 1")
        for name in ("sdf_learning_rate", "deform_learning_rate", "colour_learning_rate"):
            if not getattr(self, name) >= 0.0:
                raise DreamliftError(f"refine.{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("normal_consistency", "laplacian"):
            if not getattr(self, name) >= 0.0:
                raise DreamliftError(f"refine.{name} must be 0 or more, got {getattr(self, name)}")
        if not 16 <= self.preview_size <= 1024:
            raise DreamliftError(f"refine.preview_size {self.preview_size} must be 16 to 1024 pixels")
        for name in ("checkpoint_every", "preview_every", "log_every", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise DreamliftError(f"refine.{name} must be at least 1, got {getattr(self, name)}")
        if self.rasterizer not in ("auto", "torch", "nvdiffrast"):
            raise DreamliftError(f"refine.rasterizer {self.rasterizer!r}: choose auto, torch or nvdiffrast")
        if self.rasterizer == "nvdiffrast" and not nvdiffrast_installed():
            raise DreamliftError(f"refine.rasterizer nvdiffrast needs nvdiffrast: {NVDIFFRAST_INSTALL}, or use auto or torch")
        self.timesteps.validate()
