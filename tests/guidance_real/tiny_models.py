"""Tiny Stable Diffusion and DeepFloyd IF models built from the real diffusers/transformers classes.

Random weights, a few thousand parameters each, saved exactly as real models are
distributed: a diffusers folder (``save_pretrained``) and, for SD, a single
``.safetensors`` checkpoint in the original (LDM) key layout. The SD UNet keeps SD's
4-level, 2-layers-per-level layout because diffusers recognises an SD single file by
keys of that layout. Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dreamlift.learned.tokenizer import byte_characters

TOKENIZER_MAX_LENGTH = 77


def write_clip_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """A CLIP BPE vocabulary with no merges: 256 byte characters, the same with ``</w>``, and the two special tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    characters = byte_characters()
    vocab = {c: i for i, c in enumerate(characters)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(characters)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    vocab_path.write_text(json.dumps(vocab), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n", encoding="utf-8")
    return vocab_path, merges_path


def build_clip_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    vocab_path, merges_path = write_clip_tokenizer_files(folder)
    return CLIPTokenizer(str(vocab_path), str(merges_path), model_max_length=TOKENIZER_MAX_LENGTH)


def build_t5_tokenizer():
    """A unigram T5 tokenizer over single characters (transformers ≥ 5 builds it from a vocabulary list)."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in "abcdefghijklmnopqrstuvwxyz,.0123456789"]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=TOKENIZER_MAX_LENGTH)


def build_tiny_sd(work: Path, seed: int = 0, prediction_type: str = "epsilon") -> dict:
    """Components of a tiny SD-1.x-shaped pipeline: 4-level UNet (2 layers each), 2-level VAE, 2-layer CLIP."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(8, 8, 8, 8),
        norm_num_groups=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=16,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=4,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=514,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=TOKENIZER_MAX_LENGTH,
            bos_token_id=512,
            eos_token_id=513,
            pad_token_id=513,
            projection_dim=16,
        )
    )
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        prediction_type=prediction_type,
        skip_prk_steps=True,
        steps_offset=1,
    )
    tokenizer = build_clip_tokenizer(work / "tokenizer_src")
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


def save_sd_folder(components: dict, folder: Path) -> Path:
    """Save as a diffusers StableDiffusionPipeline folder (no safety checker)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        **components, safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False
    )
    pipe.save_pretrained(str(folder))
    return folder


def _unet_to_ldm(state: dict, layers: int, levels: int) -> dict:
    """diffusers UNet keys → the original SD (LDM) ``model.diffusion_model.*`` keys."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    resnet_names = [
        ("norm1", "in_layers.0"),
        ("conv1", "in_layers.2"),
        ("norm2", "out_layers.0"),
        ("conv2", "out_layers.3"),
        ("time_emb_proj", "emb_layers.1"),
        ("conv_shortcut", "skip_connection"),
    ]
    prefixes = {}
    for i in range(levels):
        for j in range(layers):
            prefixes[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{i * (layers + 1) + j + 1}.0."
            prefixes[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{i * (layers + 1) + j + 1}.1."
        prefixes[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{(i + 1) * (layers + 1)}.0.op."
        has_attention = any(k.startswith(f"up_blocks.{i}.attentions.") for k in state)
        for j in range(layers + 1):
            prefixes[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{i * (layers + 1) + j}.0."
            prefixes[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{i * (layers + 1) + j}.1."
        upsampler_slot = 2 if has_attention else 1
        prefixes[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{i * (layers + 1) + layers}.{upsampler_slot}."
    prefixes["mid_block.resnets.0."] = "middle_block.0."
    prefixes["mid_block.attentions.0."] = "middle_block.1."
    prefixes["mid_block.resnets.1."] = "middle_block.2."
    direct = DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]

    out = {}
    for key, value in state.items():
        if key in direct:
            new = direct[key]
        else:
            prefix = next(p for p in sorted(prefixes, key=len, reverse=True) if key.startswith(p))
            rest = key[len(prefix) :]
            if ".resnets." in prefix:
                for old, ldm in resnet_names:
                    if rest.startswith(old + "."):
                        rest = ldm + rest[len(old) :]
                        break
            new = prefixes[prefix] + rest
        out["model.diffusion_model." + new] = value
    return out


def _vae_to_ldm(state: dict, levels: int) -> dict:
    """diffusers AutoencoderKL keys → the original ``first_stage_model.*`` keys (attention as 1×1 convs)."""
    attention_names = {
        "group_norm.": "norm.",
        "to_q.": "q.",
        "to_k.": "k.",
        "to_v.": "v.",
        "to_out.0.": "proj_out.",
    }
    out = {}
    for key, value in state.items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        for side in ("encoder", "decoder"):
            new = new.replace(f"{side}.mid_block.resnets.0.", f"{side}.mid.block_1.")
            new = new.replace(f"{side}.mid_block.resnets.1.", f"{side}.mid.block_2.")
            if new.startswith(f"{side}.mid_block.attentions.0."):
                rest = new[len(f"{side}.mid_block.attentions.0.") :]
                for old, ldm in attention_names.items():
                    if rest.startswith(old):
                        rest = ldm + rest[len(old) :]
                new = f"{side}.mid.attn_1." + rest
                if value.dim() == 2:
                    value = value[:, :, None, None]
        for i in range(levels):
            new = new.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            new = new.replace(f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.")
            new = new.replace(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{levels - 1 - i}.block.")
            new = new.replace(f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample.")
        out["first_stage_model." + new] = value
    return out


def save_sd_single_file(components: dict, path: Path) -> Path:
    """Write an SD-1.x-style single ``.safetensors`` checkpoint (UNet, VAE and CLIP in the LDM layout)."""
    from safetensors.torch import save_file

    unet, vae, text_encoder = components["unet"], components["vae"], components["text_encoder"]
    state = _unet_to_ldm(unet.state_dict(), unet.config.layers_per_block, len(unet.config.block_out_channels))
    state.update(_vae_to_ldm(vae.state_dict(), len(vae.config.block_out_channels)))
    for key, value in text_encoder.state_dict().items():
        key = key if key.startswith("text_model.") else "text_model." + key
        state["cond_stage_model.transformer." + key] = value
    state = {k: v.detach().contiguous().clone() for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def build_tiny_if(seed: int = 0) -> dict:
    """Components of a tiny IF-stage-I-shaped pipeline: pixel UNet with learned variance (6 channels out), T5 encoder."""
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tokenizer = build_t5_tokenizer()
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=16,
            d_kv=4,
            d_ff=32,
            num_layers=2,
            num_heads=2,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=3,
        out_channels=6,
        layers_per_block=1,
        block_out_channels=(8, 16),
        norm_num_groups=4,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        cross_attention_dim=32,  # the group norm on cross-attention inputs has 32 groups
        encoder_hid_dim=16,
        encoder_hid_dim_type="text_proj",
        attention_head_dim=4,
        addition_embed_type="text",
        addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift",
        act_fn="gelu",
    )
    scheduler = DDPMScheduler(
        beta_schedule="squaredcos_cap_v2",
        variance_type="learned_range",
        prediction_type="epsilon",
        thresholding=True,
        dynamic_thresholding_ratio=0.95,
        sample_max_value=1.5,
    )
    return {"unet": unet, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler}


def save_if_folder(components: dict, folder: Path) -> Path:
    """Save as a diffusers IFPipeline folder (no safety checker or watermarker)."""
    from diffusers import IFPipeline

    pipe = IFPipeline(**components, safety_checker=None, feature_extractor=None, watermarker=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    return folder


def save_tiny_taesd(folder: Path, seed: int = 0, levels: int = 2) -> Path:
    """A tiny random ``AutoencoderTiny`` (TAESD's class), saved as ``madebyollin/taesd`` is: ``config.json`` and
    safetensors weights at the top of a folder. ``levels`` encoder levels: pixels per latent ``2 ** (levels - 1)``
    (2 by default, as the tiny SD's VAE); TAESD's ``scaling_factor`` of 1 (its latents are already in the UNet's scale)."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    model = AutoencoderTiny(
        encoder_block_out_channels=(8,) * levels,
        decoder_block_out_channels=(8,) * levels,
        num_encoder_blocks=(1,) * levels,
        num_decoder_blocks=(1,) * levels,
        latent_channels=4,
        scaling_factor=1.0,
    )
    model.save_pretrained(str(folder))
    return folder
