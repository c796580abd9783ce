"""Every prior's settings, and the typed union a run chooses from (``TrainConfig.prior``).

Each config class has a fixed ``name`` (the ``prior.name`` of ``config.json`` and the
``--prior`` word) and a ``setup(GuidanceInputs) -> Guidance`` that imports and builds its
guidance (:mod:`~dreamlift.guidance.toy`, :mod:`~dreamlift.guidance.toy_view`,
:mod:`~dreamlift.guidance.stable_diffusion`, :mod:`~dreamlift.guidance.deepfloyd_if`,
:mod:`~dreamlift.guidance.zero123`; each imports its config from here). The settings live
here, apart from that code, so that importing this module imports neither torch nor
diffusers: ``dreamlift --help`` and every argument check stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar, Union

from dreamlift.errors import DreamliftError
from dreamlift.guidance.settings import DiffusersPriorConfig, GuidanceInputs, PriorSettings, TimestepSchedule

if TYPE_CHECKING:
    from dreamlift.guidance.deepfloyd_if import DeepFloydIFGuidance
    from dreamlift.guidance.stable_diffusion import StableDiffusionGuidance
    from dreamlift.guidance.toy import ToyPrior
    from dreamlift.guidance.toy_view import ToyViewPrior
    from dreamlift.guidance.zero123 import Zero123Guidance


TOY_SIZES = (32, 64, 128)
"""Render sizes TOYWORLD.md allows for the bundled priors (32 native, 64 and 128 for refinement)."""


@dataclass
class ToyPriorConfig(PriorSettings):
    """Settings of :class:`~dreamlift.guidance.toy.ToyPrior`, the bundled exact prior of the toy world (text runs)."""

    name: str = "toy"
    """Which prior this is (fixed by the class; ``--prior`` or ``--set prior.name=...`` chooses another)."""
    timesteps: TimestepSchedule = field(default_factory=lambda: TimestepSchedule(0.02, 0.98, 0.3, 1.0))
    """Diffusion timestep range (fractions of T) and its annealing."""
    resolution: int = 32
    """Render size of the memorised set (TOYWORLD native size)."""
    renders_per_object: int = 1024
    """Renders per object in the memorised set."""
    azimuth_window: float = 20.0
    """Only renders within this many degrees of azimuth of the training camera take part."""
    elevation_window: float | None = None
    """If set, only renders within this many degrees of elevation take part (None: every elevation)."""
    guidance_scale: float = 1.0
    """Classifier-free guidance scale; 1 means the conditional denoiser alone."""
    unconditional_renders_per_object: int = 64
    """Renders per object in the unconditional set (used only when guidance_scale != 1)."""
    seed: int = 1234
    """Seed of the memorised cameras and lights (part of the cache key)."""
    supersample: int = 2
    """Supersampling of the memorised renders."""

    description: ClassVar[str] = "the bundled exact denoiser of the toy world (CPU, nothing downloaded)"

    def setup(self, inputs: GuidanceInputs) -> "ToyPrior":
        from dreamlift.guidance.toy import ToyPrior
        from dreamlift.toyworld import parse_caption

        return ToyPrior(parse_caption(inputs.prompt), self)

    def for_refinement(self, size: int, timesteps: TimestepSchedule) -> "ToyPriorConfig":
        """The same memory rendered at ``size`` (TOYWORLD allows 32, 64 and 128), with ``timesteps``."""
        if size not in TOY_SIZES:
            raise DreamliftError(f"the toy prior renders {', '.join(map(str, TOY_SIZES))} pixels, not {size}: set refine.size to one of them")
        return replace(self, resolution=size, timesteps=timesteps)


@dataclass
class StableDiffusionConfig(DiffusersPriorConfig):
    """Settings of the Stable Diffusion prior (shared fields documented in DiffusersPriorConfig)."""

    cpu_seconds_per_step: ClassVar[float] = 50.0
    """What one SDS step of a full-size SD-1.5/2.x costs on a CPU at 512 px (measured): the run plan's projection."""

    name: str = "stable-diffusion"
    """Which prior this is (fixed by the class; ``--prior`` or ``--set prior.name=...`` chooses another)."""
    model: str = "stabilityai/stable-diffusion-2-1-base"
    """A diffusers folder, a single SD-1.x/2.x ``.safetensors`` checkpoint, or a hub id (stable-dreamfusion's default model)."""
    model_config: str | None = None
    """For a single-file checkpoint: a local diffusers folder of the same SD version that supplies the configs
    (None: the folder the file sits in if it is one, else diffusers' default configs from the HF cache/hub)."""
    guidance_scale: float = 100.0
    """CFG scale; 100 as in DreamFusion and stable-dreamfusion for SDS."""
    vae_slicing: bool = False
    """Encode a batch of renders one image at a time through the VAE (less memory for batches > 1)."""
    upcast_vae: bool = True
    """With fp16, keep the VAE in fp32 so the gradient through it stays finite (no effect for fp32/bf16)."""
    tiny_vae: str | None = None
    """An ``AutoencoderTiny`` (TAESD) folder or hub id, ``madebyollin/taesd`` for SD-1.x/2.x (one latent space):
    its encoder replaces the VAE's in the SDS encoding (a fraction of the FLOPs and memory of the backward
    pass) and the full VAE is not loaded. None (default): the model's own VAE; off until its effect on
    quality is shown (issue 16)."""

    description: ClassVar[str] = "Stable Diffusion 1.x/2.x through diffusers (latent SDS; a GPU is advised)"

    def validate(self) -> None:
        super().validate()
        if self.tiny_vae is not None and not self.tiny_vae.strip():
            raise DreamliftError("tiny_vae is empty: give an AutoencoderTiny folder or hub id (e.g. madebyollin/taesd), or none")

    def setup(self, inputs: GuidanceInputs) -> "StableDiffusionGuidance":
        from dreamlift.guidance.stable_diffusion import build_stable_diffusion_guidance

        return build_stable_diffusion_guidance(inputs.prompt, self, self.timesteps, inputs.device)


@dataclass
class DeepFloydIFConfig(DiffusersPriorConfig):
    """Settings of the DeepFloyd IF stage-I prior (shared fields documented in DiffusersPriorConfig)."""

    name: str = "deepfloyd-if"
    """Which prior this is (fixed by the class; ``--prior`` or ``--set prior.name=...`` chooses another)."""
    model: str = "DeepFloyd/IF-I-XL-v1.0"
    """A diffusers IFPipeline folder or a hub id (gated: needs an accepted licence and a token)."""
    guidance_scale: float = 20.0
    """CFG scale; 20 as in threestudio's dreamfusion-if config."""
    max_text_length: int = 77
    """T5 tokens per prompt (IFPipeline's 77)."""

    description: ClassVar[str] = "DeepFloyd IF stage I through diffusers (64-px pixel SDS; a GPU is advised)"

    def setup(self, inputs: GuidanceInputs) -> "DeepFloydIFGuidance":
        from dreamlift.guidance.deepfloyd_if import build_deepfloyd_if_guidance

        return build_deepfloyd_if_guidance(inputs.prompt, self, self.timesteps, inputs.device)


@dataclass
class ToyViewPriorConfig(ToyPriorConfig):
    """Settings of :class:`~dreamlift.guidance.toy_view.ToyViewPrior`, the toy world's view-conditioned prior (image runs):
    the memory's settings of :class:`~dreamlift.guidance.toy.ToyPriorConfig` plus how input views are recognised."""

    name: str = "toy-view"
    """Which prior this is (fixed by the class; ``--prior`` or ``--set prior.name=...`` chooses another)."""

    pixel_sigma: float = 0.1
    """σ of the Gaussian likelihood per value (RGB on white and alpha, in [0, 1]) of the framed views."""
    coarse_turn_step: float = 10.0
    """Turns tried first, every this many degrees over the full circle."""
    refine_factor: int = 5
    """The best coarse cells are split into this many (odd) finer turns."""
    refine_count: int = 3
    """How many of the best coarse candidates are refined."""
    colour_share: float = 0.2
    """A colour is a candidate when at least this share of the object's pixels vote for it."""
    max_colours: int = 2
    """At most this many colours are tried (the most voted first)."""
    min_weight: float = 1e-3
    """Candidates with less posterior weight are dropped (the rest renormalised)."""
    max_candidates: int = 48
    """At most this many (object, turn) candidates are kept."""
    max_objects: int = 3
    """At most this many distinct objects are kept in memory (the heaviest)."""
    reference_weight: float = 1.0
    """Weight of an input view in the mixture, relative to the heaviest memorised render at its camera."""

    kind: ClassVar[str] = "image"
    description: ClassVar[str] = "the toy world's view-conditioned exact prior: recognises the input's toy object (CPU)"

    def validate(self) -> None:
        super().validate()
        if not self.pixel_sigma > 0:
            raise DreamliftError(f"toy view prior: pixel_sigma must be > 0, got {self.pixel_sigma}")
        if not 0 < self.coarse_turn_step <= 180:
            raise DreamliftError(f"toy view prior: coarse_turn_step must lie in (0, 180], got {self.coarse_turn_step}")
        if self.refine_factor < 1 or self.refine_factor % 2 == 0:
            raise DreamliftError(f"toy view prior: refine_factor must be an odd number >= 1, got {self.refine_factor}")
        if self.max_candidates < 1 or self.max_objects < 1 or self.max_colours < 1:
            raise DreamliftError("toy view prior: max_candidates, max_objects and max_colours must be at least 1")

    def setup(self, inputs: GuidanceInputs) -> "ToyViewPrior":
        if not inputs.candidates:
            raise ValueError("the toy view prior needs its candidates: call identify (or read a run's view_prior.json) first")
        from dreamlift.guidance.toy_view import ToyViewPrior

        return ToyViewPrior(inputs.candidates, inputs.views, self)


TRAINED_IMAGE_SIZE = 256
"""Image size of the original Zero-1-to-3 checkpoints (zero123, zero123-xl, Stable-Zero123)."""


@dataclass
class Zero123Config(PriorSettings):
    """Settings of :class:`~dreamlift.guidance.zero123.Zero123Guidance`, the view-conditioned prior of image runs."""

    name: str = "zero123"
    """Which prior this is (fixed by the class; ``--prior`` or ``--set prior.name=...`` chooses another)."""
    model: str = ""
    """A folder in the diffusers layout (see the module doc), a Hugging Face model id, or a checkpoint file in the
    original layout (``zero123-xl.ckpt``, ``stable_zero123.ckpt``; ``dreamlift convert`` turns one into a folder)."""
    variant: str = "auto"
    """Pose vector: ``zero123``, ``stable-zero123``, or ``auto`` (from the model name: stable-zero123 / stable_zero123)."""
    image_encoder: str = ""
    """For a checkpoint without its CLIP image encoder: a ``CLIPVisionModelWithProjection`` folder or hub id
    (``openai/clip-vit-large-patch14``); empty: the checkpoint's own (``cond_stage_model``)."""
    checkpoint_image_size: int = TRAINED_IMAGE_SIZE
    """Image size an original-layout checkpoint was trained at (256 for zero123, zero123-xl, Stable-Zero123;
    a diffusers folder says its own)."""
    dtype: str = "auto"
    """Weights' dtype: ``fp32``, ``fp16``, ``bf16``, or ``auto`` (bf16 on GPUs that have it, else fp16; fp32 on the CPU)."""
    guidance_scale: float = 3.0
    """Classifier-free guidance scale on the image (zero123 uses 3 to 5; Stable-Zero123 5)."""
    render_size: int | None = None
    """Size to render at for this prior; None: the model's image size (renders are resized anyway)."""
    radius_scale: float = 1.0
    """Multiplies Δradius (world units) in the pose vector (see relative_pose)."""
    allow_network: bool = False
    """Whether a Hugging Face model id missing from the local cache may be downloaded."""

    kind: ClassVar[str] = "image"
    prefers_gpu: ClassVar[bool] = True
    description: ClassVar[str] = "Zero-1-to-3 / Stable-Zero123 through diffusers parts (a GPU is advised)"

    def setup(self, inputs: GuidanceInputs) -> "Zero123Guidance":
        from dreamlift.guidance.zero123 import build_zero123_guidance

        return build_zero123_guidance(inputs.views, self, self.timesteps, inputs.device)  # every view conditions it


PriorConfig = Union[ToyPriorConfig, StableDiffusionConfig, DeepFloydIFConfig, ToyViewPriorConfig, Zero123Config]
"""Any prior's config: ``TrainConfig.prior``."""

PRIOR_CONFIGS: tuple[type, ...] = (ToyPriorConfig, StableDiffusionConfig, DeepFloydIFConfig, ToyViewPriorConfig, Zero123Config)
"""Every prior config class, text priors first."""


def prior_names(kind: str | None = None) -> list[str]:
    """The priors' names, of one kind (``"text"`` or ``"image"``) or all."""
    return [cls.name for cls in PRIOR_CONFIGS if kind is None or cls.kind == kind]


def prior_config_class(name: str, kind: str | None = None) -> type:
    """The config class whose ``name`` is ``name`` (one-line error listing the names otherwise)."""
    for cls in PRIOR_CONFIGS:
        if cls.name == name and (kind is None or cls.kind == kind):
            return cls
    choices = ", ".join(prior_names(kind))
    what = f"{kind} prior" if kind else "prior"
    raise DreamliftError(f"unknown {what} {name!r}: choose one of {choices}")


def prior_for_model_path(path: str) -> str:
    """Which text prior a local model is for (``--prior PATH``): an IFPipeline folder → ``deepfloyd-if``;
    a Stable Diffusion folder or a ``.safetensors`` checkpoint → ``stable-diffusion``."""
    from pathlib import Path

    location = Path(path).expanduser()
    if not location.exists():
        raise DreamliftError(
            f"unknown prior {path!r}: choose one of {', '.join(prior_names('text'))}, or give a model folder or .safetensors file"
        )
    if location.is_file() and location.suffix.lower() == ".safetensors":
        return StableDiffusionConfig.name
    index = location / "model_index.json"
    if not index.is_file():
        raise DreamliftError(f"{path} is neither a diffusers folder (with model_index.json) nor a .safetensors file: give a model folder or a prior name")
    try:
        from dreamlift._limits import read_json

        record = read_json(index)  # 1 MiB, 64 levels at most
    except (OSError, ValueError) as error:
        raise DreamliftError(f"{index} is unreadable ({error.__class__.__name__}): the model folder is damaged") from None
    if not isinstance(record, dict):
        raise DreamliftError(f"{index} is not a diffusers model index: the model folder is damaged")
    pipeline = record.get("_class_name", "?")
    if pipeline == "IFPipeline":
        return DeepFloydIFConfig.name
    if pipeline.startswith("StableDiffusion") and "XL" not in pipeline and "3" not in pipeline:
        return StableDiffusionConfig.name
    raise DreamliftError(f"{path} holds a {pipeline}; text runs take Stable Diffusion 1.x/2.x or DeepFloyd IF stage I")


TextPriorConfig = Union[ToyPriorConfig, StableDiffusionConfig, DeepFloydIFConfig]
"""The text priors an image run may add: ``image.text.prior``."""


def default_text_prior() -> ToyPriorConfig:
    """The toy text prior as the toy text preset runs it (elevation window 15°, t_max annealed 0.98 → 0.3)."""
    return ToyPriorConfig(elevation_window=15.0, timesteps=TimestepSchedule(0.02, 0.98, 0.3, 1.0))


@dataclass
class TextGuidanceSettings:
    """The text prior of an image run given ``--prompt`` (unused without a prompt)."""

    prior: TextPriorConfig = field(default_factory=default_text_prior)
    """The text prior (``--prior-text toy|stable-diffusion|deepfloyd-if``), its own timesteps, w(t) and guidance scale."""
    weight: float = 1.0
    """Weight of the text prior's SDS; the image prior's counts 1 (Magic123: λ_2D / λ_3D = 1/40)."""
    front_azimuth: float | None = None
    """Azimuth (degrees) of the object's front in the run's frame (the input camera is at 0); None: 0, or for
    the toy view prior the turn it recognised."""

    def validate(self) -> None:
        if not self.weight >= 0.0:
            raise DreamliftError(f"image.text.weight must be >= 0, got {self.weight}")
        if self.prior.kind != "text":
            raise DreamliftError(f"image.text.prior must be a text prior, not {self.prior.name}")
        self.prior.validate()
