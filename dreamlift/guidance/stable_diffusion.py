"""Stable Diffusion 1.x / 2.x as a latent SDS prior, through diffusers.

Renders ``(B, H, W, 3)`` in [0, 1] are resized to the model's input size (512 for
SD-1.5 and SD-2.1-base), mapped to [−1, 1] and encoded by the VAE *with* gradient; SDS
acts on the scaled latents (the posterior mean, times ``vae.config.scaling_factor``).
The UNet runs without gradient: classifier-free guidance with the negative prompt as
the unconditional branch, view-dependent prompts per camera, optional Perp-Neg (see
:mod:`dreamlift.guidance._diffusers_guidance`). v-prediction models (SD-2.x at 768) are
converted to ε.

Precision: the UNet runs in the config's dtype; with fp16 the VAE stays in fp32 by
default (``upcast_vae``) so that the backward pass through it cannot overflow, and the
guidance arithmetic is always done in fp32. bf16 has fp32's range and needs no upcast.

With ``tiny_vae`` (a TAESD ``AutoencoderTiny``) the renders are encoded by that small encoder
instead; its latents are already in the UNet's scale (its ``scaling_factor`` is 1), and the full
VAE is not loaded at all (SDS never decodes).

Build it with :func:`build_stable_diffusion_guidance`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.guidance._diffusers_guidance import DiffusersGuidance, build_diffusers_guidance, resize_renders
from dreamlift.guidance._loading import (
    LoadedParts,
    ModelSource,
    check_components,
    load_folder_parts,
    load_tiny_vae,
    loading_errors,
    resolve_model_source,
)
from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.priors import StableDiffusionConfig
from dreamlift.runtime import CompiledWithFallback

PRIOR_NAME = "Stable Diffusion"
PIPELINES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline")
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def vae_dtype_for(config: StableDiffusionConfig, dtype: torch.dtype) -> torch.dtype:
    """The VAE's dtype when the UNet runs in ``dtype``: fp32 for fp16 with ``upcast_vae``, else ``dtype``."""
    return torch.float32 if (dtype == torch.float16 and config.upcast_vae) else dtype


class _FallbackModule(torch.nn.Module):
    """Puts a :class:`CompiledWithFallback` where the VAE expects its ``encoder`` submodule."""

    def __init__(self, wrapped: CompiledWithFallback):
        super().__init__()
        self.wrapped = wrapped
        self.inner = wrapped.eager

    def forward(self, x: Tensor) -> Tensor:
        return self.wrapped(x)


class StableDiffusionGuidance(DiffusersGuidance):
    """SDS on Stable Diffusion latents. ``encode``: renders → scaled VAE latents ``(B, 4, s/8, s/8)`` in fp32."""

    def __init__(self, *, vae: torch.nn.Module, vae_dtype: torch.dtype, **shared):
        super().__init__(**shared)
        config: StableDiffusionConfig = self.config
        self.vae_dtype = vae_dtype
        vae.requires_grad_(False).eval()
        if config.vae_slicing:
            vae.enable_slicing()
        if config.channels_last and self.device.type == "cuda":
            vae.to(memory_format=torch.channels_last)
        if vae.dtype != vae_dtype:
            vae.to(vae_dtype)
        self.vae = vae.to(self.device)
        if self.compiled:  # the encoder runs forward and backward every step: fusing its norms and activations pays
            self.vae.encoder = _FallbackModule(CompiledWithFallback(vae.encoder))
        self.latent_scale = float(vae.config.scaling_factor)
        self.latent_shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
        self.input_size = self._input_size(vae_downsampling(vae))

    @classmethod
    def part_kwargs(cls, parts: LoadedParts, config: StableDiffusionConfig, dtype: torch.dtype) -> dict:
        return {"vae": parts.vae, "vae_dtype": vae_dtype_for(config, dtype)}

    def encode(self, images: Tensor) -> Tensor:
        x = resize_renders(images, self.input_size, self.device).to(self.vae_dtype)
        if self.config.channels_last and self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        encoded = self.vae.encode(x)
        latents = encoded.latent_dist.mean if hasattr(encoded, "latent_dist") else encoded.latents  # AutoencoderKL, AutoencoderTiny
        return (latents.float() - self.latent_shift) * self.latent_scale


def vae_downsampling(vae: torch.nn.Module) -> int:
    """Pixels per latent of an ``AutoencoderKL`` or an ``AutoencoderTiny`` (TAESD): each encoder level after the first halves."""
    levels = getattr(vae.config, "encoder_block_out_channels", None) or vae.config.block_out_channels
    return 2 ** (len(levels) - 1)


def _pipeline_class():
    """diffusers' ``StableDiffusionPipeline`` (single files load through it), imported without transformers' note that
    its image processors would like torchvision (the pipeline's safety checker and feature extractor are never used here)."""
    from transformers.utils import logging as transformers_logging

    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        from diffusers import StableDiffusionPipeline
    finally:
        transformers_logging.set_verbosity(level)
    return StableDiffusionPipeline


def _load_parts(source: ModelSource, config: StableDiffusionConfig, dtype: torch.dtype) -> LoadedParts:
    from diffusers import DDPMScheduler
    from transformers import CLIPTextModel

    if source.kind == "single_file":
        extra = {"config": source.config_folder} if source.config_folder else {}
        pipe = _pipeline_class().from_single_file(
            source.location,
            torch_dtype=dtype,
            local_files_only=source.local_files_only,
            cache_dir=config.cache_dir,
            safety_checker=None,
            requires_safety_checker=False,
            **extra,
        )
        scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        return LoadedParts(pipe.unet, scheduler, pipe.tokenizer, pipe.text_encoder, None if config.tiny_vae else pipe.vae)
    return load_folder_parts(source, config, dtype, CLIPTextModel, vae=config.tiny_vae is None)


def _checkpoint_shapes(path: str) -> dict:
    """Key → object with ``.shape`` for a .safetensors file, read from its header only."""
    from safetensors import safe_open

    class Shape:
        def __init__(self, shape):
            self.shape = torch.Size(shape)

    try:
        with safe_open(path, framework="pt") as handle:
            return {key: Shape(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own error type for a file of another format
        raise DreamliftError(
            f"{path} is not a readable .safetensors file ({error.__class__.__name__}): "
            "give a Stable Diffusion checkpoint in safetensors, or a diffusers folder"
        ) from None


def _configs_for_single_file(source: ModelSource, config: StableDiffusionConfig) -> ModelSource:
    """A single file without a config folder: use diffusers' default configs for its SD version from the
    Hugging Face cache (diffusers itself would go online for them even with ``local_files_only``)."""
    if source.kind != "single_file" or source.config_folder is not None or config.allow_network:
        return source
    import huggingface_hub
    from diffusers.loaders.single_file_utils import fetch_diffusers_config

    with loading_errors(config.model, PRIOR_NAME):
        repo = fetch_diffusers_config(_checkpoint_shapes(source.location))["pretrained_model_name_or_path"]
    cached = huggingface_hub.try_to_load_from_cache(repo, "model_index.json", cache_dir=config.cache_dir)
    if not isinstance(cached, str):
        raise DreamliftError(
            f"the single file {config.model} needs the configs of its model ({repo}), which are not in the Hugging Face "
            f"cache, and network access is off: give model_config (--model-config DIR) with a diffusers folder of the same "
            f"SD version, put the file in such a folder, or allow the network (--allow-network)"
        )
    return ModelSource("single_file", source.location, str(Path(cached).parent), True)


def load_stable_diffusion_parts(config: StableDiffusionConfig, dtype: torch.dtype) -> LoadedParts:
    """Find and load the UNet, VAE, CLIP text encoder, tokenizer and scheduler named by ``config``."""
    source = resolve_model_source(
        config.model,
        prior=PRIOR_NAME,
        allow_network=config.allow_network,
        cache_dir=config.cache_dir,
        config_folder=config.model_config,
    )
    check_components(source, PRIOR_NAME, COMPONENTS, PIPELINES)
    source = _configs_for_single_file(source, config)
    with loading_errors(config.model, PRIOR_NAME):
        parts = _load_parts(source, config, dtype)
    if config.tiny_vae is not None:  # TAESD's encoder instead of the model's VAE (which was not loaded)
        parts.vae = load_tiny_vae(config.tiny_vae, PRIOR_NAME, config, dtype)
    return parts


def build_stable_diffusion_guidance(
    prompt: str,
    config: StableDiffusionConfig,
    schedule: TimestepSchedule,
    device: str | torch.device | None = None,
) -> StableDiffusionGuidance:
    """Load Stable Diffusion as ``config`` says, encode ``prompt`` once, and return the guidance.

    ``device`` None picks the GPU when there is one; on the CPU it warns about speed.
    """
    return build_diffusers_guidance(
        prompt, config, schedule, device, prior=PRIOR_NAME, guidance_class=StableDiffusionGuidance,
        load_parts=load_stable_diffusion_parts, cpu_step="about 50 s at 512 px (measured, SD-1.5 size)",
    )
