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
:func:`write_half_copy` writes the shipped copy: the same folder with every float32 weight in float16
(what ``dreamlift/models/`` holds; the loaders read it back into the run's dtype).
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
    from dreamlift.hub import progress_bars_off

    writer = _write_text_model if kind == "text" else _write_view_model
    with progress_bars_off(True):  # transformers' "Writing model shards" bar: train-prior prints its own lines
        _replace(_staged(target, lambda folder: writer(components, folder)), target)
    return target


def _halve_weights(source: Path, folder: Path) -> None:
    """Copy the model folder ``source`` into ``folder`` with the float32 tensors of its safetensors files in float16."""
    import torch
    from safetensors.torch import load_file, save_file

    for path in sorted(source.rglob("*")):
        copy = folder / path.relative_to(source)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
        elif path.suffix == ".safetensors":
            tensors = load_file(str(path))
            halved = {name: t.half() if t.dtype == torch.float32 else t for name, t in tensors.items()}
            save_file(halved, str(copy), metadata={"format": "pt"})
        elif path.name == "config.json" and "torch_dtype" in (config := json.loads(path.read_text(encoding="utf-8"))):
            config["torch_dtype"] = "float16"  # transformers' record of the saved weights' dtype
            copy.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        else:
            shutil.copy2(path, copy)


def write_half_copy(source: Path, target: Path) -> Path:
    """The model folder ``source`` as float16 weights at ``target`` (written atomically, replacing an older one)."""
    _replace(_staged(target, lambda folder: _halve_weights(source, folder)), target)
    return target


def _replace(staging: Path, target: Path) -> None:
    """Rename the finished ``staging`` folder to ``target``, moving an existing ``target`` aside first."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def write_vae(vae, target: Path) -> Path:
    """Save the ``AutoencoderKL`` ``vae`` (scaling factor included) as a diffusers folder at ``target``, atomically."""
    os.replace(_staged(target, lambda folder: vae.save_pretrained(str(folder), safe_serialization=True)), target)
    return target
