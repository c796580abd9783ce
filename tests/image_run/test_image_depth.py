"""``dreamlift image --depth FILE`` and ``--depth-model DIR`` (a tiny random DPT): depth and normal losses (issue 13, item 4)."""

import json

import numpy as np
import pytest
import torch

from dreamlift._atomic import write_png
from dreamlift.rendering.cameras import OrbitCameras, generate_rays
from dreamlift.rendering.shading import sample_lights
from dreamlift.toyworld import ToyObject, render

CHAIR = ToyObject("chair", "green")


pytestmark = pytest.mark.usefixtures("small_toy_preset")  # tests/image_run/conftest.py


def chair_png(path, size=32):
    camera = OrbitCameras.make(0.0, 30.0, 3.0, 40.0)
    write_png(path, render(CHAIR, camera, size, lights=sample_lights(camera, generator=torch.Generator().manual_seed(0)))[0])
    return path


def ray_depth_of_a_sphere(size):
    """A depth map as a user might give one: distances to a sphere of radius 0.8 seen from the input camera."""
    origins, directions = generate_rays(OrbitCameras.make(0.0, 0.0), size)
    b = (origins * directions).sum(-1)
    disc = (b**2 - ((origins * origins).sum(-1) - 0.8**2)).clamp_min(0)
    return torch.where(disc > 0, -b - disc.sqrt(), torch.full_like(b, 3.5))[0]


def last_log(folder):
    return json.loads((folder / "log.jsonl").read_text().splitlines()[-1])


def test_a_depth_file_adds_the_depth_and_normal_losses_and_resumes(tmp_path, cli):
    png = chair_png(tmp_path / "chair.png")
    np.save(tmp_path / "depth.npy", ray_depth_of_a_sphere(32).numpy())
    out = tmp_path / "run"
    done = cli("image", png, "--depth", tmp_path / "depth.npy", "--out", out, "--steps", 2, "--no-export", "--refine", "off", "--quiet")
    assert done.code == 0, done.stderr
    row = last_log(out)
    assert row["loss_reference_depth"] > 0 and row["loss_reference_normal"] > 0
    assert (out / "inputs" / "depth.safetensors").is_file()
    again = cli("image", "--resume", "--out", out, "--steps", 4, "--no-export", "--refine", "off", "--quiet")
    assert again.code == 0, again.stderr
    assert last_log(out)["step"] == 4 and "loss_reference_normal" in last_log(out)


def test_a_tiny_dpt_estimates_the_depth(tmp_path, cli):
    from transformers import DPTConfig, DPTForDepthEstimation

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=8,
        neck_hidden_sizes=(8, 16, 32, 32), fusion_hidden_size=16, backbone_out_indices=(0, 1, 2, 3), head_hidden_size=8,
    )
    DPTForDepthEstimation(config).save_pretrained(tmp_path / "dpt")
    png = chair_png(tmp_path / "chair.png", size=48)
    out = tmp_path / "run"
    done = cli("image", png, "--depth-model", tmp_path / "dpt", "--out", out, "--steps", 2, "--no-export", "--refine", "off", "--quiet")
    assert done.code == 0, done.stderr
    from safetensors.torch import load_file

    depth = load_file(str(out / "inputs" / "depth.safetensors"))["view-01"]
    assert depth.shape == (32, 32) and float(depth.max() - depth.min()) > 0
    assert last_log(out)["loss_reference_normal"] >= 0


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: np.save(d / "depth.npy", np.random.rand(20, 24)) or d / "depth.npy", ["24x20 pixels", "32x32", "image's own size"]),
        (lambda d: d / "nowhere.npy", ["nowhere.npy does not exist"]),
        (lambda d: np.save(d / "depth.npy", np.zeros((32, 32))) or d / "depth.npy", ["is flat"]),
    ],
)
def test_bad_depth_maps_are_one_line_errors(tmp_path, cli, make, words):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    png = chair_png(inputs / "chair.png")
    depth = make(inputs)
    cli("image", png, "--depth", depth, "--out", tmp_path / "run", "--steps", 2, "--quiet", unchanged=tmp_path).one_line_error(*words)


def test_depth_file_and_model_together_is_an_error(tmp_path, cli):
    png = chair_png(tmp_path / "chair.png")
    np.save(tmp_path / "depth.npy", ray_depth_of_a_sphere(32).numpy())
    cli("image", png, "--depth", tmp_path / "depth.npy", "--depth-model", tmp_path, "--out", tmp_path / "run", unchanged=tmp_path).one_line_error("not both")
