"""The library API as the README shows it: settings, a run made stage by stage with progress and a cancel hook."""

import json

import pytest

from dreamlift.distillation.loop import RunInterrupted
from dreamlift.pipeline import Progress, Run, make_run, resolve_config

SMALL = ["prior.renders_per_object=64", "refine.tet_resolution=20", "refine.batch_size=1", "refine.preview_size=32"]


def small_config(steps: int = 12, refine_steps: int = 3):
    return resolve_config(
        "text",
        settings=["prompt=a red cube", f"steps={steps}", f"refine.steps={refine_steps}", "checkpoint_every=4", "export_video=false", *SMALL],
    )


def test_a_text_run_in_a_few_lines_reports_each_stage_with_its_own_count(tmp_path):
    seen: list[Progress] = []
    result = make_run(small_config(), tmp_path / "cube", progress=seen.append)
    assert [(p.stage, p.step, p.steps) for p in seen] == [(1, k, 12) for k in range(1, 13)] + [(2, k, 3) for k in range(1, 4)]
    assert str(seen[-1]) == "refining, step 3 of 3" and str(seen[0]) == "stage 1, step 1 of 12"
    assert result.steps == {1: 12, 2: 3} and "mesh.glb" in result.written and "mesh-stage1.glb" in result.written
    run = Run.open(tmp_path / "cube")
    assert run.final_stage == 2 and run.config.prompt == "a red cube"


def test_the_cancel_hook_stops_with_a_checkpoint_and_resume_finishes_as_an_uninterrupted_run(tmp_path):
    straight = make_run(small_config(refine_steps=2), tmp_path / "straight")
    steps = []
    with pytest.raises(RunInterrupted, match="at step 6"):
        make_run(small_config(refine_steps=2), tmp_path / "split", progress=lambda p: steps.append(p.step), cancel=lambda: len(steps) >= 6)
    assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").glob("*.json"))[-1] == "step-000006.json"
    resumed = make_run(small_config(refine_steps=2), tmp_path / "split", resume=True)
    assert resumed.steps == straight.steps == {1: 12, 2: 2}

    def rows(folder):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (folder / "log.jsonl").read_text().splitlines()]

    assert rows(tmp_path / "split") == rows(tmp_path / "straight")  # on the CPU the resumed run repeats exactly
    assert (tmp_path / "split" / "mesh.glb").read_bytes() == (tmp_path / "straight" / "mesh.glb").read_bytes()


def test_the_plan_names_each_stage_and_the_device():
    from dreamlift.pipeline.stages import plan

    assert plan(small_config(), "cpu") == "stage 1: 12 steps at 32 px (toy prior); stage 2: 3 refinement steps at 64 px; device cpu"


def test_an_image_run_keeps_its_text_prior_in_stage_2(tmp_path):
    import torch

    from dreamlift._atomic import write_png
    from dreamlift.pipeline.image_inputs import ImageSource, prepare_views
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.rendering.shading import sample_lights
    from dreamlift.toyworld import parse_caption
    from dreamlift.toyworld import render

    camera = OrbitCameras.make(0.0, 30.0, 3.0, 40.0)
    png = tmp_path / "chair.png"
    write_png(png, render(parse_caption("a red chair"), camera, 32, lights=sample_lights(camera, generator=torch.Generator().manual_seed(0)))[0])
    config = resolve_config(
        "image",
        settings=["prompt=a red chair", "steps=3", "refine.enabled=true", "refine.steps=2", "export_mesh=false", "export_video=false", *SMALL],
    )
    views, candidates = prepare_views(config, ImageSource(image=png))
    make_run(config, tmp_path / "run", "image", views=views, candidates=candidates)
    for log in ("log.jsonl", "refine/log.jsonl"):
        rows = [json.loads(line) for line in (tmp_path / "run" / log).read_text().splitlines()]
        assert rows and all(row["text_sds"] > 0 for row in rows), log  # the text prior judges both stages


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The README's "From Python" block, executed as it stands (in a scratch folder), prints what its comments say."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## From Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "stage 1, step 1 of 300" and "refining, step 100 of 100" in lines
    assert lines[-1] == "2 runs/red_cube/mesh.glb" and (tmp_path / "runs" / "red_cube" / "mesh.glb").is_file()


def test_a_run_shares_the_cpus_with_other_dreamlift_runs_between_its_steps(monkeypatch, tmp_path):
    import torch

    from dreamlift import threads
    from dreamlift.running import Registration, live_runs

    for variable in (threads.THREADS_VARIABLE, "OMP_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads, "CHECK_SECONDS", 0.0)
    other = Registration(0).__enter__()  # another self-sizing run on this machine, ending at step 5
    seen: list[tuple[int, int, int]] = []

    def progress(p):
        seen.append((p.stage, p.step, torch.get_num_threads()))
        if p.step == 5 and p.stage == 1:
            other.__exit__(None, None, None)

    before, said = torch.get_num_threads(), []
    try:
        make_run(small_config(steps=8, refine_steps=2), tmp_path / "cube", progress=progress, say=said.append)
    finally:
        other.__exit__(None, None, None)
        torch.set_num_threads(before)
    assert [threads_ for _, _, threads_ in seen] == [1] * 5 + [2] * 5  # 8 steps of stage 1, 2 of stage 2
    assert "1 CPU threads (fewer while other dreamlift runs share them)" in said[0]
    assert live_runs() == []  # the run's own entry went with it
