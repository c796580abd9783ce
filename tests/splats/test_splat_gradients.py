"""Gradients of the Gaussian rasteriser against finite differences, in float64, for every parameter."""

from __future__ import annotations

import torch

from _scenes import CAMERAS, random_splats
from dreamlift.rendering.splatting import Splats, render_splats

NAMES = ("means", "log_scales", "quaternions", "opacity_logits", "colours")


SIZE = 6


def _outputs(*parameters):
    out = render_splats(Splats(*parameters), CAMERAS[0], SIZE).output
    return torch.cat([t.reshape(-1) for t in (out.image, out.opacity, out.depth, out.normals)])


def test_gradcheck_every_parameter():
    """torch.autograd.gradcheck of image, opacity, depth and normals w.r.t. all five parameter tensors."""
    splats = random_splats(4, 11, radius=0.25, log_scale=(-1.8, -1.2))
    splats.opacity_logits = torch.tensor([0.5, -0.3, 1.0, 0.0], dtype=torch.float64)
    inputs = tuple(getattr(splats, name).clone().requires_grad_(True) for name in NAMES)
    out = _outputs(*inputs)
    assert float(out[: SIZE * SIZE * 3].detach().min()) < 0.7  # the Gaussians cover a good part of the image
    assert torch.autograd.gradcheck(_outputs, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_central_differences_of_a_scalar_loss():
    """A weighted sum of all outputs: autograd against central differences at selected entries of each parameter."""
    splats = random_splats(6, 12, radius=0.3)
    inputs = [getattr(splats, name).clone().requires_grad_(True) for name in NAMES]
    weights = torch.rand(SIZE * SIZE * 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (_outputs(*inputs) * weights).sum().backward()
    step = 1e-6
    for position, tensor in enumerate(inputs):
        for index in range(0, tensor.numel(), 5):
            plus = [t.detach().clone() for t in inputs]
            minus = [t.detach().clone() for t in inputs]
            plus[position].reshape(-1)[index] += step
            minus[position].reshape(-1)[index] -= step
            numeric = float(((_outputs(*plus) - _outputs(*minus)) * weights).sum()) / (2 * step)
            analytic = float(tensor.grad.reshape(-1)[index])
            assert abs(numeric - analytic) <= 1e-5 + 1e-4 * abs(numeric), (tensor.shape, index, numeric, analytic)
    assert float(inputs[0].grad.abs().max()) > 1e-2  # the loss does depend on the means
