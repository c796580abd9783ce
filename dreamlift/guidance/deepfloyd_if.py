"""DeepFloyd IF stage I as a pixel-space SDS prior (64×64), through diffusers.

Renders ``(B, H, W, 3)`` in [0, 1] are resized to 64×64 and mapped to [−1, 1]; that
image is the diffused variable, so SDS acts on pixels and no VAE is involved. The
T5-XXL text embeddings of the run's prompts are computed once at construction, after
which the text encoder (about 9.5 GB in half precision) is released. The UNet predicts
ε and a learned variance (6 channels); only ε is used. The shared UNet call, CFG,
view prompts and Perp-Neg live in :mod:`dreamlift.guidance._diffusers_guidance`.

IF is gated on the Hugging Face hub: accept its licence and log in before the first
download. Build it with :func:`build_deepfloyd_if_guidance`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlift.guidance._diffusers_guidance import DiffusersGuidance, build_diffusers_guidance, resize_renders
from dreamlift.guidance._loading import LoadedParts, check_components, load_folder_parts, loading_errors, resolve_model_source
from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.priors import DeepFloydIFConfig

PRIOR_NAME = "DeepFloyd IF"
PIPELINES = ("IFPipeline",)
COMPONENTS = ("unet", "text_encoder", "tokenizer", "scheduler")
GATED_PREFIXES = ("DeepFloyd/",)


class DeepFloydIFGuidance(DiffusersGuidance):
    """SDS on 64×64 pixels. ``encode``: renders → ``(B, 3, 64, 64)`` in [−1, 1], fp32, differentiable."""

    def __init__(self, **shared):
        super().__init__(**shared)
        self.input_size = self._input_size(1)

    def encode(self, images: Tensor) -> Tensor:
        return resize_renders(images, self.input_size, self.device).float()


def load_deepfloyd_if_parts(config: DeepFloydIFConfig, dtype: torch.dtype) -> LoadedParts:
    """Find and load the stage-I UNet, T5 encoder, tokenizer and scheduler named by ``config``."""
    source = resolve_model_source(
        config.model,
        prior=PRIOR_NAME,
        allow_network=config.allow_network,
        cache_dir=config.cache_dir,
        single_file=False,
        gated_prefixes=GATED_PREFIXES,
    )
    check_components(source, PRIOR_NAME, COMPONENTS, PIPELINES)
    from transformers import T5EncoderModel

    with loading_errors(config.model, PRIOR_NAME):
        return load_folder_parts(source, config, dtype, T5EncoderModel, vae=False)


def build_deepfloyd_if_guidance(
    prompt: str,
    config: DeepFloydIFConfig,
    schedule: TimestepSchedule,
    device: str | torch.device | None = None,
) -> DeepFloydIFGuidance:
    """Load IF stage I as ``config`` says, encode ``prompt`` once with T5, release T5, return the guidance."""
    return build_diffusers_guidance(
        prompt, config, schedule, device, prior=PRIOR_NAME, guidance_class=DeepFloydIFGuidance, load_parts=load_deepfloyd_if_parts,
        cpu_step="tens of seconds (4.3B-parameter UNet)", max_text_length=config.max_text_length, attention_mask=True,
    )
