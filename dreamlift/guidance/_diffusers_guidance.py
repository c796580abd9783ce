"""What the Stable Diffusion and DeepFloyd IF priors share: settings, prompt embeddings, the guided UNet call, the builder.

* :class:`DiffusersPriorConfig`: the settings both priors have (each prior's config
  subclasses it and changes defaults).
* :class:`PromptEmbeddings`, :func:`encode_prompt_set`, :func:`embed_and_release`: the
  negative, plain and four view prompts, encoded once in one batch, then the text encoder freed.
* :class:`DiffusersGuidance`: the shared :meth:`~DiffusersGuidance.predict_noise` (view
  embeddings per camera, classifier-free guidance or Perp-Neg, ε from v-/x₀-prediction, the
  learned-variance channels of IF dropped), CPU offload of the UNet, compile.
* :func:`build_diffusers_guidance`: device, dtype, load (offline unless allowed), embed, construct.

Where the weights come from is :mod:`dreamlift.guidance._loading`; device and precision
words are :mod:`dreamlift.runtime`. The diffusion maths of SDS lives in
:mod:`dreamlift.guidance.base`; only the diffusers parts (UNet, VAE, text encoders,
scheduler ᾱ) come from diffusers/transformers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import weakref
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.guidance._loading import LoadedParts, hub_offline, require_diffusers
from dreamlift.hub import FULL_SIZE_PARAMETERS
from dreamlift.guidance.base import Guidance, TimestepSchedule, Weighting, classifier_free_guidance
from dreamlift.guidance.prompts import (
    FRONT,
    SIDE,
    PerpNegSettings,
    ViewSettings,
    blend_embeddings,
    perp_neg_guidance,
    perp_neg_weights,
    view_prompts,
    view_weights,
)
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.guidance.settings import DiffusersPriorConfig
from dreamlift.runtime import CompiledWithFallback, free_memory, resolve_device, resolve_dtype, warn_if_cpu


"""A UNet above this many parameters gets the CPU speed warning (SD-1.5's has 860M; the bundled toy priors' ~6M)."""


def should_compile(config: DiffusersPriorConfig, device: torch.device) -> bool:
    """``config.compile``, or when it is None: on CUDA with Triton installed and no CPU offload."""
    if config.compile is not None:
        return bool(config.compile)
    return device.type == "cuda" and not config.cpu_offload and importlib.util.find_spec("triton") is not None


# --------------------------------------------------------------------------- text embeddings


@dataclass
class PromptEmbeddings:
    """Text embeddings of one run, on the device in the model's dtype."""

    uncond: Tensor
    """``(L, D)``: the negative prompt (the unconditional branch of CFG)."""
    plain: Tensor
    """``(L, D)``: the prompt as given."""
    views: Tensor
    """``(4, L, D)``: the prompt with ", front/side/back/overhead view" (prompts.VIEWS order)."""


def encode_prompt_set(prompt: str, negative_prompt: str, encode: Callable[[list[str]], Tensor]) -> PromptEmbeddings:
    """Encode negative, plain and the four view prompts in one batch with ``encode(texts) -> (N, L, D)``."""
    if not prompt or not prompt.strip():
        raise DreamliftError("the prompt is empty: give a text such as \"a hamburger\"")
    texts = [negative_prompt, prompt.strip(), *view_prompts(prompt)]
    with torch.no_grad():
        out = encode(texts)
    return PromptEmbeddings(uncond=out[0], plain=out[1], views=out[2:6])


def embed_and_release(
    parts: LoadedParts, prompt: str, negative_prompt: str, device: torch.device, *, max_length: int, attention_mask: bool
) -> tuple[PromptEmbeddings, Callable[[], object], int]:
    """Encode the run's prompts once on ``device``, then drop the text encoder and free its memory.

    Returns the embeddings, a weak reference to the encoder (it gives None once freed)
    and how many batches the encoder ran.
    """
    encoder = parts.text_encoder.to(device).requires_grad_(False).eval()
    tokenizer = parts.tokenizer
    parts.text_encoder = None
    calls = 0

    def encode(texts: list[str]) -> Tensor:
        nonlocal calls
        calls += 1
        tokens = tokenizer(texts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
        extra = {"attention_mask": tokens.attention_mask.to(device)} if attention_mask else {}
        return encoder(tokens.input_ids.to(device), **extra)[0]

    embeddings = encode_prompt_set(prompt, negative_prompt, encode)
    reference = weakref.ref(encoder)
    del encoder, encode
    free_memory(device)
    return embeddings, reference, calls


# --------------------------------------------------------------------------- ε from the model's output


def epsilon_from_prediction(output: Tensor, x_t: Tensor, alphas_cumprod_t: Tensor, prediction_type: str) -> Tensor:
    """The noise ``ε`` from a model output of type ``epsilon``, ``v_prediction`` or ``sample`` (x₀).

    With ``x_t = √ᾱ·x₀ + √(1−ᾱ)·ε`` and ``v = √ᾱ·ε − √(1−ᾱ)·x₀``: ``ε = √ᾱ·v + √(1−ᾱ)·x_t``
    and ``ε = (x_t − √ᾱ·x₀)/√(1−ᾱ)``.
    """
    if prediction_type == "epsilon":
        return output
    a = alphas_cumprod_t.to(output.dtype).reshape((-1,) + (1,) * (output.dim() - 1))
    if prediction_type == "v_prediction":
        return a.sqrt() * output + (1.0 - a).sqrt() * x_t
    if prediction_type == "sample":
        return (x_t - a.sqrt() * output) / (1.0 - a).sqrt().clamp_min(1e-6)
    raise DreamliftError(f"the model's scheduler has prediction_type '{prediction_type}', which dreamlift does not support")


# --------------------------------------------------------------------------- the shared guidance


class DiffusersGuidance(Guidance):
    """Shared :meth:`predict_noise` for text-conditioned diffusers UNets (SD latents, IF pixels).

    Subclasses load their parts and implement :meth:`encode`. Embeddings are computed
    once, before construction (``text_encoder_calls``: the encoder's batches, 0 when embeddings were given).
    """

    def __init__(
        self,
        *,
        unet: torch.nn.Module,
        scheduler,
        embeddings: PromptEmbeddings,
        config: DiffusersPriorConfig,
        schedule: TimestepSchedule,
        device: torch.device,
        dtype: torch.dtype,
        text_encoder_calls: int = 0,
        text_encoder_ref: Callable[[], object] | None = None,
    ):
        self.device = device
        self.dtype = dtype
        self.config = config
        self.schedule = schedule
        self.weighting = Weighting(config.weighting)
        self.guidance_scale = float(config.guidance_scale)
        self.alphas_cumprod = scheduler.alphas_cumprod.detach().float().to(device)
        self.prediction_type = scheduler.config.prediction_type
        self.embeddings = embeddings
        self.text_encoder_calls = text_encoder_calls
        #: A weak reference to the text encoder, which is released after encoding: calling it gives None.
        self.text_encoder_ref = text_encoder_ref or (lambda: None)
        self.unet_config = unet.config
        self.views = ViewSettings(
            front_half_angle=config.front_half_angle,
            back_half_angle=config.back_half_angle,
            overhead_elevation=config.overhead_elevation,
            blend=config.view_blend or config.perp_neg,  # Perp-Neg always interpolates its positive (stable-dreamfusion)
        )
        self.perp_neg = (
            PerpNegSettings(config.perp_neg_weight, config.perp_neg_front_decay, config.perp_neg_side_decay) if config.perp_neg else None
        )
        self.compiled = should_compile(config, device)
        self.unet = self._prepare_unet(unet)
        self._unet_call = CompiledWithFallback(self.unet, mode=config.compile_mode) if self.compiled else self.unet
        self.unet_calls = 0

    @classmethod
    def part_kwargs(cls, parts: LoadedParts, config: DiffusersPriorConfig, dtype: torch.dtype) -> dict:
        """Constructor keywords of this prior taken from its loaded parts besides UNet and scheduler (none here)."""
        return {}

    # -- set-up

    def _input_size(self, pixels_per_sample: int) -> int:
        """The render size the model takes: ``config.resolution``, else the UNet's sample size times
        ``pixels_per_sample`` (1 for pixel models, the VAE's factor for latent ones); a size the UNet
        cannot halve down to its last block is a one-line error."""
        size = int(self.config.resolution or self.unet_config.sample_size * pixels_per_sample)
        multiple = pixels_per_sample * 2 ** (len(self.unet_config.block_out_channels) - 1)
        if size % multiple:
            raise DreamliftError(f"resolution {size} does not suit this model: give a multiple of {multiple}")
        return size

    def _prepare_unet(self, unet: torch.nn.Module) -> torch.nn.Module:
        unet.requires_grad_(False).eval()
        if self.config.attention == "sliced":
            unet.set_attention_slice("auto")
        if self.config.channels_last and self.device.type == "cuda":
            unet.to(memory_format=torch.channels_last)
        unet.to("cpu" if self.config.cpu_offload else self.device)
        if self.device.type == "cuda" and self.config.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        return unet

    @contextlib.contextmanager
    def _unet_on_device(self) -> Iterator[None]:
        """With cpu_offload, the UNet visits the GPU only for its forward pass."""
        if not self.config.cpu_offload:
            yield
            return
        self.unet.to(self.device)
        try:
            yield
        finally:
            self.unet.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    # -- prediction

    def positive_embeddings(self, cameras: OrbitCameras) -> Tensor:
        """``(B, L, D)`` conditional embeddings for the cameras (view-weighted or plain)."""
        batch = len(cameras)
        if not self.config.view_dependent:
            return self.embeddings.plain.expand(batch, -1, -1)
        weights = view_weights(cameras.elevation, cameras.azimuth, self.views)
        return blend_embeddings(weights, self.embeddings.views)

    def unet_epsilon(self, x_t: Tensor, timesteps: Tensor, hidden: Tensor) -> Tensor:
        """One batched UNet call → fp32 ``ε`` in the shape of ``x_t``."""
        channels = x_t.shape[1]
        model_in = x_t.to(self.dtype)
        if self.config.channels_last and self.device.type == "cuda":
            model_in = model_in.contiguous(memory_format=torch.channels_last)
        with self._unet_on_device():
            output = self._unet_call(model_in, timesteps, encoder_hidden_states=hidden.to(self.dtype)).sample
        if self.compiled:
            output = output.clone()  # CUDA-graph outputs are overwritten by the next replay
        self.unet_calls += 1
        if output.shape[1] == 2 * channels:  # learned variance (IF): the first half is ε
            output = output[:, :channels]
        a = self.alphas_cumprod[timesteps]
        return epsilon_from_prediction(output.float(), x_t.float(), a, self.prediction_type)

    def predict_noise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras) -> Tensor:
        batch = x_t.shape[0]
        if len(cameras) != batch:
            raise ValueError(f"{len(cameras)} cameras for a batch of {batch} images")
        cameras = cameras.to(self.device)
        positive = self.positive_embeddings(cameras)
        hidden = [self.embeddings.uncond.expand(batch, -1, -1), positive]
        if self.perp_neg is not None:
            hidden += [self.embeddings.views[FRONT].expand(batch, -1, -1), self.embeddings.views[SIDE].expand(batch, -1, -1)]
        branches = len(hidden)
        x_in = x_t.repeat((branches,) + (1,) * (x_t.dim() - 1))
        eps = self.unet_epsilon(x_in, timesteps.repeat(branches), torch.cat(hidden)).chunk(branches)
        if self.perp_neg is None:
            return classifier_free_guidance(eps[0], eps[1], self.guidance_scale)
        weights = perp_neg_weights(cameras.azimuth, self.perp_neg)
        return perp_neg_guidance(eps[0], eps[1], torch.stack(eps[2:]), weights, self.guidance_scale)


def resize_renders(images: Tensor, size: int, device: torch.device) -> Tensor:
    """``(B, H, W, 3)`` in [0, 1] → ``(B, 3, size, size)`` in [−1, 1], bilinear, differentiable."""
    if images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"renders must be (B, H, W, 3), got {tuple(images.shape)}")
    x = images.to(device).permute(0, 3, 1, 2)
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x * 2.0 - 1.0


def build_diffusers_guidance(
    prompt: str,
    config: DiffusersPriorConfig,
    schedule: TimestepSchedule,
    device: str | torch.device | None,
    *,
    prior: str,
    guidance_class: type[DiffusersGuidance],
    load_parts: Callable[[DiffusersPriorConfig, torch.dtype], LoadedParts],
    cpu_step: str,
    max_text_length: int | None = None,
    attention_mask: bool = False,
) -> DiffusersGuidance:
    """Load a text prior as ``config`` says, encode ``prompt`` once, release the text encoder, build ``guidance_class``.

    ``device``: a word of :mod:`dreamlift.runtime` (None/"auto": the GPU when there is one).
    ``load_parts(config, dtype)`` finds and loads the weights (offline unless
    ``config.allow_network``); ``cpu_step`` is what a full-size step costs on the CPU (for
    the speed warning); ``max_text_length`` None: the tokenizer's and text encoder's own limit.
    """
    require_diffusers()
    config.validate()
    schedule.validate()
    device = resolve_device(device, prefer_gpu=True)
    dtype = resolve_dtype(config.dtype, device)
    with hub_offline(not config.allow_network):
        parts = load_parts(config, dtype)
    if sum(p.numel() for p in parts.unet.parameters()) > FULL_SIZE_PARAMETERS:  # the learned toy priors are made for the CPU
        warn_if_cpu(device, prior, cpu_step)  # after loading: errors come first
    if max_text_length is None:
        max_text_length = min(int(parts.tokenizer.model_max_length), int(parts.text_encoder.config.max_position_embeddings))
    embeddings, encoder_ref, encoder_calls = embed_and_release(
        parts, prompt, config.negative_prompt, device, max_length=max_text_length, attention_mask=attention_mask
    )
    return guidance_class(
        unet=parts.unet,
        scheduler=parts.scheduler,
        embeddings=embeddings,
        config=config,
        schedule=schedule,
        device=device,
        dtype=dtype,
        text_encoder_ref=encoder_ref,
        text_encoder_calls=encoder_calls,
        **guidance_class.part_kwargs(parts, config, dtype),
    )
