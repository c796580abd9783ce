"""The trained folders drive real runs from the command line: ``dreamlift text --prior stable-diffusion --model DIR``
and ``dreamlift image --prior zero123 --model DIR`` (two steps each, no export)."""

from __future__ import annotations

import json

RUN = ("--steps", "2", "--no-export", "--refine", "off", "--quiet")


def logged_steps(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_text_run_with_the_learned_text_prior(cli, trained_text, tmp_path):
    out = tmp_path / "run"
    outcome = cli("text", "a red cube", "--prior", "stable-diffusion", "--model", trained_text.out / "model", *RUN, "--out", out)
    assert outcome.code == 0, outcome.stderr[-2000:]
    steps = logged_steps(out)
    assert [s["step"] for s in steps][-1] == 2 and all(s["sds"] > 0 for s in steps)
    assert "Loading weights" not in outcome.stderr and "it/s" not in outcome.stderr  # --quiet: no library progress bars
    refined = cli("refine", out, "--steps", "1", "--no-export", "--quiet")  # stage 2 alone loads the model again
    assert refined.code == 0 and "Loading weights" not in refined.stderr and "it/s" not in refined.stderr, refined.stderr[-2000:]


def test_an_image_run_with_the_learned_view_prior(cli, trained_view, tmp_path):
    from dreamlift._atomic import write_png
    from dreamlift.rendering.cameras import OrbitCameras
    from dreamlift.rendering.shading import head_lights
    from dreamlift.toyworld import ToyObject, render

    camera = OrbitCameras.make(15.0, 30.0, 3.0, 40.0)
    write_png(tmp_path / "house.png", render(ToyObject("house", "red"), camera, size=64, lights=head_lights(camera))[0])
    out = tmp_path / "run"
    outcome = cli("image", tmp_path / "house.png", "--prior", "zero123", "--model", trained_view.out / "model", *RUN, "--out", out)
    assert outcome.code == 0, outcome.stderr[-2000:]
    assert [s["step"] for s in logged_steps(out)][-1] == 2
    assert "Loading weights" not in outcome.stderr and "it/s" not in outcome.stderr
