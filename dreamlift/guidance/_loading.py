"""Finding and loading a diffusers prior's weights (Stable Diffusion, DeepFloyd IF, Zero-1-to-3).

* :func:`resolve_model_source`: a user's ``--model`` string → a diffusers folder, a single
  ``.safetensors`` file, or a hub id (only from the local cache unless the network is
  allowed), with one-line :class:`~dreamlift.errors.DreamliftError` messages that say what to do.
* :func:`hub_offline`: Hugging Face offline mode for the duration of a load, restored after.
* :func:`loading_errors`: failures while loading → such one-line messages.
* :func:`check_components`, :func:`load_folder_parts`: a folder's parts, checked and loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from dreamlift.errors import DreamliftError
from dreamlift.hub import INSTALL_HINT, gated_message, hub_offline, loading_errors  # noqa: F401 (the guidance modules load through these)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")
_DIFFUSERS_LAYOUT = "model_index.json, unet/, scheduler/, ..."


def require_diffusers() -> None:
    """Import diffusers and transformers, or say how to install them."""
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        raise DreamliftError(f"this prior needs diffusers and transformers ({error.name} is missing): {INSTALL_HINT}") from None


# --------------------------------------------------------------------------- where the weights are


@dataclass
class ModelSource:
    """Where a model's weights come from."""

    kind: str
    """``"folder"`` (diffusers layout), ``"single_file"`` (one .safetensors) or ``"hub"`` (a Hugging Face id)."""
    location: str
    """The folder, the file, or the hub id."""
    config_folder: str | None = None
    """For a single file: the local diffusers folder that supplies the component configs."""
    local_files_only: bool = True
    """Whether loading may touch the network."""


def _has_marker(path: Path, marker: str) -> bool:
    return path.is_dir() and (path / marker).is_file()


def _looks_like_path(text: str) -> bool:
    path = Path(text)
    return (
        path.is_absolute()
        or text.startswith((".", "~"))
        or "\\" in text
        or path.suffix.lower() in (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
        or text.count("/") != 1
    )


def resolve_model_source(
    model: str,
    *,
    prior: str,
    allow_network: bool,
    cache_dir: str | None = None,
    config_folder: str | None = None,
    single_file: bool = True,
    gated_prefixes: tuple[str, ...] = (),
    marker: str = "model_index.json",
    layout: str = _DIFFUSERS_LAYOUT,
) -> ModelSource:
    """Classify ``model`` and check it can be loaded; every problem is a one-line DreamliftError.

    ``marker`` is the file that makes a folder (or a cached hub snapshot) a model of this
    prior; ``layout`` describes the folder in messages. Without ``allow_network`` a hub id
    must already be in the Hugging Face cache (load it inside :func:`hub_offline`).
    """
    accepted = f"a diffusers folder (with {marker})" + (", a .safetensors file" if single_file else "") + " or a Hugging Face model id"
    if not model or not model.strip():
        raise DreamliftError(f"no model given for {prior}: pass --model with {accepted}")
    model = model.strip()
    from dreamlift.models import bundled_folder

    bundled = bundled_folder(model)  # a model shipped in the package (dreamlift/toy-sd), never downloaded
    path = Path(model).expanduser() if bundled is None else bundled
    if path.is_dir():
        if not _has_marker(path, marker):
            raise DreamliftError(
                f"folder {model} has no {marker}, so it is not a {prior} model folder in the diffusers layout: "
                f"give the folder that save_pretrained wrote ({layout})"
            )
        return ModelSource("folder", str(path))
    if path.is_file():
        if not single_file:
            raise DreamliftError(f"{prior} loads from a diffusers folder or a hub id, not a single file: give the folder with {marker}")
        return _single_file_source(path, model, config_folder, allow_network)
    if _looks_like_path(model) or not _HUB_ID.match(model):
        raise DreamliftError(f"model path {model} does not exist: give {accepted}")
    return _resolve_hub_id(model, allow_network=allow_network, cache_dir=cache_dir, gated_prefixes=gated_prefixes, marker=marker)


def _single_file_source(path: Path, model: str, config_folder: str | None, allow_network: bool) -> ModelSource:
    if path.suffix.lower() != ".safetensors":
        raise DreamliftError(
            f"{model} is not a .safetensors file: convert the checkpoint to safetensors (pickled checkpoints are not loaded) or give a diffusers folder"
        )
    if config_folder is not None:
        config_path = Path(config_folder).expanduser()
        if not _has_marker(config_path, "model_index.json"):
            raise DreamliftError(
                f"model config {config_folder} is not a diffusers folder with model_index.json: give the folder of the same model type as the single file"
            )
        return ModelSource("single_file", str(path), str(config_path), True)
    if _has_marker(path.parent, "model_index.json"):
        return ModelSource("single_file", str(path), str(path.parent), True)
    return ModelSource("single_file", str(path), None, not allow_network)


def _resolve_hub_id(model: str, *, allow_network: bool, cache_dir: str | None, gated_prefixes: tuple[str, ...], marker: str) -> ModelSource:
    import huggingface_hub

    if not allow_network:
        cached = huggingface_hub.try_to_load_from_cache(model, marker, cache_dir=cache_dir)
        if not isinstance(cached, str):
            raise DreamliftError(
                f"'{model}' is not a local path and not in the Hugging Face cache, and network access is off: "
                f"download it once (hf download {model}), allow the network (--allow-network), or give a local diffusers folder"
            )
        return ModelSource("hub", model, None, True)
    if model.startswith(gated_prefixes) and huggingface_hub.get_token() is None:
        raise DreamliftError(gated_message(model))
    return ModelSource("hub", model, None, False)


# --------------------------------------------------------------------------- a folder's parts


def read_model_index(folder: str) -> dict:
    """The ``model_index.json`` of a local diffusers folder."""
    from dreamlift._limits import read_json

    return read_json(Path(folder) / "model_index.json")  # 1 MiB, 64 levels at most


def check_components(source: ModelSource, prior: str, required: tuple[str, ...], pipeline_names: tuple[str, ...] = ()) -> None:
    """For a local folder: every ``required`` component folder exists and, with ``pipeline_names``,
    ``model_index.json`` names a pipeline class this prior reads."""
    if source.kind != "folder":
        return
    if pipeline_names:
        name = read_model_index(source.location).get("_class_name", "?")
        if name not in pipeline_names:
            raise DreamliftError(f"{source.location} holds a {name}, not a {' or '.join(pipeline_names)}: give a {prior} model folder")
    for part in required:
        if not (Path(source.location) / part).is_dir():
            raise DreamliftError(f"model folder {source.location} has no {part}/ folder: it is incomplete; save or download the whole pipeline")


def pretrained_kwargs(source: ModelSource, cache_dir: str | None) -> dict:
    return {"local_files_only": source.local_files_only, "cache_dir": cache_dir}


def transformers_dtype(dtype: torch.dtype) -> dict:
    """The dtype keyword of transformers' ``from_pretrained`` (``dtype`` since 4.56, ``torch_dtype`` before)."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


@dataclass
class LoadedParts:
    """The diffusers/transformers components a text prior was loaded from."""

    unet: torch.nn.Module
    scheduler: object
    tokenizer: object
    text_encoder: torch.nn.Module | None
    vae: torch.nn.Module | None = None


def load_folder_parts(source: ModelSource, config, dtype: torch.dtype, text_encoder_class, vae: bool) -> LoadedParts:
    """UNet, text encoder (``text_encoder_class``), tokenizer, DDPM scheduler and, with ``vae``, the VAE
    of the diffusers folder or hub id ``source`` (``config`` gives ``variant`` and ``cache_dir``)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer

    common = pretrained_kwargs(source, config.cache_dir)
    where = source.location
    unet = UNet2DConditionModel.from_pretrained(where, subfolder="unet", torch_dtype=dtype, variant=config.variant, **common)
    autoencoder = AutoencoderKL.from_pretrained(where, subfolder="vae", torch_dtype=dtype, variant=config.variant, **common) if vae else None
    text_encoder = text_encoder_class.from_pretrained(where, subfolder="text_encoder", variant=config.variant, **transformers_dtype(dtype), **common)
    tokenizer = AutoTokenizer.from_pretrained(where, subfolder="tokenizer", **common)
    scheduler = DDPMScheduler.from_pretrained(where, subfolder="scheduler", **common)
    return LoadedParts(unet, scheduler, tokenizer, text_encoder, autoencoder)


TINY_VAE_LAYOUT = "config.json of an AutoencoderTiny and its diffusion_pytorch_model.safetensors, as save_pretrained writes them"


def load_tiny_vae(model: str, prior: str, config, dtype: torch.dtype) -> torch.nn.Module:
    """The ``AutoencoderTiny`` (TAESD) of the folder or hub id ``model`` (``config`` gives ``allow_network``
    and ``cache_dir``); loaded offline unless the network is allowed, every problem a one-line error."""
    from diffusers import AutoencoderTiny

    what = f"{prior} tiny VAE"
    source = resolve_model_source(
        model, prior=what, allow_network=config.allow_network, cache_dir=config.cache_dir,
        single_file=False, marker="config.json", layout=TINY_VAE_LAYOUT,
    )
    if source.kind == "folder":
        try:
            from dreamlift._limits import read_json

            name = read_json(Path(source.location) / "config.json").get("_class_name", "?")
        except (OSError, ValueError, AttributeError, DreamliftError):
            name = "?"
        if name != "AutoencoderTiny":
            raise DreamliftError(f"tiny_vae {model} holds a {name}, not an AutoencoderTiny: give a TAESD folder (e.g. madebyollin/taesd)")
    with hub_offline(source.local_files_only), loading_errors(model, what):
        return AutoencoderTiny.from_pretrained(source.location, torch_dtype=dtype, **pretrained_kwargs(source, config.cache_dir))
