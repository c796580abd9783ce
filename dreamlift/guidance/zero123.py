"""Zero-1-to-3 guidance (arXiv 2303.11328) through diffusers parts: a view-conditioned prior.

Zero-1-to-3 is Stable Diffusion fine-tuned to draw an object from a new camera given
one image of it and the relative pose. The input image conditions it twice:

* **cross-attention**: its CLIP image embedding ``c`` (``CLIPVisionModelWithProjection``
  ``image_embeds``, not normalised), concatenated with the 4-vector pose ``T`` of
  :mod:`dreamlift.guidance.relative_pose` and projected back, ``proj([c, T])``, one token;
* **concatenation**: its VAE latent (the posterior *mean*, **not** multiplied by the
  VAE's scaling factor, as Zero-1-to-3 was trained) stacked on the noisy latent as
  4 more UNet input channels (the UNet takes 8).

**Several input views** (a view table) each condition the model on their own
(embedding, latent and pose relative to *that* view), and the guided predictions are
mixed with the weights of :mod:`dreamlift.guidance.view_weights` (angular closeness to
the training camera times the table's ``weight``, stable-dreamfusion's scheme):
``ε̂ = Σ_v w_v ε̂_v``; views of weight 0 at every camera of a batch are not run.

Classifier-free guidance is on the image: the unconditional branch zeroes both the
projected embedding and the concatenated latent (zero123's ``cond['c_crossattn']``,
``cond['c_concat']``), ``ε̂ = ε_u + s·(ε_c − ε_u)``.

The diffused variable ``x`` is the scaled VAE latent of the render
(``mean · scaling_factor``, deterministic so the SDS gradient has no VAE noise),
rendered or resized to the model's image size (256 for the public checkpoints).

**Model folder** (the diffusers layout of the public conversions, e.g. zero123-xl as
used by threestudio and stable-dreamfusion): ``unet/`` (``UNet2DConditionModel``, 8
input channels), ``vae/`` (``AutoencoderKL``), ``image_encoder/``
(``CLIPVisionModelWithProjection``), ``feature_extractor/`` (its
``preprocessor_config.json``: the normalisation mean and std; optional, CLIP's
otherwise), ``scheduler/`` (its config gives ``alphas_cumprod``; optional, Stable
Diffusion's scaled-linear schedule otherwise), and the pose projection as either

* ``clip_camera_projection/`` (threestudio's ``extern/zero123.py``
  ``CLIPCameraProjection``, a diffusers ``ModelMixin`` with ``config.json`` and one
  ``torch.nn.Linear`` stored under ``proj.``), or
* ``cc_projection/`` (the diffusers community ``pipeline_zero1to3.py``
  ``CCProjection``, the Linear under ``projection.``).

Neither class is imported: the folder's ``*.safetensors`` (or, failing that,
``*.bin`` read with ``torch.load(weights_only=True)``) must hold exactly one 2-D
weight of shape ``(D, D + 4)`` and optionally its bias; a plain ``nn.Linear`` is built
from it. ``model_index.json`` is not needed, so no pipeline code is ever imported.

Stable-Zero123 uses the same parts with a different pose vector
(:class:`~dreamlift.guidance.relative_pose.PoseEmbedding`); ``variant="auto"``
picks it when the model name contains ``stable-zero123`` / ``stable_zero123`` (the
command line prints the choice; ``--variant`` makes it explicit).

**Checkpoints as the authors publish them** (``zero123-xl.ckpt``, ``stable_zero123.ckpt``,
the latent-diffusion layout) load too: ``--model FILE.ckpt`` reads the file with
``torch.load(weights_only=True)`` and maps its keys to the parts above
(:mod:`dreamlift.guidance.zero123_checkpoint`); ``dreamlift convert FILE.ckpt --out DIR``
writes the folder once, so later loads are fast and pickle-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dreamlift.errors import DreamliftError
from dreamlift.guidance._loading import ModelSource, check_components, hub_offline, loading_errors, require_diffusers, resolve_model_source
from dreamlift.guidance.base import Guidance, TimestepSchedule, Weighting, classifier_free_guidance, linear_alphas_cumprod
from dreamlift.guidance.priors import Zero123Config
from dreamlift.guidance.relative_pose import PoseEmbedding, pose_embedding
from dreamlift.guidance.view_weights import conditioning_weights
from dreamlift.guidance.zero123_checkpoint import TRAINED_IMAGE_SIZE, is_checkpoint_file
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.runtime import resolve_device, resolve_dtype

PRIOR_NAME = "Zero-1-to-3"
PROJECTION_FOLDERS = ("clip_camera_projection", "cc_projection")
"""Folder names of the pose projection in the public conversions, in the order tried."""
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
COMPONENTS = ("unet", "vae", "image_encoder")
_LAYOUT = "unet, vae, image_encoder, feature_extractor, clip_camera_projection or cc_projection, scheduler"
_DOWNLOAD_PATTERNS = ["model_index.json", "unet/*", "vae/*", "image_encoder/*", "feature_extractor/*", "scheduler/*"] + [
    f"{name}/*" for name in PROJECTION_FOLDERS
]


@dataclass
class Zero123Model:
    """The loaded parts of a Zero-1-to-3 model (frozen, in eval mode)."""

    unet: nn.Module
    vae: nn.Module
    image_encoder: nn.Module
    projection: nn.Linear
    alphas_cumprod: Tensor
    """``(T,)`` float32 cumulative alphas of the training schedule."""
    clip_size: int
    """Side of the CLIP encoder's input."""
    clip_mean: tuple[float, float, float]
    clip_std: tuple[float, float, float]
    variant: PoseEmbedding
    dtype: torch.dtype

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def image_size(self) -> int:
        """Pixel size the UNet was trained at (``sample_size · vae_scale_factor``)."""
        return int(self.unet.config.sample_size) * self.vae_scale_factor


class Zero123Guidance(Guidance):
    """Score distillation from Zero-1-to-3 given a reference image and its camera."""

    def __init__(self, model: Zero123Model, config: Zero123Config, schedule: TimestepSchedule, device):
        self.model = model
        self.config = config
        self.schedule = schedule
        self.weighting = Weighting(config.weighting)
        self.device = torch.device(device)
        self.alphas_cumprod = model.alphas_cumprod.to(self.device)
        self.resolution = config.render_size or model.image_size
        self.reference_camera: OrbitCameras | None = None
        """``(V,)`` cameras of the input views."""
        self.reference_embedding: Tensor | None = None
        """``(V, 1, D)`` CLIP image embeddings of the input views."""
        self.reference_latent: Tensor | None = None
        """``(V, 4, s, s)`` unscaled VAE latents of the input views."""
        self.reference_weights = torch.ones(1)
        """``(V,)`` the view table's weights."""

    @property
    def image_size(self) -> int:
        return self.model.image_size

    def _resize(self, images_bchw: Tensor, size: int, mode: str = "bilinear") -> Tensor:
        """Resize with Pillow-style (antialiased) filters, as CLIPImageProcessor does."""
        if images_bchw.shape[-2:] == (size, size):
            return images_bchw
        return F.interpolate(images_bchw, size=(size, size), mode=mode, align_corners=False, antialias=True)

    def _pixels(self, images: Tensor) -> Tensor:
        """``(B, H, W, 3)`` in [0, 1] → ``(B, 3, S, S)`` in [−1, 1] at the model's image size."""
        if images.dim() != 4 or images.shape[-1] != 3:
            raise DreamliftError(f"images must have shape (B, H, W, 3), got {tuple(images.shape)}")
        x = images.to(self.device, torch.float32).permute(0, 3, 1, 2)
        return self._resize(x, self.image_size) * 2.0 - 1.0

    def set_reference(self, image_rgb_on_white: Tensor, camera: OrbitCameras) -> None:
        """Embed one reference image ``(1, H, W, 3)`` (over white) once; ``camera`` is its orbit camera."""
        if image_rgb_on_white.dim() == 3:
            image_rgb_on_white = image_rgb_on_white[None]
        if image_rgb_on_white.shape[0] != 1 or len(camera) != 1:
            raise DreamliftError("set_reference takes exactly one reference image and one camera: use set_references for several")
        self.set_references(image_rgb_on_white, camera, torch.ones(1))

    def set_references(self, images_rgb_on_white: Tensor, cameras: OrbitCameras, weights: Tensor) -> None:
        """Embed the input views ``(V, H, W, 3)`` (over white) once, with their cameras ``(V,)`` and table weights ``(V,)``."""
        if images_rgb_on_white.dim() != 4 or images_rgb_on_white.shape[0] != len(cameras) or len(weights) != len(cameras):
            raise DreamliftError("Zero-1-to-3 takes one camera and one weight per reference image")
        model = self.model
        with torch.no_grad():
            x = images_rgb_on_white.to(self.device, torch.float32).permute(0, 3, 1, 2).clamp(0.0, 1.0)
            clip_input = self._resize(x, model.clip_size, mode="bicubic").clamp(0.0, 1.0)
            mean = torch.tensor(model.clip_mean, device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(model.clip_std, device=self.device).view(1, 3, 1, 1)
            clip_input = ((clip_input - mean) / std).to(model.dtype)
            self.reference_embedding = model.image_encoder(pixel_values=clip_input).image_embeds[:, None, :]
            pixels = self._pixels(images_rgb_on_white).to(model.dtype)
            self.reference_latent = model.vae.encode(pixels).latent_dist.mode()  # unscaled, as zero123 trained
        self.reference_camera = cameras.to(self.device)
        self.reference_weights = weights.detach().float().cpu()

    def encode(self, images: Tensor) -> Tensor:
        """Renders ``(B, H, W, 3)`` → scaled VAE latents ``(B, 4, s, s)`` float32, with gradient."""
        model = self.model
        latents = model.vae.encode(self._pixels(images).to(model.dtype)).latent_dist.mode()
        return latents.float() * float(model.vae.config.scaling_factor)

    def camera_embedding(self, cameras: OrbitCameras, view: int = 0) -> Tensor:
        """``(B, 4)`` pose vectors of ``cameras`` relative to the camera of input view ``view``."""
        self._require_reference()
        return pose_embedding(
            self.reference_camera[view], cameras.to(self.device), self.model.variant, self.config.radius_scale
        )

    def conditioning(self, cameras: OrbitCameras, view: int = 0) -> Tensor:
        """``(B, 1, D)`` conditional cross-attention tokens ``proj([c_view, T])``."""
        pose = self.camera_embedding(cameras, view).to(self.model.dtype)
        tokens = self.reference_embedding[view : view + 1].expand(pose.shape[0], -1, -1)
        return self.model.projection(torch.cat([tokens, pose[:, None, :]], dim=-1))

    def view_weights(self, cameras: OrbitCameras) -> Tensor:
        """``(B, V)`` weight of each input view at each camera (:mod:`dreamlift.guidance.view_weights`)."""
        self._require_reference()
        return conditioning_weights(cameras, self.reference_camera.to("cpu"), self.reference_weights)

    def predict_noise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras) -> Tensor:
        """``ε̂ = Σ_v w_v ε̂_v``: each input view's guided prediction, weighted by :meth:`view_weights`.

        One batched UNet call holds the views that weigh anything at some camera of the batch.
        """
        self._require_reference()
        batch = x_t.shape[0]
        if len(cameras) not in (1, batch):
            raise DreamliftError(f"got {len(cameras)} cameras for {batch} images: give one camera per image")
        if len(cameras) == 1 and batch > 1:
            fields = (cameras.elevation, cameras.azimuth, cameras.radius, cameras.fovy)
            cameras = OrbitCameras(*(v.expand(batch) for v in fields))
        model = self.model
        weights = self.view_weights(cameras.to("cpu"))  # (B, V)
        active = [v for v in range(weights.shape[1]) if float(weights[:, v].max()) > 0]
        x_t = x_t.to(self.device, model.dtype)
        timesteps = timesteps.to(self.device)
        conditional = torch.cat([self.conditioning(cameras, v) for v in active])
        latent = torch.cat([self.reference_latent[v : v + 1].expand(batch, -1, -1, -1) for v in active])
        x_all, t_all = x_t.repeat(len(active), 1, 1, 1), timesteps.repeat(len(active))
        if self.config.guidance_scale == 1.0:
            eps = model.unet(torch.cat([x_all, latent], dim=1), t_all, encoder_hidden_states=conditional).sample.float()
        else:
            inputs = torch.cat([torch.cat([x_all, x_all]), torch.cat([torch.zeros_like(latent), latent])], dim=1)
            tokens = torch.cat([torch.zeros_like(conditional), conditional])
            out = model.unet(inputs, torch.cat([t_all, t_all]), encoder_hidden_states=tokens).sample.float()
            eps_uncond, eps_cond = out.chunk(2)
            eps = classifier_free_guidance(eps_uncond, eps_cond, self.config.guidance_scale)
        per_view = eps.reshape(len(active), batch, *eps.shape[1:])
        share = weights[:, active].t().to(per_view.device).reshape(len(active), batch, *([1] * (eps.dim() - 1)))
        return (per_view * share).sum(0)

    def _require_reference(self) -> None:
        if self.reference_embedding is None:
            raise DreamliftError("Zero-1-to-3 guidance has no reference image: call set_reference first")


def build_zero123_guidance(views: list, config: Zero123Config, schedule: TimestepSchedule, device) -> Zero123Guidance:
    """Load the model of ``config`` and embed every input view (``ViewInput`` s: image, camera, weight)."""
    schedule.validate()
    if not config.guidance_scale >= 0.0:
        raise DreamliftError(f"guidance scale must be >= 0, got {config.guidance_scale}")
    if not views:
        raise DreamliftError("Zero-1-to-3 needs at least one input view")
    model = load_zero123_model(config, device)
    guidance = Zero123Guidance(model, config, schedule, device)
    images = torch.stack([v.image.rgb_on_white for v in views])
    guidance.set_references(images, OrbitCameras.cat([v.camera for v in views]), torch.tensor([float(v.weight) for v in views]))
    return guidance


# ----------------------------------------------------------------------------- loading


def resolve_variant(variant: str, model_name: str) -> PoseEmbedding:
    if variant == "auto":
        name = model_name.lower().replace("_", "-")
        return PoseEmbedding.STABLE_ZERO123 if "stable-zero123" in name else PoseEmbedding.ZERO123
    try:
        return PoseEmbedding(variant)
    except ValueError:
        raise DreamliftError(f"unknown Zero-1-to-3 variant {variant!r}: choose auto, zero123 or stable-zero123") from None


def resolve_model_folder(name: str, allow_network: bool) -> Path:
    """A local folder as is; a Hugging Face id from the cache (downloaded only if ``allow_network``).

    Call it inside :func:`~dreamlift.guidance._loading.hub_offline` when the network is off.
    """
    source = resolve_model_source(
        name, prior=PRIOR_NAME, allow_network=allow_network, single_file=False, marker="unet/config.json", layout=_LAYOUT
    )
    if source.kind == "folder":
        return Path(source.location)
    from huggingface_hub import snapshot_download

    with loading_errors(name, PRIOR_NAME):
        return Path(snapshot_download(name, allow_patterns=_DOWNLOAD_PATTERNS, local_files_only=source.local_files_only))


def load_zero123_model(config: Zero123Config, device) -> Zero123Model:
    """Load every part of the model named by ``config`` onto ``device`` (one-line errors; offline unless allowed)."""
    require_diffusers()
    device = resolve_device(device, prefer_gpu=True)
    dtype = resolve_dtype(config.dtype, device)
    variant = resolve_variant(config.variant, config.model)
    if is_checkpoint_file(config.model):
        return load_zero123_checkpoint(config, dtype, device, variant)
    with hub_offline(not config.allow_network):
        folder = resolve_model_folder(config.model, config.allow_network)
        check_components(ModelSource("folder", str(folder)), PRIOR_NAME, COMPONENTS)
        return _load_parts(folder, dtype, device, variant)


def _load_parts(folder: Path, dtype: torch.dtype, device: torch.device, variant: PoseEmbedding) -> Zero123Model:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPVisionModelWithProjection

    def load(part: str, loader):
        with loading_errors(str(folder), PRIOR_NAME, part=part):
            module = loader()
        if any(p.dtype != dtype for p in module.parameters()):
            module = module.to(dtype=dtype)
        return module.to(device=device).eval().requires_grad_(False)

    unet = load(
        "unet", lambda: UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dtype, local_files_only=True)
    )
    vae = load("vae", lambda: AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype, local_files_only=True))
    image_encoder = load(
        "image_encoder", lambda: CLIPVisionModelWithProjection.from_pretrained(folder / "image_encoder", local_files_only=True)
    )
    projection = load("camera_projection", lambda: load_camera_projection(folder))
    clip_mean, clip_std = _clip_preprocessing(folder)
    return _assemble(unet, vae, image_encoder, projection, _alphas_cumprod(folder, DDPMScheduler), clip_mean, clip_std, variant, dtype, folder)


def _assemble(unet, vae, image_encoder, projection, alphas_cumprod, clip_mean, clip_std, variant, dtype, where) -> Zero123Model:
    """A :class:`Zero123Model` of loaded parts, once they are checked to fit together (one-line errors naming ``where``)."""
    if int(unet.config.in_channels) != 8:
        raise DreamliftError(
            f"{where} is not a Zero-1-to-3 model: its unet takes {unet.config.in_channels} input channels, not 8"
        )
    width = projection.out_features
    if int(image_encoder.config.projection_dim) != width or int(unet.config.cross_attention_dim) != width:
        raise DreamliftError(
            f"Zero-1-to-3 model {where} does not fit together: image embeddings {image_encoder.config.projection_dim}, "
            f"camera projection {width}, unet cross-attention {unet.config.cross_attention_dim}"
        )
    clip_size = int(image_encoder.config.image_size)
    return Zero123Model(unet, vae, image_encoder, projection, alphas_cumprod, clip_size, clip_mean, clip_std, variant, dtype)


def load_zero123_checkpoint(config: Zero123Config, dtype: torch.dtype, device: torch.device, variant: PoseEmbedding) -> Zero123Model:
    """A checkpoint in the original latent-diffusion layout (``zero123-xl.ckpt``, ``stable_zero123.ckpt``),
    its keys mapped to the diffusers layout (:mod:`dreamlift.guidance.zero123_checkpoint`)."""
    from dreamlift.guidance.zero123_checkpoint import build_modules, convert_checkpoint, read_state_dict

    path = Path(config.model).expanduser()
    converted = convert_checkpoint(read_state_dict(path), path, config.checkpoint_image_size)
    parts = build_modules(converted, path, config.image_encoder, config.allow_network)
    cast = (lambda m: m) if dtype == torch.float32 else (lambda m: m.to(dtype=dtype))  # built in float32
    unet, vae, image_encoder, projection = (cast(m).to(device=device).eval().requires_grad_(False) for m in parts)
    return _assemble(unet, vae, image_encoder, projection, linear_alphas_cumprod(), CLIP_MEAN, CLIP_STD, variant, dtype, path)


def load_camera_projection(folder: Path) -> nn.Linear:
    """The pose projection ``Linear(D + 4 → D)`` from ``clip_camera_projection/`` or ``cc_projection/``."""
    part = next((folder / name for name in PROJECTION_FOLDERS if (folder / name).is_dir()), None)
    if part is None:
        raise DreamliftError(f"Zero-1-to-3 model {folder} has no clip_camera_projection/ or cc_projection/ folder")
    state = _read_state_dict(part)
    weights = {k: v for k, v in state.items() if k.endswith("weight") and v.dim() == 2}
    if len(weights) != 1:
        raise DreamliftError(f"{part} must hold exactly one linear layer, found {len(weights)} 2-D weights")
    (key, weight), = weights.items()
    out_features, in_features = weight.shape
    if in_features != out_features + 4:
        raise DreamliftError(f"{part} projects {in_features} → {out_features}: expected (D + 4) → D for the 4 pose numbers")
    bias = state.get(key[: -len("weight")] + "bias")
    linear = nn.Linear(in_features, out_features, bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(weight.float())
        if bias is not None:
            linear.bias.copy_(bias.float())
    return linear


def _read_state_dict(part: Path) -> dict[str, Tensor]:
    safetensors_files = sorted(part.glob("*.safetensors"))
    if safetensors_files:
        from safetensors.torch import load_file

        return load_file(str(safetensors_files[0]))
    pickled = sorted([*part.glob("*.bin"), *part.glob("*.pt"), *part.glob("*.pth")])
    if pickled:
        state = torch.load(pickled[0], map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if isinstance(state, dict):
            return {k: v for k, v in state.items() if isinstance(v, Tensor)}
    raise DreamliftError(f"{part} has no weights (*.safetensors or *.bin)")


def _clip_preprocessing(folder: Path) -> tuple[tuple, tuple]:
    """CLIP's normalisation mean and std from ``feature_extractor/preprocessor_config.json`` (CLIP's own if absent).

    The input side is the encoder's ``image_size`` (224 for ViT-L/14): the image is
    resized to it whole, with no crop (Zero-1-to-3's ``FrozenCLIPImageEmbedder``).
    """
    path = folder / "feature_extractor" / "preprocessor_config.json"
    if not path.is_file():
        return CLIP_MEAN, CLIP_STD
    try:
        from dreamlift._limits import read_json

        data = read_json(path)
        mean = tuple(float(v) for v in data.get("image_mean", CLIP_MEAN))
        std = tuple(float(v) for v in data.get("image_std", CLIP_STD))
    except (ValueError, TypeError, AttributeError):
        raise DreamliftError(f"{path} is not a valid CLIP preprocessor config: re-download the model") from None
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise DreamliftError(f"{path} has an invalid mean or std: re-download the model")
    return mean, std


def _alphas_cumprod(folder: Path, scheduler_class) -> Tensor:
    if not (folder / "scheduler").is_dir():
        return linear_alphas_cumprod()
    with loading_errors(str(folder), PRIOR_NAME, part="scheduler"):
        scheduler = scheduler_class.from_pretrained(folder, subfolder="scheduler", local_files_only=True)
    return scheduler.alphas_cumprod.to(torch.float32)
