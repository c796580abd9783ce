"""The real-prior presets, and a few training steps of the project's trainer and command line on the tiny SD."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch

from dreamlift.guidance.base import GuidanceInputs, Weighting
from dreamlift.presets import deepfloyd_if_text, preset_config, stable_diffusion_text


def test_presets_carry_the_peers_settings():
    sd, deepfloyd = stable_diffusion_text(), deepfloyd_if_text(perp_neg=True)
    assert (sd.size, sd.steps, sd.prior.guidance_scale) == (64, 10000, 100.0)
    timesteps = sd.prior.timesteps
    assert (timesteps.t_min, timesteps.t_max_start, timesteps.t_max_end) == (0.02, 0.98, 0.98)
    assert sd.cameras.elevation == (-10.0, 90.0) and sd.cameras.fovy == (40.0, 70.0)
    assert deepfloyd.prior.guidance_scale == 20.0 and deepfloyd.prior.perp_neg and deepfloyd.prior.view_blend
    assert preset_config("if-dreamfusion").prior.name == "deepfloyd-if"
    assert preset_config("sd-perp-neg").prior.perp_neg and not preset_config("sd-dreamfusion").prior.perp_neg


def test_preset_prior_configs(tiny):
    from dreamlift.commands.text import add_arguments, build_config
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    hub = build_config(parser.parse_args(["a hamburger", "--prior", "deepfloyd-if"])).prior
    own = build_config(parser.parse_args(["a hamburger", "--prior", "deepfloyd-if", "--model", "/models/my-if"])).prior
    assert (hub.model, hub.variant, hub.guidance_scale) == ("DeepFloyd/IF-I-XL-v1.0", "fp16", 20.0)
    assert (own.model, own.variant) == ("/models/my-if", None)  # a user's own folder is read as saved
    sd = build_config(parser.parse_args(["a hamburger", "--preset", "sd-perp-neg", "--model", "x/y"])).prior
    assert (sd.name, sd.guidance_scale, sd.perp_neg, sd.view_blend, sd.weighting) == ("stable-diffusion", 100.0, True, True, Weighting.SDS)
    from_path = build_config(parser.parse_args(["a hamburger", "--prior", str(tiny.if_folder)])).prior
    assert (from_path.name, from_path.model, from_path.variant) == ("deepfloyd-if", str(tiny.if_folder), None)


def _trainer(tiny, folder, steps=3, log_every=None, **loss_overrides):
    """A trainer of the full Stable Diffusion preset on the tiny model, and its guidance (not run yet)."""
    from dreamlift.training.run_folder import prepare_run_folder
    from dreamlift.training.trainer import Trainer

    config = stable_diffusion_text()
    config.prompt, config.prior.model, config.prior.variant = "a hamburger", str(tiny.sd_folder), None
    config.steps, config.export_mesh, config.export_video = steps, False, False
    config.log_every = log_every or config.log_every
    for name, value in loss_overrides.items():
        setattr(config.losses, name, value)
    config.validate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        guidance = config.prior.setup(GuidanceInputs(prompt=config.prompt, device="cpu"))
    return Trainer(config, prepare_run_folder(folder, "text", resume=False), guidance, kind="text", show_progress=False), guidance


def _train(tiny, folder, steps=3, **loss_overrides):
    trainer, guidance = _trainer(tiny, folder, steps, **loss_overrides)
    return trainer.run(), guidance


def test_trainer_takes_sds_steps_with_tiny_stable_diffusion(tiny, tmp_path):
    folder = tmp_path / "run"
    summary, guidance = _train(tiny, folder, opacity=0.0)
    assert summary["step"] == 3 and summary["skipped_steps"] == 0
    assert guidance.unet_calls == 3 and guidance.text_encoder_calls == 1
    record = json.loads((folder / "config.json").read_text())
    assert record["config"]["prior"]["name"] == "stable-diffusion" and record["config"]["size"] == 64
    last = json.loads((folder / "log.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 3 and last["sds"] > 0 and torch.isfinite(torch.tensor(last["loss"]))
    assert list((folder / "checkpoints").glob("*.safetensors")) and list((folder / "previews").glob("*.png"))


def test_trainer_with_the_full_stable_diffusion_preset(tiny, tmp_path):
    """Two Adam steps of the preset move the field by at most 2 learning rates, the log has both steps with finite
    losses, and the final checkpoint holds exactly the trained state."""
    from dreamlift.distillation.checkpoint import load_latest_checkpoint

    folder = tmp_path / "run"
    trainer, _ = _trainer(tiny, folder, steps=2, log_every=1)
    before = {k: v.detach().clone() for k, v in trainer.field.state_dict().items()}
    summary = trainer.run()
    assert (summary["step"], summary["skipped_steps"], summary["rollbacks"]) == (2, 0, 0) and summary["coverage"] >= 0.002

    # Adam (bias-corrected, betas 0.9/0.99) moves a parameter with a gradient by exactly lr on its first step, and
    # by at most `second` lr on the second (Cauchy-Schwarz on m2 = 0.09 g1 + 0.1 g2, v2 = 0.0099 g1² + 0.01 g2²)
    lr = trainer.config.learning_rate
    assert trainer.config.mlp_learning_rate == lr == 0.01
    second = math.sqrt((0.09**2 / 0.0099 + 0.1**2 / 0.01) * (1 - 0.99**2)) / (1 - 0.9**2)  # 1.00113
    moves = {k: float((v - before[k]).abs().max()) for k, v in trainer.field.state_dict().items() if v.is_floating_point()}
    assert lr * (1 - 1e-4) <= max(moves.values()) <= (1 + second) * lr * (1 + 1e-4), moves  # measured: 2.00113 lr
    assert all(torch.isfinite(v).all() for v in trainer.field.state_dict().values())

    rows = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2] and rows[-1]["step"] == summary["step"]
    for row in rows:
        extras = [value for key, value in row.items() if key.startswith("loss_")]
        assert math.isfinite(row["loss"]) and row["sds"] > 0 and "loss_opacity" in row, row
        assert row["loss"] == pytest.approx(row["sds"] + sum(extras), rel=1e-5), row  # the total is its logged terms

    checkpoint, _ = load_latest_checkpoint(folder / "checkpoints")
    state = trainer.state_tensors()
    assert checkpoint.step == 2 and checkpoint.tensors.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(checkpoint.tensors[key], value.cpu()), key


def test_dreamlift_text_with_stable_diffusion(tiny, tmp_path, capsys):
    from dreamlift.cli import main

    folder = tmp_path / "hamburger"
    argv = ["text", "a hamburger", "--prior", "stable-diffusion", "--model", str(tiny.sd_folder), "--steps", "3", "--refine", "off", "--out", str(folder), "--quiet"]  # stage 2: test_refine_real_priors.py
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        status = main(argv)
    err = capsys.readouterr().err
    assert status == 0, err
    record = json.loads((folder / "config.json").read_text())
    assert record["kind"] == "text" and record["config"]["prior"]["name"] == "stable-diffusion"
    assert record["config"]["prior"]["model"] == str(tiny.sd_folder) and record["config"]["prior"]["guidance_scale"] == 100.0
    assert json.loads((folder / "log.jsonl").read_text().splitlines()[-1])["step"] == 3
    assert list((folder / "checkpoints").glob("*.safetensors"))


def test_real_guidance_from_a_train_config(tiny):
    from dreamlift.guidance.deepfloyd_if import DeepFloydIFGuidance
    from dreamlift.guidance.stable_diffusion import StableDiffusionGuidance

    sd_config, if_config = stable_diffusion_text(), deepfloyd_if_text()
    sd_config.prior.model = str(tiny.sd_folder)
    if_config.prior.model, if_config.prior.variant = str(tiny.if_folder), None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = sd_config.prior.setup(GuidanceInputs(prompt="a hamburger", device="cpu"))
        deepfloyd = if_config.prior.setup(GuidanceInputs(prompt="a hamburger", device="cpu"))
    assert isinstance(sd, StableDiffusionGuidance) and sd.guidance_scale == 100.0
    assert isinstance(deepfloyd, DeepFloydIFGuidance) and deepfloyd.guidance_scale == 20.0
    assert sd.schedule is sd_config.prior.timesteps and sd.weighting is Weighting.SDS


def test_prior_for_model_path(tiny, tmp_path):
    from dreamlift.errors import DreamliftError
    from dreamlift.guidance.priors import prior_for_model_path

    assert prior_for_model_path(str(tiny.sd_folder)) == "stable-diffusion"
    assert prior_for_model_path(str(tiny.sd_single_file)) == "stable-diffusion"
    assert prior_for_model_path(str(tiny.if_folder)) == "deepfloyd-if"
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    with pytest.raises(DreamliftError, match="holds a StableDiffusionXLPipeline"):
        prior_for_model_path(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DreamliftError, match="neither a diffusers folder"):
        prior_for_model_path(str(tmp_path / "empty"))
    # a path that does not exist is most likely a mistyped prior name
    with pytest.raises(DreamliftError, match="unknown prior .*choose one of toy, stable-diffusion, deepfloyd-if"):
        prior_for_model_path(str(tmp_path / "missing"))
