"""A tiny Zero-1-to-3 model with random weights, written in the diffusers layout of the public conversions.

Image size 16 (UNet sample size 8, VAE downsampling 2), CLIP width 32, so the pose
projection is ``Linear(36 → 32)``. ``projection_layout`` picks how the projection is
stored: ``clip_camera_projection`` (threestudio's ``CLIPCameraProjection``: safetensors,
weights under ``proj.``) or ``cc_projection`` (the diffusers community pipeline's
``CCProjection``: a pickled ``.bin``, weights under ``projection.``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

WIDTH = 32
IMAGE_SIZE = 16


def make_tiny_zero123(
    folder: Path, projection_layout: str = "clip_camera_projection", unet_in_channels: int = 8, seed: int = 0
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
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=4, projection_dim=WIDTH
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
