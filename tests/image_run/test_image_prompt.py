"""Image plus prompt: the text prior's SDS joins the image prior's (issue 13, item 3), with the toy priors."""

import json

import pytest
import torch

from dreamlift._atomic import write_png
from dreamlift.guidance.base import GuidanceInputs, TimestepSchedule
from dreamlift.guidance.combined import CombinedGuidance, TextGuidanceSettings, with_text_prior
from dreamlift.guidance.toy import ToyPrior, ToyPriorConfig
from dreamlift.guidance.toy_view import ToyViewPrior, ToyViewPriorConfig, ViewCandidate
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.shading import sample_lights
from dreamlift.toyworld import ToyObject, render

CHAIR = ToyObject("chair", "red")
SMALL = dict(renders_per_object=64, timesteps=TimestepSchedule())


pytestmark = pytest.mark.usefixtures("small_toy_preset")  # tests/image_run/conftest.py


def priors(front: float = 0.0, weight: float = 0.5):
    image = ToyViewPrior([ViewCandidate(CHAIR, 0.0, 1.0)], [], ToyViewPriorConfig(**SMALL))
    text = ToyPrior(CHAIR, ToyPriorConfig(**SMALL))
    return image, text, CombinedGuidance(image, text, weight, front)


def test_the_loss_is_the_image_loss_plus_the_weighted_text_loss_and_so_is_the_gradient():
    image, text, combined = priors(front=30.0, weight=0.5)
    renders = torch.rand(2, 32, 32, 3)
    cameras = OrbitCameras.make([10.0, 20.0], [40.0, -100.0])

    def gradient(call):
        x = renders.clone().requires_grad_(True)
        loss = call(x)
        loss.backward()
        return loss.detach(), x.grad

    generator = torch.Generator().manual_seed(4)
    turned = OrbitCameras.make([10.0, 20.0], [10.0, -130.0])  # the text prior sees azimuths - 30
    alone, alone_grad = gradient(lambda x: image(x, cameras, 0.3, generator).loss + 0.5 * text(x, turned, 0.3, generator).loss)
    generator = torch.Generator().manual_seed(4)
    both, both_grad = gradient(lambda x: combined(x, cameras, 0.3, generator).loss)
    torch.testing.assert_close(both, alone)
    torch.testing.assert_close(both_grad, alone_grad)
    generator = torch.Generator().manual_seed(4)
    image_only, _ = gradient(lambda x: image(x, cameras, 0.3, generator).loss)
    assert abs(float(both - image_only)) > 1e-6  # the text prior adds something, so the check above has teeth


def test_no_prompt_no_text_prior():
    image, _, _ = priors()
    assert with_text_prior(image, TextGuidanceSettings(), GuidanceInputs(prompt="  "), None) is image
    combined = with_text_prior(image, TextGuidanceSettings(prior=ToyPriorConfig(**SMALL), weight=0.25), GuidanceInputs(prompt="a red chair"), -40.0)
    assert isinstance(combined, CombinedGuidance) and combined.weight == 0.25 and combined.front_azimuth == -40.0


def chair_png(path):
    camera = OrbitCameras.make(0.0, 30.0, 3.0, 40.0)
    write_png(path, render(CHAIR, camera, 32, lights=sample_lights(camera, generator=torch.Generator().manual_seed(0)))[0])
    return path


def test_image_with_prompt_runs_and_records_the_text_prior(tmp_path, cli):
    png = chair_png(tmp_path / "chair.png")
    out = tmp_path / "run"
    done = cli("image", png, "--prompt", "a red chair", "--set", "image.text.weight=0.5", "--out", out, "--steps", 3, "--no-export", "--refine", "off", "--quiet")
    assert done.code == 0, done.stderr
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["prompt"] == "a red chair"
    assert config["image"]["text"]["prior"]["name"] == "toy" and config["image"]["text"]["weight"] == 0.5


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--prior-text", "toy"], ["--prior-text needs --prompt"]),
        (["--prompt", "a red banana"], ["unknown word 'banana'"]),
        (["--prompt", "a red chair", "--set", "image.text.weight=-1"], ["image.text.weight must be >= 0"]),
        (["--prompt", "a red chair", "--set", "size=64", "--set", "prior.resolution=64"], ["toy text prior takes 32x32 renders"]),
    ],
)
def test_bad_prompt_settings_are_one_line_errors(tmp_path, cli, extra, words):
    png = chair_png(tmp_path / "chair.png")
    cli("image", png, *extra, "--out", tmp_path / "run", "--steps", 2, "--quiet", unchanged=tmp_path).one_line_error(*words)


def test_prior_text_chooses_the_text_prior_before_set_reaches_it(tmp_path, cli):
    done = cli("image", tmp_path / "x.png", "--prompt", "a red cube", "--prior-text", "stable-diffusion", "--set", "image.text.prior.guidance_scale=50", "--print-config")
    text = json.loads(done.stdout)["config"]["image"]["text"]
    assert (text["prior"]["name"], text["prior"]["guidance_scale"]) == ("stable-diffusion", 50.0)
