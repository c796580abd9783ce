"""The guidance interface and the score-distillation (SDS) maths, written once.

A guidance judges renders with a diffusion model. Every diffusion model in
dreamlift is a subclass of :class:`Guidance` that supplies two things:

* :meth:`Guidance.encode`: renders ``(B, H, W, 3)`` in [0, 1] → the variable that is
  diffused, ``x`` (pixels in [−1, 1] as ``(B, 3, h, w)`` for pixel priors, VAE
  latents for latent priors), *with* gradient back to the renders;
* :meth:`Guidance.predict_noise`: ``(x_t, t, cameras)`` → ``ε̂``, the model's noise
  prediction *with classifier-free guidance already applied*. It is always called
  under ``torch.no_grad()``: SDS never back-propagates through the diffusion model.

The base then forms the SDS gradient ``g = w(t)·(ε̂ − ε)`` (DreamFusion,
arXiv 2209.14988, eq. 3) and the surrogate loss ``0.5·‖x − sg(x − g)‖² / B`` whose
gradient with respect to ``x`` is exactly ``g / B``.

Noise levels use the DDPM convention: ``x_t = √ᾱ_t·x + √(1 − ᾱ_t)·ε`` with
``ᾱ = alphas_cumprod[t]`` and integer ``t`` in ``[0, T)``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.guidance.settings import GuidanceInputs, PriorSettings, TimestepSchedule, Weighting  # noqa: F401 (re-exported)
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.shading import Lights


@dataclass
class MemorisedViews:
    """The views a memory prior's renders were made from: ``cameras`` ``(N,)`` and their ``lights`` ``(N,)``, row for row."""

    cameras: OrbitCameras
    lights: Lights

    def __len__(self) -> int:
        return len(self.cameras)

    def __getitem__(self, index) -> "MemorisedViews":
        return MemorisedViews(self.cameras[index], self.lights[index])

    def turned(self, degrees: float) -> "MemorisedViews":
        """The views of the renders' object turned by ``degrees`` about +Y: each camera's azimuth and light turn with it."""
        c = self.cameras
        return MemorisedViews(OrbitCameras(c.elevation, c.azimuth + degrees, c.radius, c.fovy), self.lights.turned(degrees))


@dataclass
class GuidanceOutput:
    """What one guidance call returns."""

    loss: Tensor
    """Scalar SDS surrogate: its gradient w.r.t. ``x`` is ``w(t)(ε̂ − ε) / B``."""
    timesteps: Tensor
    """``(B,)`` integer timesteps that were sampled."""
    grad_norm: Tensor
    """Scalar: mean L2 norm of the per-image SDS gradient (for logging)."""
    denoised: Tensor | None = None
    """Optional ``x̂0`` in the model's space, for previews and tests."""


def linear_alphas_cumprod(num_train_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> Tensor:
    """``ᾱ_t`` of the "scaled linear" schedule of Stable Diffusion (used by the toy priors too)."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


def sds_weight(alphas_cumprod_t: Tensor, weighting: Weighting) -> Tensor:
    """``w(t)`` for ``ᾱ_t`` of shape ``(B,)``."""
    weighting = Weighting(weighting)
    if weighting is Weighting.SDS:
        return 1.0 - alphas_cumprod_t
    if weighting is Weighting.UNIFORM:
        return torch.ones_like(alphas_cumprod_t)
    return alphas_cumprod_t.sqrt() * (1.0 - alphas_cumprod_t)


def sds_loss(x: Tensor, gradient: Tensor) -> Tensor:
    """Surrogate ``0.5·‖x − sg(x − g)‖² / B``: its gradient w.r.t. ``x`` is ``g / B``.

    Non-finite entries of ``g`` are zeroed so one bad prediction cannot poison the scene.
    """
    gradient = torch.nan_to_num(gradient.detach(), nan=0.0, posinf=0.0, neginf=0.0)
    target = (x - gradient).detach()
    return 0.5 * ((x - target) ** 2).sum() / x.shape[0]


def classifier_free_guidance(eps_uncond: Tensor, eps_cond: Tensor, scale: float) -> Tensor:
    """``ε_u + s·(ε_c − ε_u)`` (Ho & Salimans)."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def add_noise(x: Tensor, noise: Tensor, alphas_cumprod_t: Tensor) -> Tensor:
    """``√ᾱ·x + √(1 − ᾱ)·ε`` with ``ᾱ`` of shape ``(B,)`` broadcast over ``x``."""
    shape = (-1,) + (1,) * (x.dim() - 1)
    a = alphas_cumprod_t.to(x.dtype).reshape(shape)
    return a.sqrt() * x + (1.0 - a).sqrt() * noise


class Guidance(abc.ABC):
    """A diffusion prior that judges renders. Subclasses implement ``encode`` and ``predict_noise``.

    Call it as ``guidance(images, cameras, progress=..., generator=...)`` with
    ``images`` ``(B, H, W, 3)`` in [0, 1] (with gradient) and the cameras they were
    rendered from; it returns a :class:`GuidanceOutput` whose ``loss`` is
    back-propagated by the trainer.
    """

    #: ``(T,)`` cumulative alphas of the model's training noise schedule.
    alphas_cumprod: Tensor
    #: Where timesteps are drawn from.
    schedule: TimestepSchedule
    #: The weighting ``w(t)``.
    weighting: Weighting = Weighting.SDS
    #: Render size the prior wants (square), or None to take renders as they come.
    resolution: int | None = None

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def memorised_views(self) -> MemorisedViews | None:
        """The cameras and lights of the renders a memory prior holds (the toy priors), in the scene's frame; None for a learned prior.

        A memory prior's distribution is its finite set of renders, so between memorised
        cameras its low-noise score points at the nearest memorised view, some degrees
        away; drawing the cameras among these (``refine.cameras=memorised``) asks it where it
        is exact, and rendering with the light each was made with (``refine.lights=memorised``)
        lets the view's own render be the nearest one. A learned prior is continuous in the
        camera: any camera is as good.
        """
        return None

    @abc.abstractmethod
    def encode(self, images: Tensor) -> Tensor:
        """Renders ``(B, H, W, 3)`` in [0, 1] → the diffused variable ``x``, differentiably."""

    @abc.abstractmethod
    def predict_noise(self, x_t: Tensor, timesteps: Tensor, cameras: OrbitCameras) -> Tensor:
        """``ε̂`` for noisy ``x_t`` at integer ``timesteps`` ``(B,)``, with guidance applied."""

    def add_noise(self, x: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        return add_noise(x, noise, self.alphas_cumprod.to(x.device)[timesteps])

    def __call__(
        self,
        images: Tensor,
        cameras: OrbitCameras,
        progress: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> GuidanceOutput:
        x = self.encode(images)
        batch = x.shape[0]
        timesteps = self.schedule.sample(batch, self.num_train_timesteps, progress, generator).to(x.device)
        # random draws happen on the generator's device (a CPU generator serves a GPU model too)
        draw_device = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=draw_device).to(x.device)
        with torch.no_grad():
            x_t = self.add_noise(x.detach(), noise, timesteps)
            eps_hat = self.predict_noise(x_t, timesteps, cameras).to(x.dtype)
            a = self.alphas_cumprod.to(x.device)[timesteps]
            weight = sds_weight(a, self.weighting).to(x.dtype).reshape((-1,) + (1,) * (x.dim() - 1))
            gradient = weight * (eps_hat - noise)
            shape = (-1,) + (1,) * (x.dim() - 1)
            denoised = (x_t - (1.0 - a).sqrt().reshape(shape) * eps_hat) / a.sqrt().reshape(shape)
        loss = sds_loss(x, gradient)
        grad_norm = gradient.flatten(1).norm(dim=1).mean()
        return GuidanceOutput(loss=loss, timesteps=timesteps, grad_norm=grad_norm, denoised=denoised)


