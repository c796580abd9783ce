"""The bundled text prior: the *exact* denoiser of the toy world.

What it is, honestly: a memory of the toy world, not a learned model. For a caption
it holds a finite set of renders ``{x_i}`` of that object (TOYWORLD.md's cameras and
lights, made on first use and cached on disk). For that finite set the
posterior-mean denoiser is known in closed form,

    x̂0(x_t) = Σ_i softmax_i(−‖x_t − √ᾱ_t·x_i‖² / 2(1 − ᾱ_t)) · x_i,
    ε̂ = (x_t − √ᾱ_t·x̂0) / √(1 − ᾱ_t),

which is the true score of that distribution, with no training. Only renders whose
camera azimuth lies within ``azimuth_window`` degrees of the training camera's take
part (a view-conditioned set: far sharper than three view-dependent captions), and
optionally only those within ``elevation_window``. Classifier-free guidance, when
``guidance_scale != 1``, uses an unconditional set of all toy objects.

It runs anywhere and lets the pipeline be *measured* against ground truth; real
prompts need a real prior (``--prior stable-diffusion``).

Pixels are diffused as ``x = 2·image − 1`` flattened to ``(B, 3·H·W)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from dreamlift.cache import cache_dir
from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance, MemorisedViews, classifier_free_guidance, linear_alphas_cumprod
from dreamlift.guidance.priors import ToyPriorConfig
from dreamlift.rendering.cameras import TOY_CAMERA, OrbitCameras, wrap_degrees
from dreamlift.rendering.shading import Lights, sample_lights


def _toyworld_fingerprint() -> str:
    """Hash of the toy world's source: the cache is rebuilt when the world or its renderer changes."""
    import dreamlift.rendering.shading as shading
    import dreamlift.scene.normals as normals
    import dreamlift.toyworld as toyworld

    digest = hashlib.sha256()
    folder = Path(toyworld.__file__).parent
    for path in sorted(folder.glob("*.py")) + [Path(shading.__file__), Path(normals.__file__)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class RenderSet:
    """Memorised renders of one object: ``images (N, 3·H·W)`` in [−1, 1] and their cameras ``(N,)``."""

    images: Tensor
    elevation: Tensor
    azimuth: Tensor


def memorised_cameras(count: int, seed: int) -> OrbitCameras:
    """TOYWORLD's training distribution, azimuths stratified so that every window is covered."""
    generator = torch.Generator().manual_seed(seed)
    azimuth = -180.0 + 360.0 * (torch.arange(count) + torch.rand(count, generator=generator)) / count
    elevation = -10.0 + 70.0 * torch.rand(count, generator=generator)
    radius = 2.8 + 0.4 * torch.rand(count, generator=generator)
    return OrbitCameras(elevation, azimuth, radius, torch.full((count,), TOY_CAMERA.fovy))


def memorised_lights(cameras: OrbitCameras, seed: int) -> Lights:
    """The lights of the renders made from ``cameras`` (TOYWORLD's jittered head lights, drawn from ``seed + 1``)."""
    return sample_lights(cameras, generator=torch.Generator().manual_seed(seed + 1))


def load_render_set(obj, count: int, resolution: int, seed: int, supersample: int) -> RenderSet:
    """Renders of ``obj`` (a ``ToyObject``), from the on-disk cache or made now and cached."""
    from safetensors.torch import load_file, save

    from dreamlift._atomic import write_bytes
    from dreamlift.toyworld import composite_white, render

    key = f"{obj.shape}-{obj.color}-{count}-{resolution}-{seed}-{supersample}-{_toyworld_fingerprint()}"
    path = cache_dir() / "toy-prior" / f"{key}.safetensors"
    if path.exists():
        try:
            data = load_file(str(path))
            # clone: fresh, aligned allocations, so matrix products match those of a freshly built set
            return RenderSet(data["images"].clone(), data["elevation"].clone(), data["azimuth"].clone())
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            pass
    cameras = memorised_cameras(count, seed)
    lights = memorised_lights(cameras, seed)
    chunks = []
    for start in range(0, count, 256):
        part = slice(start, start + 256)
        chunk_lights = type(lights)(lights.direction[part], lights.ambient[part])
        rgba = render(obj, cameras[part], size=resolution, lights=chunk_lights, supersample=supersample)
        chunks.append(composite_white(rgba))
    images = (torch.cat(chunks) * 2.0 - 1.0).reshape(count, -1).contiguous()
    tensors = {"images": images, "elevation": cameras.elevation.contiguous(), "azimuth": cameras.azimuth.contiguous()}
    try:
        write_bytes(path, save(tensors))
    except (OSError, DreamliftError):  # DreamliftError: the cache folder cannot hold new files
        pass  # an unwritable cache only costs time
    return RenderSet(images, cameras.elevation, cameras.azimuth)


def posterior_mean(x_t: Tensor, alpha_bar: Tensor, renders: Tensor, mask: Tensor | None = None) -> Tensor:
    """Exact ``x̂0`` of a uniform mixture of point masses ``renders (N, D)`` for ``x_t (B, D)``.

    ``alpha_bar`` is ``(B,)``; ``mask (B, N)`` limits which renders each row may use. Only
    the renders some row may use are read (a window holds a tenth of the set or less), which
    gives the same result as masking the full set, at a fraction of the cost.
    """
    if mask is not None:
        used = torch.nonzero(mask.any(dim=0)).squeeze(1)
        if used.numel() < renders.shape[0]:
            renders, mask = renders.index_select(0, used), mask.index_select(1, used)
    a = alpha_bar[:, None]
    # ‖x_t − √a·x_i‖² = ‖x_t‖² − 2√a·x_t·x_i + a‖x_i‖²; the first term is constant per row
    logits = (2.0 * a.sqrt() * (x_t @ renders.t()) - a * (renders * renders).sum(1)[None]) / (2.0 * (1.0 - a))
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=1)
    return weights @ renders


def view_window(elevation: Tensor, azimuth: Tensor, cameras: OrbitCameras, config: ToyPriorConfig, nearest: bool = True) -> Tensor:
    """``(B, N)`` bool: which views ``(N,)`` lie within ``config``'s windows of each camera.

    With ``nearest`` (for a memorised set), the elevation window is centred on the
    camera's elevation clamped to the views' range, so a camera above or below it (an
    overhead view) uses the nearest elevations, and a row the elevation window would
    leave empty keeps its azimuth window alone. Without it the two windows simply meet.
    """
    mask = wrap_degrees(azimuth[None] - cameras.azimuth[:, None]).abs() <= config.azimuth_window
    if config.elevation_window is None or elevation.numel() == 0:
        return mask
    centre = cameras.elevation.clamp(float(elevation.min()), float(elevation.max())) if nearest else cameras.elevation
    near = mask & ((elevation[None] - centre[:, None]).abs() <= config.elevation_window)
    return torch.where(near.any(dim=1, keepdim=True), near, mask) if nearest else near


class ToyPrior(Guidance):
    """The exact denoiser of one toy-world object (see the module docstring)."""

    def __init__(self, obj, config: ToyPriorConfig | None = None):
        self.object = obj
        self.config = config or ToyPriorConfig()
        self.schedule = self.config.timesteps
        self.weighting = self.config.weighting
        self.resolution = self.config.resolution
        self.alphas_cumprod = linear_alphas_cumprod()
        c = self.config
        self.renders = load_render_set(obj, c.renders_per_object, c.resolution, c.seed, c.supersample)
        self.unconditional: RenderSet | None = None
        if c.guidance_scale != 1.0:
            self.unconditional = self._unconditional_set()

    def _unconditional_set(self) -> RenderSet:
        from dreamlift.toyworld import all_objects

        c = self.config
        sets = [load_render_set(o, c.unconditional_renders_per_object, c.resolution, c.seed, c.supersample) for o in all_objects()]
        return RenderSet(
            torch.cat([s.images for s in sets]), torch.cat([s.elevation for s in sets]), torch.cat([s.azimuth for s in sets])
        )

    def memorised_views(self) -> MemorisedViews:
        """The cameras and lights of :attr:`renders` (drawn again from their seed: the cache stores angles only)."""
        c = self.config
        cameras = memorised_cameras(c.renders_per_object, c.seed)
        return MemorisedViews(cameras, memorised_lights(cameras, c.seed))

    def encode(self, images: Tensor) -> Tensor:
        if images.shape[1] != self.resolution or images.shape[2] != self.resolution:
            raise ValueError(f"the toy prior takes {self.resolution}x{self.resolution} renders, got {tuple(images.shape[1:3])}")
        return (images * 2.0 - 1.0).reshape(images.shape[0], -1)

    def _window(self, renders: RenderSet, cameras: OrbitCameras) -> Tensor:
        """``(B, N)`` bool: the renders that take part for each camera (see :func:`view_window`)."""
        return view_window(renders.elevation, renders.azimuth, cameras, self.config)

    def denoise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras, renders: RenderSet | None = None) -> Tensor:
        """``x̂0`` for ``x_t (B, D)`` at ``timesteps (B,)`` from the renders near each camera."""
        renders = renders or self.renders
        alpha_bar = self.alphas_cumprod[timesteps]
        return posterior_mean(x_t, alpha_bar, renders.images, self._window(renders, cameras))

    def predict_noise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras) -> Tensor:
        """``ε̂`` (computed on the CPU, where the memorised renders live; returned on ``x_t``'s device)."""
        device = x_t.device
        x_t, timesteps, cameras = x_t.cpu(), timesteps.cpu(), cameras.to("cpu")
        a = self.alphas_cumprod[timesteps][:, None]
        to_eps = lambda x0: (x_t - a.sqrt() * x0) / (1.0 - a).sqrt()  # noqa: E731
        eps_cond = to_eps(self.denoise(x_t, timesteps, cameras))
        if self.unconditional is None:
            return eps_cond.to(device)
        eps_uncond = to_eps(self.denoise(x_t, timesteps, cameras, self.unconditional))
        return classifier_free_guidance(eps_uncond, eps_cond, self.config.guidance_scale).to(device)
