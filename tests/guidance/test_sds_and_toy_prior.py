"""SDS against priors whose score is known exactly: a Gaussian, and the toy world's finite set."""

import math

import pytest
import torch

from dreamlift.guidance.base import Guidance, TimestepSchedule, Weighting, linear_alphas_cumprod, sds_loss
from dreamlift.guidance.toy import ToyPrior, ToyPriorConfig, posterior_mean
from dreamlift.rendering.cameras import OrbitCameras, wrap_degrees
from dreamlift.toyworld import parse_caption


class GaussianPrior(Guidance):
    """Data ~ N(mu, s²I): E[eps | x_t] = √(1−a)(x_t − √a·mu) / (a·s² + 1 − a), exactly."""

    def __init__(self, mu, s):
        self.mu, self.s = mu, s
        self.alphas_cumprod = linear_alphas_cumprod()
        self.schedule = TimestepSchedule(0.02, 0.98, 0.98)
        self.weighting = Weighting.SDS

    def encode(self, images):
        return images.permute(0, 3, 1, 2) * 2 - 1

    def predict_noise(self, x_t, timesteps, cameras):
        a = self.alphas_cumprod[timesteps].reshape(-1, 1, 1, 1)
        return (1 - a).sqrt() * (x_t - a.sqrt() * self.mu) / (a * self.s**2 + 1 - a)


def test_sds_surrogate_gradient_equals_the_sds_gradient():
    x = torch.randn(3, 4, 5, requires_grad=True)
    g = torch.randn(3, 4, 5)
    sds_loss(x, g).backward()
    torch.testing.assert_close(x.grad, g / 3)


def test_sds_loss_zeroes_non_finite_gradients():
    x = torch.zeros(1, 3, requires_grad=True)
    sds_loss(x, torch.tensor([[float("nan"), float("inf"), 1.0]])).backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.0, 0.0, 1.0]]))


def test_sds_on_a_free_image_converges_to_the_gaussian_mean():
    torch.manual_seed(0)
    mu = torch.rand(1, 3, 8, 8) * 1.6 - 0.8  # in [-0.8, 0.8], i.e. image values in [0.1, 0.9]
    prior = GaussianPrior(mu, s=0.1)
    image = torch.full((1, 8, 8, 3), 0.5, requires_grad=True)
    optimizer = torch.optim.Adam([image], lr=0.01)
    generator = torch.Generator().manual_seed(0)
    camera = OrbitCameras.make(0.0, 0.0)
    for _ in range(1500):
        optimizer.zero_grad()
        prior(image, camera, generator=generator).loss.backward()
        optimizer.step()
    target = (mu.permute(0, 2, 3, 1) + 1) / 2
    initial_error = (0.5 - target).abs().mean().item()
    final_error = (image.detach() - target).abs().mean().item()
    assert final_error < 0.02 < initial_error


def test_timestep_schedule_anneals_t_max():
    schedule = TimestepSchedule(0.02, 0.98, 0.3, anneal_until=0.5)
    assert schedule.t_max(0.0) == pytest.approx(0.98)
    assert schedule.t_max(0.25) == pytest.approx(0.64)
    assert schedule.t_max(0.9) == pytest.approx(0.3)
    draws = schedule.sample(10_000, 1000, progress=1.0, generator=torch.Generator().manual_seed(0))
    assert draws.min() >= 20 and draws.max() <= 300


def test_posterior_mean_tends_to_nearest_render_and_to_the_mean():
    torch.manual_seed(0)
    renders = torch.rand(16, 30) * 2 - 1
    query = renders[5:6] + 0.01 * torch.randn(1, 30)
    near_zero_noise = posterior_mean(query, torch.tensor([0.9999]), renders)
    torch.testing.assert_close(near_zero_noise, renders[5:6], atol=1e-4, rtol=0)
    pure_noise = posterior_mean(torch.randn(1, 30), torch.tensor([1e-9]), renders)
    torch.testing.assert_close(pure_noise, renders.mean(0, keepdim=True), atol=1e-4, rtol=0)


def test_posterior_mean_mask_limits_the_set():
    renders = torch.eye(4)
    mask = torch.tensor([[False, True, True, False]])
    out = posterior_mean(torch.zeros(1, 4), torch.tensor([1e-9]), renders, mask)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.5, 0.5, 0.0]]))


@pytest.fixture(scope="module")
def cube_prior():
    return ToyPrior(parse_caption("a red cube"), ToyPriorConfig(renders_per_object=256))


def test_toy_prior_denoises_a_clean_render_to_itself(cube_prior):
    index = 37
    x0 = cube_prior.renders.images[index : index + 1]
    camera = OrbitCameras.make(cube_prior.renders.elevation[index], cube_prior.renders.azimuth[index])
    t = torch.tensor([1])
    a = cube_prior.alphas_cumprod[t]
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * 0.01 * torch.randn_like(x0)
    torch.testing.assert_close(cube_prior.denoise(x_t, t, camera), x0, atol=1e-3, rtol=0)


def test_toy_prior_window_uses_only_nearby_azimuths(cube_prior):
    camera = OrbitCameras.make(20.0, 175.0)
    mask = cube_prior._window(cube_prior.renders, camera)[0]
    azimuths = cube_prior.renders.azimuth[mask]
    assert mask.sum() > 10
    # the window wraps across ±180
    assert ((azimuths > 150) | (azimuths < -160)).all() and (azimuths < -160).any()


def test_toy_prior_elevation_window_keeps_nearby_elevations_and_never_empties(cube_prior):
    import dataclasses

    prior = ToyPrior.__new__(ToyPrior)
    prior.__dict__.update(cube_prior.__dict__)
    prior.config = dataclasses.replace(cube_prior.config, elevation_window=10.0)
    elevation, azimuth = cube_prior.renders.elevation, cube_prior.renders.azimuth
    mask = prior._window(cube_prior.renders, OrbitCameras.make([20.0, 80.0], [0.0, 0.0]))
    assert mask[0].sum() > 3 and (elevation[mask[0]] - 20.0).abs().max() <= 10.0
    # above the memorised range (≤ 60°): the nearest memorised elevations take part
    assert mask[1].sum() > 3 and elevation[mask[1]].min() >= elevation.max() - 10.0
    # a window too narrow to hold any render leaves the azimuth window alone
    prior.config = dataclasses.replace(cube_prior.config, elevation_window=1e-6)
    narrow = prior._window(cube_prior.renders, OrbitCameras.make(20.0, 0.0))[0]
    assert torch.equal(narrow, wrap_degrees(azimuth).abs() <= cube_prior.config.azimuth_window)


def test_toy_prior_elevation_window_denoises_toward_the_cameras_elevation(cube_prior):
    import dataclasses

    prior = ToyPrior.__new__(ToyPrior)
    prior.__dict__.update(cube_prior.__dict__)
    prior.config = dataclasses.replace(cube_prior.config, elevation_window=10.0)
    renders = cube_prior.renders
    high = int(torch.nonzero((renders.elevation > 50.0) & (renders.azimuth.abs() < 10.0))[0])
    x0 = renders.images[high : high + 1]
    t = torch.tensor([1])
    a = cube_prior.alphas_cumprod[t]
    x_t = a.sqrt() * x0
    low_camera = OrbitCameras.make(0.0, float(renders.azimuth[high]))
    # without the window the render from above is the nearest memory; with it, only low views may answer
    torch.testing.assert_close(cube_prior.denoise(x_t, t, low_camera), x0, atol=1e-3, rtol=0)
    answer = prior.denoise(x_t, t, low_camera)
    allowed = prior._window(renders, low_camera)[0]
    distances = (renders.images[allowed] - answer).norm(dim=1)
    assert distances.min() < 1e-3 and (answer - x0).norm() > 1.0
    assert (renders.elevation[allowed][distances.argmin()] - 0.0).abs() <= 10.0


def test_toy_prior_cache_is_reused_and_rebuilt_when_damaged(cube_prior, tmp_path, monkeypatch):
    import glob
    import os

    files = glob.glob(os.path.join(os.environ["DREAMLIFT_CACHE"], "toy-prior", "cube-red-256-*.safetensors"))
    assert len(files) == 1
    with open(files[0], "wb") as handle:
        handle.write(b"damaged")
    again = ToyPrior(parse_caption("a red cube"), ToyPriorConfig(renders_per_object=256))
    torch.testing.assert_close(again.renders.images, cube_prior.renders.images)


def test_toy_prior_sds_points_toward_the_object(cube_prior):
    # a blank white image judged from the front: the SDS gradient must darken where the cube is
    image = torch.ones(1, 32, 32, 3, requires_grad=True)
    camera = OrbitCameras.make(20.0, 0.0)
    generator = torch.Generator().manual_seed(0)
    total = torch.zeros(1, 32, 32, 3)
    for _ in range(20):
        image.grad = None
        cube_prior(image, camera, progress=0.0, generator=generator).loss.backward()
        total += image.grad
    centre, corner = total[0, 12:20, 12:20].mean(), total[0, :4, :4].mean()
    assert centre > 0 and centre > 5 * corner.abs()  # gradient descent lowers the centre (towards red)
    assert not math.isnan(float(total.sum()))


@pytest.mark.parametrize("where", ["below-a-file", "proc"])
def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch, where):
    """The memorised renders are the same whether the cache can be written or not (the write's one-line
    DreamliftError is swallowed, not raised); a writable cache then holds one file."""
    from dreamlift.guidance.toy import load_render_set

    if where == "proc" and not __import__("os").path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc")
    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv("DREAMLIFT_CACHE", str(tmp_path / "blocker" / "cache") if where == "below-a-file" else "/proc/dreamlift-cache")
    obj = parse_caption("a red cube")
    uncached = load_render_set(obj, 4, 8, 3, 1)
    monkeypatch.setenv("DREAMLIFT_CACHE", str(tmp_path / "cache"))
    cached = load_render_set(obj, 4, 8, 3, 1)
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 1
    assert uncached.images.shape == cached.images.shape == (4, 3 * 8 * 8)
    torch.testing.assert_close(uncached.images, cached.images, rtol=0, atol=0)
    torch.testing.assert_close(uncached.azimuth, cached.azimuth, rtol=0, atol=0)
