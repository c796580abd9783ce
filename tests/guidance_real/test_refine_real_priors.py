"""Two refinement steps of every text preset of the real priors, on the tiny models, at the presets' own render sizes."""

from __future__ import annotations

import json
import math
import warnings

import pytest

from dreamlift.cli import main


@pytest.mark.parametrize("preset, size", [("sd-dreamfusion", 512), ("sd-perp-neg", 512), ("if-dreamfusion", 64), ("if-perp-neg", 64)])
def test_two_refinement_steps_of_each_real_prior_preset(tiny, tmp_path, preset, size):
    model = tiny.sd_folder if preset.startswith("sd") else tiny.if_folder
    out = tmp_path / "run"
    args = [
        "text", "a hamburger", "--preset", preset, "--model", str(model), "--device", "cpu", "--out", str(out),
        "--steps", "2", "--set", "refine.steps=2", "--set", "refine.tet_resolution=16", "--set", "refine.preview_size=32",
        "--no-export", "--quiet",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main(args) == 0
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["refine"]["enabled"] is True and record["config"]["refine"]["size"] == size  # the preset refines
    rows = [json.loads(line) for line in (out / "refine" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and math.isfinite(rows[-1]["loss"]) and rows[-1]["sds"] > 0 and rows[-1]["faces"] > 0
    assert list((out / "refine" / "checkpoints").glob("*.safetensors"))
