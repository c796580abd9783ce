"""``bench/guidance_gpu.py --job`` (issue 16's whole real-prior job) on the tests' tiny SD, on the CPU.

The GPU figures come from this script when a GPU is lent; this checks on the CPU that the job it times
is the user's job (render-size milestones, refinement) and that its report adds up: one step time per
render size reached, and the sd-dreamfusion preset's training time projected from them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dreamlift.presets import preset_config

BENCH = Path(__file__).resolve().parents[2] / "bench" / "guidance_gpu.py"


def test_the_job_bench_reports_a_step_time_per_render_size_and_projects_the_preset(tmp_path):
    pytest.importorskip("diffusers")
    pytest.importorskip("transformers")
    report_path = tmp_path / "job.json"
    command = [
        sys.executable, str(BENCH), "--job", "--tiny", "--job-steps", "5", "--job-export", "off",
        "--set", "size_milestones=[[3,128,1],[4,256,1]]", "--set", "log_every=1", "--set", "prior.compile=false",
        "--set", "refine.steps=2", "--set", "refine.tet_resolution=16", "--set", "refine.preview_size=32",
        "--json", str(report_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    job = json.loads(report_path.read_text())["jobs"][0]

    assert job["steps"] == 5
    assert 0 < job["train_s"] <= job["wall_s"]
    assert job["peak_cuda_gib"] is None and job["peak_rss_gib"] > 0.1  # on the CPU, the process's resident peak
    ms = {int(size): value for size, value in job["ms_per_step_by_size"].items()}
    # logged steps 2..5 (the first, which compiles, is left out) train at indices 1..4: 64, 64, 128, 256 px
    assert sorted(ms) == [64, 128, 256] and all(value > 0 for value in ms.values())

    preset = preset_config("sd-dreamfusion")
    steps_per_size = {size: sum(preset.training_view_at(step)[0] == size for step in range(preset.steps)) for size in ms}
    assert steps_per_size == {64: 3333, 128: 1667, 256: 5000}  # threestudio's 64 -> 128 -> 256 px at a third and a half
    expected = sum(steps_per_size[size] * ms[size] for size in ms) / 1000.0
    assert job["projected_preset_train_s"] == pytest.approx(expected, abs=0.051)
