"""``dreamlift convert CHECKPOINT --out DIR``: a Zero-1-to-3 checkpoint in the original layout → a diffusers folder.

Reads ``zero123-xl.ckpt`` / ``stable_zero123.ckpt`` (or any Zero-1-to-3 checkpoint of the
latent-diffusion code base) with ``torch.load(weights_only=True)``, maps its keys to the
diffusers layout (:mod:`dreamlift.guidance.zero123_checkpoint`) and writes ``DIR`` with
``unet/``, ``vae/``, ``image_encoder/``, ``clip_camera_projection/`` (safetensors),
``scheduler/`` and ``feature_extractor/``: what ``--model DIR`` loads, fast and pickle-free.
``DIR`` appears whole or not at all (written next to it under a temporary name, then renamed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dreamlift.errors import DreamliftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="the .ckpt file (zero123-xl.ckpt, stable_zero123.ckpt)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write (must not exist yet)")
    parser.add_argument("--image-encoder", default="", help="CLIP image encoder folder or hub id, for a checkpoint without one")
    parser.add_argument("--image-size", type=int, default=None, help="image size the model was trained at (default 256)")
    parser.add_argument("--allow-network", action="store_true", help="let --image-encoder be downloaded from the Hugging Face hub")


def run(args: argparse.Namespace) -> int:
    from dreamlift._atomic import atomic_folder
    from dreamlift.guidance._loading import require_diffusers
    from dreamlift.guidance.zero123_checkpoint import TRAINED_IMAGE_SIZE, build_modules, convert_checkpoint, read_state_dict, write_diffusers_folder

    out = args.out.expanduser()
    if out.exists():
        raise DreamliftError(f"--out {out} already exists: choose a new folder (convert never writes over one)")
    size = TRAINED_IMAGE_SIZE if args.image_size is None else args.image_size
    if size < 8 or size % 8:
        raise DreamliftError(f"--image-size {size} is not a multiple of 8 of at least 8")
    require_diffusers()
    path = args.checkpoint.expanduser()
    converted = convert_checkpoint(read_state_dict(path), path, size)
    unet, vae, encoder, projection = build_modules(converted, path, args.image_encoder, args.allow_network)
    with atomic_folder(out) as folder:
        write_diffusers_folder(unet, vae, encoder, projection, folder)
    print(f"{out}: Zero-1-to-3 in the diffusers layout (unet, vae, image_encoder, clip_camera_projection, scheduler); load it with --model {out}")
    return 0
