"""The pure-PyTorch Gaussian rasteriser: against a brute-force composite, closed forms, the camera
conventions, shading through the renderer's code, near-plane culling, and a fit by Adam."""

from __future__ import annotations

import math

import pytest
import torch

from _scenes import CAMERAS, brute_force, random_splats
from dreamlift.rendering import raster_torch
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.shading import head_lights, lambertian
from dreamlift.rendering.splatting import Splats, project_splats, render_splats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_composite(seed):
    splats = random_splats(40, seed)
    out = render_splats(splats, CAMERAS, 20).output
    reference = brute_force(splats, CAMERAS, 20)
    assert float(out.opacity.max()) > 0.9  # the scene overlaps itself: depth order matters
    for key in ("image", "opacity", "depth", "normals"):
        assert torch.allclose(getattr(out, key), reference[key], atol=1e-5, rtol=0), key


def test_transmittance_stop_matches_brute_force():
    """Many opaque Gaussians on one line of sight: pixels run out of transmittance and stop."""
    splats = random_splats(30, 5, radius=0.05, log_scale=(-2.0, -1.5))
    splats.opacity_logits = torch.full_like(splats.opacity_logits, 4.0)
    cameras = CAMERAS[0]
    out = render_splats(splats, cameras, 12).output
    reference = brute_force(splats, cameras, 12)
    assert float(out.opacity.max()) > 1 - 2e-4
    for key in ("image", "opacity", "depth", "normals"):
        assert torch.allclose(getattr(out, key), reference[key], atol=1e-5, rtol=0), key


def test_isotropic_gaussian_head_on_closed_form():
    """One isotropic Gaussian at the origin, camera on +Z at 3: variance (f·s/3)² + 0.3 px², alpha o·exp(−½d²/var)."""
    sigma, opacity, size = 0.05, 0.8, 32
    splats = Splats(
        means=torch.zeros(1, 3, dtype=torch.float64),
        log_scales=torch.full((1, 3), math.log(sigma), dtype=torch.float64),
        quaternions=torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64),
        opacity_logits=torch.tensor([math.log(opacity / (1 - opacity))], dtype=torch.float64),
        colours=torch.tensor([[0.2, 0.4, 0.6]], dtype=torch.float64),
    )
    camera = OrbitCameras.make(0.0, 0.0, 3.0, 40.0)
    out = render_splats(splats, camera, size).output
    focal = size / (2 * math.tan(math.radians(20.0)))
    variance = (focal * sigma / 3.0) ** 2 + 0.3
    for row, col in [(15, 15), (16, 16), (16, 19), (12, 17)]:
        dx, dy = col + 0.5 - 16.0, row + 0.5 - 16.0
        alpha = opacity * math.exp(-0.5 * (dx * dx + dy * dy) / variance)
        expected = alpha if alpha >= 1 / 255 else 0.0
        assert float(out.opacity[0, row, col, 0]) == pytest.approx(expected, abs=1e-7)
        assert torch.allclose(out.image[0, row, col], expected * splats.colours[0] + (1 - expected), atol=1e-7)
        cosine = 3.0 / math.sqrt(3.0**2 + (dx**2 + dy**2) * (3.0 / focal) ** 2)
        assert float(out.depth[0, row, col, 0]) == pytest.approx(expected * 3.0 / cosine, abs=1e-6)
    footprint = int((out.opacity[0, ..., 0] > 0).sum())  # pixels with alpha ≥ 1/255: a disc of radius √(2 ln(255 o)·var)
    radius = math.sqrt(2 * math.log(255 * opacity) * variance)
    assert abs(footprint - math.pi * radius**2) < 2 * math.pi * radius * 0.75


def test_projected_covariance_matches_sampled_points():
    """EWA's 2D covariance against the pixel positions of 200k points drawn from a small, rotated 3D Gaussian."""
    splats = random_splats(1, 3, log_scale=(-4.0, -2.5))
    splats.means = torch.tensor([[0.2, -0.1, 0.3]], dtype=torch.float64)
    cameras = OrbitCameras.make(25.0, -40.0, 3.0, 40.0)
    size = 256
    projection = project_splats(splats, cameras, size)
    a, b, c = projection.conics[0, 0]
    cov2d = torch.linalg.inv(torch.tensor([[a, b], [b, c]])) - 0.3 * torch.eye(2, dtype=torch.float64)
    from dreamlift.rendering.splatting.project import covariances

    generator = torch.Generator().manual_seed(0)
    chol = torch.linalg.cholesky(covariances(splats.log_scales, splats.quaternions)[0])
    points = splats.means + torch.randn(200_000, 3, generator=generator, dtype=torch.float64) @ chol.T
    pixels = raster_torch.project(points, cameras, size)[0, :, :2]
    sampled = torch.cov(pixels.T)
    assert float(cov2d.abs().max()) > 5.0  # a footprint of several pixels
    assert torch.allclose(cov2d, sampled, rtol=0.03, atol=0.03 * float(cov2d.abs().max()))
    assert torch.allclose(projection.means2d[0, 0], pixels.mean(0), atol=0.05)


def test_mean_lands_on_the_pixel_its_ray_goes_through():
    """A Gaussian on the ray through pixel (row 5, col 11) of generate_rays is brightest there."""
    cameras = OrbitCameras.make(30.0, 60.0, 3.0, 40.0)
    origins, directions = generate_rays(cameras, 16)
    point = (origins[0, 5, 11] + 2.7 * directions[0, 5, 11]).double()
    splats = random_splats(1, 0, log_scale=(-4.0, -4.0))
    splats.means = point[None]
    projection = project_splats(splats, cameras, 16)
    assert torch.allclose(projection.means2d[0, 0], torch.tensor([11.5, 5.5], dtype=torch.float64), atol=1e-4)
    opacity = render_splats(splats, cameras, 16).output.opacity[0, ..., 0]
    assert divmod(int(opacity.argmax()), 16) == (5, 11)


def test_normals_are_shortest_axis_facing_camera():
    splats = random_splats(1, 0)
    splats.means = torch.zeros(1, 3, dtype=torch.float64)
    splats.log_scales = torch.tensor([[-2.0, -2.0, -5.0]], dtype=torch.float64)  # a disc in its own xy plane
    splats.quaternions = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)  # its normal is world ±Z
    front, back = OrbitCameras.make([0.0, 0.0], [0.0, 180.0])
    normals = project_splats(splats, OrbitCameras.cat([front, back]), 8).normals[:, 0]
    assert torch.allclose(normals, torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], dtype=torch.float64))


def test_lambertian_shading_reuses_renderer_rule():
    """Lambertian render = the composite of per-Gaussian lambertian(albedo, facing normal) colours."""
    splats = random_splats(25, 4)
    lights = head_lights(CAMERAS, ambient=0.35)
    shaded = render_splats(splats, CAMERAS, 16, shading="lambertian", lights=lights).output
    projection = project_splats(splats, CAMERAS, 16)
    per_camera = []
    for b in range(len(CAMERAS)):
        colours = lambertian(splats.colours, projection.normals[b], lights.direction[b].double(), lights.ambient[b].double())
        per_camera.append(brute_force(Splats(splats.means, splats.log_scales, splats.quaternions, splats.opacity_logits, colours), CAMERAS[b], 16)["image"])
    assert torch.allclose(shaded.image, torch.cat(per_camera), atol=1e-5)
    textureless = render_splats(splats, CAMERAS, 16, shading="textureless", lights=lights).output.image
    assert not torch.allclose(textureless, shaded.image, atol=1e-2)


def test_gaussians_behind_the_camera_are_culled():
    splats = random_splats(10, 1)
    camera = OrbitCameras.make(0.0, 0.0, 3.0, 40.0)
    behind = random_splats(3, 2, log_scale=(-1.0, -0.5))
    behind.means = torch.tensor([[0.0, 0.0, 3.5], [0.1, 0.0, 4.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    joined = Splats(*(torch.cat((getattr(splats, k), getattr(behind, k))) for k in ("means", "log_scales", "quaternions", "opacity_logits", "colours")))
    joined.means.requires_grad_(True)
    render = render_splats(joined, camera, 16)
    assert not bool(render.visible[0, 10:].any())
    assert torch.equal(render.output.image, render_splats(splats, camera, 16).output.image)
    render.output.image.sum().backward()  # the culled ones (one exactly at the camera) get zero, finite gradients
    assert bool(torch.isfinite(joined.means.grad).all()) and float(joined.means.grad[10:].abs().max()) == 0.0


def test_means2d_gradient_is_retained():
    splats = random_splats(12, 6, dtype=torch.float32)
    splats.means.requires_grad_(True)
    render = render_splats(splats, CAMERAS, 16)
    render.output.image.sum().backward()
    grad = render.means2d.grad
    assert grad is not None and grad.shape == (2, 12, 2)
    assert bool((grad[render.visible].norm(dim=-1) > 0).any())
    assert bool((grad[~render.visible] == 0).all())


def test_fitting_a_render_by_adam_lowers_the_loss():
    """From a random start, 120 Adam steps on the means, scales, opacities and colours approach a target render."""
    cameras = OrbitCameras.make([0.0, 20.0], [0.0, 70.0])
    target_splats = random_splats(12, 7, dtype=torch.float32, radius=0.4, log_scale=(-2.2, -1.6))
    with torch.no_grad():
        target = render_splats(target_splats, cameras, 24).output.image
    start = random_splats(24, 8, dtype=torch.float32, radius=0.4, log_scale=(-2.2, -1.6))
    start.colours = torch.logit(start.colours.clamp(0.05, 0.95))  # optimised as logits
    parameters = [start.means, start.log_scales, start.quaternions, start.opacity_logits, start.colours]
    for p in parameters:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(parameters, lr=0.02)
    losses = []
    for _ in range(120):
        current = Splats(start.means, start.log_scales, start.quaternions, start.opacity_logits, torch.sigmoid(start.colours))
        loss = ((render_splats(current, cameras, 24).output.image - target) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.05 * losses[0]  # measured: 1.15e-2 -> 1.2e-4
    assert losses[-1] < 1e-3


def test_nothing_visible_renders_the_background():
    splats = random_splats(5, 0)
    splats.means = splats.means + torch.tensor([0.0, 0.0, 5.0], dtype=torch.float64)  # all behind the +Z camera
    render = render_splats(splats, OrbitCameras.make(0.0, 0.0, 3.0, 40.0), 8, background=torch.full((1, 8, 8, 3), 0.25))
    assert not bool(render.visible.any())
    assert torch.equal(render.output.image, torch.full((1, 8, 8, 3), 0.25, dtype=torch.float64))
    assert float(render.output.opacity.abs().sum()) == 0.0 and render.output.evaluated_fraction == 0.0


def test_too_many_pairs_is_a_one_line_error():
    from dreamlift.errors import DreamliftError

    with pytest.raises(DreamliftError, match="render fewer cameras at once") as error:
        render_splats(random_splats(40, 0), CAMERAS, 20, max_pairs=100)
    assert "\n" not in str(error.value)
