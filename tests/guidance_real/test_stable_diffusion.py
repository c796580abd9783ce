"""Stable Diffusion guidance on a tiny random SD saved as a diffusers folder and as a single file."""

from __future__ import annotations

import gc
import warnings
from dataclasses import replace

import pytest
import torch

from sds_reference import expected_image_gradient
from dreamlift.guidance.base import TimestepSchedule, Weighting
from dreamlift.guidance.prompts import BACK, FRONT
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, StableDiffusionGuidance, build_stable_diffusion_guidance
from dreamlift.rendering.cameras import OrbitCameras

pytest.importorskip("diffusers")

PROMPT = "a hamburger"
CAMERAS = OrbitCameras.make([10.0, 30.0], [20.0, 160.0])


def build(model, **overrides) -> StableDiffusionGuidance:
    schedule = overrides.pop("schedule", TimestepSchedule())
    config = StableDiffusionConfig(model=str(model), **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the CPU speed warning, tested on its own below
        return build_stable_diffusion_guidance(PROMPT, config, schedule, device="cpu")


@pytest.fixture(scope="module")
def sd_guidance(tiny) -> StableDiffusionGuidance:
    return build(tiny.sd_folder)


def sds_gradient(guidance, seed=0, size=16, cameras=CAMERAS) -> torch.Tensor:
    """Gradient of the SDS loss w.r.t. a learnable stand-in render ``(B, size, size, 3)``."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(len(cameras), size, size, 3, generator=generator).requires_grad_(True)
    guidance(images, cameras, progress=0.5, generator=generator).loss.backward()
    return images.grad


def test_sds_gradient_is_the_one_worked_out_from_its_parts(sd_guidance):
    gradient = sds_gradient(sd_guidance, seed=0)
    generator = torch.Generator().manual_seed(0)  # replay sds_gradient's draws: the images, then the guidance's
    images = torch.rand(len(CAMERAS), 16, 16, 3, generator=generator)
    expected = expected_image_gradient(sd_guidance, images, CAMERAS, progress=0.5, generator=generator)
    assert gradient.shape == (2, 16, 16, 3) and float(expected.abs().max()) > 1e-6
    # float32 through two paths (autograd, and the parts by hand) differs in the last bits, by how the CPU
    # sums; the tolerance is set against the gradient's scale (a wrong term is off by its whole size)
    torch.testing.assert_close(gradient, expected, rtol=1e-4, atol=1e-3 * float(expected.abs().max()))
    assert sd_guidance.input_size == 32  # unet sample_size 16 × VAE factor 2


def test_latents_are_the_scaled_vae_mean(sd_guidance):
    images = torch.rand(1, 32, 32, 3)
    latents = sd_guidance.encode(images)
    with torch.no_grad():
        mean = sd_guidance.vae.encode(images.permute(0, 3, 1, 2) * 2 - 1).latent_dist.mean
    torch.testing.assert_close(latents, mean * sd_guidance.vae.config.scaling_factor)
    assert latents.dtype == torch.float32 and latents.shape == (1, 4, 16, 16)


def test_sds_gradient_is_zero_when_the_weight_is_zero(tiny):
    guidance = build(tiny.sd_folder, schedule=TimestepSchedule(0.5, 0.5, 0.5))  # t = 500 every step
    assert sds_gradient(guidance).abs().sum() > 0
    guidance.alphas_cumprod[500] = 1.0  # w(t) = 1 − ᾱ_t = 0 under the SDS weighting
    assert guidance.weighting is Weighting.SDS
    gradient = sds_gradient(guidance)
    assert torch.isfinite(gradient).all() and torch.count_nonzero(gradient) == 0


def test_text_encoder_runs_once_and_is_released(tiny, monkeypatch):
    from transformers import CLIPTextModel

    calls = []
    forward = CLIPTextModel.forward
    monkeypatch.setattr(CLIPTextModel, "forward", lambda self, *a, **k: calls.append(1) or forward(self, *a, **k))
    guidance = build(tiny.sd_folder)
    for seed in range(3):
        sds_gradient(guidance, seed=seed)
    assert len(calls) == 1 and guidance.text_encoder_calls == 1
    gc.collect()
    assert guidance.text_encoder_ref() is None
    assert guidance.unet_calls == 3


def test_view_embeddings_are_the_encoded_view_prompts(tiny, sd_guidance):
    from transformers import AutoTokenizer, CLIPTextModel

    tokenizer = AutoTokenizer.from_pretrained(str(tiny.sd_folder), subfolder="tokenizer")
    encoder = CLIPTextModel.from_pretrained(str(tiny.sd_folder), subfolder="text_encoder")
    ids = tokenizer(["a hamburger, back view"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = encoder(ids)[0][0]
    torch.testing.assert_close(sd_guidance.embeddings.views[BACK], expected)
    back_camera = OrbitCameras.make(0.0, 175.0)
    torch.testing.assert_close(sd_guidance.positive_embeddings(back_camera)[0], expected)
    assert not torch.allclose(sd_guidance.embeddings.views[FRONT], expected)


def _noise_prediction(guidance, seed=5):
    generator = torch.Generator().manual_seed(seed)
    x_t = torch.randn(2, 4, 16, 16, generator=generator)
    with torch.no_grad():
        return guidance.predict_noise(x_t, torch.tensor([100, 700]), CAMERAS)


def test_single_file_loads_the_same_model_as_the_folder(tiny, sd_guidance):
    single = build(tiny.sd_single_file, model_config=str(tiny.sd_folder))
    torch.testing.assert_close(_noise_prediction(single), _noise_prediction(sd_guidance))
    torch.testing.assert_close(single.embeddings.views, sd_guidance.embeddings.views)


def test_single_file_infers_configs_from_its_folder(tiny, sd_guidance):
    inferred = build(tiny.sd_single_file_in_folder)
    torch.testing.assert_close(_noise_prediction(inferred), _noise_prediction(sd_guidance))


def test_single_file_takes_default_configs_from_the_hf_cache(tiny, sd_guidance, tmp_path):
    import shutil

    repo = tmp_path / "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
    shutil.copytree(tiny.sd_folder, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    cached = build(tiny.sd_single_file, cache_dir=str(tmp_path))
    torch.testing.assert_close(_noise_prediction(cached), _noise_prediction(sd_guidance))


def test_perp_neg_prediction_is_the_hand_combination_of_unet_branches(sd_guidance):
    guidance = replace_config(sd_guidance, perp_neg=True, view_blend=True)
    generator = torch.Generator().manual_seed(2)
    x_t = torch.randn(2, 4, 16, 16, generator=generator)
    t = torch.tensor([300, 600])
    with torch.no_grad():
        combined = guidance.predict_noise(x_t, t, CAMERAS)
        e = guidance.embeddings
        branch = lambda h: guidance.unet_epsilon(x_t, t, h)  # noqa: E731
        eps_u = branch(e.uncond.expand(2, -1, -1))
        eps_pos = branch(guidance.positive_embeddings(CAMERAS))
        eps_front = branch(e.views[0].expand(2, -1, -1))
        eps_side = branch(e.views[1].expand(2, -1, -1))
    from dreamlift.guidance.prompts import PerpNegSettings, perp_neg_weights

    weights = perp_neg_weights(CAMERAS.azimuth, PerpNegSettings())
    for i in range(2):
        d_pos = (eps_pos[i] - eps_u[i]).flatten()
        total = d_pos.clone()
        for k, eps_neg in enumerate((eps_front, eps_side)):
            d = (eps_neg[i] - eps_u[i]).flatten()
            total -= weights[i, k] * (d - (d @ d_pos) / (d_pos @ d_pos) * d_pos)
        expected = eps_u[i].flatten() + sd_guidance.guidance_scale * total
        torch.testing.assert_close(combined[i].flatten(), expected, rtol=1e-4, atol=1e-3)


def replace_config(guidance, **changes):
    """The same loaded guidance with other prediction settings (no reload)."""
    from dreamlift.guidance.prompts import PerpNegSettings, ViewSettings

    clone = object.__new__(type(guidance))
    clone.__dict__.update(guidance.__dict__)
    clone.config = replace(guidance.config, **changes)
    clone.views = ViewSettings(blend=clone.config.view_blend or clone.config.perp_neg)
    clone.perp_neg = PerpNegSettings() if clone.config.perp_neg else None
    return clone


def test_v_prediction_model_is_converted_to_epsilon(sd_guidance):
    v_model = replace_config(sd_guidance)
    v_model.prediction_type = "v_prediction"
    generator = torch.Generator().manual_seed(4)
    x_t = torch.randn(1, 4, 16, 16, generator=generator)
    t = torch.tensor([400])
    hidden = sd_guidance.embeddings.plain[None]
    with torch.no_grad():
        raw = sd_guidance.unet_epsilon(x_t, t, hidden)  # the UNet's raw output (ε-model)
        converted = v_model.unet_epsilon(x_t, t, hidden)
    a = sd_guidance.alphas_cumprod[400]
    torch.testing.assert_close(converted, a.sqrt() * raw + (1 - a).sqrt() * x_t)


def test_memory_options_give_the_same_prediction(tiny, sd_guidance):
    frugal = build(tiny.sd_folder, attention="sliced", vae_slicing=True, cpu_offload=True)
    torch.testing.assert_close(_noise_prediction(frugal), _noise_prediction(sd_guidance), rtol=1e-4, atol=1e-4)
    images = torch.rand(2, 32, 32, 3)
    torch.testing.assert_close(frugal.encode(images), sd_guidance.encode(images), rtol=1e-4, atol=1e-5)


def test_bf16_keeps_the_gradient_finite(tiny):
    guidance = build(tiny.sd_folder, dtype="bf16")
    assert guidance.dtype == torch.bfloat16 and guidance.vae_dtype == torch.bfloat16
    gradient = sds_gradient(guidance)
    assert gradient.dtype == torch.float32 and torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def test_fp16_on_cpu_falls_back_to_fp32_with_a_warning(tiny):
    config = StableDiffusionConfig(model=str(tiny.sd_folder), dtype="fp16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        guidance = build_stable_diffusion_guidance(PROMPT, config, TimestepSchedule(), device="cpu")
    assert any("fp16 is slow and partly unsupported on the CPU" in str(w.message) for w in caught)
    assert guidance.dtype == torch.float32


def test_cpu_run_warns_about_speed_with_a_full_size_model_only(tiny, monkeypatch):
    from dreamlift.guidance import _diffusers_guidance

    config = StableDiffusionConfig(model=str(tiny.sd_folder))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a small model (the bundled toy priors are ~6M parameters) is made for the CPU
        build_stable_diffusion_guidance(PROMPT, config, TimestepSchedule(), device="cpu")
    monkeypatch.setattr(_diffusers_guidance, "FULL_SIZE_PARAMETERS", 0)  # as if full size (SD-1.5: 860M)
    with pytest.warns(RuntimeWarning, match="running on the CPU.*50 s"):
        build_stable_diffusion_guidance(PROMPT, config, TimestepSchedule(), device="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_half_precision_on_gpu_keeps_the_gradient_finite(tiny, dtype):
    config = StableDiffusionConfig(model=str(tiny.sd_folder), dtype=dtype)
    guidance = build_stable_diffusion_guidance(PROMPT, config, TimestepSchedule(), device="cuda")
    if dtype == "fp16":
        assert guidance.vae_dtype == torch.float32  # upcast_vae
    torch.manual_seed(0)
    images = torch.rand(2, 64, 64, 3, device="cuda", requires_grad=True)
    guidance(images, CAMERAS, progress=0.5).loss.backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_compile_is_automatic_only_on_cuda():
    from dreamlift.guidance._diffusers_guidance import should_compile

    config = StableDiffusionConfig()
    assert config.compile is None
    assert not should_compile(config, torch.device("cpu"))
    assert not should_compile(replace(config, cpu_offload=True), torch.device("cuda"))
    assert should_compile(replace(config, compile=True), torch.device("cpu"))


def test_failed_compile_falls_back_to_eager(tiny, sd_guidance, monkeypatch):
    def broken_compile(module, **options):
        def fail(*args, **kwargs):
            raise RuntimeError("backend compiler failed")

        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    guidance = build(tiny.sd_folder, compile=True)
    assert guidance.compiled
    with pytest.warns(RuntimeWarning, match="torch.compile of UNet2DConditionModel failed"):
        eager = _noise_prediction(guidance)
    torch.testing.assert_close(eager, _noise_prediction(sd_guidance))
    with pytest.warns(RuntimeWarning, match="torch.compile of Encoder failed"):
        gradient = sds_gradient(guidance)  # the VAE encoder falls back too
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def test_render_size_must_halve_down_to_the_last_unet_block(tiny):
    from dreamlift.errors import DreamliftError

    # tiny SD: VAE factor 2, four UNet blocks (three halvings), so sizes go in steps of 2·8 = 16 pixels
    assert build(tiny.sd_folder, resolution=48).input_size == 48
    with pytest.raises(DreamliftError, match="resolution 40 does not suit this model: give a multiple of 16"):
        build(tiny.sd_folder, resolution=40)
