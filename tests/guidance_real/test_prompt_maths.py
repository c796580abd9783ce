"""View prompts, view weights, Perp-Neg and CFG arithmetic against hand computation (no models)."""

from __future__ import annotations

import math

import pytest
import torch

from dreamlift.guidance._diffusers_guidance import DiffusersGuidance, DiffusersPriorConfig, PromptEmbeddings, epsilon_from_prediction
from dreamlift.guidance.base import TimestepSchedule, classifier_free_guidance
from dreamlift.guidance.prompts import (
    PerpNegSettings,
    ViewSettings,
    blend_embeddings,
    perp_neg_guidance,
    perp_neg_weights,
    perpendicular_component,
    view_prompts,
    view_weights,
)
from dreamlift.rendering.cameras import OrbitCameras


def test_view_prompts_follow_dreamfusion_suffixes():
    assert view_prompts("  a hamburger. ") == [
        "a hamburger, front view",
        "a hamburger, side view",
        "a hamburger, back view",
        "a hamburger, overhead view",
    ]


def test_hard_view_weights_use_toyworld_thresholds():
    azimuth = torch.tensor([0.0, 44.0, 46.0, -134.0, 136.0, 180.0, -170.0, 350.0, 10.0])
    elevation = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 61.0])
    weights = view_weights(elevation, azimuth, ViewSettings())
    expected = torch.tensor(
        [
            [1, 0, 0, 0],
            [1, 0, 0, 0],
            [0, 1, 0, 0],
            [0, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 1, 0],
            [0, 0, 1, 0],
            [1, 0, 0, 0],  # 350 wraps to -10
            [0, 0, 0, 1],  # above 60 degrees: overhead
        ],
        dtype=torch.float32,
    )
    assert torch.equal(weights, expected)


def test_blended_view_weights_interpolate_linearly_in_azimuth():
    azimuth = torch.tensor([0.0, 45.0, 90.0, 135.0, -135.0, 180.0, 30.0])
    elevation = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 80.0])
    weights = view_weights(elevation, azimuth, ViewSettings(blend=True))
    expected = torch.tensor(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.5, 0.5, 0.0],
            [0.0, 0.5, 0.5, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    torch.testing.assert_close(weights, expected)
    embeddings = torch.arange(4.0).reshape(4, 1, 1).expand(4, 2, 3)
    blended = blend_embeddings(weights, embeddings)
    torch.testing.assert_close(blended[:, 0, 0], torch.tensor([0.0, 0.5, 1.0, 1.5, 1.5, 2.0, 3.0]))


def test_perp_neg_weights_match_stable_dreamfusion_schedule():
    settings = PerpNegSettings(weight=2.0, front_decay=2.0, side_decay=10.0)
    weights = perp_neg_weights(torch.tensor([0.0, 45.0, -45.0, 90.0, 150.0, 180.0]), settings)
    expected = torch.tensor(
        [
            [0.0, 2.0],  # r = 1: front weight off (r > 0.8), side 2·exp(0)
            [2 * math.exp(-1.0), 2 * math.exp(-5.0)],  # r = 0.5
            [2 * math.exp(-1.0), 2 * math.exp(-5.0)],
            [2.0, 0.0],  # back half, r = 1: side off
            [2.0, math.exp(-10.0 / 3.0)],  # r = 1/3: side (w/2)·exp(-r·10)
            [2.0, 1.0],  # r = 0
        ]
    )
    torch.testing.assert_close(weights, expected)


def test_perpendicular_component_per_sample():
    x = torch.tensor([[3.0, 4.0], [1.0, 1.0], [5.0, -2.0]])
    y = torch.tensor([[1.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    perpendicular = perpendicular_component(x, y)
    torch.testing.assert_close(perpendicular, torch.tensor([[0.0, 4.0], [0.0, 0.0], [5.0, -2.0]]))


def test_perp_neg_guidance_against_hand_computation():
    eps_u = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    eps_pos = torch.tensor([[1.0, 0.0], [1.0, 3.0]])
    eps_negs = torch.tensor([[[1.0, 1.0], [2.0, 1.0]], [[0.0, 3.0], [1.0, 1.0]]])  # (K=2, B=2, 2)
    weights = torch.tensor([[2.0, 0.5], [1.0, 4.0]])
    out = perp_neg_guidance(eps_u, eps_pos, eps_negs, weights, scale=10.0)
    # sample 0: Δ+ = (1,0); Δ1 = (1,1) → ⊥ (0,1); Δ2 = (0,3) → ⊥ (0,3); (1,0) − 2(0,1) − 0.5(0,3) = (1,−3.5)
    # sample 1: Δ+ = (0,2); Δ1 = (1,0) → ⊥ (1,0); Δ2 = (0,0) → ⊥ (0,0); (0,2) − (1,0) = (−1,2); ε = (1,1) + 10(−1,2)
    torch.testing.assert_close(out, torch.tensor([[10.0, -35.0], [-9.0, 21.0]]))


def test_perp_neg_with_zero_weights_is_cfg():
    generator = torch.Generator().manual_seed(0)
    eps_u, eps_c = torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 3, 4, 4, generator=generator)
    eps_negs = torch.randn(2, 2, 3, 4, 4, generator=generator)
    out = perp_neg_guidance(eps_u, eps_c, eps_negs, torch.zeros(2, 2), 7.5)
    torch.testing.assert_close(out, classifier_free_guidance(eps_u, eps_c, 7.5))


def test_cfg_against_hand_computation():
    out = classifier_free_guidance(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 5.0]), 7.5)
    torch.testing.assert_close(out, torch.tensor([16.0, 24.5]))


@pytest.mark.parametrize("kind", ["v_prediction", "sample", "epsilon"])
def test_epsilon_recovered_from_each_prediction_type(kind):
    generator = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(3, 4, 2, 2, generator=generator), torch.randn(3, 4, 2, 2, generator=generator)
    a = torch.tensor([0.9, 0.5, 0.05])
    shape = (-1, 1, 1, 1)
    x_t = a.sqrt().reshape(shape) * x0 + (1 - a).sqrt().reshape(shape) * eps
    output = {
        "v_prediction": a.sqrt().reshape(shape) * eps - (1 - a).sqrt().reshape(shape) * x0,
        "sample": x0,
        "epsilon": eps,
    }[kind]
    torch.testing.assert_close(epsilon_from_prediction(output, x_t, a, kind), eps, rtol=1e-5, atol=1e-5)


class _EchoUNet(torch.nn.Module):
    """A stand-in UNet whose prediction is the conditioning vector itself: ε(x, t, h) = h[:, 0] reshaped like x."""

    class config:  # noqa: N801 - mimics diffusers' config attribute
        sample_size = 2
        block_out_channels = (4,)

    def forward(self, x, t, encoder_hidden_states):
        return type("Out", (), {"sample": encoder_hidden_states[:, 0].reshape(x.shape).to(x.dtype)})()


class _Scheduler:
    alphas_cumprod = torch.linspace(0.99, 0.01, 1000)

    class config:  # noqa: N801
        prediction_type = "epsilon"


def _echo_guidance(**overrides) -> DiffusersGuidance:
    generator = torch.Generator().manual_seed(3)
    d = 4 * 2 * 2
    embeddings = PromptEmbeddings(
        uncond=torch.randn(1, d, generator=generator),
        plain=torch.randn(1, d, generator=generator),
        views=torch.randn(4, 1, d, generator=generator),
    )
    config = DiffusersPriorConfig(model="stub", guidance_scale=5.0, **overrides)

    class Echo(DiffusersGuidance):
        def encode(self, images):
            raise NotImplementedError

    return Echo(unet=_EchoUNet(), scheduler=_Scheduler(), embeddings=embeddings, config=config, schedule=TimestepSchedule(), device=torch.device("cpu"), dtype=torch.float32)


def test_predict_noise_cfg_uses_negative_and_view_embeddings():
    guidance = _echo_guidance()
    cameras = OrbitCameras.make([0.0, 0.0, 0.0, 70.0], [10.0, 90.0, 180.0, 0.0])
    x_t = torch.zeros(4, 4, 2, 2)
    eps = guidance.predict_noise(x_t, torch.tensor([1, 2, 3, 4]), cameras)
    e = guidance.embeddings
    u = e.uncond[0].reshape(4, 2, 2)
    for i, view in enumerate([0, 1, 2, 3]):  # front, side, back, overhead
        expected = u + 5.0 * (e.views[view, 0].reshape(4, 2, 2) - u)
        torch.testing.assert_close(eps[i], expected)


def test_predict_noise_without_view_prompts_uses_plain_prompt():
    guidance = _echo_guidance(view_dependent=False)
    eps = guidance.predict_noise(torch.zeros(1, 4, 2, 2), torch.tensor([5]), OrbitCameras.make(0.0, 180.0))
    e = guidance.embeddings
    u = e.uncond[0].reshape(4, 2, 2)
    torch.testing.assert_close(eps[0], u + 5.0 * (e.plain[0].reshape(4, 2, 2) - u))


def test_predict_noise_perp_neg_against_hand_computation():
    guidance = _echo_guidance(perp_neg=True)
    azimuth = [30.0, 120.0]
    eps = guidance.predict_noise(torch.zeros(2, 4, 2, 2), torch.tensor([7, 8]), OrbitCameras.make(0.0, azimuth))
    e = guidance.embeddings
    u = e.uncond[0]
    front, side, back = e.views[0, 0], e.views[1, 0], e.views[2, 0]
    for i, az in enumerate(azimuth):
        if az < 90:
            r = 1 - az / 90
            positive = r * front + (1 - r) * side
            w_front = 0.0 if r > 0.8 else 2.0 * math.exp(-2.0 * r)
            w_side = 0.0 if r < 0.2 else 2.0 * math.exp(-10.0 * (1 - r))
        else:
            r = 2 - az / 90
            positive = r * side + (1 - r) * back
            w_front, w_side = 2.0, (0.0 if r > 0.8 else math.exp(-10.0 * r))
        d_pos = positive - u
        total = d_pos.clone()
        for w, neg in ((w_front, front), (w_side, side)):
            d = neg - u
            total -= w * (d - (d @ d_pos) / (d_pos @ d_pos) * d_pos)
        torch.testing.assert_close(eps[i].flatten(), u + 5.0 * total, rtol=1e-5, atol=1e-5)
