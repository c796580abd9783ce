"""The run model: a refined run's stages, and `export`, `render` and `eval` of the stage asked for (the final one by default)."""

import hashlib
import json
import shutil

import numpy as np
import pytest
import trimesh
from PIL import Image

from dreamlift.cli import main
from dreamlift.pipeline.run import Run

SMALL = ["--set", "prior.renders_per_object=64", "--set", "refine.tet_resolution=20", "--set", "refine.batch_size=1", "--set", "refine.preview_size=32"]


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def refined(tmp_path_factory):
    """A red cube: 20 stage-1 steps, then 3 refinement steps, with its assets."""
    out = tmp_path_factory.mktemp("runs") / "cube"
    args = [
        "text", "a red cube", "--out", str(out), "--steps", "20", "--refine", "on", "--set", "refine.steps=3", "--set", "refine.checkpoint_every=1",
        "--turntable-size", "32", "--quiet", *SMALL,
    ]
    assert main(args) == 0
    return out


@pytest.fixture
def run_copy(refined, tmp_path):
    return shutil.copytree(refined, tmp_path / "run")


def test_a_refined_run_knows_its_stages_and_its_final_asset(refined):
    run = Run.open(refined)
    assert run.kind == "text" and run.stage1_step() == 20 and run.stage2_step() == 3
    assert run.refined and run.final_stage == 2 and run.stage("final") == 2 and run.stage("1") == 1
    assert run.mesh_file(2) == refined / "mesh.glb" and run.mesh_file(1) == refined / "mesh-stage1.glb"
    final, first = run.asset(), run.asset(1)
    assert final.stage == 2 and final.step == 3 and final.surface is not None and final.occupancy is None
    assert first.stage == 1 and first.step == 20 and first.surface is None
    written = trimesh.load(str(refined / "mesh.glb"), force="mesh")
    assert len(final.surface.mesh().vertices) == len(written.vertices)  # mesh.glb is the refined surface, read back


def test_export_of_a_refined_run_exports_the_refined_surface_and_leaves_mesh_glb_as_it_was(run_copy, capsys):
    before = {name: md5(run_copy / name) for name in ("mesh.glb", "mesh-stage1.glb")}
    assert main(["export", str(run_copy)]) == 0
    assert "stage 2" in capsys.readouterr().out
    assert md5(run_copy / "mesh.glb") == before["mesh.glb"]  # written anew from stage 2: the same bytes
    assert main(["export", str(run_copy), "--format", "obj"]) == 0
    obj = trimesh.load(str(run_copy / "mesh.obj"), force="mesh")
    refined, stage1 = (trimesh.load(str(run_copy / n), force="mesh") for n in ("mesh.glb", "mesh-stage1.glb"))
    assert len(obj.vertices) == len(refined.vertices) != len(stage1.vertices)
    assert abs(obj.volume - refined.volume) < 1e-6
    assert main(["export", str(run_copy), "--stage", "1"]) == 0  # stage 1 goes to its own file
    assert md5(run_copy / "mesh.glb") == before["mesh.glb"] and md5(run_copy / "mesh-stage1.glb") == before["mesh-stage1.glb"]


def test_stage_1_is_never_written_over_the_refined_mesh(run_copy, cli):
    cli("export", run_copy, "--stage", "1", "--out", run_copy / "mesh.glb", unchanged=run_copy).one_line_error("refined (stage 2) mesh")
    cli("export", run_copy, "--resolution", "64", unchanged=run_copy).one_line_error("--stage 1")


def test_eval_of_a_refined_run_scores_the_refined_mesh(refined, capsys):
    from dreamlift.evaluation.mesh_scores import score_mesh_file
    from dreamlift.evaluation.scores import score_field
    from dreamlift.toyworld import parse_caption

    cube = parse_caption("a red cube")
    run = Run.open(refined)
    scores = {}
    for stage in ("final", "1"):
        assert main(["eval", str(refined), "--truth", "a red cube", "--json", "--no-turn", "--stage", stage]) == 0
        scores[stage] = json.loads(capsys.readouterr().out)
    assert scores["final"]["stage"] == 2 and scores["1"]["stage"] == 1
    for stage, number, mesh in (("final", 2, "mesh.glb"), ("1", 1, "mesh-stage1.glb")):
        asset = run.asset(number)
        expected = score_field(asset, cube, occupancy=asset.occupancy, search_turn=False).as_dict()
        assert {k: scores[stage][k] for k in expected} == expected
        assert scores[stage]["mesh_iou"] == score_mesh_file(refined / mesh, cube)["mesh_iou"]
    assert scores["final"]["silhouette_iou"] != scores["1"]["silhouette_iou"]  # the mesh's renders, not the NeRF's


def test_render_of_the_final_stage_is_the_refined_surface(refined, tmp_path):
    from dreamlift.rendering.cameras import OrbitCameras

    out = tmp_path / "view.png"
    assert main(["render", str(refined), "--elevation", "20", "--azimuth", "30", "--size", "32", "--out", str(out)]) == 0
    alpha = np.asarray(Image.open(out))[..., 3] / 255.0
    expected = Run.open(refined).asset(2).surface.render(OrbitCameras.make(20.0, 30.0, 3.0, 40.0), 32, shading="albedo").opacity[0, ..., 0]
    assert np.abs(alpha - expected.numpy()).max() <= 1.0 / 255.0 + 1e-6


def test_a_torn_newest_checkpoint_never_replaces_the_runs_mesh(run_copy, cli):
    newest = sorted((run_copy / "refine" / "checkpoints").glob("step-*.safetensors"))[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # torn: its checksum no longer matches
    cli("export", run_copy, unchanged=run_copy).one_line_error("step-000003 (step 3), is damaged", "fell back to step-000002", "not overwriting", "--out")
    other = run_copy.parent / "older.glb"
    with pytest.warns(UserWarning, match="fell back to step-000002 .step 2."):
        done = cli("export", run_copy, "--out", other)
    assert done.code == 0 and other.is_file()


def test_stage_2_of_a_run_without_refinement_is_a_one_line_error(tmp_path, cli):
    out = tmp_path / "plain"
    assert main(["text", "a red cube", "--out", str(out), "--steps", "10", "--refine", "off", "--no-export", "--quiet", *SMALL]) == 0
    assert Run.open(out).final_stage == 1
    for command in (["export", out, "--stage", "2"], ["eval", out, "--truth", "a red cube", "--stage", "2"]):
        cli(*command, unchanged=out).one_line_error("no refined surface", "--stage 1")
    final = Run.open(out).asset()
    assert final.stage == 1 and final.step == 10 and final.surface is None


def test_the_viewer_shows_each_stage_through_the_run_model(refined):
    from dreamlift.web.pages import run_page
    from dreamlift.web.runs import Run as WebRun, read_run

    info = read_run(WebRun(id="cube", path=refined), curves=False)
    assert info.stages == "stage 1: step 20 of 20 · stage 2: step 3 of 3 · final: the refined mesh"
    assert "stage 2: step 3 of 3" in run_page(WebRun(id="cube", path=refined), info, gallery=False)
