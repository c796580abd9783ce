"""What the Stable Diffusion and DeepFloyd IF priors share: settings, loading rules, the guided UNet call.

* :class:`DiffusersPriorConfig`: the settings both priors have (each prior's config
  subclasses it and changes defaults).
* :func:`resolve_device`, :func:`resolve_dtype`, :func:`warn_if_cpu`: where and in what
  precision to run.
* :func:`resolve_model_source`: a user's ``--model`` string → a diffusers folder, a single
  ``.safetensors`` file, or a hub id (only from the local cache unless the network is
  allowed), with one-line :class:`~dreamlift.errors.DreamliftError` messages that say
  what to do. :func:`loading_errors` turns failures while loading into such messages.
* :class:`PromptEmbeddings` and :func:`encode_prompt_set`: the negative, plain and four
  view prompts, encoded once in one batch.
* :class:`DiffusersGuidance`: the shared :meth:`predict_noise` (view embeddings per
  camera, classifier-free guidance or Perp-Neg, ε from v-/x₀-prediction, the
  learned-variance channels of IF dropped), CPU offload of the UNet, compile.

The diffusion maths of SDS lives in :mod:`dreamlift.guidance.base`; only the diffusers
parts (UNet, VAE, text encoders, scheduler ᾱ) come from diffusers/transformers.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Iterator

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance, PriorSettings, TimestepSchedule, Weighting, classifier_free_guidance
from dreamlift.guidance.prompts import (
    FRONT,
    SIDE,
    PerpNegSettings,
    ViewSettings,
    blend_embeddings,
    perp_neg_guidance,
    perp_neg_weights,
    view_prompts,
    view_weights,
)
from dreamlift.rendering.cameras import OrbitCameras

INSTALL_HINT = "pip install 'dreamlift[diffusers]'"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")


def require_diffusers() -> None:
    """Import diffusers and transformers, or say how to install them."""
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        raise DreamliftError(f"this prior needs diffusers and transformers ({error.name} is missing): {INSTALL_HINT}") from None


@dataclass
class DiffusersPriorConfig(PriorSettings):
    """Settings shared by the diffusers-based priors (each prior subclasses this with its own defaults)."""

    prefers_gpu: ClassVar[bool] = True

    model: str = ""
    """A diffusers folder (with ``model_index.json``), a single ``.safetensors`` checkpoint (SD only), or a Hugging Face id."""
    dtype: str = "auto"
    """``"fp32"``, ``"fp16"``, ``"bf16"``, or ``"auto"``: bf16 on GPUs that have it, else fp16; fp32 on the CPU."""
    guidance_scale: float = 100.0
    """Classifier-free guidance scale ``s`` in ``ε_u + s·(ε_c − ε_u)``."""
    negative_prompt: str = ""
    """Prompt of the unconditional branch of CFG (empty string: the plain unconditional model)."""
    view_dependent: bool = True
    """Append ", front view" / "side" / "back" / "overhead" to the prompt by camera (DreamFusion)."""
    view_blend: bool = False
    """Blend view embeddings linearly in azimuth (front↔side↔back) instead of picking one."""
    front_half_angle: float = 45.0
    """``|azimuth|`` below this is the front view (when not blending), degrees."""
    back_half_angle: float = 45.0
    """``|azimuth|`` above ``180 −`` this is the back view (when not blending), degrees."""
    overhead_elevation: float = 60.0
    """Elevation above this is the overhead view, degrees."""
    perp_neg: bool = False
    """Perp-Neg against the Janus failure: front/side prompts as perpendicular negatives (needs view_dependent)."""
    perp_neg_weight: float = 2.0
    """Perp-Neg negative weight magnitude (stable-dreamfusion ``--negative_w -2``)."""
    perp_neg_front_decay: float = 2.0
    """Perp-Neg decay of the front negative (stable-dreamfusion ``--front_decay_factor``)."""
    perp_neg_side_decay: float = 10.0
    """Perp-Neg decay of the side negative (stable-dreamfusion ``--side_decay_factor``)."""
    attention: str = "sdpa"
    """``"sdpa"``: diffusers' scaled-dot-product attention (fastest); ``"sliced"``: attention slicing (least memory)."""
    cpu_offload: bool = False
    """Keep the UNet in CPU memory and move it to the GPU only for its forward pass (small GPUs; slower)."""
    compile: bool | None = None
    """``torch.compile`` the UNet (and SD's VAE encoder). None: on CUDA when Triton is installed and cpu_offload is
    off. The first step compiles (about a minute), then an SD step is ~45% faster (H100: 56 → 31 ms,
    bench/guidance_gpu.py). A compile failure in a forward pass falls back to eager with a warning."""
    compile_mode: str = "reduce-overhead"
    """``torch.compile`` mode of the UNet: ``"reduce-overhead"`` (CUDA graphs: fewest kernel launches) or ``"default"``."""
    channels_last: bool = False
    """Channels-last memory layout for the conv nets on CUDA."""
    cudnn_benchmark: bool = True
    """On CUDA, let cuDNN time its convolution algorithms for SDS's fixed shapes (a process-wide setting)."""
    allow_network: bool = False
    """Allow downloads from the Hugging Face hub; otherwise hub ids load from the local cache only (HF_HUB_OFFLINE)."""
    cache_dir: str | None = None
    """Hugging Face cache folder; None for the usual one (HF_HOME / HF_HUB_CACHE)."""
    variant: str | None = None
    """Weight-file variant of a diffusers folder or hub repo, e.g. ``"fp16"``; None for the default files."""
    resolution: int | None = None
    """Square input size of the model in pixels (renders are resized to it); None: the model's own."""

    def validate(self) -> None:
        super().validate()
        if self.dtype.lower() not in (*DTYPES, "auto"):
            raise DreamliftError(f"dtype '{self.dtype}' is not one of auto, fp32, fp16, bf16")
        if self.compile_mode not in ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
            raise DreamliftError(f"compile_mode '{self.compile_mode}' is not one of default, reduce-overhead, max-autotune")
        if self.attention not in ("sdpa", "sliced"):
            raise DreamliftError(f"attention '{self.attention}' is not one of sdpa, sliced")
        if self.compile and self.cpu_offload:
            raise DreamliftError("compile and cpu_offload do not go together (compiled graphs pin the UNet on the GPU): turn one off")
        if self.perp_neg and not self.view_dependent:
            raise DreamliftError("perp_neg needs view-dependent prompts: turn view_dependent on or perp_neg off")
        if not self.guidance_scale >= 0:
            raise DreamliftError(f"guidance_scale must be >= 0, got {self.guidance_scale}")
        if self.resolution is not None and self.resolution < 8:
            raise DreamliftError(f"resolution {self.resolution} is too small: give at least 8 pixels (or leave it unset)")


# --------------------------------------------------------------------------- device, dtype


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → the GPU if there is one, else the CPU; an unavailable CUDA device is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DreamliftError("a CUDA device was asked for but PyTorch sees no GPU: install a CUDA build of torch or run on the CPU")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype for a config's ``dtype`` on ``device`` (fp16 on the CPU falls back to fp32 with a warning)."""
    name = name.lower()
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if name not in DTYPES:
        raise DreamliftError(f"dtype '{name}' is not one of auto, fp32, fp16, bf16")
    if name == "fp16" and device.type == "cpu":
        warnings.warn("fp16 is slow and partly unsupported on the CPU: using fp32 (bf16 also works there)", RuntimeWarning, stacklevel=3)
        return torch.float32
    return DTYPES[name]


def warn_if_cpu(device: torch.device, prior: str, per_step: str) -> None:
    """A speed warning (not an error) when a full-size prior runs without a GPU."""
    if device.type != "cuda":
        warnings.warn(
            f"{prior} guidance is running on the CPU: with a full-size model one step takes {per_step}, "
            f"so a run of thousands of steps takes days; use a CUDA GPU for real runs (or --prior toy)",
            RuntimeWarning,
            stacklevel=3,
        )


def should_compile(config: DiffusersPriorConfig, device: torch.device) -> bool:
    """``config.compile``, or when it is None: on CUDA with Triton installed and no CPU offload."""
    if config.compile is not None:
        return bool(config.compile)
    import importlib.util

    return device.type == "cuda" and not config.cpu_offload and importlib.util.find_spec("triton") is not None


class CompiledWithFallback:
    """A ``torch.compile``-d module that turns back into the eager one, with a warning, if a compiled call fails."""

    def __init__(self, module: torch.nn.Module, **compile_options):
        self.eager = module
        self.compiled = torch.compile(module, **compile_options)
        self.failed = False

    def __call__(self, *args, **kwargs):
        if not self.failed:
            try:
                return self.compiled(*args, **kwargs)
            except torch.cuda.OutOfMemoryError:
                raise
            except Exception as error:  # noqa: BLE001 - any compiler failure: run eagerly instead
                self.failed = True
                warnings.warn(
                    f"torch.compile of {type(self.eager).__name__} failed ({type(error).__name__}: {str(error)[:120]}); running it uncompiled",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self.eager(*args, **kwargs)


def free_memory(device: torch.device) -> None:
    """Return freed tensors' memory (after dropping a text encoder)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


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


_OFFLINE_SET_HERE = False


def _set_offline(offline: bool) -> None:
    """Set ``HF_HUB_OFFLINE=1`` when the network is not allowed (and undo only what this module set)."""
    global _OFFLINE_SET_HERE
    if offline and os.environ.get("HF_HUB_OFFLINE") != "1":
        os.environ["HF_HUB_OFFLINE"] = "1"
        _OFFLINE_SET_HERE = True
    elif not offline and _OFFLINE_SET_HERE:
        os.environ.pop("HF_HUB_OFFLINE", None)
        _OFFLINE_SET_HERE = False


def _is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and (path / "model_index.json").is_file()


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
) -> ModelSource:
    """Classify ``model`` and check it can be loaded; every problem is a one-line DreamliftError.

    Without ``allow_network`` a hub id must already be in the Hugging Face cache, and
    ``HF_HUB_OFFLINE=1`` is set for the process.
    """
    accepted = "a diffusers folder (with model_index.json)" + (", a .safetensors file" if single_file else "") + " or a Hugging Face model id"
    if not model or not model.strip():
        raise DreamliftError(f"no model given for {prior}: pass --model with {accepted}")
    model = model.strip()
    _set_offline(not allow_network)
    path = Path(model).expanduser()
    if path.is_dir():
        if not _is_diffusers_folder(path):
            raise DreamliftError(
                f"folder {model} has no model_index.json, so it is not a diffusers model folder: "
                f"give the folder that save_pretrained wrote (model_index.json, unet/, scheduler/, ...)"
            )
        return ModelSource("folder", str(path))
    if path.is_file():
        if not single_file:
            raise DreamliftError(f"{prior} loads from a diffusers folder or a hub id, not a single file: give the folder with model_index.json")
        if path.suffix.lower() != ".safetensors":
            raise DreamliftError(
                f"{model} is not a .safetensors file: convert the checkpoint to safetensors (pickled checkpoints are not loaded) or give a diffusers folder"
            )
        if config_folder is not None:
            config_path = Path(config_folder).expanduser()
            if not _is_diffusers_folder(config_path):
                raise DreamliftError(
                    f"model config {config_folder} is not a diffusers folder with model_index.json: give the folder of the same model type as the single file"
                )
            return ModelSource("single_file", str(path), str(config_path), True)
        if _is_diffusers_folder(path.parent):
            return ModelSource("single_file", str(path), str(path.parent), True)
        return ModelSource("single_file", str(path), None, not allow_network)
    if _looks_like_path(model) or not _HUB_ID.match(model):
        raise DreamliftError(f"model path {model} does not exist: give {accepted}")
    return _resolve_hub_id(model, prior=prior, allow_network=allow_network, cache_dir=cache_dir, gated_prefixes=gated_prefixes)


def _resolve_hub_id(model: str, *, prior: str, allow_network: bool, cache_dir: str | None, gated_prefixes: tuple[str, ...]) -> ModelSource:
    import huggingface_hub

    if not allow_network:
        cached = huggingface_hub.try_to_load_from_cache(model, "model_index.json", cache_dir=cache_dir)
        if not isinstance(cached, str):
            raise DreamliftError(
                f"'{model}' is not a local path and not in the Hugging Face cache, and network access is off: "
                f"download it once (hf download {model}), allow the network (--allow-network), or give a local diffusers folder"
            )
        return ModelSource("hub", model, None, True)
    if model.startswith(gated_prefixes) and huggingface_hub.get_token() is None:
        raise DreamliftError(gated_message(model))
    return ModelSource("hub", model, None, False)


def gated_message(model: str) -> str:
    return (
        f"{model} is a gated model: accept its licence at https://huggingface.co/{model} "
        f"and log in (hf auth login) or set HF_TOKEN, then run again"
    )


@contextlib.contextmanager
def loading_errors(model: str, prior: str) -> Iterator[None]:
    """Turn hub and loading failures into one-line DreamliftErrors."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        yield
    except DreamliftError:
        raise
    except GatedRepoError:
        raise DreamliftError(gated_message(model)) from None
    except RepositoryNotFoundError:
        raise DreamliftError(f"no model '{model}' on the Hugging Face hub (or it is private: log in with hf auth login)") from None
    except ImportError as error:
        raise DreamliftError(f"loading {prior} needs another package ({error}): {INSTALL_HINT}") from None
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        text = " ".join(str(error).split())
        if "gated" in text.lower():
            raise DreamliftError(gated_message(model)) from None
        raise DreamliftError(f"could not load {prior} from {model}: {text[:300]}") from error


def read_model_index(folder: str) -> dict:
    """The ``model_index.json`` of a local diffusers folder."""
    return json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))


def check_components(source: ModelSource, prior: str, required: tuple[str, ...], pipeline_names: tuple[str, ...]) -> None:
    """For a local folder: the pipeline class is one this prior reads and every component folder exists."""
    if source.kind != "folder":
        return
    index = read_model_index(source.location)
    name = index.get("_class_name", "?")
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


# --------------------------------------------------------------------------- text embeddings


@dataclass
class PromptEmbeddings:
    """Text embeddings of one run, on the device in the model's dtype."""

    uncond: Tensor
    """``(L, D)``: the negative prompt (the unconditional branch of CFG)."""
    plain: Tensor
    """``(L, D)``: the prompt as given."""
    views: Tensor
    """``(4, L, D)``: the prompt with ", front/side/back/overhead view" (prompts.VIEWS order)."""


def encode_prompt_set(prompt: str, negative_prompt: str, encode: Callable[[list[str]], Tensor]) -> PromptEmbeddings:
    """Encode negative, plain and the four view prompts in one batch with ``encode(texts) -> (N, L, D)``."""
    if not prompt or not prompt.strip():
        raise DreamliftError("the prompt is empty: give a text such as \"a hamburger\"")
    texts = [negative_prompt, prompt.strip(), *view_prompts(prompt)]
    with torch.no_grad():
        out = encode(texts)
    return PromptEmbeddings(uncond=out[0], plain=out[1], views=out[2:6])


@dataclass
class LoadedParts:
    """The diffusers/transformers components a prior was loaded from."""

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


def embed_and_release(
    parts: LoadedParts, prompt: str, negative_prompt: str, device: torch.device, *, max_length: int, attention_mask: bool
) -> tuple[PromptEmbeddings, Callable[[], object], int]:
    """Encode the run's prompts once on ``device``, then drop the text encoder and free its memory.

    Returns the embeddings, a weak reference to the encoder (it gives None once freed)
    and how many batches the encoder ran.
    """
    encoder = parts.text_encoder.to(device).requires_grad_(False).eval()
    tokenizer = parts.tokenizer
    parts.text_encoder = None
    calls = 0

    def encode(texts: list[str]) -> Tensor:
        nonlocal calls
        calls += 1
        tokens = tokenizer(texts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt")
        extra = {"attention_mask": tokens.attention_mask.to(device)} if attention_mask else {}
        return encoder(tokens.input_ids.to(device), **extra)[0]

    embeddings = encode_prompt_set(prompt, negative_prompt, encode)
    reference = weakref.ref(encoder)
    del encoder, encode
    free_memory(device)
    return embeddings, reference, calls


# --------------------------------------------------------------------------- ε from the model's output


def epsilon_from_prediction(output: Tensor, x_t: Tensor, alphas_cumprod_t: Tensor, prediction_type: str) -> Tensor:
    """The noise ``ε`` from a model output of type ``epsilon``, ``v_prediction`` or ``sample`` (x₀).

    With ``x_t = √ᾱ·x₀ + √(1−ᾱ)·ε`` and ``v = √ᾱ·ε − √(1−ᾱ)·x₀``: ``ε = √ᾱ·v + √(1−ᾱ)·x_t``
    and ``ε = (x_t − √ᾱ·x₀)/√(1−ᾱ)``.
    """
    if prediction_type == "epsilon":
        return output
    a = alphas_cumprod_t.to(output.dtype).reshape((-1,) + (1,) * (output.dim() - 1))
    if prediction_type == "v_prediction":
        return a.sqrt() * output + (1.0 - a).sqrt() * x_t
    if prediction_type == "sample":
        return (x_t - a.sqrt() * output) / (1.0 - a).sqrt().clamp_min(1e-6)
    raise DreamliftError(f"the model's scheduler has prediction_type '{prediction_type}', which dreamlift does not support")


# --------------------------------------------------------------------------- the shared guidance


class DiffusersGuidance(Guidance):
    """Shared :meth:`predict_noise` for text-conditioned diffusers UNets (SD latents, IF pixels).

    Subclasses load their parts and implement :meth:`encode`. Embeddings are computed
    once, before construction (``text_encoder_calls``: the encoder's batches, 0 when embeddings were given).
    """

    def __init__(
        self,
        *,
        unet: torch.nn.Module,
        scheduler,
        embeddings: PromptEmbeddings,
        config: DiffusersPriorConfig,
        schedule: TimestepSchedule,
        device: torch.device,
        dtype: torch.dtype,
        text_encoder_calls: int = 0,
        text_encoder_ref: Callable[[], object] | None = None,
    ):
        self.device = device
        self.dtype = dtype
        self.config = config
        self.schedule = schedule
        self.weighting = Weighting(config.weighting)
        self.guidance_scale = float(config.guidance_scale)
        self.alphas_cumprod = scheduler.alphas_cumprod.detach().float().to(device)
        self.prediction_type = scheduler.config.prediction_type
        self.embeddings = embeddings
        self.text_encoder_calls = text_encoder_calls
        #: A weak reference to the text encoder, which is released after encoding: calling it gives None.
        self.text_encoder_ref = text_encoder_ref or (lambda: None)
        self.unet_config = unet.config
        self.views = ViewSettings(
            front_half_angle=config.front_half_angle,
            back_half_angle=config.back_half_angle,
            overhead_elevation=config.overhead_elevation,
            blend=config.view_blend or config.perp_neg,  # Perp-Neg always interpolates its positive (stable-dreamfusion)
        )
        self.perp_neg = (
            PerpNegSettings(config.perp_neg_weight, config.perp_neg_front_decay, config.perp_neg_side_decay) if config.perp_neg else None
        )
        self.compiled = should_compile(config, device)
        self.unet = self._prepare_unet(unet)
        self._unet_call = CompiledWithFallback(self.unet, mode=config.compile_mode) if self.compiled else self.unet
        self.unet_calls = 0

    # -- set-up

    def _input_size(self, pixels_per_sample: int) -> int:
        """The render size the model takes: ``config.resolution``, else the UNet's sample size times
        ``pixels_per_sample`` (1 for pixel models, the VAE's factor for latent ones); a size the UNet
        cannot halve down to its last block is a one-line error."""
        size = int(self.config.resolution or self.unet_config.sample_size * pixels_per_sample)
        multiple = pixels_per_sample * 2 ** (len(self.unet_config.block_out_channels) - 1)
        if size % multiple:
            raise DreamliftError(f"resolution {size} does not suit this model: give a multiple of {multiple}")
        return size

    def _prepare_unet(self, unet: torch.nn.Module) -> torch.nn.Module:
        unet.requires_grad_(False).eval()
        if self.config.attention == "sliced":
            unet.set_attention_slice("auto")
        if self.config.channels_last and self.device.type == "cuda":
            unet.to(memory_format=torch.channels_last)
        unet.to("cpu" if self.config.cpu_offload else self.device)
        if self.device.type == "cuda" and self.config.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        return unet

    @contextlib.contextmanager
    def _unet_on_device(self) -> Iterator[None]:
        """With cpu_offload, the UNet visits the GPU only for its forward pass."""
        if not self.config.cpu_offload:
            yield
            return
        self.unet.to(self.device)
        try:
            yield
        finally:
            self.unet.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    # -- prediction

    def positive_embeddings(self, cameras: OrbitCameras) -> Tensor:
        """``(B, L, D)`` conditional embeddings for the cameras (view-weighted or plain)."""
        batch = len(cameras)
        if not self.config.view_dependent:
            return self.embeddings.plain.expand(batch, -1, -1)
        weights = view_weights(cameras.elevation, cameras.azimuth, self.views)
        return blend_embeddings(weights, self.embeddings.views)

    def unet_epsilon(self, x_t: Tensor, timesteps: Tensor, hidden: Tensor) -> Tensor:
        """One batched UNet call → fp32 ``ε`` in the shape of ``x_t``."""
        channels = x_t.shape[1]
        model_in = x_t.to(self.dtype)
        if self.config.channels_last and self.device.type == "cuda":
            model_in = model_in.contiguous(memory_format=torch.channels_last)
        with self._unet_on_device():
            output = self._unet_call(model_in, timesteps, encoder_hidden_states=hidden.to(self.dtype)).sample
        if self.compiled:
            output = output.clone()  # CUDA-graph outputs are overwritten by the next replay
        self.unet_calls += 1
        if output.shape[1] == 2 * channels:  # learned variance (IF): the first half is ε
            output = output[:, :channels]
        a = self.alphas_cumprod[timesteps]
        return epsilon_from_prediction(output.float(), x_t.float(), a, self.prediction_type)

    def predict_noise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras) -> Tensor:
        batch = x_t.shape[0]
        if len(cameras) != batch:
            raise ValueError(f"{len(cameras)} cameras for a batch of {batch} images")
        cameras = cameras.to(self.device)
        positive = self.positive_embeddings(cameras)
        hidden = [self.embeddings.uncond.expand(batch, -1, -1), positive]
        if self.perp_neg is not None:
            hidden += [self.embeddings.views[FRONT].expand(batch, -1, -1), self.embeddings.views[SIDE].expand(batch, -1, -1)]
        branches = len(hidden)
        x_in = x_t.repeat((branches,) + (1,) * (x_t.dim() - 1))
        eps = self.unet_epsilon(x_in, timesteps.repeat(branches), torch.cat(hidden)).chunk(branches)
        if self.perp_neg is None:
            return classifier_free_guidance(eps[0], eps[1], self.guidance_scale)
        weights = perp_neg_weights(cameras.azimuth, self.perp_neg)
        return perp_neg_guidance(eps[0], eps[1], torch.stack(eps[2:]), weights, self.guidance_scale)


def resize_renders(images: Tensor, size: int, device: torch.device) -> Tensor:
    """``(B, H, W, 3)`` in [0, 1] → ``(B, 3, size, size)`` in [−1, 1], bilinear, differentiable."""
    if images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"renders must be (B, H, W, 3), got {tuple(images.shape)}")
    x = images.to(device).permute(0, 3, 1, 2)
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x * 2.0 - 1.0
