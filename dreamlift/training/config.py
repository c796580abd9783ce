"""Settings of a distillation run: one dataclass tree, written whole into ``config.json``.

Every field has a docstring (``dreamlift text --help`` lists them); presets live in
:mod:`dreamlift.presets`. The prior is a typed choice of prior configs
(:data:`~dreamlift.guidance.priors.PriorConfig`), each with its own ``setup``.
:func:`~dreamlift.config_tree.to_dict` / ``from_dict`` turn the tree into JSON and
back (enums as their values, tuples as lists), so a run folder records exactly what ran. The
whole tree imports no torch (each part's settings sit in a ``settings`` module beside its
code), so ``--help`` and every argument check come back before torch loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dreamlift.errors import DreamliftError
from dreamlift.guidance.priors import PriorConfig, ToyPriorConfig
from dreamlift.refine.config import RefineConfig
from dreamlift.representation.settings import NeRFRepresentationConfig, RepresentationConfig
from dreamlift.rendering.settings import VIEW_SOURCES, CameraRanges, OccupancyConfig, RenderConfig, ShadingSchedule
from dreamlift.scene.settings import BackgroundKind, FieldConfig
from dreamlift.distillation.image_settings import ImageSettings
from dreamlift.training.seed import check_seed


@dataclass
class Ramp:
    """A value that moves linearly from ``start`` (at ``start_step``) to ``end`` (at ``end_step``)."""

    start_step: int = 0
    """Step until which the value is ``start``."""
    start: float = 0.0
    """The value at and before ``start_step``."""
    end_step: int = 0
    """Step from which the value is ``end``."""
    end: float = 0.0
    """The value at and after ``end_step``."""

    def at(self, step: int) -> float:
        if step <= self.start_step:
            return self.start
        if step >= self.end_step:
            return self.end
        fraction = (step - self.start_step) / (self.end_step - self.start_step)
        return self.start + (self.end - self.start) * fraction


@dataclass
class LossWeights:
    """Weights of the regularisers added to the SDS loss (DreamFusion §3, threestudio)."""

    orientation: Ramp = field(default_factory=lambda: Ramp(0, 0.0, 0, 0.0))
    """Orientation penalty: normals facing away from the camera, weighted by the render weights."""
    opacity: float = 0.0
    """Sparsity: mean rendered opacity (pushes empty space to stay empty)."""
    entropy: Ramp = field(default_factory=lambda: Ramp(0, 0.0, 0, 0.0))
    """Binary entropy of the rendered opacity, summed over pixels (pushes it to 0 or 1: crisp silhouettes)."""


@dataclass
class TrainConfig:
    """Everything a text-to-3D run needs; written to ``config.json``."""

    prompt: str = ""
    """The text prompt."""
    prior: PriorConfig = field(default_factory=ToyPriorConfig)
    """The guidance: a prior's settings, chosen by ``prior.name`` (toy, stable-diffusion, deepfloyd-if, toy-view, zero123)."""
    steps: int = 1200
    """Training steps."""
    seed: int = 0
    """Seed of every random draw of the run (a CPU run repeats exactly)."""
    size: int = 32
    """Render size during training (square)."""
    batch_size: int = 1
    """Cameras per step."""
    size_milestones: tuple[tuple[int, int, int], ...] = ()
    """Coarse to fine, as threestudio's ``resolution_milestones``: ``[step, size, batch_size]`` rows, steps
    increasing; from each row's step on, training renders are size x size with batch_size cameras (before the
    first row: ``size`` and ``batch_size``). Empty: fixed. Real priors only (the toy priors' resolution is
    fixed), text runs only (an image run's input views are matched at ``size``)."""
    learning_rate: float = 0.03
    """Adam learning rate of the field's encoding."""
    mlp_learning_rate: float = 0.003
    """Adam learning rate of the field's MLP and background."""
    cameras: CameraRanges = field(default_factory=CameraRanges)
    """Random training cameras (with ``views=random``)."""
    views: str = "random"
    """Training views: ``random`` (cameras in ``cameras``' ranges, head lights jittered as ``shading`` says) or
    ``memorised`` (among a memory prior's memorised views, each with its render's light, where the prior's score
    points at that view's own render; a learned prior has none and gets random ones)."""
    representation: RepresentationConfig = field(default_factory=NeRFRepresentationConfig)
    """What stage 1 distils into, chosen by ``representation.name``: ``nerf`` (the ``nerf``, ``render`` and
    ``occupancy`` sections below) or ``gaussians`` (3D Gaussians, DreamGaussian; its settings in this section)."""
    nerf: FieldConfig = field(default_factory=FieldConfig)
    """The NeRF field (``representation.name=nerf``)."""
    render: RenderConfig = field(default_factory=RenderConfig)
    """The volume renderer."""
    occupancy: OccupancyConfig = field(default_factory=OccupancyConfig)
    """Empty-space skipping."""
    background: BackgroundKind = BackgroundKind.FIXED
    """Background behind the scene (white when fixed)."""
    shading: ShadingSchedule = field(default_factory=ShadingSchedule)
    """Shading of training renders."""
    losses: LossWeights = field(default_factory=LossWeights)
    """Regularisers."""
    checkpoint_every: int = 200
    """Steps between checkpoints (also written at the end and on Ctrl-C)."""
    preview_every: int = 300
    """Steps between preview images."""
    log_every: int = 10
    """Steps between lines of log.jsonl."""
    export_mesh: bool = True
    """Write mesh.glb at the end of the run."""
    export_video: bool = True
    """Write turntable.mp4 at the end of the run."""
    device: str = "auto"
    """Where the NeRF trains: ``cpu``, ``cuda``, or ``auto`` (CUDA for real priors when there is a GPU, else the CPU)."""
    max_bad_steps: int = 5
    """Consecutive non-finite steps before rolling back to the last checkpoint."""
    image: ImageSettings | None = None
    """Image runs only: the input views, reference-view losses and image priors (None for text runs)."""
    refine: RefineConfig = field(default_factory=RefineConfig)
    """Stage 2: mesh refinement after the NeRF (DMTet); ``refine.enabled`` turns it on."""
    turntable_size: int = 512
    """Width and height of turntable.mp4 in pixels, rendered from the final mesh."""

    @property
    def scene_bound(self) -> float:
        """Half-size of the scene's cube ``[-bound, bound]³`` (world units) that export and refinement sample."""
        return self.representation.scene_bound(self)

    def training_view_at(self, step: int) -> tuple[int, int]:
        """``(render size, cameras per step)`` of training step ``step``: ``size_milestones``' last row at or
        before ``step``, else ``size`` and ``batch_size``. A function of the step alone, so a resumed run
        renders as the uninterrupted one would."""
        size, batch = self.size, self.batch_size
        for start, milestone_size, milestone_batch in self.size_milestones:
            if step >= start:
                size, batch = milestone_size, milestone_batch
        return size, batch

    def validate(self) -> None:
        """Raise a one-line :class:`DreamliftError` for settings that cannot run."""
        if self.steps <= 0:
            raise DreamliftError(f"--steps must be a positive number of training steps, got {self.steps}")
        if self.size < 8 or self.size > 1024:
            raise DreamliftError(f"render size {self.size} is not allowed: use 8 to 1024 pixels")
        if isinstance(self.prior, ToyPriorConfig) and self.size != self.prior.resolution:
            resolution = self.prior.resolution
            raise DreamliftError(f"the toy prior takes {resolution}x{resolution} renders: leave size at {resolution} (or set prior.resolution)")
        if self.batch_size < 1:
            raise DreamliftError("batch size must be at least 1")
        self._validate_size_milestones()
        if not (self.learning_rate > 0 and self.mlp_learning_rate > 0):
            raise DreamliftError("learning rates must be positive")
        if self.render.samples_per_ray < 2:
            raise DreamliftError("samples per ray must be at least 2")
        for name in ("checkpoint_every", "preview_every", "log_every", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise DreamliftError(f"{name} must be at least 1, got {getattr(self, name)}")
        run_kind = "text" if self.image is None else "image"
        if self.prior.kind != run_kind:
            raise DreamliftError(f"the {self.prior.name} prior is for {self.prior.kind} runs, not {run_kind} runs: choose another prior.name")
        check_seed(self.seed)
        if not 16 <= self.turntable_size <= 2048:
            raise DreamliftError(f"turntable size {self.turntable_size} must be 16 to 2048 pixels")
        self.refine.validate()
        if self.refine.enabled:
            self.prior.for_refinement(self.refine.size, self.refine.timesteps).validate()
        self.cameras.validate()
        if self.views not in VIEW_SOURCES:
            raise DreamliftError(f"views is {self.views!r}: use one of {', '.join(VIEW_SOURCES)}")
        self.nerf.validate()
        self.representation.validate()
        self.prior.validate()
        if self.image is not None:
            self.image.validate()
            text_prior = self.image.text.prior
            if self.prompt.strip() and isinstance(text_prior, ToyPriorConfig) and self.size != text_prior.resolution:
                raise DreamliftError(
                    f"the toy text prior takes {text_prior.resolution}x{text_prior.resolution} renders but the run renders {self.size}: "
                    "choose --prior-text stable-diffusion or deepfloyd-if, or leave size at the toy prior's resolution"
                )

    def _validate_size_milestones(self) -> None:
        if not self.size_milestones:
            return
        if isinstance(self.prior, ToyPriorConfig):
            raise DreamliftError(f"size_milestones are for real priors: the {self.prior.name} prior takes {self.prior.resolution}-px renders only; set size_milestones=[]")
        if self.image is not None:
            raise DreamliftError("size_milestones are for text runs: an image run matches its input views at size; set size_milestones=[]")
        previous = 0
        for start, size, batch in self.size_milestones:
            if start <= previous:
                raise DreamliftError(f"size_milestones steps must be positive and increasing, got {start} after {previous}")
            if not 8 <= size <= 1024:
                raise DreamliftError(f"size_milestones render size {size} is not allowed: use 8 to 1024 pixels")
            if batch < 1:
                raise DreamliftError(f"size_milestones batch size must be at least 1, got {batch}")
            previous = start
