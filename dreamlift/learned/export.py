"""The final model folder of a learned prior, in the layout of the real checkpoints.

* ``text``: Stable Diffusion's diffusers folder, written by ``StableDiffusionPipeline.save_pretrained``
  (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``;
  no safety checker), so ``StableDiffusionPipeline.from_pretrained`` and
  ``--prior stable-diffusion --model DIR`` read it.
* ``view``: Zero-1-to-3's diffusers folder, written by
  :func:`dreamlift.guidance.zero123_checkpoint.write_diffusers_folder` (what ``dreamlift convert``
  writes: ``unet/``, ``vae/``, ``image_encoder/``, ``clip_camera_projection/``, ``scheduler/``,
  ``feature_extractor/``), so ``--prior zero123 --model DIR`` reads it.

The folder is saved under a temporary name beside ``DIR`` and renamed: it appears whole
or not at all. An existing ``DIR`` (a training extended with more steps) is replaced.
:func:`write_vae` writes a trained VAE alone the same way, as soon as its phase ends.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from dreamlift.learned.models import Components, sampling_scheduler


def _write_text_model(components: Components, folder: Path) -> None:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=components.vae, text_encoder=components.text_encoder, tokenizer=components.tokenizer, unet=components.unet,
        scheduler=sampling_scheduler(), safety_checker=None, feature_extractor=None, image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder), safe_serialization=True)


def _write_view_model(components: Components, folder: Path) -> None:
    from dreamlift.guidance.zero123_checkpoint import write_diffusers_folder

    write_diffusers_folder(components.unet, components.vae, components.image_encoder, components.projection, folder)
    index = {"_class_name": "Zero1to3StableDiffusionPipeline", "_trained_by": "dreamlift train-prior view"}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


def _staged(target: Path, write) -> Path:
    """``write(folder)`` into a complete staging folder beside ``target``; returns it (not yet renamed)."""
    from dreamlift._atomic import atomic_folder

    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)  # left by a crash during an earlier save
    with atomic_folder(staging) as folder:
        write(folder)
    return staging


def write_model(kind: str, components: Components, target: Path) -> Path:
    """Save ``components`` as a ``kind`` (``text``/``view``) model folder at ``target``, atomically."""
    writer = _write_text_model if kind == "text" else _write_view_model
    staging = _staged(target, lambda folder: writer(components, folder))
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
    return target


def write_vae(vae, target: Path) -> Path:
    """Save the ``AutoencoderKL`` ``vae`` (scaling factor included) as a diffusers folder at ``target``, atomically."""
    os.replace(_staged(target, lambda folder: vae.save_pretrained(str(folder), safe_serialization=True)), target)
    return target
