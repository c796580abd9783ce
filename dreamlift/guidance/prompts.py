"""View-dependent prompts, their blending weights, and the Perp-Neg combination.

DreamFusion (arXiv 2209.14988, §3.2) appends the view to the prompt: ``", front view"``,
``", side view"``, ``", back view"``, ``", overhead view"``. Angles follow the project's
orbit cameras (TOYWORLD.md): azimuth 0 looks at the object's front from +Z, ±180 at
its back; elevation 90 looks straight down.

* :func:`view_weights` gives, per camera, convex weights over :data:`VIEWS`, either
  one-hot (hard thresholds) or blended linearly in azimuth between front↔side
  (``|az| < 90``) and side↔back (``|az| ≥ 90``), as stable-dreamfusion and
  threestudio interpolate embeddings for Perp-Neg.
* :func:`perp_neg_weights` gives, per camera, the weights of the two negative views
  (front, side) of Perp-Neg (Armandpour et al., arXiv 2304.04968), with the decay
  schedule of stable-dreamfusion (``negative_w``, ``front_decay_factor``,
  ``side_decay_factor``). Weights here are positive magnitudes that are *subtracted*.
* :func:`perp_neg_guidance` combines noise predictions:
  ``ε = ε_u + s·(Δ₊ − Σ_k w_k·⊥(Δ_k, Δ₊))`` with ``Δ = ε_c − ε_u`` and ``⊥(x, y)`` the
  component of ``x`` perpendicular to ``y``, computed per sample.

Everything here is pure tensor maths; no model is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dreamlift.rendering.cameras import wrap_degrees
from dreamlift.toyworld.captions import VIEWS  # the view names, in the order of every ``(B, 4)`` weight tensor here


FRONT, SIDE, BACK, OVERHEAD = range(4)


def view_prompts(prompt: str) -> list[str]:
    """``[prompt + ", front view", ..., prompt + ", overhead view"]`` in :data:`VIEWS` order."""
    base = prompt.strip().rstrip(".").strip()
    return [f"{base}, {view} view" for view in VIEWS]


@dataclass
class ViewSettings:
    """How cameras map to view prompts (thresholds as in TOYWORLD.md and threestudio)."""

    front_half_angle: float = 45.0
    """A camera with ``|azimuth| <`` this is "front" (hard mode), degrees."""
    back_half_angle: float = 45.0
    """A camera with ``|azimuth| > 180 −`` this is "back" (hard mode), degrees."""
    overhead_elevation: float = 60.0
    """A camera with elevation above this is "overhead" (both modes), degrees."""
    blend: bool = False
    """Blend embeddings linearly in azimuth instead of picking one view."""


def view_weights(elevation: Tensor, azimuth: Tensor, settings: ViewSettings) -> Tensor:
    """Per-camera convex weights over :data:`VIEWS`, shape ``(B, 4)``.

    Hard mode: one-hot front / side / back by ``|az|`` thresholds. Blend mode: front↔side
    with ``r = 1 − |az|/90`` for ``|az| < 90``, side↔back with ``r = 2 − |az|/90``
    otherwise. In both, a camera above ``overhead_elevation`` is one-hot overhead.
    """
    a = wrap_degrees(azimuth.float()).abs()
    weights = torch.zeros(a.shape[0], len(VIEWS), dtype=torch.float32, device=a.device)
    if settings.blend:
        near_front = a < 90.0
        r = torch.where(near_front, 1.0 - a / 90.0, 2.0 - a / 90.0)
        weights[:, FRONT] = torch.where(near_front, r, torch.zeros_like(r))
        weights[:, SIDE] = torch.where(near_front, 1.0 - r, r)
        weights[:, BACK] = torch.where(near_front, torch.zeros_like(r), 1.0 - r)
    else:
        front = a < settings.front_half_angle
        back = a > 180.0 - settings.back_half_angle
        weights[:, FRONT] = front.float()
        weights[:, BACK] = (back & ~front).float()
        weights[:, SIDE] = (~front & ~back).float()
    overhead = elevation.float().to(a.device) > settings.overhead_elevation
    weights[:, :OVERHEAD] *= ~overhead[:, None]  # no boolean indexing: no device sync on a GPU
    weights[:, OVERHEAD] = overhead.float()
    return weights


@dataclass
class PerpNegSettings:
    """Perp-Neg weights (defaults: stable-dreamfusion's ``--negative_w 2`` magnitude, decays 2 and 10)."""

    weight: float = 2.0
    """Magnitude of the negative-view weights (stable-dreamfusion's ``-negative_w``); 0 turns Perp-Neg off."""
    front_decay: float = 2.0
    """Decay of the front negative as the camera leaves the front (``front_decay_factor``)."""
    side_decay: float = 10.0
    """Decay of the side negative (``side_decay_factor``)."""


def perp_neg_weights(azimuth: Tensor, settings: PerpNegSettings) -> Tensor:
    """Weights ``(B, 2)`` of the negative views (front, side) for each camera.

    With ``A = |az|`` and ``w = settings.weight``:

    * ``A < 90``, ``r = 1 − A/90``: front ``w·exp(−r·front_decay)`` (0 when ``r > 0.8``),
      side ``w·exp(−(1 − r)·side_decay)`` (0 when ``r < 0.2``);
    * ``A ≥ 90``, ``r = 2 − A/90``: front ``w``, side ``(w/2)·exp(−r·side_decay)``
      (0 when ``r > 0.8``).
    """
    a = wrap_degrees(azimuth.float()).abs()
    w = float(settings.weight)
    near_front = a < 90.0
    r = torch.where(near_front, 1.0 - a / 90.0, 2.0 - a / 90.0)
    zero = torch.zeros_like(r)
    front_near = torch.where(r > 0.8, zero, w * torch.exp(-r * settings.front_decay))
    side_near = torch.where(r < 0.2, zero, w * torch.exp(-(1.0 - r) * settings.side_decay))
    front_far = torch.full_like(r, w)
    side_far = torch.where(r > 0.8, zero, 0.5 * w * torch.exp(-r * settings.side_decay))
    front = torch.where(near_front, front_near, front_far)
    side = torch.where(near_front, side_near, side_far)
    return torch.stack((front, side), dim=1)


def blend_embeddings(weights: Tensor, embeddings: Tensor) -> Tensor:
    """``(B, V)`` weights × ``(V, L, D)`` embeddings → ``(B, L, D)`` (computed in fp32, returned in the embeddings' dtype)."""
    mixed = torch.einsum("bv,vld->bld", weights.to(embeddings.device, torch.float32), embeddings.float())
    return mixed.to(embeddings.dtype)


def perpendicular_component(x: Tensor, y: Tensor, eps: float = 1e-12) -> Tensor:
    """Per sample ``x − (⟨x, y⟩ / ‖y‖²)·y`` over all but the first dimension (``y = 0`` gives ``x``)."""
    flat_x, flat_y = x.flatten(1), y.flatten(1)
    coefficient = (flat_x * flat_y).sum(dim=1) / (flat_y * flat_y).sum(dim=1).clamp_min(eps)
    return x - coefficient.reshape((-1,) + (1,) * (x.dim() - 1)) * y


def perp_neg_guidance(eps_uncond: Tensor, eps_positive: Tensor, eps_negatives: Tensor, weights: Tensor, scale: float) -> Tensor:
    """Perp-Neg: ``ε_u + s·(Δ₊ − Σ_k w_k·⊥(Δ_k, Δ₊))``.

    ``eps_uncond``, ``eps_positive``: ``(B, ...)``; ``eps_negatives``: ``(K, B, ...)``;
    ``weights``: ``(B, K)`` non-negative magnitudes. With all weights zero this is plain
    classifier-free guidance.
    """
    delta_positive = eps_positive - eps_uncond
    combined = delta_positive
    for k in range(eps_negatives.shape[0]):
        perpendicular = perpendicular_component(eps_negatives[k] - eps_uncond, delta_positive)
        w = weights[:, k].to(perpendicular.dtype).reshape((-1,) + (1,) * (perpendicular.dim() - 1))
        combined = combined - w * perpendicular
    return eps_uncond + scale * combined
