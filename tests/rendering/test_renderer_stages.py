"""Each stage of the volume renderer on its own, against numbers worked out by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.renderer import (
    SampleSelection,
    background_colours,
    composite,
    evaluate_samples,
    orientation_penalty,
    sample_rays,
    select_samples,
    shade_samples,
)
from dreamlift.rendering.shading import Lights, ShadingMode


class Ball:
    """Density ``sigma`` inside a centred ball of radius ``radius``, albedo (0.2, 0.4, 0.6), radial normals; counts its calls."""

    def __init__(self, sigma=2.0, radius=0.5):
        self.sigma, self.radius, self.calls = sigma, radius, []

    def __call__(self, points):
        self.calls.append(("field", points.shape[0]))
        return self.density(points), self.albedo(points)

    def density(self, points):
        return (points.norm(dim=-1) < self.radius).float() * self.sigma

    def albedo(self, points):
        return torch.tensor([0.2, 0.4, 0.6]).expand(points.shape[0], 3)

    def density_albedo_normals(self, points):
        self.calls.append(("normals", points.shape[0]))
        return self.density(points), self.albedo(points), F.normalize(points, dim=-1)


def axis_rays():
    """Two rays along −Z: one through the centre (enters the unit sphere at t = 2, leaves at 4), one missing it."""
    origins = torch.tensor([[0.0, 0.0, 3.0], [0.0, 2.0, 3.0]])
    return origins, torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])


def camera_rays(size=16):
    origins, directions = generate_rays(OrbitCameras.make([10.0, 40.0], [0.0, 75.0], 3.0, 40.0), size)
    return origins.reshape(-1, 3), directions.reshape(-1, 3)


# ------------------------------------------------------------------ sampling
def test_unjittered_samples_are_the_step_midpoints_inside_the_sphere():
    samples = sample_rays(*axis_rays(), bound=1.0, samples_per_ray=8, stratified=False)
    expected_t = 2.0 + (torch.arange(8) + 0.5) * 0.25
    torch.testing.assert_close(samples.t[0], expected_t)
    torch.testing.assert_close(samples.deltas[0], torch.full((8,), 0.25))
    torch.testing.assert_close(samples.points[0], torch.stack((torch.zeros(8), torch.zeros(8), 3.0 - expected_t), dim=-1))
    assert samples.hit.tolist() == [True, False]
    assert (samples.deltas[1] == 0).all()  # a missing ray has nothing to composite


def test_jittered_samples_stay_in_their_strata_inside_the_sphere():
    origins, directions = camera_rays()
    s = 12
    samples = sample_rays(origins, directions, 1.0, s, stratified=True, generator=torch.Generator().manual_seed(3))
    hit = samples.hit
    assert 0.3 < hit.float().mean() < 1.0
    assert samples.points[hit].norm(dim=-1).max() <= 1.0 + 1e-5
    first = sample_rays(origins, directions, 1.0, s, stratified=False).t[:, 0] - 0.5 * samples.deltas[:, 0]  # the entry distance
    position = (samples.t - first[:, None]) / samples.deltas.clamp_min(1e-12)
    index = torch.arange(s, dtype=torch.float32)
    assert (position[hit] >= index - 1e-3).all() and (position[hit] < index + 1 + 1e-3).all()
    offsets = position[hit] - index
    assert 0.4 < offsets.mean() < 0.6 and offsets.std() > 0.2  # uniform jitter, not midpoints
    again = sample_rays(origins, directions, 1.0, s, stratified=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again.t, samples.t)
    other = sample_rays(origins, directions, 1.0, s, stratified=True, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(other.t[hit], samples.t[hit])


# ------------------------------------------------------------------ selection
def test_selection_drops_samples_in_empty_cells():
    origins, directions = camera_rays()
    samples = sample_rays(origins, directions, 1.0, 16, stratified=False)
    grid = OccupancyGrid()
    grid.mask = torch.zeros_like(grid.mask)
    grid.mask[:16] = True  # cells with x < 0 only
    empty_field = Ball(sigma=0.0)  # nothing hides anything: only the grid decides
    selection = select_samples(empty_field, samples, grid, skip=True)
    flat = samples.points.reshape(-1, 3)
    assert (flat[selection.index, 0] < 0).all()
    expected = (samples.hit[:, None] & (samples.points[..., 0] < 0)).sum()
    assert selection.index.numel() == int(expected) > 0
    assert torch.equal(selection.index, selection.index.sort().values)


def test_selection_drops_samples_hidden_behind_an_opaque_surface():
    samples = sample_rays(*axis_rays(), bound=1.0, samples_per_ray=64, stratified=False)  # steps of 1/32
    ball = Ball(sigma=1000.0, radius=0.5)  # entry at t = 2.5; one step inside has α = 1 − e^(−31)
    selection = select_samples(ball, samples, None, skip=True)
    t = samples.t.reshape(-1)[selection.index]
    assert t.min() == pytest.approx(2.0 + 0.5 / 32) and t.max() < 2.5 + 1.5 / 32  # up to the first sample inside
    assert (selection.index < 64).all()  # nothing of the missing ray
    surface = selection.surface.reshape(-1)
    assert surface.sum() == 1 and samples.t.reshape(-1)[surface].item() == pytest.approx(2.5 + 0.5 / 32)
    everything = select_samples(ball, samples, None, skip=False)
    assert torch.equal(everything.index, torch.arange(64)) and everything.surface is None


# ------------------------------------------------------------------ evaluation
def test_evaluation_gives_normals_only_on_the_surface():
    samples = sample_rays(*axis_rays(), bound=1.0, samples_per_ray=64, stratified=False)
    ball = Ball(sigma=1000.0)
    selection = select_samples(ball, samples, None, skip=True)
    ball.calls.clear()
    values = evaluate_samples(ball, samples.points.reshape(-1, 3), selection, normals=True)
    k = selection.index.numel()
    assert ball.calls == [("field", k - 1), ("normals", 1)]  # three extra look-ups only where the sample is seen
    assert torch.equal(values.index.sort().values, selection.index)
    surface = selection.surface.reshape(-1)[values.index]
    torch.testing.assert_close(values.normals[surface], torch.tensor([[0.0, 0.0, 1.0]]), atol=1e-6, rtol=0)  # facing +Z
    assert (values.normals[~surface] == 0).all()
    torch.testing.assert_close(values.density, ball.density(samples.points.reshape(-1, 3)[values.index]))
    plain = evaluate_samples(ball, samples.points.reshape(-1, 3), selection, normals=False)
    assert plain.normals is None and torch.equal(plain.index, selection.index)
    assert plain.albedo.shape == (k, 3)


def test_evaluation_without_skipping_gives_every_sample_its_normal():
    samples = sample_rays(*axis_rays(), bound=1.0, samples_per_ray=8, stratified=False)
    selection = SampleSelection(index=torch.arange(8), surface=None)
    ball = Ball()
    values = evaluate_samples(ball, samples.points.reshape(-1, 3), selection, normals=True)
    assert ball.calls == [("normals", 8)] and torch.equal(values.index, torch.arange(8))


# ------------------------------------------------------------------ shading
def test_shading_modes_against_the_lambertian_formula():
    albedo = torch.tensor([[0.2, 0.4, 0.6], [0.2, 0.4, 0.6], [1.0, 0.5, 0.0]])
    normals = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    lights = Lights(direction=torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.6, 0.8]]), ambient=torch.tensor([0.4, 0.25]))
    image = torch.tensor([0, 1, 1])
    assert torch.equal(shade_samples(albedo, normals, ShadingMode.ALBEDO, None, image), albedo)
    # albedo · (ambient + (1 − ambient) · max(0, n·l)): n·l = 1 in image 0, 0.8 in image 1
    lit = shade_samples(albedo, normals, ShadingMode.LAMBERTIAN, lights, image)
    torch.testing.assert_close(lit, albedo * torch.tensor([[1.0], [0.25 + 0.75 * 0.8], [0.25 + 0.75 * 0.8]]))
    white = shade_samples(albedo, normals, ShadingMode.TEXTURELESS, lights, image)
    torch.testing.assert_close(white, torch.tensor([[1.0] * 3, [0.85] * 3, [0.85] * 3]))
    with pytest.raises(ValueError, match="lights"):
        shade_samples(albedo, normals, ShadingMode.LAMBERTIAN, None, image)


# ------------------------------------------------------------------ compositing
def test_a_constant_density_slab_composites_to_its_closed_form():
    f64 = dict(dtype=torch.float64)
    sigma = torch.tensor([0.5, 2.0, 10.0], **f64)
    length, near, s = 1.5, 2.0, 4096
    deltas = torch.full((3, s), length / s, **f64)
    t = near + (torch.arange(s, **f64) + 0.5) * (length / s)
    t = t.expand(3, s)
    colour, background = torch.tensor([0.9, 0.3, 0.1], **f64), torch.tensor([[0.0, 0.5, 1.0]] * 3, **f64)
    normal = torch.tensor([0.0, 0.6, 0.8], **f64)
    out = composite(sigma[:, None].expand(3, s), colour.expand(3, s, 3), normal.expand(3, s, 3), t, deltas, background)
    opacity = 1.0 - torch.exp(-sigma * length)  # 1 − exp(−σL), whatever the number of samples
    tol = dict(atol=1e-6, rtol=0)  # the compositing's 1e-10 guard, 4096 times
    torch.testing.assert_close(out.opacity[:, 0], opacity, **tol)
    torch.testing.assert_close(out.image, opacity[:, None] * colour + (1 - opacity[:, None]) * background, **tol)
    torch.testing.assert_close(out.normals, opacity[:, None] * normal, **tol)
    # Σ w t → ∫ t σ e^(−σ(t − near)) dt over the slab = near·(1 − e^(−σL)) + 1/σ − (L + 1/σ)·e^(−σL)
    e = torch.exp(-sigma * length)
    depth = near * (1 - e) + 1 / sigma - (length + 1 / sigma) * e
    torch.testing.assert_close(out.depth[:, 0], depth, atol=2e-6, rtol=0)  # midpoint sums: O(δ²)
    torch.testing.assert_close(out.weights.sum(1), out.opacity[:, 0])


def test_empty_rays_show_the_background():
    out = composite(torch.zeros(2, 5), torch.rand(2, 5, 3), torch.zeros(2, 5, 3), torch.rand(2, 5), torch.full((2, 5), 0.2), torch.eye(3)[:2])
    assert torch.equal(out.image, torch.eye(3)[:2]) and (out.opacity == 0).all() and (out.depth == 0).all()


def test_orientation_penalises_normals_that_face_away_from_the_camera():
    weights = torch.tensor([[0.25, 0.5], [0.1, 0.0]])
    directions = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    away = directions[:, None, :].expand(2, 2, 3)
    # mean over rays of Σ w · max(0, n·d)²: (0.75 + 0.1) / 2
    assert orientation_penalty(weights, away, directions).item() == pytest.approx(0.425)
    assert orientation_penalty(weights, -away, directions).item() == 0.0
    tilted = torch.tensor([0.0, math.sqrt(0.75), -0.5]).expand(2, 2, 3)  # n·d = 0.5 on ray 0, 0 on ray 1
    assert orientation_penalty(weights, tilted, directions).item() == pytest.approx(0.75 * 0.25 / 2)


def test_background_colours_for_none_a_tensor_and_a_callable():
    directions = torch.rand(2, 3, 3, 3)
    torch.testing.assert_close(background_colours(None, directions, None), torch.ones(18, 3))
    colour = torch.rand(2, 3, 3, 3)
    assert torch.equal(background_colours(colour, directions, None), colour.reshape(-1, 3))
    seen = {}

    def background(d, generator):
        seen["directions"], seen["generator"] = d, generator
        return d * 0.5

    generator = torch.Generator()
    torch.testing.assert_close(background_colours(background, directions, generator), directions.reshape(-1, 3) * 0.5)
    assert seen["directions"] is directions and seen["generator"] is generator
