"""The gsplat fast path: its camera conversion (here, on the CPU) and its renders against the reference (CUDA + gsplat only)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from _scenes import CAMERAS, random_splats
from dreamlift.rendering.splatting import Splats, project_splats, render_splats
from dreamlift.rendering.splatting.gsplat_backend import gsplat_cameras


def test_gsplat_cameras_project_like_the_reference():
    """K · viewmat (OpenCV axes) puts every mean on the reference's pixel coordinates, in front of the camera."""
    splats = random_splats(20, 0, dtype=torch.float32)
    viewmats, intrinsics = gsplat_cameras(CAMERAS, 24)
    homogeneous = torch.cat((splats.means, torch.ones(20, 1)), dim=-1)
    camera = torch.einsum("bij,nj->bni", viewmats, homogeneous)[..., :3]
    assert bool((camera[..., 2] > 0).all())  # OpenCV: in front means +Z
    pixels = torch.einsum("bij,bnj->bni", intrinsics, camera)
    pixels = pixels[..., :2] / pixels[..., 2:]
    assert torch.allclose(pixels, project_splats(splats, CAMERAS, 24).means2d, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("gsplat") is None, reason="needs CUDA and gsplat"
)
def test_gsplat_matches_reference():
    """Faint Gaussians (opacity < 0.35, where both culls agree): images, opacity, depth, normals and 2D-mean gradients."""
    splats = random_splats(60, 3, dtype=torch.float32)
    splats.opacity_logits = torch.linspace(-2.5, -0.7, 60)
    cuda = Splats(*(getattr(splats, k).cuda().requires_grad_(True) for k in ("means", "log_scales", "quaternions", "opacity_logits", "colours")))
    cameras = CAMERAS.to("cuda")
    fast = render_splats(cuda, cameras, 32, backend="gsplat")
    reference = render_splats(cuda, cameras, 32)
    for key in ("image", "opacity", "depth", "normals"):
        assert torch.allclose(getattr(fast.output, key), getattr(reference.output, key), atol=2e-4), key
    (fast.output.image.sum() + reference.output.image.sum()).backward()
    assert torch.allclose(fast.means2d.grad, reference.means2d.grad, atol=1e-3)
