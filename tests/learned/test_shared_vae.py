"""``--vae DIR``: a view prior trained on the text prior's VAE holds that VAE unchanged (weights and scaling factor)."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from .conftest import tiny_args


def without_vae_steps(args: list) -> list:
    index = args.index("--vae-steps")
    return args[:index] + args[index + 2 :]


def _vae_weights(folder):
    return load_file(str(folder / "diffusion_pytorch_model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_view_prior_on_the_text_priors_vae(cli, trained_text, tmp_path):
    out = tmp_path / "view"
    outcome = cli(*without_vae_steps(tiny_args("view", out, "--vae", trained_text.out / "model", "--steps", 4, "--quiet")))
    assert outcome.code == 0, outcome.stderr[-2000:]
    assert _same(_vae_weights(out / "model" / "vae"), _vae_weights(trained_text.out / "model" / "vae"))
    scale = lambda folder: json.loads((folder / "vae" / "config.json").read_text())["scaling_factor"]  # noqa: E731
    assert scale(out / "model") == scale(trained_text.out / "model")
    # the text training published its VAE when the VAE phase ended: the same weights and scaling factor
    assert _same(_vae_weights(trained_text.out / "vae"), _vae_weights(trained_text.out / "model" / "vae"))
    assert scale(trained_text.out) == scale(trained_text.out / "model") != 1.0
    assert not (out / "vae").exists()  # a borrowed VAE is not published again
    phases = {json.loads(line)["phase"] for line in (out / "log.jsonl").read_text().splitlines()}
    assert phases == {"unet"}
    assert json.loads((out / "config.json").read_text())["vae_steps"] == 0


def test_vae_errors_are_one_line(cli, trained_text, tmp_path):
    from diffusers import AutoencoderKL

    out, other = tmp_path / "view", tmp_path / "other"
    cli(*tiny_args("view", out, "--vae", trained_text.out / "model"), unchanged=tmp_path).one_line_error("--vae-steps")
    cli(*without_vae_steps(tiny_args("view", out, "--vae", tmp_path)), unchanged=tmp_path).one_line_error("holds no VAE")
    AutoencoderKL(block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  norm_num_groups=4).save_pretrained(other)  # halves the image once: 16x16 latents at 32 px
    cli(*without_vae_steps(tiny_args("view", out, "--vae", other)), unchanged=tmp_path).one_line_error("16x16x4", "8x8x4", "same --size")
