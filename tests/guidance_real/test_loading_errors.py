"""Every way loading a real prior can fail is a one-line DreamliftError that says what to do."""

from __future__ import annotations

import builtins
import json
import shutil
import warnings

import pytest
import torch

from _helpers import error_message
from dreamlift.guidance.base import TimestepSchedule
from dreamlift.guidance.deepfloyd_if import DeepFloydIFConfig, build_deepfloyd_if_guidance
from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance


def sd(model, **overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return build_stable_diffusion_guidance("a hamburger", StableDiffusionConfig(model=str(model), **overrides), TimestepSchedule(), device="cpu")


def deepfloyd(model, **overrides):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return build_deepfloyd_if_guidance("a hamburger", DeepFloydIFConfig(model=str(model), **overrides), TimestepSchedule(), device="cpu")


def test_missing_path(tmp_path):
    error_message(lambda: sd(tmp_path / "nowhere" / "model"), "does not exist", "diffusers folder", ".safetensors")
    error_message(lambda: sd(tmp_path / "weights.safetensors"), "does not exist")


def test_folder_without_model_index(tmp_path):
    (tmp_path / "unet").mkdir()
    error_message(lambda: sd(tmp_path), "has no model_index.json", "save_pretrained")


def test_folder_of_another_pipeline(tiny):
    error_message(lambda: sd(tiny.if_folder), "holds a IFPipeline", "Stable Diffusion")
    error_message(lambda: deepfloyd(tiny.sd_folder), "holds a StableDiffusionPipeline", "DeepFloyd IF")


def test_incomplete_folder(tiny, tmp_path):
    copy = tmp_path / "sd"
    shutil.copytree(tiny.sd_folder, copy)
    shutil.rmtree(copy / "vae")
    error_message(lambda: sd(copy), "has no vae/ folder")


def test_damaged_weights(tiny, tmp_path):
    copy = tmp_path / "sd"
    shutil.copytree(tiny.sd_folder, copy)
    config = json.loads((copy / "unet" / "config.json").read_text())
    config["block_out_channels"] = [16, 16, 16, 16]
    (copy / "unet" / "config.json").write_text(json.dumps(config))
    error_message(lambda: sd(copy), "could not load Stable Diffusion from")


def test_pickled_checkpoint_is_refused(tmp_path):
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"not read")
    error_message(lambda: sd(checkpoint), "not a .safetensors file", "convert")


def test_single_file_for_deepfloyd_is_refused(tiny):
    error_message(lambda: deepfloyd(tiny.sd_single_file), "not a single file")


def test_single_file_config_folder_must_be_a_diffusers_folder(tiny, tmp_path):
    error_message(lambda: sd(tiny.sd_single_file, model_config=str(tmp_path)), "model config", "model_index.json")


def test_single_file_without_configs_and_no_network(tiny, tmp_path):
    error_message(
        lambda: sd(tiny.sd_single_file, cache_dir=str(tmp_path)),
        "needs the configs of its model (stable-diffusion-v1-5/stable-diffusion-v1-5)",
        "--model-config",
        "--allow-network",
    )


def test_hub_id_without_network_and_not_cached(tmp_path):
    error_message(
        lambda: sd("stabilityai/stable-diffusion-2-1-base", cache_dir=str(tmp_path)),
        "not in the Hugging Face cache",
        "network access is off",
        "--allow-network",
        "hf download stabilityai/stable-diffusion-2-1-base",
    )


def test_gated_model_without_token(monkeypatch, tmp_path):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    error_message(
        lambda: deepfloyd("DeepFloyd/IF-I-XL-v1.0", allow_network=True, cache_dir=str(tmp_path)),
        "DeepFloyd/IF-I-XL-v1.0 is a gated model",
        "https://huggingface.co/DeepFloyd/IF-I-XL-v1.0",
        "HF_TOKEN",
    )


def test_gated_error_from_the_hub_is_translated(tiny, monkeypatch):
    from diffusers import UNet2DConditionModel
    from huggingface_hub.errors import GatedRepoError

    def refuse(*args, **kwargs):
        error = GatedRepoError.__new__(GatedRepoError)
        Exception.__init__(error, "403 Client Error: access to model is restricted")
        raise error

    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", refuse)
    error_message(lambda: sd(tiny.sd_folder), "gated model", "hf auth login")


def test_missing_diffusers_says_how_to_install(tiny, monkeypatch):
    real_import = builtins.__import__

    def no_diffusers(name, *args, **kwargs):
        if name == "diffusers" or name.startswith("diffusers."):
            raise ImportError("No module named 'diffusers'", name="diffusers")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_diffusers)
    error_message(lambda: sd(tiny.sd_folder), "diffusers", "pip install 'dreamlift[diffusers]'")


def test_bad_settings():
    error_message(lambda: sd("x/y", dtype="fp8"), "dtype 'fp8'")
    error_message(lambda: sd("x/y", perp_neg=True, view_dependent=False), "perp_neg needs view-dependent prompts")
    error_message(lambda: sd("x/y", attention="flash"), "attention 'flash'")
    error_message(lambda: sd(""), "no model given", "--model")


def test_empty_prompt(tiny):
    config = StableDiffusionConfig(model=str(tiny.sd_folder))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        error_message(lambda: build_stable_diffusion_guidance("  ", config, TimestepSchedule(), device="cpu"), "prompt is empty")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_asked_without_a_gpu(tiny):
    config = StableDiffusionConfig(model=str(tiny.sd_folder))
    error_message(lambda: build_stable_diffusion_guidance("a hamburger", config, TimestepSchedule(), device="cuda"), "no GPU")
