"""Bundled models (``--model dreamlift/toy-sd``): found in the package by name, never downloaded; absent, a one-line error."""

from __future__ import annotations

import shutil

import torch
from _helpers import error_message

from dreamlift import models
from dreamlift.guidance.base import TimestepSchedule


def test_a_bundled_name_loads_the_packaged_folder(monkeypatch, tmp_path, trained_text, trained_view):
    from dreamlift.guidance.priors import Zero123Config
    from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance
    from dreamlift.guidance.zero123 import load_zero123_model

    shutil.copytree(trained_text.out / "model", tmp_path / "toy-sd")
    shutil.copytree(trained_view.out / "model", tmp_path / "toy-zero123")
    monkeypatch.setattr(models, "bundled_root", lambda: tmp_path)
    guidance = build_stable_diffusion_guidance("a red cube", StableDiffusionConfig(model="dreamlift/toy-sd"), TimestepSchedule(), device="cpu")
    theirs = trained_text.components.unet.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in guidance.unet.state_dict().items())
    view = load_zero123_model(Zero123Config(model="dreamlift/toy-zero123"), "cpu")
    theirs = trained_view.components.unet.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in view.unet.state_dict().items())


def test_a_missing_bundled_model_is_a_one_line_error(monkeypatch, tmp_path):
    from dreamlift.guidance.stable_diffusion import StableDiffusionConfig, build_stable_diffusion_guidance

    monkeypatch.setattr(models, "bundled_root", lambda: tmp_path)
    error_message(
        lambda: build_stable_diffusion_guidance("a red cube", StableDiffusionConfig(model="dreamlift/toy-sd"), TimestepSchedule(), device="cpu"),
        "dreamlift/toy-sd is not in this install", "dreamlift train-prior text", "--model DIR/model",
    )
    assert models.bundled_folder("runwayml/stable-diffusion-v1-5") is None  # other names go on to the hub rules


def test_the_plan_warns_about_the_cpu_for_a_full_size_model_not_for_a_bundled_one():
    from dreamlift.pipeline import resolve_config
    from dreamlift.pipeline.stages import cpu_warning

    full = resolve_config("text", settings=["prompt=a red cube"], preset="sd-dreamfusion")
    assert "would take" in cpu_warning(full, torch.device("cpu")) and cpu_warning(full, torch.device("cuda")) is None
    bundled = resolve_config("text", settings=["prompt=a red cube", "prior.model=dreamlift/toy-sd"], preset="sd-dreamfusion")
    assert cpu_warning(bundled, torch.device("cpu")) is None


def test_the_toy_presets_run_their_bundled_models_with_random_views(cli, monkeypatch, tmp_path, trained_text, trained_view):
    """``--preset toy-sd`` and ``--preset toy-zero123`` load ``dreamlift/toy-sd`` and ``dreamlift/toy-zero123`` by name
    (here the tiny trained models in their place), train at random views and refine."""
    import json

    from dreamlift._atomic import write_png
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.rendering.shading import head_lights
    from dreamlift.toyworld import ToyObject, render

    shutil.copytree(trained_text.out / "model", tmp_path / "models" / "toy-sd")
    shutil.copytree(trained_view.out / "model", tmp_path / "models" / "toy-zero123")
    monkeypatch.setattr(models, "bundled_root", lambda: tmp_path / "models")
    camera = OrbitCameras.make(10.0, 20.0, 3.0, 40.0)
    write_png(tmp_path / "cube.png", render(ToyObject("cube", "red"), camera, size=64, lights=head_lights(camera))[0])
    short = ("--steps", "2", "--refine-steps", "2", "--no-export", "--quiet")
    runs = {"text": ("text", "a red cube", "--preset", "toy-sd"), "image": ("image", tmp_path / "cube.png", "--preset", "toy-zero123")}
    for kind, args in runs.items():
        out = tmp_path / kind
        outcome = cli(*args, *short, "--out", out)
        assert outcome.code == 0, outcome.stderr[-2000:]
        config = json.loads((out / "config.json").read_text())["config"]
        assert config["prior"]["model"] == f"dreamlift/toy-{'sd' if kind == 'text' else 'zero123'}"
        assert config["views"] == "random" and config["refine"]["cameras"] == "random"
        refined = [json.loads(line) for line in (out / "refine" / "log.jsonl").read_text().splitlines()]
        assert refined[-1]["step"] == 2


def test_the_plan_does_not_warn_about_the_cpu_for_a_small_model_in_a_local_folder(monkeypatch, trained_text):
    """The UNet's size is read from its safetensors headers (nothing loaded): exact, and no warning below full size."""
    from dreamlift import hub
    from dreamlift.pipeline import resolve_config
    from dreamlift.pipeline.stages import cpu_warning

    folder = trained_text.out / "model"
    assert hub.folder_unet_parameters(str(folder)) == sum(p.numel() for p in trained_text.components.unet.parameters())
    assert hub.folder_unet_parameters(str(folder / "missing")) is None
    config = resolve_config("text", settings=["prompt=a red cube", f"prior.model={folder}"], preset="sd-dreamfusion")
    assert cpu_warning(config, torch.device("cpu")) is None
    monkeypatch.setattr(hub, "FULL_SIZE_PARAMETERS", 1000)  # as if the folder held a full-size UNet
    assert "would take" in cpu_warning(config, torch.device("cpu"))
