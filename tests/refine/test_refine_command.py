"""Stage 2 through the command line: ``dreamlift text --refine on`` and ``dreamlift refine RUN``, resume, outputs, bad input."""

import json

import numpy as np
import pytest
import trimesh
from PIL import Image

from dreamlift.cli import main

SMALL = ["--set", "prior.renders_per_object=64", "--set", "refine.tet_resolution=20", "--set", "refine.batch_size=1", "--set", "refine.preview_size=32"]
"""A small toy memory and tet grid: runs of seconds."""


def log_rows(path):
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """A finished 30-step stage 1 of a red cube with its stage-1 assets (no refinement)."""
    out = tmp_path_factory.mktemp("runs") / "cube"
    args = ["text", "a red cube", "--out", str(out), "--steps", "30", "--quiet", "--refine", "off", "--turntable-size", "48", *SMALL]
    assert main(args) == 0
    return out


def copy_run(stage1, tmp_path, name="run"):
    import shutil

    return shutil.copytree(stage1, tmp_path / name)


def test_stage1_alone_writes_its_mesh_and_a_mesh_turntable(stage1):
    assert (stage1 / "mesh.glb").is_file() and not (stage1 / "mesh-stage1.glb").exists() and not (stage1 / "refine").exists()
    import imageio.v3 as iio

    frames = iio.imread(stage1 / "turntable.mp4")
    assert frames.shape[1:3] == (48, 48) and len(frames) == 24
    assert frames.min() < 100 and frames.max() > 240  # the object on white


def test_text_with_refine_on_runs_both_stages_and_exports_both_meshes(tmp_path):
    out = tmp_path / "run"
    args = ["text", "a red cube", "--out", str(out), "--steps", "20", "--quiet", "--refine", "on", "--set", "refine.steps=3", "--turntable-size", "32", *SMALL]
    assert main(args) == 0
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["refine"]["enabled"] is True and record["config"]["turntable_size"] == 32
    rows = log_rows(out / "refine" / "log.jsonl")
    assert rows[-1]["step"] == 3 and rows[-1]["faces"] > 100 and np.isfinite(rows[-1]["loss"])
    assert list((out / "refine" / "checkpoints").glob("*.safetensors"))
    preview = Image.open(sorted((out / "refine" / "previews").glob("*.png"))[-1])
    assert preview.size == (4 * 32, 2 * 32)  # four views above their normal maps
    refined = trimesh.load(str(out / "mesh.glb"), force="mesh")
    first = trimesh.load(str(out / "mesh-stage1.glb"), force="mesh")
    assert refined.is_watertight and refined.volume > 0 and len(refined.faces) > 100
    assert abs(refined.volume - first.volume) < 0.25 * first.volume  # three steps refine, they do not replace
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_refine_command_resumes_exactly_as_an_uninterrupted_refinement(stage1, tmp_path):
    straight = copy_run(stage1, tmp_path, "straight")
    assert main(["refine", str(straight), "--steps", "4", "--quiet", "--no-export", "--set", "refine.checkpoint_every=2", "--set", "refine.log_every=1"]) == 0
    split = copy_run(stage1, tmp_path, "split")
    assert main(["refine", str(split), "--steps", "2", "--quiet", "--no-export", "--set", "refine.checkpoint_every=2", "--set", "refine.log_every=1"]) == 0
    assert main(["refine", str(split), "--steps", "4", "--resume", "--quiet", "--no-export"]) == 0
    assert log_rows(split / "refine" / "log.jsonl") == log_rows(straight / "refine" / "log.jsonl")
    assert [r["step"] for r in log_rows(split / "refine" / "log.jsonl")] == [1, 2, 3, 4]
    record = json.loads((split / "config.json").read_text())
    assert record["config"]["refine"]["steps"] == 4 and record["config"]["steps"] == 30  # stage 1's record is kept


def test_refine_command_writes_the_refined_assets(stage1, tmp_path, capsys):
    run = copy_run(stage1, tmp_path)
    stage1_mesh = (run / "mesh.glb").read_bytes()
    assert main(["refine", str(run), "--steps", "2", "--resolution", "32", "--turntable-size", "40", "--quiet"]) == 0
    assert "refined for 2 steps" in capsys.readouterr().out
    assert (run / "mesh-stage1.glb").is_file() and (run / "mesh.glb").read_bytes() != stage1_mesh
    import imageio.v3 as iio

    assert iio.imread(run / "turntable.mp4").shape[1:3] == (40, 40)


@pytest.mark.parametrize("fill", [False, True])
def test_refine_fill_unseen_starts_with_the_hollow_no_camera_sees_filled(stage1, tmp_path, monkeypatch, fill):
    """With ``refine.fill_unseen`` the refinement starts from stage 1's SDF with every unseen outside vertex
    inside (at −½ spacing); without it, from stage 1's SDF as it is. Stage 1 here is an upturned cup."""
    import torch

    from _helpers import upturned_cup_sdf

    from dreamlift.commands.refine import saved_inputs
    from dreamlift.pipeline.run import Run
    from dreamlift.pipeline.stages import stage2_guidance
    from dreamlift.refine import stage as stage_module
    from dreamlift.refine.stage import Refiner
    from dreamlift.refine.tets import tet_grid
    from dreamlift.refine.visibility import range_cameras, unseen_outside
    from dreamlift.training.run_folder import read_run_config, read_run_record

    run = copy_run(stage1, tmp_path)
    record = read_run_record(run)
    config = read_run_config(run, record)
    config.refine.enabled, config.refine.fill_unseen = True, fill
    grid = tet_grid(config.refine.tet_resolution, config.nerf.bound)
    side = grid.resolution + 1
    cup = upturned_cup_sdf(grid.vertices)
    monkeypatch.setattr(stage_module, "initial_sdf", lambda *args, **kwargs: cup.reshape(side, side, side).clone())
    opened = Run.open(run)
    inputs = saved_inputs(opened, config, torch.device("cpu"))
    refiner = Refiner(config, run, stage2_guidance(config, inputs), opened.stage1(finished=True), show_progress=False)
    unseen = unseen_outside(cup, grid, range_cameras(config.cameras))
    assert int(unseen.sum()) > 10
    expected = torch.where(unseen, torch.full_like(cup, -0.5 * grid.spacing), cup) if fill else cup
    assert torch.equal(refiner.geometry.sdf.detach(), expected)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--set", "nerf.hidden=8"], ["refine.*"]),
        (["--set", "refine.tet_resolution=3"], ["tet_resolution"]),
        (["--set", "refine.initial_level=0"], ["initial_level", "(0, 4]"]),
        (["--resolution", "48"], ["toy prior", "32, 64, 128"]),
        (["--resume"], ["no refinement to resume"]),
        (["--set", "refine.nosuch=1"], ["nosuch"]),
        (["--set", "refine.rasterizer=nvdiffrast"], ["nvdiffrast", "auto or torch"]),  # not installed here
    ],
)
def test_bad_refine_arguments_are_one_line_errors(stage1, tmp_path, cli, args, words):
    run = copy_run(stage1, tmp_path)
    cli("refine", run, "--steps", 2, "--quiet", *args, unchanged=run).one_line_error(*words)


def test_refining_twice_or_an_unfinished_or_missing_run_is_refused(stage1, tmp_path, cli):
    run = copy_run(stage1, tmp_path)
    assert main(["refine", str(run), "--steps", "1", "--quiet", "--no-export"]) == 0
    cli("refine", run, "--quiet", unchanged=run).one_line_error("refined already", "--resume")
    cli("refine", tmp_path / "nothing", unchanged=tmp_path).one_line_error("not a folder")
    unfinished = tmp_path / "unfinished"
    assert main(["text", "a red cube", "--out", str(unfinished), "--steps", "4", "--quiet", "--no-export", "--refine", "off", "--set", "checkpoint_every=2", *SMALL]) == 0
    record = json.loads((unfinished / "config.json").read_text())
    record["config"]["steps"] = 8  # as if stopped at step 4 of 8
    (unfinished / "config.json").write_text(json.dumps(record))
    cli("refine", unfinished, "--quiet", unchanged=unfinished).one_line_error("stopped at step 4 of 8", "--resume")


def test_a_missing_nvdiffrast_is_refused_before_stage_1_trains(tmp_path, cli):
    import importlib.util

    if importlib.util.find_spec("nvdiffrast") is not None:
        pytest.skip("nvdiffrast is installed")
    cli("text", "a red cube", "--out", tmp_path / "run", "--refine", "on", "--set", "refine.rasterizer=nvdiffrast", unchanged=tmp_path).one_line_error("nvdiffrast")
