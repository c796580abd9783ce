"""The optional tiny VAE (TAESD's ``AutoencoderTiny``) of the Stable Diffusion prior: the SDS encoding goes
through it, in the UNet's latent scale, with a gradient; the full VAE is not loaded; bad folders are one-line errors."""

from __future__ import annotations

import warnings

import pytest
import torch

from sds_reference import expected_image_gradient
from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance, load_stable_diffusion_parts
from dreamlift.rendering.cameras import OrbitCameras

from . import tiny_models

pytest.importorskip("diffusers")

CAMERAS = OrbitCameras.make([10.0, 30.0], [20.0, 160.0])


@pytest.fixture(scope="module")
def taesd(tmp_path_factory):
    return tiny_models.save_tiny_taesd(tmp_path_factory.mktemp("taesd") / "taesd")


def build(tiny, **overrides):
    config = StableDiffusionConfig(model=str(tiny.sd_folder), **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the CPU speed warning
        return build_stable_diffusion_guidance("a hamburger", config, TimestepSchedule(), device="cpu")


@pytest.fixture(scope="module")
def tiny_guidance(tiny, taesd):
    return build(tiny, tiny_vae=str(taesd))


def test_the_encoding_goes_through_the_tiny_encoder_in_the_unets_scale(tiny, tiny_guidance, taesd):
    from diffusers import AutoencoderKL, AutoencoderTiny

    assert isinstance(tiny_guidance.vae, AutoencoderTiny)
    assert tiny_guidance.latent_scale == 1.0 and tiny_guidance.input_size == 32  # TAESD's scale, not the KL VAE's 0.18215
    images = torch.rand(2, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    reference = AutoencoderTiny.from_pretrained(str(taesd)).eval()
    with torch.no_grad():
        expected = reference.encode(images.permute(0, 3, 1, 2) * 2 - 1).latents  # AutoencoderTiny takes [-1, 1]
        kl = AutoencoderKL.from_pretrained(str(tiny.sd_folder), subfolder="vae").eval()
        kl_latents = kl.encode(images.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mean * kl.config.scaling_factor
    latents = tiny_guidance.encode(images)
    assert latents.shape == (2, 4, 16, 16) and latents.dtype == torch.float32
    torch.testing.assert_close(latents, expected)
    assert float((latents - kl_latents).abs().max()) > 1e-2  # it is not the model's own VAE


def test_the_sds_gradient_flows_through_the_tiny_encoder(tiny_guidance):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 32, 32, 3, generator=generator).requires_grad_(True)
    state = generator.get_state()
    tiny_guidance(images, CAMERAS, progress=0.5, generator=generator).loss.backward()
    generator.set_state(state)
    expected = expected_image_gradient(tiny_guidance, images, CAMERAS, progress=0.5, generator=generator)
    assert float(images.grad.abs().max()) > 1e-6
    torch.testing.assert_close(images.grad, expected, rtol=1e-4, atol=1e-7)


def test_the_encoders_gradient_matches_finite_differences(tiny_guidance, taesd):
    """The guidance's gradient of a weighted sum of the latents is the TAESD encoder's (float64, checked by central differences)."""
    from diffusers import AutoencoderTiny

    images = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(2)) * 0.8 + 0.1
    weights = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(4))
    x = images.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad((tiny_guidance.encode(x) * weights).sum(), x)
    reference = AutoencoderTiny.from_pretrained(str(taesd)).double().eval()

    def objective(pixels):
        return (reference.encode(pixels.permute(0, 3, 1, 2) * 2 - 1).latents * weights.double()).sum()

    x64 = images.double().requires_grad_(True)
    (expected,) = torch.autograd.grad(objective(x64), x64)
    torch.testing.assert_close(gradient.double(), expected, rtol=1e-3, atol=1e-5)
    direction = torch.randn(images.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    step = 1e-7  # small: the encoder is piecewise smooth (ReLU), a wider step can cross a kink
    with torch.no_grad():
        numeric = float((objective(images.double() + step * direction) - objective(images.double() - step * direction)) / (2 * step))
    analytic = float((expected * direction).sum())
    assert abs(analytic) > 1e-3
    assert abs(numeric - analytic) <= 1e-5 * abs(analytic) + 1e-7, (numeric, analytic)


def test_the_full_vae_is_not_loaded(tiny, taesd):
    from diffusers import AutoencoderTiny

    parts = load_stable_diffusion_parts(StableDiffusionConfig(model=str(tiny.sd_folder), tiny_vae=str(taesd)), torch.float32)
    assert isinstance(parts.vae, AutoencoderTiny)


@pytest.mark.parametrize(
    "where, words",
    [
        ("missing", ["does not exist"]),
        ("kl", ["AutoencoderKL", "not an AutoencoderTiny"]),
        ("empty", ["has no config.json"]),
        ("hub", ["not in the Hugging Face cache"]),
    ],
)
def test_a_bad_tiny_vae_is_a_one_line_error(tiny, tmp_path, where, words):
    (tmp_path / "empty").mkdir()
    location = {"missing": str(tmp_path / "nope"), "kl": str(tiny.sd_folder / "vae"), "empty": str(tmp_path / "empty"), "hub": "someone/no-such-taesd"}[where]
    with pytest.raises(DreamliftError) as caught:
        build(tiny, tiny_vae=location)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_an_empty_tiny_vae_setting_is_refused():
    with pytest.raises(DreamliftError, match="tiny_vae is empty"):
        StableDiffusionConfig(tiny_vae=" ").validate()
