"""One prior per run: a real model loaded for stage 1 serves stage 2 (only the timestep schedule changes)."""

import json
import warnings

from dreamlift.cli import main


def test_a_tiny_sd_run_with_refinement_loads_the_model_once(tiny, tmp_path, monkeypatch):
    from dreamlift.guidance import stable_diffusion

    loads = []
    real = stable_diffusion.load_stable_diffusion_parts
    monkeypatch.setattr(stable_diffusion, "load_stable_diffusion_parts", lambda *a, **k: loads.append(1) or real(*a, **k))
    out = tmp_path / "run"
    args = [
        "text", "a hamburger", "--preset", "sd-dreamfusion", "--model", str(tiny.sd_folder), "--device", "cpu", "--out", str(out),
        "--steps", "2", "--refine-steps", "2", "--set", "refine.tet_resolution=16", "--set", "refine.preview_size=32", "--no-export", "--quiet",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main(args) == 0
    assert len(loads) == 1  # stage 1 and stage 2 judged by one model
    rows = [json.loads(line) for line in (out / "refine" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and rows[-1]["sds"] > 0
    assert main(["refine", str(out), "--resume", "--steps", "3", "--quiet", "--no-export"]) == 0  # a separate refine: one load too
    assert len(loads) == 2
