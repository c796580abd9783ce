"""``refine.cameras=memorised`` and ``refine.lights=memorised``: a memory prior names the views (cameras and
lights) of its renders, and stage 2 draws among them."""

import math
from types import SimpleNamespace

import pytest
import torch

from dreamlift.errors import DreamliftError
from dreamlift.guidance.combined import CombinedGuidance
from dreamlift.guidance.priors import ToyPriorConfig, ToyViewPriorConfig
from dreamlift.guidance.toy import ToyPrior
from dreamlift.guidance.toy_view import ToyViewPrior, ViewCandidate
from dreamlift.refine.config import RefineConfig
from dreamlift.refine.stage import Refiner
from dreamlift.rendering.cameras import CameraRanges
from dreamlift.rendering.shading import sample_lights
from dreamlift.toyworld import composite_white, parse_caption, render

SMALL = dict(renders_per_object=48, resolution=32)


def test_the_toy_priors_memorised_views_are_those_its_renders_were_made_from():
    # radius, fovy and the lights are not in the cache: re-rendering at the named cameras with the
    # named lights must give the memorised renders back
    config = ToyPriorConfig(**SMALL)
    prior = ToyPrior(parse_caption("a red chair"), config)
    views = prior.memorised_views()
    assert len(views) == config.renders_per_object == len(views.lights)
    torch.testing.assert_close(views.cameras.azimuth, prior.renders.azimuth)
    again = composite_white(render(prior.object, views.cameras, size=config.resolution, lights=views.lights, supersample=config.supersample))
    assert float((again.reshape(len(views), -1) * 2 - 1 - prior.renders.images).abs().max()) < 1e-5
    assert float(views.cameras.radius.min()) < 2.9 and float(views.cameras.radius.max()) > 3.1  # TOYWORLD's radius range, not one radius


def test_at_a_memorised_view_rendered_with_its_own_light_the_low_noise_posterior_is_that_views_render():
    # what refine.lights=memorised is for: the true object seen from a memorised camera is that view's
    # render only under its light; under another head light the nearest render is often another view's
    # (a cone looks alike from every azimuth, so its views differ mostly in their lights)
    config = ToyPriorConfig(renders_per_object=256, resolution=32, elevation_window=15.0)
    prior = ToyPrior(parse_caption("a cyan cone"), config)
    views = prior.memorised_views()[torch.arange(0, 256, 16)]
    index = torch.arange(0, 256, 16)
    t = torch.full((len(index),), int(0.02 * prior.num_train_timesteps))
    a = prior.alphas_cumprod[t][:, None]

    def own_weight(lights):
        x0 = prior.encode(composite_white(render(prior.object, views.cameras, size=32, lights=lights, supersample=config.supersample)))
        logits = (2 * a.sqrt() * (x0 @ prior.renders.images.t()) - a * (prior.renders.images**2).sum(1)[None]) / (2 * (1 - a))
        weights = torch.softmax(logits.masked_fill(~prior._window(prior.renders, views.cameras), float("-inf")), dim=1)
        return weights[torch.arange(len(index)), index]

    assert float(own_weight(views.lights).min()) > 0.99
    other = sample_lights(views.cameras, generator=torch.Generator().manual_seed(7))
    assert float(own_weight(other).mean()) < 0.8  # 0.69 for these 16 views


def test_the_view_priors_views_are_its_best_candidates_turned_and_a_combined_prior_names_the_image_priors():
    chair = parse_caption("a red chair")
    prior = ToyViewPrior([ViewCandidate(chair, 30.0, 1.0)], [], ToyViewPriorConfig(**SMALL))
    views = prior.memorised_views()
    unturned = ToyPrior.memorised_views(prior)
    torch.testing.assert_close(views.cameras.azimuth, prior.renders.azimuth + 30.0)
    # each light turns with its camera: the same angle to it, the same height, and +Z goes toward +X
    to_camera = lambda v: v.cameras.position / v.cameras.position.norm(dim=-1, keepdim=True)  # noqa: E731
    torch.testing.assert_close((views.lights.direction * to_camera(views)).sum(-1), (unturned.lights.direction * to_camera(unturned)).sum(-1))
    torch.testing.assert_close(views.lights.direction[:, 1], unturned.lights.direction[:, 1])
    quarter = unturned.lights.turned(90.0).direction
    x, y, z = unturned.lights.direction.unbind(-1)
    torch.testing.assert_close(quarter, torch.stack((z, y, -x), dim=-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(views.lights.ambient, unturned.lights.ambient)
    combined = CombinedGuidance(prior, ToyPrior(parse_caption("a blue cube"), ToyPriorConfig(**SMALL)), 0.5, 0.0)
    torch.testing.assert_close(combined.memorised_views().cameras.azimuth, views.cameras.azimuth)


def _stage(memorised, cameras="memorised", lights="random"):
    config = SimpleNamespace(refine=RefineConfig(batch_size=64, cameras=cameras, lights=lights), cameras=CameraRanges())
    return SimpleNamespace(config=config, generator=torch.Generator().manual_seed(0), _memorised=memorised)


def _key(cameras):
    return [(round(float(e), 4), round(float(a), 4), round(float(r), 4)) for e, a, r in zip(cameras.elevation, cameras.azimuth, cameras.radius)]


def test_stage_two_draws_its_cameras_among_the_memorised_ones_and_else_from_stage_ones_ranges():
    memorised = ToyPrior(parse_caption("a red cube"), ToyPriorConfig(**SMALL)).memorised_views()
    drawn, lights = Refiner.draw_views(_stage(memorised))
    assert lights is None  # refine.lights=random: the step draws them
    assert set(_key(drawn)) <= set(_key(memorised.cameras)) and len(set(_key(drawn))) > 20  # 64 draws among 48: many distinct ones
    free, lights = Refiner.draw_views(_stage(None, lights="memorised"))  # a learned prior names none
    assert lights is None
    assert not set(_key(free)) & set(_key(memorised.cameras))
    low, high = CameraRanges().elevation
    assert float(free.elevation.min()) >= low and float(free.elevation.max()) <= high


def test_with_memorised_lights_each_drawn_camera_comes_with_the_light_of_its_own_render():
    memorised = ToyPrior(parse_caption("a red cube"), ToyPriorConfig(**SMALL)).memorised_views()
    drawn, lights = Refiner.draw_views(_stage(memorised, lights="memorised"))
    row_of = {key: i for i, key in enumerate(_key(memorised.cameras))}
    rows = torch.tensor([row_of[key] for key in _key(drawn)])
    torch.testing.assert_close(lights.direction, memorised.lights.direction[rows])
    torch.testing.assert_close(lights.ambient, memorised.lights.ambient[rows])
    assert math.isclose(float(lights.direction.norm(dim=-1).mean()), 1.0, rel_tol=1e-6)


def test_refine_lights_takes_only_its_two_values():
    with pytest.raises(DreamliftError, match="refine.lights is 'sun': use one of random, memorised"):
        RefineConfig(lights="sun").validate()
