"""Volume rendering against closed forms; cameras against TOYWORLD's conventions."""

import math

import pytest
import torch

from dreamlift.rendering.cameras import OrbitCameras, generate_rays, wrap_degrees
from dreamlift.rendering.occupancy import OccupancyConfig, OccupancyGrid
from dreamlift.rendering.renderer import RenderConfig, VolumeRenderer, composite_weights, intersect_box, intersect_sphere
from dreamlift.scene.field import NeRFField


class ConstantBall:
    """Density ``sigma`` inside a ball of radius ``radius``, grey albedo, radial normals."""

    def __init__(self, sigma=2.0, radius=0.5):
        self.sigma, self.radius = sigma, radius

    def __call__(self, points):
        inside = (points.norm(dim=-1) < self.radius).float()
        return inside * self.sigma, torch.full((points.shape[0], 3), 0.5)

    def density(self, points):
        return self(points)[0]

    def density_albedo_normals(self, points):
        density, albedo = self(points)
        return density, albedo, points / points.norm(dim=-1, keepdim=True).clamp_min(1e-6)


@pytest.mark.parametrize("skip", [False, True])
def test_constant_density_ball_matches_closed_form_opacity(skip):
    ball = ConstantBall(sigma=2.0, radius=0.5)
    occupancy = OccupancyGrid(OccupancyConfig(resolution=32, threshold=0.5))
    generator = torch.Generator().manual_seed(0)
    for _ in range(8):  # as in training: repeated jittered updates
        occupancy.update(ball.density, generator)
    # final renders (render_field) use the grid grown by one cell: nothing of the ball may be skipped
    renderer = VolumeRenderer(RenderConfig(samples_per_ray=1024, skip_empty=skip), occupancy.dilated())
    camera = OrbitCameras.make(0.0, 0.0, 3.0, 40.0)
    out = renderer.render(ball, camera, 33, stratified=False)
    origins, directions = generate_rays(camera, 33)
    # closed form: opacity = 1 - exp(-sigma * chord), chord = 2 sqrt(R^2 - b^2) with b the ray's distance to the centre
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    b2 = (torch.linalg.cross(o, d, dim=-1) ** 2).sum(-1)
    chord = 2.0 * (0.25 - b2).clamp_min(0.0).sqrt()
    expected = 1.0 - torch.exp(-2.0 * chord)
    error = (out.opacity.reshape(-1) - expected).abs()
    assert error.max() < 0.02  # sample spacing at the ball's edge
    assert error.mean() < 2e-3
    centre = out.opacity[0, 16, 16, 0].item()
    assert centre == pytest.approx(1.0 - math.exp(-2.0), abs=2e-3)
    # depth at the centre: the expected ray distance under the exponential, from the entry point at 2.5
    entry, mean_inside = 2.5, (1 / 2.0) - 1.0 * math.exp(-2.0) / (1 - math.exp(-2.0))
    assert out.depth[0, 16, 16, 0].item() / centre == pytest.approx(entry + mean_inside, abs=0.01)


def test_compositing_weights_sum_to_one_minus_transmittance():
    density = torch.rand(7, 16) * 3
    deltas = torch.full((7, 16), 0.1)
    weights = composite_weights(density, deltas)
    expected = 1.0 - torch.exp(-(density * deltas).sum(1))
    torch.testing.assert_close(weights.sum(1), expected, atol=1e-5, rtol=0)


def test_sphere_intersection_distances():
    o = torch.tensor([[0.0, 0.0, 3.0], [0.0, 2.0, 3.0]])
    d = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    near, far, hit = intersect_sphere(o, d, 1.0)
    assert hit.tolist() == [True, False]
    assert near[0].item() == pytest.approx(2.0) and far[0].item() == pytest.approx(4.0)


def test_box_intersection_distances():
    """Slab distances: along an axis, diagonally through a corner-to-corner box, from inside, a miss and an axis-parallel ray."""
    o = torch.tensor([[-3.0, 0.0, 0.0], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [0.0, 2.0, 3.0], [0.25, 0.75, 3.0]])
    d = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [0.0, 0.0, -1.0]]), dim=1)
    near, far = intersect_box(o, d, torch.tensor([-0.5, -0.5, -0.5]), torch.tensor([0.5, 1.0, 0.5]))
    root3 = math.sqrt(3.0)
    torch.testing.assert_close(near[[0, 1, 2, 4]], torch.tensor([2.5, 0.5 * root3, 0.0, 2.5]))
    torch.testing.assert_close(far[[0, 1, 2, 4]], torch.tensor([3.5, 1.5 * root3, 1.0, 3.5]))
    assert far[3] <= near[3]  # y = 2 passes above the box
    near, far = intersect_box(o[:1], d[:1], -1.0, 1.0)  # one value for every axis: the cube [-1, 1]³
    torch.testing.assert_close(torch.stack((near, far)), torch.tensor([[2.0], [4.0]]))


def _centre_ray(el, az):
    origins, directions = generate_rays(OrbitCameras.make(el, az, 3.0, 40.0), 2)
    return origins[0, 0, 0], directions[0].reshape(-1, 3).mean(0)


def test_camera_conventions_front_right_top():
    origin, direction = _centre_ray(0.0, 0.0)
    torch.testing.assert_close(origin, torch.tensor([0.0, 0.0, 3.0]))  # az 0 sees the front from +Z
    assert direction[2] < -0.9
    origin, direction = _centre_ray(0.0, 90.0)
    torch.testing.assert_close(origin, torch.tensor([3.0, 0.0, 0.0]), atol=1e-6, rtol=0)  # az 90 from +X
    assert direction[0] < -0.9
    origin, direction = _centre_ray(90.0, 0.0)
    torch.testing.assert_close(origin, torch.tensor([0.0, 3.0, 0.0]), atol=1e-6, rtol=0)  # el 90 from above
    assert direction[1] < -0.9


def test_image_axes_row_zero_is_top_and_x_is_right():
    _, directions = generate_rays(OrbitCameras.make(0.0, 0.0, 3.0, 40.0), 4)
    assert directions[0, 0, 0, 1] > 0 and directions[0, 3, 0, 1] < 0  # top row looks up (+Y)
    assert directions[0, 0, 0, 0] < 0 and directions[0, 0, 3, 0] > 0  # left column looks to -X from the front
    # the half field of view of the outer pixel centre matches fovy
    tan_half = math.tan(math.radians(20.0))
    top = directions[0, 0, :, :].mean(0)
    assert top[1] / -top[2] == pytest.approx(tan_half * 3 / 4, rel=1e-3)


def test_wrap_degrees():
    torch.testing.assert_close(wrap_degrees(torch.tensor([190.0, -190.0, 180.0, 0.0])), torch.tensor([-170.0, 170.0, -180.0, 0.0]))


def test_skipping_renders_the_same_image_as_dense_sampling():
    torch.manual_seed(0)
    field = NeRFField()
    occupancy = OccupancyGrid()
    occupancy.update(field.density)
    camera = OrbitCameras.make(20.0, 30.0, 3.0, 40.0)
    dense = VolumeRenderer(RenderConfig(samples_per_ray=64, skip_empty=False)).render(field, camera, 24, stratified=False)
    # final renders: the grid grown by a cell and early termination lose only haze below the
    # occupancy threshold (density 0.2: at most ~2% opacity over the blob's tail)
    final = VolumeRenderer(RenderConfig(samples_per_ray=64, skip_empty=True), occupancy.dilated()).render(field, camera, 24, stratified=False)
    assert final.evaluated_fraction < 0.6 * dense.evaluated_fraction
    assert (final.image - dense.image).abs().max() < 0.02
    assert (final.opacity - dense.opacity).abs().max() < 0.02
    assert (final.image - dense.image).abs().mean() < 1e-3
    # training renders (grid as sampled, one update): a small, bounded approximation at the silhouette
    training = VolumeRenderer(RenderConfig(samples_per_ray=64, skip_empty=True), occupancy).render(field, camera, 24, stratified=False)
    assert training.evaluated_fraction < final.evaluated_fraction
    assert (training.image - dense.image).abs().mean() < 0.01
    assert (training.image - dense.image).abs().max() < 0.06
