"""The toy renderer against closed forms: silhouettes, shading, camera conventions."""

import math

import pytest
import torch

from dreamlift.errors import DreamliftError
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.shading import Lights, sample_lights
from dreamlift.toyworld import COLORS, DARK_GRAY, ToyObject, composite_white, render, silhouette


def _head_lights(cameras: OrbitCameras, ambient: float) -> Lights:
    return Lights(direction=cameras.position / cameras.position.norm(dim=-1, keepdim=True), ambient=torch.full((len(cameras),), ambient))


def test_sphere_alpha_area_matches_pinhole_disk():
    cameras = OrbitCameras.make([0.0, 30.0, -10.0, 60.0], [0.0, 45.0, 170.0, -100.0], [3.0, 2.8, 3.2, 3.0], 40.0)
    rgba = render(ToyObject("sphere", "red"), cameras, size=32, generator=torch.Generator().manual_seed(0))
    assert rgba.shape == (4, 32, 32, 4)
    # the silhouette of a ball of radius 0.6 at distance D is a disk of angular radius asin(0.6 / D)
    rho = torch.tan(torch.asin(0.6 / cameras.radius)) / math.tan(math.radians(20.0)) * 16.0  # pixels
    area = rgba[..., 3].sum(dim=(1, 2))
    assert torch.allclose(area, math.pi * rho**2, rtol=0.02), (area, math.pi * rho**2)
    assert rgba[:, 0, 0, 3].eq(0).all() and rgba[:, 16, 16, 3].eq(1).all()


def test_sphere_shading_matches_closed_form():
    """Every pixel equals the supersampled Lambertian shading of the analytic ray-ball intersection."""
    cameras = OrbitCameras.make([20.0, -5.0], [30.0, 200.0], 3.0, 40.0)
    # a light turned 40 degrees away from the camera, ambient fixed
    el, az = torch.deg2rad(torch.tensor([60.0, -5.0])), torch.deg2rad(torch.tensor([30.0, 160.0]))
    light = torch.stack((torch.cos(el) * torch.sin(az), torch.sin(el), torch.cos(el) * torch.cos(az)), dim=-1)
    lights = Lights(light, torch.tensor([0.3, 0.45]))
    rgba = render(ToyObject("sphere", "cyan"), cameras, size=16, lights=lights, supersample=2)

    origins, dirs = generate_rays(cameras, 32)
    b = (origins * dirs).sum(-1)
    disc = b * b - ((origins * origins).sum(-1) - 0.36)
    hit = disc > 0
    t = -b - disc.clamp_min(0).sqrt()
    normals = torch.nn.functional.normalize(origins + t[..., None] * dirs, dim=-1)
    cosine = (normals * light[:, None, None, :]).sum(-1).clamp_min(0)
    ambient = lights.ambient[:, None, None]
    shade = (ambient + (1 - ambient) * cosine)[..., None] * torch.tensor(COLORS["cyan"])
    covered = hit.float().reshape(2, 16, 2, 16, 2).sum(dim=(2, 4))
    expected_rgb = (shade * hit[..., None]).reshape(2, 16, 2, 16, 2, 3).sum(dim=(2, 4)) / covered.clamp_min(1)[..., None]
    assert torch.allclose(rgba[..., 3], covered / 4)
    full = covered == 4
    assert full.sum() > 100
    assert (rgba[..., :3][full] - expected_rgb[full]).abs().max() < 1e-2


def test_head_light_centre_pixel_is_albedo():
    cameras = OrbitCameras.make([0.0, 45.0], [0.0, -120.0], 3.0, 40.0)
    rgba = render(ToyObject("sphere", "purple"), cameras, size=32, lights=_head_lights(cameras, 0.4))
    centre = rgba[:, 15:17, 15:17, :3].reshape(2, 4, 3)
    assert torch.allclose(centre, torch.tensor(COLORS["purple"]).expand_as(centre), atol=1e-2)
    # and no covered pixel is brighter than the albedo
    assert (rgba[..., :3][rgba[..., 3] > 0] <= torch.tensor(COLORS["purple"]) + 1e-4).all()


def test_top_view_of_cube_is_the_projected_square():
    """From el = 90 the silhouette is the top face's square: exactly the subpixel centres inside it."""
    cameras = OrbitCameras.make(90.0, 0.0, 3.0, 40.0)
    alpha = render(ToyObject("cube", "red"), cameras, size=32, supersample=2)[0, ..., 3]
    half = 0.45 / (3.0 - 0.45) / math.tan(math.radians(20.0)) * 16.0  # top face at distance 2.55, in pixels
    centres = (torch.arange(64) + 0.5) / 2
    inside_1d = ((centres - 16).abs() < half).float()
    expected = (inside_1d[:, None] * inside_1d[None, :]).reshape(32, 2, 32, 2).sum(dim=(1, 3)) / 4
    assert torch.equal(alpha, expected)
    assert alpha.sum().item() == pytest.approx((2 * half) ** 2, rel=0.07)


def _grayness(rgba: torch.Tensor) -> torch.Tensor:
    """``(R − G) / R``: 0.86 on red surfaces, 0 on dark gray ones."""
    return (rgba[..., 0] - rgba[..., 1]) / rgba[..., 0].clamp_min(1e-6)


def test_snowman_nose_seen_from_the_front_only():
    cameras = OrbitCameras.make(0.0, [0.0, 180.0], 3.0, 40.0)
    rgba = render(ToyObject("snowman", "red"), cameras, size=32, lights=_head_lights(cameras, 0.4))
    covered = rgba[..., 3] > 0.99
    gray = torch.where(covered, _grayness(rgba), torch.ones_like(covered, dtype=torch.float32))
    front, back = gray[0], gray[1]
    row, col = divmod(int(front.argmin()), 32)
    assert front.min() < 0.65 and 6 <= row <= 10 and 14 <= col <= 17  # upper centre: the head at y = 0.47
    assert back.min() > 0.8  # all red from behind
    # the silhouettes are mirror images of each other (the nose adds a little in front)
    assert (rgba[0, ..., 3] - rgba[1, ..., 3].flip(1)).abs().sum() < 2.0


def test_side_views_follow_the_camera_axes():
    """From +X (az = 90) the front (+Z, the nose) is on the image's left; from −X on its right."""
    cameras = OrbitCameras.make(0.0, [90.0, -90.0], 3.0, 40.0)
    alpha = silhouette(ToyObject("snowman", "blue"), cameras, size=64)
    head_rows = alpha[:, 12:22]  # the head spans rows ~12..21 at 64 pixels
    columns = (head_rows > 0.5).any(dim=1).float()
    cols = torch.arange(64).float()
    left = (columns * (64 - cols)).amax(dim=1)
    right = (columns * (cols + 1)).amax(dim=1)
    extent_left, extent_right = 64 - left, right - 1  # first and last covered columns
    centre = 31.5
    assert centre - extent_left[0] > extent_right[0] - centre + 2  # nose sticks out to the left
    assert extent_right[1] - centre > centre - extent_left[1] + 2  # and to the right from −X


def test_house_door_is_brown_from_the_front():
    cameras = OrbitCameras.make(0.0, [0.0, 180.0], 3.0, 40.0)
    rgba = render(ToyObject("house", "blue"), cameras, size=64, lights=_head_lights(cameras, 0.4))
    # the door's front (z = 0.44, distance 2.56) spans rows 35.4..50.9 and columns 27.5..36.5
    door = rgba[:, 37:50, 29:35, :3].reshape(2, -1, 3).mean(1)
    assert torch.allclose(door[0], torch.tensor((0.45, 0.28, 0.12)), atol=0.03)
    assert torch.allclose(door[1], torch.tensor(COLORS["blue"]), atol=0.03)
    top = rgba[:, 20, 32, :3]  # the roof's slope, y ≈ 0.37
    assert torch.allclose(top, torch.tensor(DARK_GRAY).expand_as(top), atol=0.1)


def test_default_lights_are_seeded_and_within_range():
    obj, cameras = ToyObject("cube", "yellow"), OrbitCameras.make([10.0, 40.0], [30.0, -60.0], 3.0, 40.0)
    a = render(obj, cameras, size=8, generator=torch.Generator().manual_seed(3))
    b = render(obj, cameras, size=8, generator=torch.Generator().manual_seed(3))
    c = render(obj, cameras, size=8, lights=sample_lights(cameras, generator=torch.Generator().manual_seed(3)))
    d = render(obj, cameras, size=8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and torch.equal(a, c) and not torch.equal(a, d)
    albedo = torch.tensor(COLORS["yellow"])
    covered = a[..., 3] == 1
    assert (a[..., :3][covered] >= 0.3 * albedo - 1e-4).all() and (a[..., :3][covered] <= albedo + 1e-4).all()


def test_straight_alpha_and_white_compositing():
    rgba = torch.tensor([[[[0.2, 0.4, 0.6, 0.5], [0.9, 0.1, 0.1, 0.0], [0.3, 0.3, 0.3, 1.0]]]])
    expected = torch.tensor([[[[0.6, 0.7, 0.8], [1.0, 1.0, 1.0], [0.3, 0.3, 0.3]]]])
    assert torch.allclose(composite_white(rgba), expected)
    cameras = OrbitCameras.make(15.0, 20.0, 3.0, 40.0)
    image = render(ToyObject("torus", "green"), cameras, size=16)
    edge = (image[..., 3] > 0) & (image[..., 3] < 1)
    assert edge.any()
    # straight alpha: partly covered pixels keep a surface colour, not one darkened towards black or white
    green = torch.tensor(COLORS["green"])
    ratios = image[..., :3][edge] / green
    assert (ratios.std(dim=-1) < 1e-4).all()  # a multiple of the albedo
    assert image[..., :3][image[..., 3] == 0].eq(1).all()  # empty pixels are white


def test_bad_arguments():
    cameras = OrbitCameras.make([0.0, 10.0], [0.0, 10.0])
    with pytest.raises(DreamliftError, match="1 lights for 2 cameras"):
        render(ToyObject("cube", "red"), cameras, lights=sample_lights(cameras[0]))
    with pytest.raises(DreamliftError, match="at least 1"):
        render(ToyObject("cube", "red"), cameras, size=0)
