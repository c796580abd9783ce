"""A tiny Zero-1-to-3 model with random weights, written in the diffusers layout of the public conversions.

Image size 16 (UNet sample size 8, VAE downsampling 2), CLIP width 32, so the pose
projection is ``Linear(36 → 32)``. ``projection_layout`` picks how the projection is
stored: ``clip_camera_projection`` (threestudio's ``CLIPCameraProjection``: safetensors,
weights under ``proj.``) or ``cc_projection`` (the diffusers community pipeline's
``CCProjection``: a pickled ``.bin``, weights under ``projection.``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

WIDTH = 32
IMAGE_SIZE = 16


def make_tiny_zero123(
    folder: Path,
    projection_layout: str = "clip_camera_projection",
    unet_in_channels: int = 8,
    seed: int = 0,
    clip_hidden: int = 32,
    clip_heads: int = 4,
) -> Path:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    UNet2DConditionModel(
        sample_size=8,
        in_channels=unet_in_channels,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=WIDTH,
        attention_head_dim=8,
        norm_num_groups=32,
    ).save_pretrained(folder / "unet")
    AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(32, 64),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=IMAGE_SIZE,
    ).save_pretrained(folder / "vae")
    config = CLIPVisionConfig(
        hidden_size=clip_hidden,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=clip_heads,
        image_size=32,
        patch_size=4,
        projection_dim=WIDTH,
    )
    CLIPVisionModelWithProjection(config).save_pretrained(folder / "image_encoder")
    (folder / "feature_extractor").mkdir(exist_ok=True)
    crop = 32 if projection_layout == "clip_camera_projection" else {"height": 32, "width": 32}
    (folder / "feature_extractor" / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": crop,
                "do_center_crop": True,
                "do_normalize": True,
                "do_resize": True,
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3,
                "size": 32,
            }
        )
    )
    DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False
    ).save_pretrained(folder / "scheduler")
    linear = torch.nn.Linear(WIDTH + 4, WIDTH)
    part = folder / projection_layout
    part.mkdir(exist_ok=True)
    if projection_layout == "clip_camera_projection":
        state = {"proj.weight": linear.weight.detach().contiguous(), "proj.bias": linear.bias.detach().contiguous()}
        save_file(state, str(part / "diffusion_pytorch_model.safetensors"))
        projection_config = {"_class_name": "CLIPCameraProjection", "embedding_dim": WIDTH, "additional_embeddings": 4}
    else:
        state = {"projection.weight": linear.weight.detach(), "projection.bias": linear.bias.detach()}
        torch.save(state, part / "diffusion_pytorch_model.bin")
        projection_config = {"_class_name": "CCProjection", "in_channel": WIDTH + 4, "out_channel": WIDTH}
    (part / "config.json").write_text(json.dumps(projection_config))
    (folder / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "Zero123Pipeline",
                "unet": ["diffusers", "UNet2DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
                "feature_extractor": ["transformers", "CLIPImageProcessor"],
                "scheduler": ["diffusers", "DDIMScheduler"],
                projection_layout: ["zero123", projection_config["_class_name"]],
            }
        )
    )
    return folder


# ----------------------------------------------------------------------------- the original (latent-diffusion) layout
#
# The inverse of the mapping dreamlift loads with: diffusers' names → latent-diffusion's (UNet, VAE), transformers'
# CLIP → OpenAI's, written here independently of the code under test.

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def _resnet(rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{_RESNET[head]}.{tail}"


def unet_to_ldm(state: dict, layers: int, up_attention: list[bool]) -> dict:
    out = {}
    fixed = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for key, value in state.items():
        for ours, theirs in fixed.items():
            if key.startswith(ours + "."):
                out[theirs + key[len(ours):]] = value
                break
        else:
            parts = key.split(".")
            if parts[0] == "down_blocks":
                b, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
                if kind == "resnets":
                    out[f"input_blocks.{1 + b * (layers + 1) + j}.0.{_resnet(rest)}"] = value
                elif kind == "attentions":
                    out[f"input_blocks.{1 + b * (layers + 1) + j}.1.{rest}"] = value
                else:  # downsamplers.0.conv.X
                    out[f"input_blocks.{(b + 1) * (layers + 1)}.0.op.{parts[-1]}"] = value
            elif parts[0] == "mid_block":
                kind, j, rest = parts[1], int(parts[2]), ".".join(parts[3:])
                if kind == "resnets":
                    out[f"middle_block.{2 * j}.{_resnet(rest)}"] = value
                else:
                    out[f"middle_block.1.{rest}"] = value
            elif parts[0] == "up_blocks":
                b, kind, j, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
                if kind == "resnets":
                    out[f"output_blocks.{b * (layers + 1) + j}.0.{_resnet(rest)}"] = value
                elif kind == "attentions":
                    out[f"output_blocks.{b * (layers + 1) + j}.1.{rest}"] = value
                else:  # upsamplers.0.conv.X, after the block's attention if it has one
                    out[f"output_blocks.{b * (layers + 1) + layers}.{2 if up_attention[b] else 1}.conv.{parts[-1]}"] = value
            else:
                raise KeyError(key)
    return out


def vae_to_ldm(state: dict, levels: int) -> dict:
    out = {}
    names = {"conv_norm_out": "norm_out", "group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out", "conv_shortcut": "nin_shortcut"}
    for key, value in state.items():
        new = key
        for pattern, replacement in (
            (r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)", lambda m: f"encoder.down.{m[1]}.block.{m[2]}"),
            (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0", lambda m: f"encoder.down.{m[1]}.downsample"),
            (r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)", lambda m: f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}"),
            (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0", lambda m: f"decoder.up.{levels - 1 - int(m[1])}.upsample"),
            (r"mid_block\.resnets\.(\d+)", lambda m: f"mid.block_{int(m[1]) + 1}"),
            (r"mid_block\.attentions\.0", lambda m: "mid.attn_1"),
        ):
            new = re.sub(pattern, replacement, new)
        for ours, theirs in names.items():
            new = new.replace(f".{ours}.", f".{theirs}.")
        if ".mid.attn_1." in new and value.dim() == 2:  # latent diffusion's attention uses 1x1 convolutions
            value = value[:, :, None, None]
        out[new] = value
    return out


def clip_to_openai(state: dict, layers: int) -> dict:
    out = {
        "conv1.weight": state["vision_model.embeddings.patch_embedding.weight"],
        "class_embedding": state["vision_model.embeddings.class_embedding"],
        "positional_embedding": state["vision_model.embeddings.position_embedding.weight"],
        "proj": state["visual_projection.weight"].t().contiguous(),
    }
    for end in ("weight", "bias"):
        out[f"ln_pre.{end}"] = state[f"vision_model.pre_layrnorm.{end}"]
        out[f"ln_post.{end}"] = state[f"vision_model.post_layernorm.{end}"]
        for i in range(layers):
            ours, theirs = f"vision_model.encoder.layers.{i}.", f"transformer.resblocks.{i}."
            for a, b in (("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("self_attn.out_proj", "attn.out_proj"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):
                out[f"{theirs}{b}.{end}"] = state[f"{ours}{a}.{end}"]
            out[f"{theirs}attn.in_proj_{end}"] = torch.cat([state[f"{ours}self_attn.{n}.{end}"] for n in ("q_proj", "k_proj", "v_proj")])
    return out


def write_original_checkpoint(folder: Path, path: Path, extra: dict | None = None) -> Path:
    """The tiny diffusers-layout model at ``folder`` saved as a latent-diffusion checkpoint (``{"state_dict": ...}``)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import load_file
    from transformers import CLIPVisionModelWithProjection

    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    vae = AutoencoderKL.from_pretrained(folder / "vae")
    clip = CLIPVisionModelWithProjection.from_pretrained(folder / "image_encoder")
    projection = load_file(str(folder / "clip_camera_projection" / "diffusion_pytorch_model.safetensors"))
    up_attention = ["CrossAttn" in name for name in unet.config.up_block_types]
    state = {f"model.diffusion_model.{k}": v for k, v in unet_to_ldm(unet.state_dict(), unet.config.layers_per_block, up_attention).items()}
    state.update({f"first_stage_model.{k}": v for k, v in vae_to_ldm(vae.state_dict(), len(vae.config.block_out_channels)).items()})
    visual = clip_to_openai(clip.state_dict(), clip.config.num_hidden_layers)
    state.update({f"cond_stage_model.model.visual.{k}": v for k, v in visual.items()})
    state["cc_projection.weight"], state["cc_projection.bias"] = projection["proj.weight"], projection["proj.bias"]
    state.update(extra or {})
    torch.save({"state_dict": state, "global_step": 7, "epoch": 1}, path)
    return path
