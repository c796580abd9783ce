"""What every prior's settings share: the timestep schedule, ``w(t)``, :class:`PriorSettings`
and the diffusers priors' common fields, without torch.

The guidance code (:mod:`~dreamlift.guidance.base`, :mod:`~dreamlift.guidance._diffusers_guidance`)
imports them from here; each prior's own settings are in :mod:`~dreamlift.guidance.priors`.
Keeping them free of torch lets the settings tree, and with it ``dreamlift --help`` and every
argument check, load without importing torch (``setup`` imports the guidance it builds).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from dreamlift.errors import DreamliftError
from dreamlift.runtime import check_dtype

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from dreamlift.guidance.base import Guidance


class Weighting(str, Enum):
    """The SDS weighting ``w(t)``."""

    SDS = "sds"
    """``1 − ᾱ_t`` (DreamFusion)."""
    UNIFORM = "uniform"
    """``1``."""
    FANTASIA = "fantasia"
    """``√ᾱ_t·(1 − ᾱ_t)`` (Fantasia3D)."""


@dataclass
class TimestepSchedule:
    """Where the diffusion timestep is drawn from, as fractions of ``T``.

    ``t`` is uniform in ``[t_min, t_max(progress)]``; ``t_max`` moves linearly from
    ``t_max_start`` to ``t_max_end`` as training ``progress`` goes from 0 to
    ``anneal_until`` (and stays there), the annealing of DreamFusion's follow-ups
    (stable-dreamfusion, threestudio).
    """

    t_min: float = 0.02
    """Smallest timestep, as a fraction of T."""
    t_max_start: float = 0.98
    """Largest timestep at the start of training, as a fraction of T."""
    t_max_end: float = 0.98
    """Largest timestep once annealing is done, as a fraction of T."""
    anneal_until: float = 1.0
    """Training progress (0..1) at which ``t_max`` reaches ``t_max_end``."""

    def t_max(self, progress: float) -> float:
        fraction = min(max(progress / max(self.anneal_until, 1e-8), 0.0), 1.0)
        return self.t_max_start + (self.t_max_end - self.t_max_start) * fraction

    def sample(self, count: int, num_train_timesteps: int, progress: float, generator: torch.Generator | None = None) -> Tensor:
        """``count`` integer timesteps in ``[t_min·T, t_max(progress)·T]``."""
        import torch

        low = int(round(self.t_min * num_train_timesteps))
        high = max(int(round(self.t_max(progress) * num_train_timesteps)), low)
        high = min(high, num_train_timesteps - 1)
        low = min(low, high)
        return torch.randint(low, high + 1, (count,), generator=generator)

    def validate(self) -> None:
        for value in (self.t_min, self.t_max_start, self.t_max_end):
            if not 0.0 <= value <= 1.0:
                raise DreamliftError(f"timestep fractions must lie in [0, 1], got {value}")
        if self.t_min > min(self.t_max_start, self.t_max_end):
            raise DreamliftError(f"t_min {self.t_min} is above t_max: give t_min <= t_max")


@dataclass
class GuidanceInputs:
    """What a prior's ``setup`` takes from the run (nothing of training's types).

    ``views`` are an image run's input views (``dreamlift.inputs.ViewInput``: an RGBA
    ``(H, W, 4)`` image, its orbit camera and weight) in the framing the prior fits;
    ``candidates`` the toy view prior's recognised objects (from
    :func:`~dreamlift.guidance.toy_view.identify` or a resumed run's file).
    """

    prompt: str = ""
    """The run's text prompt (empty for an image run without one)."""
    device: Any = None
    """``torch.device`` the diffusion model runs on (None: the prior's own choice)."""
    views: list = field(default_factory=list)
    """Input views of an image run, first the main one; empty for text runs."""
    candidates: list | None = None
    """The toy view prior's candidates (toy-view only)."""


@dataclass
class PriorSettings:
    """What every prior's config has: its name, the timestep schedule and ``w(t)``.

    Each prior's config (:mod:`~dreamlift.guidance.priors`) subclasses this, sets ``name`` (the
    ``prior.name`` of ``config.json`` and the ``--prior`` word), says whether it
    judges text or image runs (``kind``) and whether it wants a GPU, and builds its
    :class:`Guidance` with :meth:`setup`.
    """

    name: str = ""
    """Which prior this is (fixed by the class; ``--prior`` or ``--set prior.name=...`` chooses another)."""
    timesteps: TimestepSchedule = field(default_factory=TimestepSchedule)
    """Diffusion timestep range (fractions of T) and its annealing."""
    weighting: Weighting = Weighting.SDS
    """The SDS weighting w(t)."""

    kind: ClassVar[str] = "text"
    """``"text"`` or ``"image"``: which runs this prior judges."""
    prefers_gpu: ClassVar[bool] = False
    """Whether ``device: auto`` puts the run on a GPU when there is one."""
    description: ClassVar[str] = ""
    """One line for ``--help``."""

    def validate(self) -> None:
        """Raise a one-line error for settings this prior cannot run with."""
        self.timesteps.validate()

    def setup(self, inputs: GuidanceInputs) -> Guidance:
        """The prior's :class:`Guidance` for a run (raises a one-line error for a bad prompt or model)."""
        raise NotImplementedError

    def for_refinement(self, size: int, timesteps: TimestepSchedule) -> "PriorSettings":
        """This prior's settings for the refinement stage: renders of ``size`` pixels, ``timesteps``.

        A prior that resizes renders to its own input (Stable Diffusion, IF) only changes
        the schedule; one that takes a fixed size (the toy prior) overrides this.
        """
        return replace(self, timesteps=timesteps)


@dataclass
class DiffusersPriorConfig(PriorSettings):
    """Settings shared by the diffusers-based priors (each prior subclasses this with its own defaults)."""

    prefers_gpu: ClassVar[bool] = True

    model: str = ""
    """A diffusers folder (with ``model_index.json``), a single ``.safetensors`` checkpoint (SD only), or a Hugging Face id."""
    dtype: str = "auto"
    """``"fp32"``, ``"fp16"``, ``"bf16"``, or ``"auto"``: bf16 on GPUs that have it, else fp16; fp32 on the CPU."""
    guidance_scale: float = 100.0
    """Classifier-free guidance scale ``s`` in ``ε_u + s·(ε_c − ε_u)``."""
    negative_prompt: str = ""
    """Prompt of the unconditional branch of CFG (empty string: the plain unconditional model)."""
    view_dependent: bool = True
    """Append ", front view" / "side" / "back" / "overhead" to the prompt by camera (DreamFusion)."""
    view_blend: bool = False
    """Blend view embeddings linearly in azimuth (front↔side↔back) instead of picking one."""
    front_half_angle: float = 45.0
    """``|azimuth|`` below this is the front view (when not blending), degrees."""
    back_half_angle: float = 45.0
    """``|azimuth|`` above ``180 −`` this is the back view (when not blending), degrees."""
    overhead_elevation: float = 60.0
    """Elevation above this is the overhead view, degrees."""
    perp_neg: bool = False
    """Perp-Neg against the Janus failure: front/side prompts as perpendicular negatives (needs view_dependent)."""
    perp_neg_weight: float = 2.0
    """Perp-Neg negative weight magnitude (stable-dreamfusion ``--negative_w -2``)."""
    perp_neg_front_decay: float = 2.0
    """Perp-Neg decay of the front negative (stable-dreamfusion ``--front_decay_factor``)."""
    perp_neg_side_decay: float = 10.0
    """Perp-Neg decay of the side negative (stable-dreamfusion ``--side_decay_factor``)."""
    attention: str = "sdpa"
    """``"sdpa"``: diffusers' scaled-dot-product attention (fastest); ``"sliced"``: attention slicing (least memory)."""
    cpu_offload: bool = False
    """Keep the UNet in CPU memory and move it to the GPU only for its forward pass (small GPUs; slower)."""
    compile: bool | None = None
    """``torch.compile`` the UNet (and SD's VAE encoder). None: on CUDA when Triton is installed and cpu_offload is
    off. The first step compiles (about a minute), then an SD step is ~45% faster (H100: 56 → 31 ms,
    bench/guidance_gpu.py). A compile failure in a forward pass falls back to eager with a warning."""
    compile_mode: str = "reduce-overhead"
    """``torch.compile`` mode of the UNet: ``"reduce-overhead"`` (CUDA graphs: fewest kernel launches) or ``"default"``."""
    channels_last: bool = False
    """Channels-last memory layout for the conv nets on CUDA."""
    cudnn_benchmark: bool = True
    """On CUDA, let cuDNN time its convolution algorithms for SDS's fixed shapes (a process-wide setting)."""
    allow_network: bool = False
    """Allow downloads from the Hugging Face hub; otherwise hub ids load from the local cache only (HF_HUB_OFFLINE)."""
    cache_dir: str | None = None
    """Hugging Face cache folder; None for the usual one (HF_HOME / HF_HUB_CACHE)."""
    variant: str | None = None
    """Weight-file variant of a diffusers folder or hub repo, e.g. ``"fp16"``; None for the default files."""
    resolution: int | None = None
    """Square input size of the model in pixels (renders are resized to it); None: the model's own."""

    def validate(self) -> None:
        super().validate()
        check_dtype(self.dtype)
        if self.compile_mode not in ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
            raise DreamliftError(f"compile_mode '{self.compile_mode}' is not one of default, reduce-overhead, max-autotune")
        if self.attention not in ("sdpa", "sliced"):
            raise DreamliftError(f"attention '{self.attention}' is not one of sdpa, sliced")
        if self.compile and self.cpu_offload:
            raise DreamliftError("compile and cpu_offload do not go together (compiled graphs pin the UNet on the GPU): turn one off")
        if self.perp_neg and not self.view_dependent:
            raise DreamliftError("perp_neg needs view-dependent prompts: turn view_dependent on or perp_neg off")
        if not self.guidance_scale >= 0:
            raise DreamliftError(f"guidance_scale must be >= 0, got {self.guidance_scale}")
        if self.resolution is not None and self.resolution < 8:
            raise DreamliftError(f"resolution {self.resolution} is too small: give at least 8 pixels (or leave it unset)")
