"""``refine.cameras=memorised``: a memory prior names the cameras of its renders, and stage 2 draws among them."""

from types import SimpleNamespace

import torch

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


def test_the_toy_priors_memorised_cameras_are_those_its_renders_were_made_from():
    # radius and fovy are not in the cache: re-rendering at the named cameras, with the memory's
    # lights, must give the memorised renders back
    config = ToyPriorConfig(**SMALL)
    prior = ToyPrior(parse_caption("a red chair"), config)
    cameras = prior.memorised_cameras()
    assert len(cameras) == config.renders_per_object
    torch.testing.assert_close(cameras.azimuth, prior.renders.azimuth)
    lights = sample_lights(cameras, generator=torch.Generator().manual_seed(config.seed + 1))
    again = composite_white(render(prior.object, cameras, size=config.resolution, lights=lights, supersample=config.supersample))
    assert float((again.reshape(len(cameras), -1) * 2 - 1 - prior.renders.images).abs().max()) < 1e-5
    assert float(cameras.radius.min()) < 2.9 and float(cameras.radius.max()) > 3.1  # TOYWORLD's radius range, not one radius


def test_the_view_priors_cameras_are_its_best_candidates_turned_and_a_combined_prior_names_the_image_priors():
    chair = parse_caption("a red chair")
    prior = ToyViewPrior([ViewCandidate(chair, 30.0, 1.0)], [], ToyViewPriorConfig(**SMALL))
    torch.testing.assert_close(prior.memorised_cameras().azimuth, prior.renders.azimuth + 30.0)
    combined = CombinedGuidance(prior, ToyPrior(parse_caption("a blue cube"), ToyPriorConfig(**SMALL)), 0.5, 0.0)
    torch.testing.assert_close(combined.memorised_cameras().azimuth, prior.memorised_cameras().azimuth)


def _stage(memorised, cameras="memorised"):
    config = SimpleNamespace(refine=RefineConfig(batch_size=64, cameras=cameras), cameras=CameraRanges())
    return SimpleNamespace(config=config, generator=torch.Generator().manual_seed(0), _memorised=memorised)


def test_stage_two_draws_its_cameras_among_the_memorised_ones_and_else_from_stage_ones_ranges():
    memorised = ToyPrior(parse_caption("a red cube"), ToyPriorConfig(**SMALL)).memorised_cameras()
    drawn = Refiner.draw_cameras(_stage(memorised))
    key = lambda c: {(round(float(e), 4), round(float(a), 4), round(float(r), 4)) for e, a, r in zip(c.elevation, c.azimuth, c.radius)}  # noqa: E731
    assert key(drawn) <= key(memorised) and len(key(drawn)) > 20  # 64 draws among 48: many distinct ones
    free = Refiner.draw_cameras(_stage(None))  # a learned prior names none
    assert not key(free) & key(memorised)
    low, high = CameraRanges().elevation
    assert float(free.elevation.min()) >= low and float(free.elevation.max()) <= high
