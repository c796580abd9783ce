"""Zero-1-to-3 checkpoints in the original latent-diffusion layout: loaded, converted, refused (issue 13, item 2).

A tiny random model is written in the diffusers layout, then in the original layout by the
test's own inverse mapping (tiny_zero123.write_original_checkpoint); both must predict the
same noise.
"""

import argparse
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

from tiny_zero123 import IMAGE_SIZE, make_tiny_zero123, write_original_checkpoint  # noqa: E402

from dreamlift.guidance.base import TimestepSchedule  # noqa: E402
from dreamlift.guidance.relative_pose import PoseEmbedding  # noqa: E402
from dreamlift.guidance.zero123 import Zero123Config, build_zero123_guidance, load_zero123_model  # noqa: E402
from dreamlift.inputs.image import ReferenceImage  # noqa: E402
from dreamlift.inputs.views import ViewInput  # noqa: E402
from dreamlift.rendering.cameras import OrbitCameras  # noqa: E402

CLIP_HIDDEN = 128  # OpenAI's layout stores no head count: heads = width // 64 = 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("zero123-ckpt")
    folder = make_tiny_zero123(root / "diffusers", seed=4, clip_hidden=CLIP_HIDDEN, clip_heads=2)
    checkpoint = write_original_checkpoint(folder, root / "zero123-tiny.ckpt")
    return folder, checkpoint, root


def views():
    generator = torch.Generator().manual_seed(11)
    front = ReferenceImage(rgba=torch.rand(24, 24, 4, generator=generator), source_size=(24, 24), matting="alpha")
    side = ReferenceImage(rgba=torch.rand(24, 24, 4, generator=generator), source_size=(24, 24), matting="alpha")
    return [ViewInput(front, OrbitCameras.make(0.0, 0.0)), ViewInput(side, OrbitCameras.make(10.0, 80.0), weight=2.0)]


def prediction(model: str, **settings) -> torch.Tensor:
    config = Zero123Config(model=model, guidance_scale=3.0, checkpoint_image_size=IMAGE_SIZE, **settings)
    guidance = build_zero123_guidance(views(), config, TimestepSchedule(), "cpu")
    generator = torch.Generator().manual_seed(2)
    x_t = torch.randn(3, 4, IMAGE_SIZE // 2, IMAGE_SIZE // 2, generator=generator)
    with torch.no_grad():
        return guidance.predict_noise(x_t, torch.tensor([50, 400, 900]), OrbitCameras.make([0.0, 20.0, -5.0], [40.0, 150.0, -90.0]))


def test_the_original_checkpoint_predicts_the_same_noise_as_the_diffusers_folder(tiny):
    folder, checkpoint, _ = tiny
    expected = prediction(str(folder))
    got = prediction(str(checkpoint))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert expected.abs().max() > 1e-2  # a real prediction, not zeros


def test_the_checkpoint_parts_equal_the_folder_parts(tiny):
    folder, checkpoint, _ = tiny
    a = load_zero123_model(Zero123Config(model=str(folder)), "cpu")
    b = load_zero123_model(Zero123Config(model=str(checkpoint), checkpoint_image_size=IMAGE_SIZE), "cpu")
    assert b.image_size == a.image_size and b.clip_size == a.clip_size
    for name in ("unet", "vae", "image_encoder", "projection"):
        ours, theirs = getattr(b, name).state_dict(), getattr(a, name).state_dict()
        assert set(ours) == set(theirs), name
        for key, value in theirs.items():
            torch.testing.assert_close(ours[key], value, msg=f"{name}.{key}")
    torch.testing.assert_close(b.alphas_cumprod, a.alphas_cumprod)


def test_convert_writes_a_pickle_free_folder_that_loads_the_same(tiny, cli):
    folder, checkpoint, root = tiny
    out = root / "converted"
    outcome = cli("convert", checkpoint, "--out", out, "--image-size", IMAGE_SIZE)
    assert outcome.code == 0, outcome.stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix in (".bin", ".ckpt", ".pt", ".pth")]
    assert {p.parent.name for p in written if p.suffix == ".safetensors"} == {"unet", "vae", "image_encoder", "clip_camera_projection"}
    torch.testing.assert_close(prediction(str(out)), prediction(str(folder)), rtol=1e-4, atol=1e-5)
    assert not [p for p in root.iterdir() if p.name.startswith(".converted")]  # no temporary folder left
    again = cli("convert", checkpoint, "--out", out, unchanged=root)
    again.one_line_error("already exists")


def test_the_variant_is_read_from_the_file_name_or_given(tiny):
    _, checkpoint, root = tiny
    stable = root / "stable_zero123.ckpt"
    stable.write_bytes(checkpoint.read_bytes())
    assert load_zero123_model(Zero123Config(model=str(stable), checkpoint_image_size=IMAGE_SIZE), "cpu").variant is PoseEmbedding.STABLE_ZERO123
    chosen = Zero123Config(model=str(stable), variant="zero123", checkpoint_image_size=IMAGE_SIZE)
    assert load_zero123_model(chosen, "cpu").variant is PoseEmbedding.ZERO123


def stable_diffusion_like(root, tiny_folder):
    """A latent-diffusion checkpoint of Stable Diffusion: a 4-channel UNet, a VAE, no pose projection."""
    path = root / "sd-like.ckpt"
    write_original_checkpoint(tiny_folder, path)
    state = torch.load(path, weights_only=True)["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith("cc_projection")}
    state["model.diffusion_model.input_blocks.0.0.weight"] = state["model.diffusion_model.input_blocks.0.0.weight"][:, :4]
    torch.save({"state_dict": state}, path)
    return path


def test_other_checkpoints_are_one_line_errors(tiny, cli, tmp_path):
    folder, _, root = tiny
    sd = stable_diffusion_like(tmp_path, folder)
    cli("convert", sd, "--out", tmp_path / "out", unchanged=tmp_path).one_line_error("not a Zero-1-to-3 checkpoint", "cc_projection", "4 channels")
    vae_only = tmp_path / "vae.ckpt"
    torch.save({"state_dict": {"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3)}}, vae_only)
    cli("convert", vae_only, "--out", tmp_path / "out", unchanged=tmp_path).one_line_error("not a Zero-1-to-3 checkpoint", "a VAE")
    pickled = tmp_path / "objects.ckpt"
    torch.save({"state_dict": {}, "hparams": argparse.Namespace(lr=1)}, pickled)
    cli("convert", pickled, "--out", tmp_path / "out", unchanged=tmp_path).one_line_error("Python objects besides tensors", "Namespace")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    cli("convert", garbage, "--out", tmp_path / "out", unchanged=tmp_path).one_line_error("cannot be read")
    image = tmp_path / "photo.png"
    ReferenceImage(rgba=torch.rand(24, 24, 4), source_size=(24, 24), matting="alpha")
    from dreamlift._atomic import write_png

    write_png(image, torch.rand(24, 24, 4))
    run = cli("image", image, "--prior", "zero123", "--model", sd, "--out", tmp_path / "run", "--device", "cpu", unchanged=tmp_path)
    run.one_line_error("not a Zero-1-to-3 checkpoint")


def test_a_checkpoint_without_its_image_encoder_says_where_to_get_one(tiny, tmp_path):
    folder, checkpoint, _ = tiny
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": {k: v for k, v in state.items() if not k.startswith("cond_stage_model")}}, bare)
    from _helpers import error_message

    error_message(lambda: load_zero123_model(Zero123Config(model=str(bare), checkpoint_image_size=IMAGE_SIZE), "cpu"), "prior.image_encoder", "openai/clip-vit-large-patch14")
    loaded = load_zero123_model(Zero123Config(model=str(bare), checkpoint_image_size=IMAGE_SIZE, image_encoder=str(folder / "image_encoder")), "cpu")
    assert loaded.clip_size == 32
