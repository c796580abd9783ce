"""The toy view prior: which object and turn it recognises, its framing maths, and its denoiser."""

import math

import pytest
import torch

from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.toy import ToyPriorConfig, posterior_mean
from dreamlift.guidance.toy_view import (
    ToyViewPriorConfig,
    ToyViewPrior,
    ViewCandidate,
    candidates_from_json,
    candidates_to_json,
    dominant_colours,
    identify,
    native_views,
    place_in_box,
    weighted_posterior_mean,
)
from dreamlift.inputs import ReferenceImage, ViewInput
from dreamlift.inputs.framing import frame_batch, frame_object, object_box
from dreamlift.rendering.cameras import OrbitCameras, wrap_degrees
from dreamlift.rendering.shading import head_lights, sample_lights
from dreamlift.toyworld import ToyObject, composite_white, render

BORDER = 0.2
SMALL_MEMORY = ToyViewPriorConfig(renders_per_object=96, timesteps=TimestepSchedule())


def toy_view(obj, elevation, azimuth, seed=0):
    """What the loader gives for a toy render from ``(elevation, azimuth)``: framed, camera at azimuth 0."""
    camera = OrbitCameras.make(elevation, azimuth, 3.0, 40.0)
    rgba = render(obj, camera, 32, lights=sample_lights(camera, generator=torch.Generator().manual_seed(seed)))[0]
    rgba = torch.floor(rgba * 255 + 0.5) / 255  # as a PNG stores it
    framed = frame_object(rgba, 32, BORDER)
    return ViewInput(ReferenceImage(framed, (32, 32), "alpha"), OrbitCameras.make(elevation, 0.0, 3.0, 40.0)), rgba


def turn_error(turn, true_turn):
    return abs(float(wrap_degrees(turn - true_turn)))


@pytest.fixture(scope="module")
def chair_case():
    obj = ToyObject("chair", "green")
    view, native = toy_view(obj, 20.0, -100.0, seed=3)
    found = identify([view], ToyViewPriorConfig(), BORDER)
    return obj, view, native, found


def test_recognises_object_and_turn(chair_case):
    obj, _, _, found = chair_case
    true_turn = 100.0  # input azimuth -100 => the object is turned by +100 in the run's frame
    mass = sum(c.weight for c in found.candidates if c.object == obj and turn_error(c.turn, true_turn) <= 10.0)
    assert mass > 0.9
    assert found.candidates[0].object == obj
    assert turn_error(found.candidates[0].turn, true_turn) <= 4.0
    assert abs(sum(c.weight for c in found.candidates) - 1.0) < 1e-6


def test_house_turn_is_found_by_its_door_and_ambiguous_without_it():
    config = ToyViewPriorConfig(coarse_turn_step=15.0, refine_factor=3, max_colours=1)
    obj = ToyObject("house", "blue")
    view, _ = toy_view(obj, 10.0, 50.0, seed=5)  # the door (front, +Z) is in sight
    found = identify([view], config, BORDER)
    assert sum(c.weight for c in found.candidates if c.object == obj and turn_error(c.turn, -50.0) <= 10.0) > 0.9
    # from behind, the door is hidden: the two doorless quarter turns explain the image equally well
    view, _ = toy_view(obj, 10.0, 160.0, seed=5)
    found = identify([view], config, BORDER)
    masses = [sum(c.weight for c in found.candidates if turn_error(c.turn, t) <= 10.0) for t in (-160.0, 110.0)]
    assert min(masses) > 0.2 and sum(masses) > 0.95


def test_dominant_colour_ignores_part_colours():
    # a tree: brown trunk (a fixed part colour) under a crown of the object's colour
    view, _ = toy_view(ToyObject("tree", "pink"), 10.0, 30.0)
    assert dominant_colours([view], share=0.2, limit=2) == ["pink"]
    view, _ = toy_view(ToyObject("house", "cyan"), 30.0, 0.0)
    assert dominant_colours([view], share=0.2, limit=2)[0] == "cyan"


def test_frame_batch_matches_frame_object():
    cameras = OrbitCameras.make([0.0, 30.0, 60.0, 10.0], [0.0, 45.0, 200.0, 90.0], [3.0, 3.0, 1.6, 2.0], 40.0)
    images = render(ToyObject("table", "red"), cameras, 32)
    expected = torch.stack([frame_object(image, 24, BORDER) for image in images])
    batched = frame_batch(images, 24, BORDER)
    premultiplied = lambda rgba: torch.cat((rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]), dim=-1)  # noqa: E731
    torch.testing.assert_close(premultiplied(batched), premultiplied(expected), atol=1e-6, rtol=0)


def test_place_in_box_undoes_framing():
    camera = OrbitCameras.make(15.0, 30.0, 3.0, 40.0)
    native = render(ToyObject("snowman", "red"), camera, 32, lights=head_lights(camera))[0]
    framed = frame_object(native, 32, BORDER)
    back = place_in_box(framed, object_box(native[..., 3]), BORDER)
    assert abs(float(back[..., 3].sum() - native[..., 3].sum())) / float(native[..., 3].sum()) < 0.02
    error = (composite_white(back) - composite_white(native)).pow(2).mean()
    assert 10 * math.log10(1 / float(error)) > 28.0


def test_weighted_mean_with_equal_weights_is_the_plain_posterior_mean():
    generator = torch.Generator().manual_seed(0)
    renders = torch.rand(20, 12, generator=generator) * 2 - 1
    x_t = torch.randn(3, 12, generator=generator)
    alpha_bar = torch.tensor([0.9, 0.5, 0.1])
    mask = torch.rand(3, 20, generator=generator) > 0.3
    log_prior = torch.zeros(3, 20).masked_fill(~mask, float("-inf")) + 1.7  # a constant does not matter
    torch.testing.assert_close(weighted_posterior_mean(x_t, alpha_bar, renders, log_prior), posterior_mean(x_t, alpha_bar, renders, mask))
    # a log-prior of log 2 counts a render twice
    doubled = torch.cat([renders, renders[:1]])
    expected = posterior_mean(x_t, alpha_bar, doubled)
    prior = torch.zeros(3, 20)
    prior[:, 0] = math.log(2.0)
    torch.testing.assert_close(weighted_posterior_mean(x_t, alpha_bar, renders, prior), expected)


@pytest.fixture(scope="module")
def chair_prior(chair_case):
    obj, view, _, found = chair_case
    references = native_views([view], found.best_renders, BORDER)
    prior = ToyViewPrior(found.candidates, references, SMALL_MEMORY)
    return prior, references


def test_input_view_is_reproduced_at_t0(chair_case, chair_prior):
    _, view, native, _ = chair_case
    prior, references = chair_prior
    x = prior.encode(references[0].image.rgb_on_white[None])
    t = torch.tensor([0])
    a = prior.alphas_cumprod[t]
    x0 = prior.denoise(a.sqrt()[:, None] * x, t, view.camera)
    torch.testing.assert_close(x0, x, atol=1e-4, rtol=0)
    # and the reference put back into the toy world's framing is the toy render itself
    error = (references[0].image.rgb_on_white - composite_white(native)).pow(2).mean()
    assert 10 * math.log10(1 / float(error)) > 25.0


def test_novel_view_prediction_shows_the_turned_object(chair_case, chair_prior):
    obj, _, _, _ = chair_case
    prior, _ = chair_prior
    # the run's camera at azimuth a sees the true object from a - 100 (input azimuth -100)
    for azimuth in (90.0, 180.0):
        camera = OrbitCameras.make(25.0, azimuth, 3.0, 40.0)
        t = torch.tensor([999])
        x0 = (prior.denoise(torch.zeros(1, 32 * 32 * 3), t, camera)[0] + 1) / 2  # the prior mean at that camera
        def distance(truth_azimuth):
            truth_camera = OrbitCameras.make(25.0, truth_azimuth, 3.0, 40.0)
            truth = composite_white(render(obj, truth_camera, 32, lights=head_lights(truth_camera)))[0]
            return float((x0.reshape(32, 32, 3) - truth).pow(2).mean())
        assert distance(azimuth - 100.0) < 0.5 * distance(azimuth + 100.0)
        assert distance(azimuth - 100.0) < 0.5 * distance(azimuth)


def test_log_prior_sums_candidate_weights(chair_prior):
    prior, _ = chair_prior
    cameras = OrbitCameras.make([20.0, 20.0], [0.0, 150.0], 3.0, 40.0)
    weights = prior.log_prior(cameras).exp()
    memory = weights[:, : prior.memory.images.shape[0]]
    torch.testing.assert_close(memory.sum(1), torch.ones(2))  # each candidate's window sums to its weight
    reference = weights[:, prior.memory.images.shape[0]:]
    assert float(reference[0, 0]) == pytest.approx(float(memory[0].max()))  # the input joins near its camera
    assert float(reference[1, 0]) == 0.0  # and not 150 degrees away


def test_candidates_json_round_trip():
    candidates = [ViewCandidate(ToyObject("chair", "red"), -66.0, 0.75), ViewCandidate(ToyObject("cube", "red"), 12.5, 0.25)]
    assert candidates_from_json(candidates_to_json(candidates)) == candidates


def test_a_32_pixel_input_view_resampled_to_64_is_the_64_pixel_view_coarsened():
    """The refinement's toy view prior (64 px) takes stage 1's 32-px input views: the same framing, resampled."""
    from dreamlift.guidance.toy_view import at_resolution
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.toyworld import parse_caption, render

    camera = OrbitCameras.make(10.0, 30.0)
    obj = parse_caption("a red chair")
    on_white = lambda rgba: rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])  # noqa: E731
    small, large = on_white(render(obj, camera, 32)[0]), on_white(render(obj, camera, 64)[0])
    resampled = at_resolution(small, 64)
    assert resampled.shape == (64, 64, 3) and torch.equal(at_resolution(large, 64), large)
    error = float((resampled - large).abs().mean())
    turned = on_white(render(obj, OrbitCameras.make(10.0, 40.0), 64)[0])  # the same chair 10 degrees round
    assert error < 0.7 * float((turned - large).abs().mean())  # nearer the 64-px view than a view 10 degrees off is (0.028, 0.048)
