"""DeepFloyd IF stage-I guidance on a tiny random IF pipeline (T5 encoder, 6-channel pixel UNet)."""

from __future__ import annotations

import gc
import warnings

import pytest
import torch

from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.deepfloyd_if import DeepFloydIFConfig, DeepFloydIFGuidance, build_deepfloyd_if_guidance
from dreamlift.rendering.cameras import OrbitCameras

pytest.importorskip("diffusers")

CAMERAS = OrbitCameras.make([0.0, 45.0, 70.0], [0.0, 100.0, -170.0])


def build(model, **overrides) -> DeepFloydIFGuidance:
    schedule = overrides.pop("schedule", TimestepSchedule())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return build_deepfloyd_if_guidance("a hamburger", DeepFloydIFConfig(model=str(model), **overrides), schedule, device="cpu")


def test_if_sds_on_pixels_and_t5_used_once_then_released(tiny, monkeypatch):
    from transformers import T5EncoderModel

    calls = []
    forward = T5EncoderModel.forward
    monkeypatch.setattr(T5EncoderModel, "forward", lambda self, *a, **k: calls.append(1) or forward(self, *a, **k))
    guidance = build(tiny.if_folder)
    gc.collect()
    assert guidance.text_encoder_ref() is None  # T5 is gone from memory after encoding
    assert guidance.input_size == 16
    for seed in range(2):
        generator = torch.Generator().manual_seed(seed)
        images = torch.rand(3, 24, 24, 3, generator=generator).requires_grad_(True)
        out = guidance(images, CAMERAS, progress=0.2, generator=generator)
        out.loss.backward()
        assert images.grad.shape == (3, 24, 24, 3)
        assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert len(calls) == 1
    assert guidance.embeddings.views.shape == (4, 77, 16)  # (views, T5 tokens, d_model)


def test_if_encode_is_the_resized_render_in_minus_one_to_one(tiny):
    guidance = build(tiny.if_folder)
    images = torch.rand(2, 16, 16, 3)
    torch.testing.assert_close(guidance.encode(images), images.permute(0, 3, 1, 2) * 2 - 1)


def test_if_drops_the_learned_variance_channels(tiny):
    guidance = build(tiny.if_folder)
    x_t = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        eps = guidance.predict_noise(x_t, torch.tensor([10, 500, 990]), CAMERAS)
        raw = guidance.unet(x_t, torch.tensor([10, 500, 990]), encoder_hidden_states=guidance.embeddings.plain.expand(3, -1, -1)).sample
    assert raw.shape[1] == 6 and eps.shape == x_t.shape and torch.isfinite(eps).all()


def test_if_sds_gradient_zero_when_weight_zero(tiny):
    guidance = build(tiny.if_folder, schedule=TimestepSchedule(0.3, 0.3, 0.3))
    guidance.alphas_cumprod[300] = 1.0
    images = torch.rand(3, 16, 16, 3, requires_grad=True)
    guidance(images, CAMERAS, generator=torch.Generator().manual_seed(0)).loss.backward()
    assert torch.count_nonzero(images.grad) == 0


def test_if_perp_neg_runs_with_four_branches(tiny):
    guidance = build(tiny.if_folder, perp_neg=True)
    batches = []
    guidance.unet.register_forward_pre_hook(lambda module, args: batches.append(args[0].shape[0]))
    images = torch.rand(3, 16, 16, 3, requires_grad=True)
    guidance(images, CAMERAS, generator=torch.Generator().manual_seed(1)).loss.backward()
    assert batches == [12]  # one UNet call: (negative, positive, front, side) × 3 cameras
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_if_render_size_must_halve_down_to_the_last_unet_block(tiny):
    from dreamlift.errors import DreamliftError

    # tiny IF: pixels, two UNet blocks, so sizes go in steps of 2 pixels
    assert build(tiny.if_folder, resolution=30).input_size == 30
    with pytest.raises(DreamliftError, match="resolution 31 does not suit this model: give a multiple of 2"):
        build(tiny.if_folder, resolution=31)
