"""The components of the learned priors: real diffusers/transformers classes at toy sizes.

Each config is a typed dataclass whose ``build()`` makes the module with the global
torch RNG (seed it first: :func:`build_components` does). Conventions:

* VAE (``AutoencoderKL``): images ``(B, 3, S, S)`` in [−1, 1] → latents
  ``(B, 4, S/f, S/f)`` with ``f = 2 ** (levels − 1)``; its ``scaling_factor`` is set after
  training to ``1 / std`` of the latent means (as Stable Diffusion's 0.18215 was).
* UNet (``UNet2DConditionModel``): ``in_channels`` 4 (text) or 8 (view: the input view's
  unscaled latent concatenated), ε-prediction, cross-attention of width ``cross_attention_dim``.
* Text encoder (``CLIPTextModel``): token ids ``(B, L)`` → hidden states ``(B, L, D)``.
* Image encoder (``CLIPVisionModelWithProjection``): CLIP-normalised ``(B, 3, c, c)`` →
  ``image_embeds (B, D)``; the pose projection is ``Linear(D + 4 → D)``, initialised as
  Zero-1-to-3 does (identity on the embedding, zero on the pose).
* Scheduler: Stable Diffusion's (scaled-linear betas 0.00085 → 0.012, 1000 steps, ε).

Dropout is 0 everywhere, so training draws randomness only from its own generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from dreamlift.learned import SIZE_NAMES


@dataclass
class VaeConfig:
    """An ``AutoencoderKL``: one level per channel count, all but the last halve the image."""

    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 16

    @property
    def factor(self) -> int:
        """Pixels per latent along a side."""
        return 2 ** (len(self.block_out_channels) - 1)

    def build(self, image_size: int):
        from diffusers import AutoencoderKL

        levels = len(self.block_out_channels)
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            latent_channels=self.latent_channels,
            norm_num_groups=self.norm_num_groups,
            sample_size=image_size,
        )


@dataclass
class UNetConfig:
    """A ``UNet2DConditionModel``; ``attention[i]`` puts cross-attention in level ``i`` (down and mirrored up)."""

    block_out_channels: tuple[int, ...] = (64, 96, 128)
    attention: tuple[bool, ...] = (False, True, True)
    layers_per_block: int = 1
    attention_heads: int = 4
    norm_num_groups: int = 16

    def build(self, sample_size: int, in_channels: int, cross_attention_dim: int):
        from diffusers import UNet2DConditionModel

        down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in self.attention)
        up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(self.attention))
        return UNet2DConditionModel(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=4,
            layers_per_block=self.layers_per_block,
            block_out_channels=tuple(self.block_out_channels),
            down_block_types=down,
            up_block_types=up,
            cross_attention_dim=cross_attention_dim,
            attention_head_dim=self.attention_heads,  # diffusers' name for the number of heads of SD-1.x UNets
            norm_num_groups=self.norm_num_groups,
        )


@dataclass
class TextEncoderConfig:
    """A ``CLIPTextModel`` over the toy tokenizer; ``max_length`` tokens per caption (start and end included)."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 128
    max_length: int = 16

    def build(self, tokenizer):
        from transformers import CLIPTextConfig, CLIPTextModel

        return CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=self.hidden_size,
                intermediate_size=self.intermediate_size,
                num_hidden_layers=self.layers,
                num_attention_heads=self.heads,
                max_position_embeddings=self.max_length,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                projection_dim=self.hidden_size,
                attention_dropout=0.0,
                dropout=0.0,
            )
        )


@dataclass
class ImageEncoderConfig:
    """A ``CLIPVisionModelWithProjection`` on ``image_size`` inputs in ``patch_size`` patches; ``embedding_dim``
    is its projection (and the UNet's cross-attention width)."""

    image_size: int = 32
    patch_size: int = 4
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 128
    embedding_dim: int = 64

    def build(self):
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        return CLIPVisionModelWithProjection(
            CLIPVisionConfig(
                hidden_size=self.hidden_size,
                intermediate_size=self.intermediate_size,
                num_hidden_layers=self.layers,
                num_attention_heads=self.heads,
                image_size=self.image_size,
                patch_size=self.patch_size,
                projection_dim=self.embedding_dim,
                attention_dropout=0.0,
                dropout=0.0,
            )
        )


def pose_projection(width: int) -> nn.Linear:
    """``Linear(width + 4 → width)``: identity on the image embedding, zero on the pose (Zero-1-to-3's initialisation)."""
    linear = nn.Linear(width + 4, width)
    with torch.no_grad():
        linear.weight.zero_()
        linear.weight[:, :width] = torch.eye(width)
        linear.bias.zero_()
    return linear


def noise_scheduler():
    """Stable Diffusion's training schedule as a ``DDPMScheduler`` (what the guidance classes read ᾱ from)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="epsilon", clip_sample=False,
    )


def sampling_scheduler():
    """The scheduler a Stable Diffusion folder ships (SD-1.x's PNDM, same betas as :func:`noise_scheduler`)."""
    from diffusers import PNDMScheduler

    return PNDMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="epsilon", skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False,
    )


@dataclass
class ModelSizes:
    """Every component's config; ``image_size`` is the render size (the UNet sees ``image_size / vae.factor``)."""

    image_size: int = 64
    vae: VaeConfig = field(default_factory=VaeConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    image_encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)

    @property
    def latent_size(self) -> int:
        return self.image_size // self.vae.factor


def tiny_sizes() -> ModelSizes:
    """Test sizes: 32 px renders, 8x8 latents, components of a few thousand parameters (seconds per hundred steps)."""
    return ModelSizes(
        image_size=32,
        vae=VaeConfig(block_out_channels=(8, 8, 8), norm_num_groups=4),
        unet=UNetConfig(block_out_channels=(16, 16, 16), attention=(False, True, True), attention_heads=2, norm_num_groups=4),
        text_encoder=TextEncoderConfig(hidden_size=16, layers=1, heads=2, intermediate_size=32),
        image_encoder=ImageEncoderConfig(image_size=16, patch_size=4, hidden_size=16, layers=1, heads=2, intermediate_size=32, embedding_dim=16),
    )


SIZES = dict(zip(SIZE_NAMES, (ModelSizes, tiny_sizes)))
"""The named sizes of ``--size``."""


@dataclass
class Components:
    """The modules of one prior. ``text``: ``text_encoder`` and ``tokenizer``; ``view``: ``image_encoder`` and ``projection``."""

    vae: nn.Module
    unet: nn.Module
    text_encoder: nn.Module | None = None
    tokenizer: object | None = None
    image_encoder: nn.Module | None = None
    projection: nn.Linear | None = None

    def trainable(self) -> dict[str, nn.Module]:
        """The modules a checkpoint holds, by name, in a fixed order."""
        named = {"vae": self.vae, "unet": self.unet, "text_encoder": self.text_encoder,
                 "image_encoder": self.image_encoder, "projection": self.projection}
        return {name: module for name, module in named.items() if module is not None}


def build_components(kind: str, sizes: ModelSizes, seed: int, tokenizer_folder) -> Components:
    """Freshly initialised components of a ``text`` or ``view`` prior, from ``torch.manual_seed(seed)``."""
    from dreamlift.learned.tokenizer import build_tokenizer

    torch.manual_seed(seed)
    vae = sizes.vae.build(sizes.image_size)
    if kind == "text":
        tokenizer = build_tokenizer(tokenizer_folder, sizes.text_encoder.max_length)
        encoder = sizes.text_encoder.build(tokenizer)
        unet = sizes.unet.build(sizes.latent_size, 4, sizes.text_encoder.hidden_size)
        return Components(vae, unet, text_encoder=encoder, tokenizer=tokenizer)
    width = sizes.image_encoder.embedding_dim
    image_encoder = sizes.image_encoder.build()
    unet = sizes.unet.build(sizes.latent_size, 8, width)
    return Components(vae, unet, image_encoder=image_encoder, projection=pose_projection(width))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
