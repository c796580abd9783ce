"""Zero-1-to-3 checkpoints as their authors publish them, read into the diffusers layout.

``zero123-xl.ckpt`` (cvlab-columbia) and ``stable_zero123.ckpt`` (Stability AI) are
PyTorch Lightning checkpoints of the latent-diffusion code base: a pickled dict whose
``"state_dict"`` holds

* ``model.diffusion_model.*``: the UNet (8 input channels: noisy latent + input latent);
* ``first_stage_model.*``: the KL autoencoder;
* ``cond_stage_model.model.visual.*``: the CLIP ViT-L/14 image encoder in OpenAI's own
  layout (zero123's ``FrozenCLIPImageEmbedder`` wraps ``clip.load("ViT-L/14")`` and
  keeps its visual tower; its text tower is deleted), whose projected ``encode_image``
  output is the conditioning embedding;
* ``cc_projection.{weight,bias}``: the pose projection ``Linear(768 + 4 → 768)``.

stable-dreamfusion (``guidance/zero123_utils.py``) and threestudio
(``threestudio/models/guidance/zero123_guidance.py``) load these with the
latent-diffusion classes and the config ``sd-objaverse-finetune-c_concat-256.yaml``
(image size 256, UNet ``num_heads: 8``, ``scale_factor: 0.18215``, the scaled-linear
schedule 0.00085–0.012 over 1,000 steps); the CLIP weights come from the checkpoint
(the config only names ViT-L/14, which ``clip.load`` would fetch from OpenAI before the
checkpoint's weights replace it). A checkpoint without ``cond_stage_model.model.visual``
needs ``image_encoder``: a ``CLIPVisionModelWithProjection`` folder or hub id
(``openai/clip-vit-large-patch14``, the same ViT-L/14 in the transformers layout).

Here the file is read with ``torch.load(weights_only=True)`` (memory-mapped; no
Python object is unpickled), the UNet and VAE keys are mapped by diffusers' own
conversion functions (``diffusers.loaders.single_file_utils``: ``convert_ldm_unet_checkpoint``,
``convert_ldm_vae_checkpoint`` and the config builders, fed an LDM config whose sizes
are read off the weights' shapes), and the OpenAI CLIP keys by :func:`openai_clip_to_transformers`.
:func:`write_diffusers_folder` writes the result as a diffusers-layout folder of
safetensors (``dreamlift convert``).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".safetensors")
from dreamlift.guidance.priors import TRAINED_IMAGE_SIZE  # noqa: E402 (one value for the settings and the loader)
"""Image size of zero123, zero123-xl and Stable-Zero123 (their config's ``image_size: 32`` latents × 8)."""
UNET_HEADS = 8
"""``num_heads`` of their UNet (not stored in the weights)."""
SCALE_FACTOR = 0.18215
"""Their VAE's ``scale_factor``."""
CLIP_HEAD_WIDTH = 64
"""OpenAI's ViTs have one attention head per 64 channels (``heads = width // 64``)."""
UNET, VAE, CLIP, PROJECTION = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.model.visual.", "cc_projection."


def is_checkpoint_file(model: str) -> bool:
    """Whether ``--model`` names one checkpoint file (rather than a diffusers folder or a hub id)."""
    path = Path(model).expanduser()
    return path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a checkpoint file (its ``state_dict`` when it has one), read without unpickling objects."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DreamliftError(f"checkpoint {path} does not exist: give the .ckpt file (e.g. zero123-xl.ckpt)")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise DreamliftError(f"checkpoint {path} is not a readable safetensors file ({' '.join(str(error).split())[:120]})") from None
    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            data = torch.load(path, map_location="cpu", weights_only=True)  # an old (non-zip) file cannot be mapped
    except torch.serialization.pickle.UnpicklingError as error:
        first = " ".join(str(error).split())
        if "global" not in first.lower():  # refused objects name their class; other refusals are a damaged file
            raise DreamliftError(f"checkpoint {path} cannot be read (not a pickle: {first[:60]}): the file is damaged or not a PyTorch checkpoint") from None
        found = re.search(r"GLOBAL ([\w.]+)", first)
        what = f" (it holds {found.group(1)})" if found else ""
        raise DreamliftError(
            f"checkpoint {path} holds Python objects besides tensors{what}, which are not unpickled for safety: "
            "save its state_dict alone with torch.save, or convert it on a trusted machine"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise DreamliftError(f"checkpoint {path} cannot be read ({type(error).__name__}): the file is damaged or not a PyTorch checkpoint") from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise DreamliftError(f"checkpoint {path} holds no state dict: give a Zero-1-to-3 .ckpt")
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, Tensor)}


def check_zero123(state: dict[str, Tensor], path: Path) -> None:
    """A one-line error unless ``state`` is a Zero-1-to-3 checkpoint (UNet of 8 input channels, VAE, pose projection)."""
    conv_in = state.get(UNET + "input_blocks.0.0.weight")
    if conv_in is None:
        kind = "a VAE" if any(k.startswith(("encoder.", VAE)) for k in state) else "another model"
        raise DreamliftError(f"{path} is not a Zero-1-to-3 checkpoint: it has no latent-diffusion UNet ({kind}?)")
    if PROJECTION + "weight" not in state:
        raise DreamliftError(
            f"{path} is not a Zero-1-to-3 checkpoint: it has no cc_projection (its UNet takes {conv_in.shape[1]} channels: "
            "a Stable Diffusion checkpoint?); give zero123-xl.ckpt or stable_zero123.ckpt"
        )
    if conv_in.shape[1] != 8:
        raise DreamliftError(f"{path} is not a Zero-1-to-3 checkpoint: its UNet takes {conv_in.shape[1]} input channels, not 8")
    if not any(k.startswith(VAE) for k in state):
        raise DreamliftError(f"{path} has no first_stage_model (the VAE): the checkpoint is incomplete")


# ----------------------------------------------------------------------------- the LDM config, read off the weights


def _indices(state: dict, pattern: str) -> list[int]:
    found = {int(m.group(1)) for k in state if (m := re.match(pattern, k))}
    return sorted(found)


def ldm_config(state: dict[str, Tensor], num_heads: int = UNET_HEADS) -> dict:
    """The parts of the latent-diffusion YAML config that diffusers' converters read, from the weights' shapes."""
    unet = {k[len(UNET):]: v for k, v in state.items() if k.startswith(UNET)}
    model_channels, in_channels = unet["input_blocks.0.0.weight"].shape[:2]
    levels = len([k for k in unet if re.fullmatch(r"input_blocks\.\d+\.0\.op\.weight", k)]) + 1
    blocks = len(_indices(unet, r"input_blocks\.(\d+)\."))
    res_blocks = blocks // levels - 1
    if levels * (res_blocks + 1) != blocks:
        raise DreamliftError("the checkpoint's UNet has an unexpected block layout: it is not a latent-diffusion UNet")
    channel_mult, attention, context_dim, depth, linear = [], [], None, 1, False
    for level in range(levels):
        first = 1 + level * (res_blocks + 1)
        channel_mult.append(int(unet[f"input_blocks.{first}.0.out_layers.3.weight"].shape[0]) // int(model_channels))
        proj_in = unet.get(f"input_blocks.{first}.1.proj_in.weight")
        if proj_in is not None:
            attention.append(2**level)
            context_dim = int(unet[f"input_blocks.{first}.1.transformer_blocks.0.attn2.to_k.weight"].shape[1])
            depth = len(_indices(unet, rf"input_blocks\.{first}\.1\.transformer_blocks\.(\d+)\."))
            linear = proj_in.dim() == 2
    vae = {k[len(VAE):]: v for k, v in state.items() if k.startswith(VAE)}
    ch, vae_in = vae["encoder.conv_in.weight"].shape[:2]
    down = _indices(vae, r"encoder\.down\.(\d+)\.")
    return {
        "model": {
            "params": {
                "scale_factor": SCALE_FACTOR,
                "unet_config": {
                    "params": {
                        "in_channels": int(in_channels),
                        "out_channels": int(unet["out.2.weight"].shape[0]),
                        "model_channels": int(model_channels),
                        "attention_resolutions": attention,
                        "num_res_blocks": res_blocks,
                        "channel_mult": channel_mult,
                        "num_heads": int(num_heads),
                        "transformer_depth": depth,
                        "context_dim": context_dim,
                        "use_linear_in_transformer": linear,
                    }
                },
                "first_stage_config": {
                    "params": {
                        "embed_dim": int(vae["quant_conv.weight"].shape[0]) // 2,
                        "ddconfig": {
                            "in_channels": int(vae_in),
                            "out_ch": int(vae["decoder.conv_out.weight"].shape[0]),
                            "ch": int(ch),
                            "ch_mult": [int(vae[f"encoder.down.{i}.block.0.conv2.weight"].shape[0]) // int(ch) for i in down],
                            "num_res_blocks": len(_indices(vae, r"encoder\.down\.0\.block\.(\d+)\.")),
                            "z_channels": int(vae["decoder.conv_in.weight"].shape[1]),
                        },
                    }
                },
            }
        }
    }


# ----------------------------------------------------------------------------- CLIP: OpenAI's layout → transformers'


def openai_clip_to_transformers(visual: dict[str, Tensor]) -> tuple[dict, dict[str, Tensor]]:
    """OpenAI CLIP ``visual.*`` weights (prefix removed) → ``(CLIPVisionConfig kwargs, CLIPVisionModelWithProjection state)``.

    Per block ``resblocks.i``: ``ln_1/ln_2`` → ``layer_norm1/2``; ``attn.in_proj_{weight,bias}`` split in
    three → ``q/k/v_proj``; ``attn.out_proj`` → ``out_proj``; ``mlp.c_fc/c_proj`` → ``mlp.fc1/fc2``. Outside:
    ``conv1`` → patch embedding, ``class_embedding``, ``positional_embedding``, ``ln_pre`` → ``pre_layrnorm``
    (sic), ``ln_post`` → ``post_layernorm``, and ``proj (width, dim)`` transposed → ``visual_projection``.
    """
    width, _, patch, _ = visual["conv1.weight"].shape
    positions = visual["positional_embedding"].shape[0]
    layers = _indices(visual, r"transformer\.resblocks\.(\d+)\.")
    grid = int(round((positions - 1) ** 0.5))
    config = {
        "hidden_size": int(width),
        "intermediate_size": int(visual["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
        "num_hidden_layers": len(layers),
        "num_attention_heads": max(int(width) // CLIP_HEAD_WIDTH, 1),
        "image_size": grid * int(patch),
        "patch_size": int(patch),
        "projection_dim": int(visual["proj"].shape[1]),
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    }
    out = {
        "vision_model.embeddings.patch_embedding.weight": visual["conv1.weight"],
        "vision_model.embeddings.class_embedding": visual["class_embedding"],
        "vision_model.embeddings.position_embedding.weight": visual["positional_embedding"],
        "visual_projection.weight": visual["proj"].t().contiguous(),
    }
    for ours, theirs in (("pre_layrnorm", "ln_pre"), ("post_layernorm", "ln_post")):
        for end in ("weight", "bias"):
            out[f"vision_model.{ours}.{end}"] = visual[f"{theirs}.{end}"]
    renames = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
    for i in layers:
        source, target = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for theirs, ours in renames.items():
            for end in ("weight", "bias"):
                out[f"{target}{ours}.{end}"] = visual[f"{source}{theirs}.{end}"]
        for end in ("weight", "bias"):
            for name, part in zip(("q_proj", "k_proj", "v_proj"), visual[f"{source}attn.in_proj_{end}"].chunk(3, dim=0)):
                out[f"{target}self_attn.{name}.{end}"] = part.contiguous()
    return config, out


# ----------------------------------------------------------------------------- the whole model


@dataclass
class ConvertedCheckpoint:
    """A Zero-1-to-3 checkpoint in the diffusers layout: each part's config and weights."""

    unet_config: dict
    unet: dict[str, Tensor]
    vae_config: dict
    vae: dict[str, Tensor]
    clip_config: dict | None
    """``CLIPVisionConfig`` keywords; None when the checkpoint has no image encoder."""
    clip: dict[str, Tensor] | None
    projection: dict[str, Tensor]
    """``weight (D, D + 4)`` and ``bias (D,)``."""


def convert_checkpoint(state: dict[str, Tensor], path: Path, image_size: int = TRAINED_IMAGE_SIZE, num_heads: int = UNET_HEADS) -> ConvertedCheckpoint:
    """Map a Zero-1-to-3 checkpoint's keys to the diffusers layout (diffusers' converters for UNet and VAE)."""
    from diffusers.loaders import single_file_utils as ldm

    check_zero123(state, path)
    original = ldm_config(state, num_heads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # diffusers deprecates passing image_size; it is what the checkpoint was trained at
            unet_config = ldm.create_unet_diffusers_config_from_ldm(original, state, image_size=image_size)
            vae_config = ldm.create_vae_diffusers_config_from_ldm(original, state, image_size=image_size)
        factor = 2 ** (len(vae_config["block_out_channels"]) - 1)
        unet_config["sample_size"] = image_size // factor
        unet = ldm.convert_ldm_unet_checkpoint(state, unet_config)
        vae = ldm.convert_ldm_vae_checkpoint(state, vae_config)
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise DreamliftError(f"{path}: its keys do not map to the diffusers layout ({type(error).__name__}: {error}): the checkpoint is not a Zero-1-to-3 one") from None
    visual = {k[len(CLIP):]: v for k, v in state.items() if k.startswith(CLIP)}
    clip_config, clip = openai_clip_to_transformers(visual) if visual else (None, None)
    projection = {"weight": state[PROJECTION + "weight"]}
    if PROJECTION + "bias" in state:
        projection["bias"] = state[PROJECTION + "bias"]
    return ConvertedCheckpoint(unet_config, unet, vae_config, vae, clip_config, clip, projection)


def _strict(module: torch.nn.Module, weights: dict[str, Tensor], part: str, path: Path) -> torch.nn.Module:
    missing, unexpected = module.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        sample = (missing or unexpected)[0]
        raise DreamliftError(
            f"{path}: the {part} weights do not fit ({len(missing)} missing, {len(unexpected)} unexpected, e.g. {sample}): "
            "the checkpoint is not a Zero-1-to-3 one"
        )
    return module


def build_modules(converted: ConvertedCheckpoint, path: Path, image_encoder: str = "", allow_network: bool = False):
    """``(unet, vae, image_encoder, projection)`` modules in float32 from a converted checkpoint."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = _strict(UNet2DConditionModel.from_config(converted.unet_config), converted.unet, "unet", path)
    vae = _strict(AutoencoderKL.from_config(converted.vae_config), converted.vae, "vae", path)
    if converted.clip is not None:
        encoder = _strict(CLIPVisionModelWithProjection(CLIPVisionConfig(**converted.clip_config)), converted.clip, "image encoder", path)
    elif image_encoder:
        from dreamlift.hub import hub_offline, loading_errors

        with hub_offline(not allow_network), loading_errors(image_encoder, "CLIP image encoder"):
            encoder = CLIPVisionModelWithProjection.from_pretrained(image_encoder, local_files_only=not allow_network)
    else:
        raise DreamliftError(
            f"{path} holds no CLIP image encoder (cond_stage_model.model.visual): give one with "
            "--set prior.image_encoder=openai/clip-vit-large-patch14 (a CLIPVisionModelWithProjection folder or hub id)"
        )
    weight = converted.projection["weight"]
    projection = torch.nn.Linear(weight.shape[1], weight.shape[0], bias="bias" in converted.projection)
    with torch.no_grad():
        projection.weight.copy_(weight.float())
        if "bias" in converted.projection:
            projection.bias.copy_(converted.projection["bias"].float())
    return unet, vae, encoder, projection


def write_diffusers_folder(unet, vae, image_encoder, projection: torch.nn.Linear, folder: Path) -> None:
    """Save the parts as a diffusers-layout Zero-1-to-3 folder of safetensors (what ``--model DIR`` loads)."""
    from diffusers import DDPMScheduler
    from safetensors.torch import save_file

    from dreamlift.guidance.zero123 import CLIP_MEAN, CLIP_STD

    unet.save_pretrained(folder / "unet", safe_serialization=True)
    vae.save_pretrained(folder / "vae", safe_serialization=True)
    image_encoder.save_pretrained(folder / "image_encoder", safe_serialization=True)
    part = folder / "clip_camera_projection"
    part.mkdir(parents=True, exist_ok=True)
    tensors = {"proj.weight": projection.weight.detach().contiguous()}
    if projection.bias is not None:
        tensors["proj.bias"] = projection.bias.detach().contiguous()
    save_file(tensors, str(part / "diffusion_pytorch_model.safetensors"))
    (part / "config.json").write_text(json.dumps({"_class_name": "CLIPCameraProjection", "embedding_dim": projection.out_features, "additional_embeddings": 4}, indent=2))
    DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False).save_pretrained(folder / "scheduler")
    size = int(image_encoder.config.image_size)
    feature = {"image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD), "size": size, "crop_size": size, "do_resize": True, "do_normalize": True, "resample": 3}
    (folder / "feature_extractor").mkdir(parents=True, exist_ok=True)
    (folder / "feature_extractor" / "preprocessor_config.json").write_text(json.dumps(feature, indent=2))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "Zero1to3StableDiffusionPipeline", "_converted_by": "dreamlift convert"}, indent=2))
