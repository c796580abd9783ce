"""Presets for runs with the real priors (Stable Diffusion, DeepFloyd IF), with their sources.

Sources, named in the comments as:

* **DreamFusion**: Poole et al., arXiv 2209.14988 (§3, Appendix A.2): 64×64 renders,
  guidance 100, ``t ~ U(0.02, 0.98)``, ``w(t) = σ_t² = 1 − ᾱ_t``, 15,000 steps,
  elevation −10°..90°, azimuth 0..360°.
* **threestudio**: ``configs/dreamfusion-sd.yaml``, ``configs/dreamfusion-if.yaml``,
  ``configs/dreamfusion-if-perpneg.yaml`` and its
  ``diffuse-with-point-light-material`` defaults.
* **stable-dreamfusion**: ``main.py`` argument defaults (``--perpneg``, ``--negative_w -2``,
  ``--front_decay_factor 2``, ``--side_decay_factor 10``, ``--w/--h 64``, ``--iters 10000``).

Distances are in this project's frame (TOYWORLD.md: objects inside radius 0.9), not
the peers'; where a value is ours rather than a peer's, the comment says so.

:func:`stable_diffusion_preset` / :func:`deepfloyd_if_preset` give a :class:`RealPriorPreset`;
``preset.prior_config()`` builds the prior's config and ``preset.train_config()`` a
:class:`~dreamlift.training.config.TrainConfig` (imported lazily).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.deepfloyd_if import DeepFloydIFConfig
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig
from dreamlift.rendering.cameras import CameraRanges


@dataclass
class RealPriorPreset:
    """Settings of a text-to-3D run with a real prior (every default is stated with its source below)."""

    prior: str
    """``"stable-diffusion"`` or ``"deepfloyd-if"``."""
    render_size: int
    """Square NeRF render size during training; the guidance resizes it to the model's input."""
    batch_size: int
    """Cameras per step."""
    steps: int
    """Training steps."""
    guidance_scale: float
    """Classifier-free guidance scale."""
    timesteps: TimestepSchedule
    """Diffusion timestep range (fractions of T) and its annealing."""
    weighting: str
    """SDS weighting ``w(t)``."""
    learning_rate: float
    """Adam learning rate of the NeRF encoding (hash grid)."""
    mlp_learning_rate: float
    """Adam learning rate of the NeRF MLP (and background)."""
    cameras: CameraRanges
    """Random training cameras (degrees, world units)."""
    albedo_warmup_steps: int
    """Steps rendered with albedo only at the start."""
    lambertian_probability: float
    """After warm-up: probability of Lambertian (diffuse-lit) shading."""
    textureless_share: float
    """Of the non-Lambertian renders, the share rendered textureless (the rest albedo)."""
    ambient: tuple[float, float]
    """Range of the ambient term of Lambertian shading."""
    orientation: tuple[int, float, int, float]
    """Orientation loss ramp ``(start_step, start, end_step, end)``."""
    opacity: float
    """Weight of the sparsity (mean opacity) loss."""
    entropy: float
    """Weight of the opacity-entropy loss."""
    perp_neg: bool = False
    """Perp-Neg against the Janus failure."""
    view_blend: bool = False
    """Blend view embeddings by azimuth."""
    dtype: str = "auto"
    """Model precision: bf16 on GPUs that have it, else fp16 (threestudio trains with ``precision: 16-mixed``)."""
    hub_variant: str | None = None
    """Weight-file variant read when the prior's default hub model is used (a user's own model is read as saved)."""

    def prior_config(self, model: str | None = None) -> StableDiffusionConfig | DeepFloydIFConfig:
        """The prior's config with this preset's guidance settings (``model`` overrides the default)."""
        base = StableDiffusionConfig() if self.prior == "stable-diffusion" else DeepFloydIFConfig()
        return replace(
            base,
            model=model or base.model,
            variant=None if model else self.hub_variant,
            guidance_scale=self.guidance_scale,
            weighting=self.weighting,
            perp_neg=self.perp_neg,
            view_blend=self.view_blend,
            dtype=self.dtype,
        )

    def train_config(self, prompt: str = "", model: str | None = None):
        """A :class:`~dreamlift.training.config.TrainConfig` with these settings."""
        from dreamlift.guidance.base import Weighting
        from dreamlift.training.config import LossWeights, Ramp, ShadingSchedule, TrainConfig

        return TrainConfig(
            prompt=prompt,
            prior=self.prior,
            model=model,
            steps=self.steps,
            size=self.render_size,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            mlp_learning_rate=self.mlp_learning_rate,
            cameras=replace(self.cameras),
            timesteps=replace(self.timesteps),
            weighting=Weighting(self.weighting),
            shading=ShadingSchedule(
                albedo_warmup_steps=self.albedo_warmup_steps,
                lambertian_probability=self.lambertian_probability,
                textureless_share=self.textureless_share,
                ambient=self.ambient,
            ),
            losses=LossWeights(orientation=Ramp(*self.orientation), opacity=self.opacity, entropy=Ramp(0, self.entropy, 0, self.entropy)),
        )


# Shared by both priors (the peers use the same data and system settings for SD and IF).
_COMMON = dict(
    render_size=64,  # DreamFusion (64×64 renders); threestudio data.width/height 64; stable-dreamfusion --w/--h 64
    batch_size=1,  # threestudio data.batch_size 1; stable-dreamfusion --batch_size 1
    steps=10000,  # threestudio trainer.max_steps 10000; stable-dreamfusion --iters 10000 (DreamFusion: 15,000)
    weighting="sds",  # DreamFusion w(t) = σ_t²; threestudio weighting_strategy: sds
    learning_rate=0.01,  # threestudio optimizer Adam lr 0.01 for the geometry (hash grid + MLP), betas (0.9, 0.99)
    mlp_learning_rate=0.01,  # threestudio geometry lr 0.01 (its background gets 0.001; ours shares the MLP group)
    cameras=CameraRanges(
        elevation=(-10.0, 90.0),  # DreamFusion and threestudio elevation_range [-10, 90]
        azimuth=(-180.0, 180.0),  # DreamFusion (all azimuths); stable-dreamfusion phi_range [-180, 180]
        radius=(2.8, 3.2),  # ours: TOYWORLD's framing of radius-0.9 objects (threestudio uses 1.5-2.0 for its smaller blob)
        fovy=(40.0, 70.0),  # threestudio fovy_range [40, 70] (DreamFusion: focal multiplier U(0.7, 1.35))
    ),
    albedo_warmup_steps=2000,  # threestudio material.ambient_only_steps 2001
    lambertian_probability=0.375,  # threestudio: diffuse_prob 0.75 × (1 − textureless_prob 0.5)
    textureless_share=0.6,  # threestudio: textureless 0.375 of all, i.e. 0.375 / (1 − 0.375) of the non-diffuse renders
    ambient=(0.1, 0.1),  # threestudio ambient_light_color 0.1, diffuse 0.9
    orientation=(0, 10.0, 5000, 1000.0),  # threestudio lambda_orient [0, 10., 1000., 5000]
    opacity=1.0,  # threestudio lambda_sparsity 1
    entropy=0.0,  # threestudio: no entropy term (stable-dreamfusion uses 1e-3)
)


def stable_diffusion_preset(perp_neg: bool = False) -> RealPriorPreset:
    """DreamFusion with Stable Diffusion, as threestudio's dreamfusion-sd config (Perp-Neg as stable-dreamfusion)."""
    return RealPriorPreset(
        prior="stable-diffusion",
        guidance_scale=100.0,  # DreamFusion 100; threestudio dreamfusion-sd guidance_scale 100; stable-dreamfusion 100
        timesteps=TimestepSchedule(0.02, 0.98, 0.98, 1.0),  # DreamFusion U(0.02, 0.98); threestudio min/max_step_percent
        perp_neg=perp_neg,  # stable-dreamfusion --perpneg (off by default)
        view_blend=perp_neg,  # stable-dreamfusion interpolates embeddings only with Perp-Neg
        **_COMMON,
    )


def deepfloyd_if_preset(perp_neg: bool = False) -> RealPriorPreset:
    """DreamFusion with DeepFloyd IF stage I, as threestudio's dreamfusion-if(-perpneg) configs."""
    return RealPriorPreset(
        prior="deepfloyd-if",
        guidance_scale=20.0,  # threestudio dreamfusion-if guidance_scale 20
        timesteps=TimestepSchedule(0.02, 0.98, 0.98, 1.0),  # threestudio min/max_step_percent 0.02 / 0.98
        perp_neg=perp_neg,  # threestudio dreamfusion-if-perpneg use_perp_neg: true
        view_blend=perp_neg,
        hub_variant="fp16",  # the hub repo's half-precision files (8.6 GB UNet instead of 17 GB)
        **_COMMON,
    )


def preset_for(prior: str, perp_neg: bool = False) -> RealPriorPreset:
    """The preset of a real prior by its command-line name."""
    if prior == "stable-diffusion":
        return stable_diffusion_preset(perp_neg)
    if prior == "deepfloyd-if":
        return deepfloyd_if_preset(perp_neg)
    from dreamlift.errors import DreamliftError

    raise DreamliftError(f"no real-prior preset for {prior!r}: choose stable-diffusion or deepfloyd-if")


PRIOR_FIELDS = {"stable-diffusion": "stable_diffusion", "deepfloyd-if": "deepfloyd_if"}
"""The TrainConfig field that may hold each real prior's settings (the preset's are used when it is absent)."""


def build_real_text_guidance(config, device=None):
    """The guidance of a text run (a TrainConfig) whose ``prior`` is ``stable-diffusion`` or ``deepfloyd-if``.

    Prior settings come from ``config.stable_diffusion`` / ``config.deepfloyd_if`` when
    the TrainConfig has such a field, else from the preset; ``config.model`` (``--model``)
    overrides the model, ``config.weighting`` the SDS weighting.
    """
    from dreamlift.errors import DreamliftError
    from dreamlift.guidance.base import Weighting

    if config.prior not in PRIOR_FIELDS:
        raise DreamliftError(f"{config.prior!r} is not a real prior: choose stable-diffusion or deepfloyd-if")
    settings = getattr(config, PRIOR_FIELDS[config.prior], None) or preset_for(config.prior).prior_config()
    settings = replace(settings, weighting=Weighting(config.weighting).value)
    if config.model and config.model != settings.model:
        settings = replace(settings, model=config.model, variant=None)
    if config.prior == "stable-diffusion":
        from dreamlift.guidance.stable_diffusion import build_stable_diffusion_guidance

        return build_stable_diffusion_guidance(config.prompt, settings, config.timesteps, device)
    from dreamlift.guidance.deepfloyd_if import build_deepfloyd_if_guidance

    return build_deepfloyd_if_guidance(config.prompt, settings, config.timesteps, device)


def prior_for_model_path(path: str) -> str:
    """Which real prior a local model is for (``--prior PATH``): an IFPipeline folder → ``deepfloyd-if``;
    a Stable Diffusion folder or a ``.safetensors`` checkpoint → ``stable-diffusion``."""
    import json
    from pathlib import Path

    from dreamlift.errors import DreamliftError

    location = Path(path).expanduser()
    if not location.exists():
        raise DreamliftError(
            f"unknown prior {path!r}: choose toy, stable-diffusion or deepfloyd-if, or give a model folder or .safetensors file"
        )
    if location.is_file() and location.suffix.lower() == ".safetensors":
        return "stable-diffusion"
    index = location / "model_index.json"
    if not index.is_file():
        raise DreamliftError(f"{path} is neither a diffusers folder (with model_index.json) nor a .safetensors file: give a model folder or a prior name")
    try:
        record = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DreamliftError(f"{index} is unreadable ({error.__class__.__name__}): the model folder is damaged") from None
    if not isinstance(record, dict):
        raise DreamliftError(f"{index} is not a diffusers model index: the model folder is damaged")
    pipeline = record.get("_class_name", "?")
    if pipeline == "IFPipeline":
        return "deepfloyd-if"
    if pipeline.startswith("StableDiffusion") and "XL" not in pipeline and "3" not in pipeline:
        return "stable-diffusion"
    raise DreamliftError(f"{path} holds a {pipeline}; text runs take Stable Diffusion 1.x/2.x or DeepFloyd IF stage I")
