"""``dreamlift image`` through ``dreamlift.cli.main``: few-step runs (toy prior, tiny Zero-1-to-3), resume, bad input."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dreamlift import cli
from dreamlift._atomic import write_png
from dreamlift.commands import image as image_command
from dreamlift.evaluation.image_scores import score_image_run
from dreamlift.rendering.cameras import OrbitCameras, wrap_degrees
from dreamlift.rendering.shading import sample_lights
from dreamlift.toyworld import ToyObject, render
from dreamlift.pipeline.run import Run

CHAIR = ToyObject("chair", "orange")


@pytest.fixture(autouse=True)
def image_command_registered(monkeypatch):
    """Until cli.py lists the command, add it for these tests (a no-op once it does)."""
    if "image" not in cli.COMMANDS:
        monkeypatch.setitem(cli.COMMANDS, "image", (image_command, "one image to a 3D asset"))


pytestmark = pytest.mark.usefixtures("small_toy_preset")  # tests/image_run/conftest.py


def toy_png(path: Path, elevation: float, azimuth: float, obj=CHAIR) -> Path:
    camera = OrbitCameras.make(elevation, azimuth, 3.0, 40.0)
    write_png(path, render(obj, camera, 32, lights=sample_lights(camera, generator=torch.Generator().manual_seed(0)))[0])
    return path


def dreamlift(*argv) -> int:
    return cli.main(["image", *map(str, argv)])


def test_toy_run_writes_the_run_folder_and_resumes_exactly(tmp_path, capsys):
    png = toy_png(tmp_path / "chair.png", 20.0, 50.0)
    out = tmp_path / "run"
    assert dreamlift(png, "--out", out, "--elevation", 20, "--steps", 5, "--no-export", "--quiet") == 0
    assert "toy prior sees: an orange chair" in capsys.readouterr().out
    record = json.loads((out / "config.json").read_text())
    assert record["kind"] == "image" and record["config"]["prior"]["name"] == "toy-view"
    view = record["config"]["image"]["views"][0]
    assert (view["elevation"], view["azimuth"], view["radius"], view["fovy"], view["file"]) == (20.0, 0.0, 3.0, 40.0, "input.png")
    with Image.open(out / "input.png") as image:
        assert image.mode == "RGBA" and image.size == (32, 32)
    best = json.loads((out / "view_prior.json").read_text())["candidates"][0]
    assert (best["shape"], best["color"]) == ("chair", "orange")
    assert abs(float(wrap_degrees(best["turn"] + 50.0))) <= 10.0
    # lose the last checkpoint (a crash after step 4): the resumed run, rebuilt from input.png and
    # view_prior.json, ends exactly as the uninterrupted one did
    final = out / "checkpoints" / "step-000005"
    uninterrupted = load_file(str(final.with_suffix(".safetensors")))
    final.with_suffix(".json").unlink()
    final.with_suffix(".safetensors").unlink()
    assert dreamlift("--out", out, "--resume", "--no-export", "--quiet") == 0
    assert "resuming" in capsys.readouterr().err
    resumed = load_file(str(final.with_suffix(".safetensors")))
    for key in (k for k in uninterrupted if k.startswith("field.")):
        assert torch.equal(resumed[key], uninterrupted[key]), key
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps[-1] == 5
    run = Run.open(out)
    scores = score_image_run(run, run.asset(), CHAIR, input_azimuth=50.0)
    assert all(math.isfinite(v) for v in scores.as_dict().values())


def test_view_table_uses_every_view(tmp_path):
    # the true object seen from 30 and 120; the table puts those cameras at 0 and 90 (the run's frame is turned by -30)
    toy_png(tmp_path / "a.png", 10.0, 30.0)
    toy_png(tmp_path / "b.png", 10.0, 120.0)
    (tmp_path / "views.csv").write_text("path,elevation,azimuth\na.png,10,0\nb.png,10,90\n")
    out = tmp_path / "run"
    assert dreamlift("--views", tmp_path / "views.csv", "--out", out, "--steps", 2, "--no-export", "--quiet") == 0
    assert (out / "input.png").is_file() and (out / "inputs" / "view-02.png").is_file()
    candidates = json.loads((out / "view_prior.json").read_text())["candidates"]
    near = sum(c["weight"] for c in candidates if c["shape"] == "chair" and abs(float(wrap_degrees(c["turn"] + 30.0))) <= 10.0)
    assert near > 0.9


def load_tiny_zero123():
    path = Path(__file__).resolve().parents[1] / "guidance_zero123" / "tiny_zero123.py"
    spec = importlib.util.spec_from_file_location("tiny_zero123_for_image_runs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zero123_run_with_tiny_model(tmp_path):
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    model = load_tiny_zero123().make_tiny_zero123(tmp_path / "zero123")
    png = toy_png(tmp_path / "chair.png", 0.0, 30.0)
    out = tmp_path / "run"
    assert dreamlift(png, "--prior", "zero123", "--model", model, "--out", out, "--steps", 2, "--no-export", "--quiet") == 0
    record = json.loads((out / "config.json").read_text())
    assert record["kind"] == "image" and record["config"]["prior"]["name"] == "zero123" and record["config"]["prior"]["model"] == str(model)
    assert (out / "input.png").is_file() and not (out / "view_prior.json").exists()
    # a model folder given as the prior is Zero-1-to-3 too
    assert dreamlift(png, "--prior", model, "--out", tmp_path / "run2", "--steps", 1, "--no-export", "--quiet") == 0


def png_bytes(rgba: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    return buffer.getvalue()


BAD_CASES = {  # case: (make the arguments in a folder, words of the error)
    "not an image": (lambda d: (d / "notes.png").write_text("just text") and [d / "notes.png"], ["notes.png is not an image that can be read"]),
    "truncated": (lambda d: (d / "cut.png").write_bytes(png_bytes(np.full((40, 40, 4), 200, np.uint8))[:60]) and [d / "cut.png"], ["cut.png could not be decoded", "truncated or corrupt"]),
    "fully transparent": (lambda d: (d / "clear.png").write_bytes(png_bytes(np.zeros((40, 40, 4), np.uint8))) and [d / "clear.png"], ["clear.png is empty: it is fully transparent"]),
    "missing": (lambda d: [d / "nowhere.png"], ["nowhere.png does not exist"]),
    "a folder": (lambda d: [d], ["inputs is a folder, not an image"]),
    "elevation out of range": (lambda d: [toy_png(d / "ok.png", 0.0, 0.0), "--elevation", "100"], ["--elevation 100 is outside [-90, 90]"]),
    "zero123 without model": (lambda d: [toy_png(d / "ok.png", 0.0, 0.0), "--prior", "zero123"], ["--prior zero123 needs --model"]),
    "unknown prior": (lambda d: [toy_png(d / "ok.png", 0.0, 0.0), "--prior", "dall-e"], ["unknown prior 'dall-e'", "toy or zero123"]),
    "image and table": (lambda d: [toy_png(d / "ok.png", 0.0, 0.0), "--views", d / "views.csv"], ["one image or --views TABLE, not both"]),
    "no image": (lambda d: [], ["give an image file", "--views TABLE"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, cli):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    make, words = BAD_CASES[case]
    cli("image", *make(inputs), "--out", tmp_path / "run", "--steps", 2, "--quiet", unchanged=tmp_path).one_line_error(*words)


@pytest.mark.parametrize("preset", ["toy-image", "zero123"])
def test_two_refinement_steps_of_each_image_preset(preset, tmp_path):
    """Stage 1 then two steps of stage 2 for the image presets (the tiny Zero-1-to-3 for zero123)."""
    png = toy_png(tmp_path / "chair.png", 10.0, 30.0)
    model = ["--model", load_tiny_zero123().make_tiny_zero123(tmp_path / "zero123")] if preset == "zero123" else []
    out = tmp_path / "run"
    small = ["--set", "refine.tet_resolution=16", "--set", "refine.preview_size=32"]
    if preset == "toy-image":  # the preset's own refine.size, 64 px, from stage 1's 32-px views (it once failed there)
        small += ["--set", "prior.renders_per_object=64"]
    else:
        small += ["--set", "refine.size=32"]
    assert dreamlift(png, "--preset", preset, *model, "--out", out, "--steps", 2, "--refine", "on", "--set", "refine.steps=2", *small, "--turntable-size", 32, "--quiet") == 0
    rows = [json.loads(line) for line in (out / "refine" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and math.isfinite(rows[-1]["loss"]) and rows[-1]["faces"] > 0
    if preset == "toy-image":  # its reference views are matched on every step, in stage 2 too
        assert rows[-1]["loss_reference_rgb"] > 0 and rows[-1]["loss_reference_mask"] >= 0
    assert (out / "mesh.glb").is_file() and (out / "mesh-stage1.glb").is_file() and (out / "turntable.mp4").is_file()
