"""The SDS gradient a guidance must give its renders, worked out from its parts, for the guidance tests.

With the draws of a generator in the same state (timesteps, then noise, as ``Guidance.__call__``
makes them): ``d loss / d images = (d x / d images)^T · w(t) (eps_hat(x_t, t) - eps) / B``
with ``x = encode(images)``, ``x_t = add_noise(x, eps, t)`` and ``B`` renders (the loss is a batch mean).
"""

from __future__ import annotations

import torch

from dreamlift.guidance.base import sds_weight


def expected_image_gradient(guidance, images: torch.Tensor, cameras, progress: float, generator: torch.Generator) -> torch.Tensor:
    """``generator`` in the state the guidance call found it in."""
    images = images.detach().requires_grad_(True)
    x = guidance.encode(images)
    timesteps = guidance.schedule.sample(x.shape[0], guidance.num_train_timesteps, progress, generator)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    with torch.no_grad():
        x_t = guidance.add_noise(x.detach(), noise, timesteps)
        eps_hat = guidance.predict_noise(x_t, timesteps, cameras).to(x.dtype)
        weight = sds_weight(guidance.alphas_cumprod[timesteps], guidance.weighting).to(x.dtype)
    (gradient,) = torch.autograd.grad(x, images, weight.reshape(-1, 1, 1, 1) * (eps_hat - noise) / x.shape[0])
    return gradient
