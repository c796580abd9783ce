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

MAX_STEPS = 1_000_000
"""The most training steps (and steps between checkpoints, previews, logs) a run takes, from every front end."""
_STEPS = (1, MAX_STEPS)
_STEP_OR_0 = (0, MAX_STEPS)
_FRACTION = (0.0, 1.0)
_WEIGHT = (0.0, 1e6)
_DEGREES = (0.0, 180.0)
_PIXELS = (8, 1024)
_LEARNING_RATE = (0.0, 10.0)

MAX_ENCODING_PARAMETERS = 1 << 28
"""Most parameters of the field's position encoding (1 GiB of float32; the presets use at most 17 million)."""
MAX_SAMPLES_PER_STEP = 1 << 26
"""Most ray samples a training step evaluates (the presets: at most 2 million, at 256 px)."""
MAX_REFINE_PIXELS = 1 << 24
"""Most pixels a refinement step rasterises (the presets: at most half a million)."""

SETTING_RANGES: dict[str, tuple[float, float] | None] = {
    # the run
    "steps": _STEPS, "seed": None, "size": _PIXELS, "batch_size": (1, 64), "size_milestones": None,
    "learning_rate": _LEARNING_RATE, "mlp_learning_rate": _LEARNING_RATE,
    "checkpoint_every": _STEPS, "preview_every": _STEPS, "log_every": _STEPS, "max_bad_steps": (1, 1000),
    "turntable_size": (16, 2048),
    "cameras.elevation": (-90.0, 90.0), "cameras.azimuth": (-360.0, 360.0), "cameras.radius": (0.0, 1000.0), "cameras.fovy": _DEGREES,
    # the field
    "nerf.grid_resolutions": (2, 256), "nerf.grid_features": (1, 64), "nerf.triplane_resolution": (2, 2048),
    "nerf.triplane_features": (1, 128), "nerf.frequency_levels": (1, 16), "nerf.hidden": (1, 1024), "nerf.layers": (1, 16),
    "nerf.bound": (0.01, 100.0), "nerf.blob_density": (-1e4, 1e4), "nerf.blob_radius": (0.0, 100.0), "nerf.normal_epsilon": (1e-6, 1.0),
    "nerf.hash_grid.levels": (1, 32), "nerf.hash_grid.features_per_level": (1, 8), "nerf.hash_grid.log2_table_size": (4, 24),
    "nerf.hash_grid.base_resolution": (1, 2**20), "nerf.hash_grid.finest_resolution": (1, 2**20), "nerf.hash_grid.init_scale": (0.0, 1.0),
    # rendering
    "render.samples_per_ray": (2, 1024), "render.bound": (0.01, 100.0), "render.min_transmittance": _FRACTION, "render.min_weight": _FRACTION,
    "occupancy.resolution": (4, 256), "occupancy.threshold": (0.0, 1e4), "occupancy.decay": _FRACTION, "occupancy.update_every": _STEPS,
    "shading.albedo_warmup_steps": _STEP_OR_0, "shading.lambertian_probability": _FRACTION, "shading.textureless_share": _FRACTION,
    "shading.light_jitter": _DEGREES, "shading.ambient": _FRACTION,
    "losses.opacity": _WEIGHT,
    "losses.orientation.start": _WEIGHT, "losses.orientation.end": _WEIGHT, "losses.orientation.start_step": _STEP_OR_0, "losses.orientation.end_step": _STEP_OR_0,
    "losses.entropy.start": _WEIGHT, "losses.entropy.end": _WEIGHT, "losses.entropy.start_step": _STEP_OR_0, "losses.entropy.end_step": _STEP_OR_0,
    # stage 2
    "refine.steps": _STEPS, "refine.size": (16, 1024), "refine.supersample": (1, 4), "refine.tet_resolution": (8, 256), "refine.colour_grid": (8, 256),
    "refine.initial_level": (0.0, 4.0), "refine.max_shift": (0.0, 0.5), "refine.batch_size": (1, 64),
    "refine.sdf_learning_rate": _LEARNING_RATE, "refine.deform_learning_rate": _LEARNING_RATE, "refine.colour_learning_rate": _LEARNING_RATE,
    "refine.timesteps.t_min": _FRACTION, "refine.timesteps.t_max_start": _FRACTION, "refine.timesteps.t_max_end": _FRACTION,
    "refine.timesteps.anneal_until": _FRACTION,
    "refine.normal_consistency": _WEIGHT, "refine.laplacian": _WEIGHT, "refine.preview_size": (16, 1024),
    "refine.checkpoint_every": _STEPS, "refine.preview_every": _STEPS, "refine.log_every": _STEPS, "refine.max_bad_steps": (1, 1000),
    # the priors (any prior section: prior.*, image.text.prior.*)
    "prior.timesteps.t_min": _FRACTION, "prior.timesteps.t_max_start": _FRACTION, "prior.timesteps.t_max_end": _FRACTION,
    "prior.timesteps.anneal_until": _FRACTION,
    "prior.resolution": _PIXELS, "prior.renders_per_object": (1, 8192), "prior.unconditional_renders_per_object": (1, 1024),
    "prior.azimuth_window": _DEGREES, "prior.elevation_window": _DEGREES, "prior.guidance_scale": (0.0, 1000.0),
    "prior.seed": (0, 2**63 - 1), "prior.supersample": (1, 4),
    "prior.front_half_angle": _DEGREES, "prior.back_half_angle": _DEGREES, "prior.overhead_elevation": (-90.0, 90.0),
    "prior.perp_neg_weight": (0.0, 100.0), "prior.perp_neg_front_decay": (0.0, 1000.0), "prior.perp_neg_side_decay": (0.0, 1000.0),
    "prior.max_text_length": (1, 512),
    "prior.pixel_sigma": (1e-6, 100.0), "prior.coarse_turn_step": _DEGREES, "prior.refine_factor": (1, 99), "prior.refine_count": (0, 100),
    "prior.colour_share": _FRACTION, "prior.max_colours": (1, 16), "prior.min_weight": _FRACTION, "prior.max_candidates": (1, 1024),
    "prior.max_objects": (1, 64), "prior.reference_weight": _WEIGHT,
    "prior.checkpoint_image_size": _PIXELS, "prior.render_size": _PIXELS, "prior.radius_scale": (0.0, 100.0),
    # stage 1 as 3D Gaussians (representation.name=gaussians)
    "representation.init.count": (1, 10_000_000), "representation.init.radius": (1e-6, 100.0), "representation.init.opacity": (1e-6, 1.0 - 1e-6),
    "representation.init.scale": (1e-6, 100.0),
    "representation.densify.grad_threshold": (0.0, 1e6), "representation.densify.percent_dense": _FRACTION,
    "representation.densify.extent": (1e-6, 1000.0), "representation.densify.split_into": (2, 16),
    "representation.densify.min_opacity": _FRACTION, "representation.densify.max_size": (0.0, 1000.0),
    "representation.densify.reset_opacity": (1e-6, 1.0 - 1e-6),
    "representation.densify_from": _STEP_OR_0, "representation.densify_until": _STEP_OR_0, "representation.densify_every": _STEPS,
    "representation.opacity_reset_every": _STEP_OR_0,
    "representation.learning_rates.means": _LEARNING_RATE, "representation.learning_rates.means_final": _LEARNING_RATE,
    "representation.learning_rates.means_delay_mult": _FRACTION, "representation.learning_rates.means_steps": _STEPS,
    "representation.learning_rates.log_scales": _LEARNING_RATE, "representation.learning_rates.quaternions": _LEARNING_RATE,
    "representation.learning_rates.opacity_logits": _LEARNING_RATE, "representation.learning_rates.colour_logits": _LEARNING_RATE,
    "representation.bound": (0.01, 100.0), "representation.min_density": (0.0, 1e6),
    # image runs
    "image.views": None, "image.border_ratio": _FRACTION, "image.loss.ambient": _FRACTION, "image.loss.depth": _WEIGHT,
    "image.loss.every": _STEPS, "image.loss.mask": _WEIGHT, "image.loss.normal": _WEIGHT, "image.loss.rgb": _WEIGHT,
    "image.text.front_azimuth": (-360.0, 360.0), "image.text.weight": _WEIGHT,
}
"""The valid range of every number of a run's settings, by dotted key (inclusive; None: checked by its section's own
``validate``, as ``seed`` by :func:`check_seed`). :meth:`TrainConfig.validate` checks them all, so a setting from any
front end (``--set``, ``--config``, a hand-edited ``config.json``, a batch row, the app's ``set``) that would crash or
exhaust memory in training is refused before anything is written; a test checks that every numeric key of every
prior and run kind has an entry here."""


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
        if self.steps > MAX_STEPS:
            raise DreamliftError(f"steps {self.steps} is too many: use at most {MAX_STEPS}")
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
        from dreamlift.config_tree import check_ranges

        check_ranges(self, SETTING_RANGES)
        self._validate_memory()
        self._validate_view_of_the_scene()

    def _validate_view_of_the_scene(self) -> None:
        """The training cameras must stay outside the scene's bounding sphere (``render.bound``) and see it as more than a
        couple of pixels: render.bound=0.01 was accepted, then no ray met the scene and training crashed (no gradient)."""
        import math

        bound, (near, far), (_, widest) = self.render.bound, self.cameras.radius, self.cameras.fovy
        if near <= bound:
            raise DreamliftError(f"cameras.radius starts at {near:g}, inside the scene's bounding sphere (render.bound {bound:g}): keep the cameras farther out")
        smallest = min([self.size] + [size for _, size, _ in self.size_milestones])
        pixels = math.tan(math.asin(bound / far)) / math.tan(math.radians(widest) / 2.0) * smallest / 2.0
        if pixels < 2.0:
            raise DreamliftError(
                f"the scene's bounding sphere (render.bound {bound:g}) is {pixels:.2g} pixels across in radius from the farthest camera "
                f"(cameras.radius {far:g}, fovy {widest:g}, {smallest} px): raise render.bound or bring the cameras closer"
            )

    def _validate_memory(self) -> None:
        """Settings each in range can still multiply past any machine's memory (a 32-level hash grid of 2**24 entries of
        8 features, 1024-px renders of 64 cameras at 1024 samples): refuse the products before anything runs."""
        from dreamlift.scene.settings import EncodingKind

        nerf, kind = self.nerf, EncodingKind(self.nerf.encoding)
        parameters = {
            EncodingKind.GRID: ("nerf.grid_resolutions and grid_features", sum(r**3 for r in nerf.grid_resolutions) * nerf.grid_features),
            EncodingKind.HASH_GRID: (
                "nerf.hash_grid levels, log2_table_size and features_per_level",
                nerf.hash_grid.levels * 2**nerf.hash_grid.log2_table_size * nerf.hash_grid.features_per_level,
            ),
            EncodingKind.TRIPLANE: ("nerf.triplane_resolution and triplane_features", 3 * nerf.triplane_resolution**2 * nerf.triplane_features),
        }.get(kind)
        if parameters is not None and parameters[1] > MAX_ENCODING_PARAMETERS:
            raise DreamliftError(
                f"the {kind.value} encoding would hold {parameters[1]} parameters, over the limit of {MAX_ENCODING_PARAMETERS} (1 GiB): "
                f"lower {parameters[0]}"
            )
        views = [(self.size, self.batch_size)] + [(size, batch) for _, size, batch in self.size_milestones]
        samples = max(size * size * batch for size, batch in views) * self.render.samples_per_ray
        if samples > MAX_SAMPLES_PER_STEP:
            raise DreamliftError(
                f"a training step would evaluate {samples} samples (size x size x batch_size x render.samples_per_ray), over the limit of "
                f"{MAX_SAMPLES_PER_STEP}: lower the render size, batch_size or samples_per_ray"
            )
        pixels = (self.refine.size * self.refine.supersample) ** 2 * self.refine.batch_size
        if pixels > MAX_REFINE_PIXELS:
            raise DreamliftError(
                f"a refinement step would rasterise {pixels} pixels ((refine.size x refine.supersample)^2 x refine.batch_size), "
                f"over the limit of {MAX_REFINE_PIXELS}: lower one of them"
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
            if batch > 64:
                raise DreamliftError(f"size_milestones batch size {batch} is too large: use at most 64 (as batch_size)")
            previous = start
