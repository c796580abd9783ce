"""Zero123Guidance with a tiny random Zero-1-to-3 in the diffusers layout: loading, conditioning, CFG, SDS."""

import json
import math
import os
import pickle
import shutil

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from _helpers import error_message  # noqa: E402
from sds_reference import expected_image_gradient  # noqa: E402
from tiny_zero123 import IMAGE_SIZE, WIDTH, make_tiny_zero123  # noqa: E402

from dreamlift.errors import DreamliftError  # noqa: E402
from dreamlift.guidance.base import TimestepSchedule, classifier_free_guidance  # noqa: E402
from dreamlift.guidance.relative_pose import PoseEmbedding  # noqa: E402
from dreamlift.guidance.zero123 import (  # noqa: E402
    CLIP_MEAN,
    CLIP_STD,
    Zero123Config,
    Zero123Guidance,
    build_zero123_guidance,
    load_zero123_model,
)
from dreamlift.inputs.image import ReferenceImage  # noqa: E402
from dreamlift.inputs.views import ViewInput  # noqa: E402
from dreamlift.rendering.cameras import OrbitCameras  # noqa: E402


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("zero123")
    return {
        "clip_camera_projection": make_tiny_zero123(root / "safetensors", "clip_camera_projection", seed=0),
        "cc_projection": make_tiny_zero123(root / "pickled", "cc_projection", seed=1),
    }


@pytest.fixture(scope="module")
def reference_image():
    generator = torch.Generator().manual_seed(3)
    rgba = torch.rand(24, 24, 4, generator=generator)
    return ReferenceImage(rgba=rgba, source_size=(24, 24), matting="alpha")


@pytest.fixture(scope="module")
def guidance(model_folders, reference_image):
    config = Zero123Config(model=str(model_folders["clip_camera_projection"]), guidance_scale=4.0)
    view = ViewInput(image=reference_image, camera=OrbitCameras.make(10.0, 30.0, 3.0))
    return build_zero123_guidance([view], config, TimestepSchedule(), "cpu")


def test_loads_both_projection_layouts(model_folders):
    for layout, folder in model_folders.items():
        model = load_zero123_model(Zero123Config(model=str(folder)), "cpu")
        assert model.image_size == IMAGE_SIZE and model.clip_size == 32
        assert (model.projection.in_features, model.projection.out_features) == (WIDTH + 4, WIDTH)
        assert model.variant is PoseEmbedding.ZERO123
        assert model.alphas_cumprod.shape == (1000,)
        assert not any(p.requires_grad for p in model.unet.parameters())
        if layout == "cc_projection":  # the pickled .bin was read with weights_only and its weights kept
            saved = torch.load(folder / layout / "diffusion_pytorch_model.bin", weights_only=True)
            torch.testing.assert_close(model.projection.weight, saved["projection.weight"])


def test_reference_embeddings_follow_zero123(guidance, reference_image):
    """CLIP of the bicubic-resized normalised image, and the *unscaled* VAE posterior mean."""
    model = guidance.model
    image = reference_image.rgb_on_white[None].permute(0, 3, 1, 2)
    clip_input = F.interpolate(image, size=(32, 32), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    clip_input = (clip_input - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        embedding = model.image_encoder(pixel_values=clip_input).image_embeds
        pixels = F.interpolate(image, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True)
        latent = model.vae.encode(pixels * 2 - 1).latent_dist.mean
    torch.testing.assert_close(guidance.reference_embedding, embedding[:, None, :])
    torch.testing.assert_close(guidance.reference_latent, latent)
    assert guidance.reference_latent.shape == (1, 4, IMAGE_SIZE // 2, IMAGE_SIZE // 2)


def test_cfg_matches_hand_computation(guidance):
    model = guidance.model
    generator = torch.Generator().manual_seed(5)
    x_t = torch.randn(2, 4, 8, 8, generator=generator)
    timesteps = torch.tensor([100, 700])
    cameras = OrbitCameras.make([10.0, 40.0], [-150.0, 120.0], [3.0, 3.3])
    # the pose vector by hand: reference (el 10, az 30, r 3)
    pose = torch.tensor(
        [
            [0.0, math.sin(math.radians(-180.0)), math.cos(math.radians(-180.0)), 0.0],
            [math.radians(-30.0), math.sin(math.radians(90.0)), math.cos(math.radians(90.0)), 0.3],
        ]
    )
    with torch.no_grad():
        tokens = model.projection(torch.cat([guidance.reference_embedding.expand(2, 1, WIDTH), pose[:, None, :]], dim=-1))
        latent = guidance.reference_latent.expand(2, -1, -1, -1)
        eps_cond = model.unet(torch.cat([x_t, latent], 1), timesteps, encoder_hidden_states=tokens).sample
        eps_uncond = model.unet(
            torch.cat([x_t, torch.zeros_like(latent)], 1), timesteps, encoder_hidden_states=torch.zeros_like(tokens)
        ).sample
        predicted = guidance.predict_noise(x_t, timesteps, cameras)
    expected = eps_uncond + 4.0 * (eps_cond - eps_uncond)
    torch.testing.assert_close(predicted, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(predicted, classifier_free_guidance(eps_uncond, eps_cond, 4.0), rtol=1e-4, atol=1e-4)
    assert (eps_cond - eps_uncond).abs().max() > 1e-3  # the condition matters, so the check above has teeth


def test_novel_camera_changes_the_prediction(guidance):
    x_t = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(6))
    t = torch.tensor([500])
    with torch.no_grad():
        front = guidance.predict_noise(x_t, t, OrbitCameras.make(10.0, 30.0))
        back = guidance.predict_noise(x_t, t, OrbitCameras.make(10.0, -150.0))
    assert (front - back).abs().max() > 1e-4


def test_sds_step_gives_the_gradient_worked_out_from_its_parts(guidance):
    images = torch.nn.Parameter(torch.rand(2, 20, 20, 3, generator=torch.Generator().manual_seed(7)))
    cameras = OrbitCameras.make([0.0, 30.0], [90.0, -170.0], 3.1)
    out = guidance(images, cameras, progress=0.5, generator=torch.Generator().manual_seed(8))
    out.loss.backward()
    expected = expected_image_gradient(guidance, images, cameras, progress=0.5, generator=torch.Generator().manual_seed(8))
    assert float(expected.abs().max()) > 1e-6  # not trivially zero
    # float32 through two paths differs in the last bits by how the CPU sums: a tolerance against the scale
    torch.testing.assert_close(images.grad, expected, rtol=1e-4, atol=1e-3 * float(expected.abs().max()))
    assert out.timesteps.shape == (2,) and torch.isfinite(out.loss)
    assert out.denoised.shape == (2, 4, 8, 8)


def test_stable_zero123_variant_is_picked_from_the_name(model_folders, tmp_path):
    folder = tmp_path / "stable_zero123-tiny"
    shutil.copytree(model_folders["cc_projection"], folder)
    assert load_zero123_model(Zero123Config(model=str(folder)), "cpu").variant is PoseEmbedding.STABLE_ZERO123
    forced = load_zero123_model(Zero123Config(model=str(folder), variant="zero123"), "cpu")
    assert forced.variant is PoseEmbedding.ZERO123


def load_error(config, *words):
    return error_message(lambda: load_zero123_model(config, "cpu"), *words)


def test_loading_errors_are_one_line(model_folders, tmp_path):
    load_error(Zero123Config(model=str(tmp_path / "missing")), "does not exist")
    load_error(Zero123Config(model=""), "no model given for Zero-1-to-3")
    load_error(Zero123Config(model="nobody-here/not-a-cached-zero123-model"), "not in the Hugging Face cache", "hf download nobody-here/")
    load_error(Zero123Config(model=str(model_folders["cc_projection"]), dtype="float64"), "dtype 'float64' is not one of auto, fp32, fp16, bf16")
    load_error(Zero123Config(model=str(model_folders["cc_projection"]), dtype="float16"), "dtype 'float16' is not one of auto, fp32, fp16, bf16")
    load_error(Zero123Config(model=str(model_folders["cc_projection"]), variant="zero456"), "unknown Zero-1-to-3 variant")

    no_unet = tmp_path / "no_unet"
    shutil.copytree(model_folders["cc_projection"], no_unet)
    shutil.rmtree(no_unet / "unet")
    load_error(Zero123Config(model=str(no_unet)), f"folder {no_unet} has no unet/config.json", "diffusers layout")

    no_projection = tmp_path / "no_projection"
    shutil.copytree(model_folders["cc_projection"], no_projection)
    shutil.rmtree(no_projection / "cc_projection")
    load_error(Zero123Config(model=str(no_projection)), f"{no_projection} has no clip_camera_projection/ or cc_projection/")

    broken_unet = tmp_path / "broken_unet"
    shutil.copytree(model_folders["cc_projection"], broken_unet)
    (broken_unet / "unet" / "config.json").write_text("{not json")
    load_error(Zero123Config(model=str(broken_unet)), "could not load unet/ of Zero-1-to-3 model")

    wrong_projection = tmp_path / "wrong_projection"
    shutil.copytree(model_folders["cc_projection"], wrong_projection)
    torch.save({"projection.weight": torch.zeros(WIDTH, WIDTH)}, wrong_projection / "cc_projection" / "diffusion_pytorch_model.bin")
    load_error(Zero123Config(model=str(wrong_projection)), f"{wrong_projection / 'cc_projection'} projects {WIDTH} → {WIDTH}", "expected (D + 4) → D")

    refused_pickle = tmp_path / "refused_pickle"
    shutil.copytree(model_folders["cc_projection"], refused_pickle)
    (refused_pickle / "cc_projection" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps({"weight": _RunsCode()}, protocol=2))
    load_error(Zero123Config(model=str(refused_pickle)), "could not load camera_projection/ of Zero-1-to-3 model", "UnpicklingError")


class _RunsCode:
    """Unpickling this would call ``print``: torch.load(weights_only=True) must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_a_plain_stable_diffusion_unet_is_refused(tmp_path):
    folder = make_tiny_zero123(tmp_path / "sd", unet_in_channels=4)
    load_error(Zero123Config(model=str(folder)), f"{folder} is not a Zero-1-to-3 model", "4 input channels, not 8")


def test_prediction_needs_a_reference(model_folders):
    model = load_zero123_model(Zero123Config(model=str(model_folders["clip_camera_projection"])), "cpu")
    guidance = Zero123Guidance(model, Zero123Config(), TimestepSchedule(), "cpu")
    with pytest.raises(DreamliftError, match="set_reference"):
        guidance.predict_noise(torch.zeros(1, 4, 8, 8), torch.tensor([10]), OrbitCameras.make(0.0, 0.0))


def test_model_index_is_not_needed(model_folders, tmp_path):
    folder = tmp_path / "no_index"
    shutil.copytree(model_folders["clip_camera_projection"], folder)
    index = json.loads((folder / "model_index.json").read_text())
    assert "clip_camera_projection" in index
    (folder / "model_index.json").unlink()
    assert load_zero123_model(Zero123Config(model=str(folder)), "cpu").projection.out_features == WIDTH


def test_dtype_words_are_the_runtime_ones(model_folders):
    folder = str(model_folders["clip_camera_projection"])
    model = load_zero123_model(Zero123Config(model=folder, dtype="bf16"), "cpu")
    assert {p.dtype for part in (model.unet, model.vae, model.image_encoder) for p in part.parameters()} == {torch.bfloat16}
    assert model.dtype == torch.bfloat16
    with pytest.warns(RuntimeWarning, match="fp16 is slow"):
        assert load_zero123_model(Zero123Config(model=folder, dtype="fp16"), "cpu").dtype == torch.float32


def test_loading_is_offline_and_restores_the_state(model_folders, monkeypatch):
    from diffusers import UNet2DConditionModel
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    seen = []
    original = UNet2DConditionModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.append((os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", classmethod(spy))
    load_zero123_model(Zero123Config(model=str(model_folders["cc_projection"])), "cpu")
    assert seen == [("1", True)]
    assert (os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE) == (None, False)
    with pytest.raises(DreamliftError, match="not in the Hugging Face cache"):
        load_zero123_model(Zero123Config(model="nobody-here/not-a-cached-zero123-model"), "cpu")
    assert (os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE) == (None, False)


def test_every_view_conditions_with_its_closeness_weight(model_folders, reference_image):
    """Two input views (az 0 and 90, table weights 3 and 1): at az 45 both are equally close, so the prediction is
    (3·ε̂_front + 1·ε̂_side)/4, each ε̂_v the one-view prediction of that view alone; at az 0 only the front counts."""
    config = Zero123Config(model=str(model_folders["clip_camera_projection"]), guidance_scale=2.0)
    generator = torch.Generator().manual_seed(8)
    other = ReferenceImage(rgba=torch.rand(24, 24, 4, generator=generator), source_size=(24, 24), matting="alpha")
    front = ViewInput(image=reference_image, camera=OrbitCameras.make(0.0, 0.0, 3.0), weight=3.0)
    side = ViewInput(image=other, camera=OrbitCameras.make(0.0, 90.0, 3.0), weight=1.0)
    both = build_zero123_guidance([front, side], config, TimestepSchedule(), "cpu")
    alone = [build_zero123_guidance([view], config, TimestepSchedule(), "cpu") for view in (front, side)]
    x_t = torch.randn(2, 4, 8, 8, generator=generator)
    timesteps = torch.tensor([300, 600])
    cameras = OrbitCameras.make([0.0, 0.0], [45.0, 0.0], [3.0, 3.0])
    with torch.no_grad():
        mixed = both.predict_noise(x_t, timesteps, cameras)
        single = [g.predict_noise(x_t, timesteps, cameras) for g in alone]
    torch.testing.assert_close(mixed[0], 0.75 * single[0][0] + 0.25 * single[1][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(mixed[1], single[0][1], rtol=1e-4, atol=1e-5)
    assert (single[0][0] - single[1][0]).abs().max() > 1e-3  # the views differ, so the mixture is tested
