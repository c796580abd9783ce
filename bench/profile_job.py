"""Where the time of the default job goes (issue 16, item 1): README command 1, ``dreamlift text "a red cube"``.

The job runs in this process (``dreamlift.cli.main``) with the library's functions wrapped from
outside (nothing in the library is edited): each wrapped phase records its CPU time
(``time.process_time``, all threads of the process, plus finished child processes: ffmpeg)
and its wall time, *exclusive* of the
wrapped phases it calls, so the rows add up to the total. Inside previews and checkpoints
nothing is split further (their renders count as previews). ``other`` rows are a stage's
time outside any wrapped phase (losses, bookkeeping, logging, tqdm).

A shortened job runs (``--steps`` stage-1 steps, ``--refine-steps`` refinement steps, the
default schedule otherwise); per-step phases are scaled to the preset's step counts (toy and toy-sd: 600
and 200), previews and checkpoints to the number the default schedule writes, occupancy updates
to the number of update steps; set-up, export, GLB and turntable are not scaled. A step's cost
changes over a run (the occupancy grid empties, the mesh grows), so the scaled figures are
estimates: run with the default counts (``--steps 600 --refine-steps 200``) to measure them.

CPU seconds are the main figure: on a loaded machine the wall time measures the other jobs
too. Run with ``OMP_NUM_THREADS=1`` for a one-core figure (the default job on two cores
differs).

    OMP_NUM_THREADS=1 python bench/profile_job.py                           # refine on, 300 + 100 steps
    OMP_NUM_THREADS=1 python bench/profile_job.py --refine off
    OMP_NUM_THREADS=1 python bench/profile_job.py --steps 600 --refine-steps 200    # unscaled
    python bench/profile_job.py --preset toy-sd --steps 600 --refine-steps 200     # the learned text model: render, VAE, UNet, backward
"""

from __future__ import annotations

import time

_START_CPU, _START_WALL_PERF = time.process_time(), time.perf_counter()  # CPU so far: the interpreter's start-up

import argparse  # noqa: E402
import functools  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) plus its finished child processes (ffmpeg)."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


class Profiler:
    """Exclusive CPU and wall time per ``(stage, phase)``; a phase's callees that are phases too are subtracted."""

    def __init__(self):
        self.stack: list[list] = []  # [stage, phase, cpu0, wall0, child_cpu, child_wall, opaque]
        self.rows: dict[tuple[str, str], list[float]] = {}  # -> [calls, cpu, wall]
        self.stage = "job"

    def add(self, stage: str, phase: str, cpu: float, wall: float, calls: int = 1) -> None:
        row = self.rows.setdefault((stage, phase), [0, 0.0, 0.0])
        row[0] += calls
        row[1] += cpu
        row[2] += wall

    def wrap(self, fn, phase: str, stage: str | None = None, opaque: bool = False):
        """``fn`` timed as ``phase`` (``stage``: the phase starts that stage; ``opaque``: callees are not split out)."""
        profiler = self

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if any(frame[6] for frame in profiler.stack):
                return fn(*args, **kwargs)
            previous_stage = profiler.stage
            if stage is not None:
                profiler.stage = stage
            frame = [profiler.stage, phase, cpu_seconds(), time.perf_counter(), 0.0, 0.0, opaque]
            profiler.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                profiler.stack.pop()
                cpu, wall = cpu_seconds() - frame[2], time.perf_counter() - frame[3]
                profiler.add(frame[0], phase, cpu - frame[4], wall - frame[5])
                if profiler.stack:
                    profiler.stack[-1][4] += cpu
                    profiler.stack[-1][5] += wall
                profiler.stage = previous_stage

        timed.__profiled__ = fn
        return timed


def patch_everywhere(original, replacement) -> int:
    """Replace ``original`` by ``replacement`` in every loaded dreamlift module that holds it; returns how many."""
    count = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("dreamlift") or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, replacement)
                count += 1
    return count


def patch_function(profiler: Profiler, module, name: str, phase: str, **kw) -> None:
    original = getattr(module, name)
    if patch_everywhere(original, profiler.wrap(original, phase, **kw)) == 0:
        raise SystemExit(f"bench: {module.__name__}.{name} not found to wrap")


def patch_method(profiler: Profiler, cls, name: str, phase: str, **kw) -> None:
    setattr(cls, name, profiler.wrap(getattr(cls, name), phase, **kw))


def instrument(profiler: Profiler) -> None:
    """Wrap the phases of both stages and the export (the modules are imported by now)."""
    import torch

    from dreamlift.export import formats, grid, mesh, texture, video
    from dreamlift.guidance import base, priors, toy
    from dreamlift.pipeline import stages as pipeline_stages
    from dreamlift.refine import export as refine_export, geometry, regularisers, render, stage
    from dreamlift.rendering import cameras, occupancy, raster_torch, renderer, shading
    from dreamlift.distillation import loop
    from dreamlift.training import trainer

    # stages
    patch_method(profiler, trainer.Trainer, "run", "other (losses, bookkeeping)", stage="stage 1")
    patch_function(profiler, pipeline_stages, "_refine", "other (set-up: tet grid, SDF init)", stage="refine")
    patch_method(profiler, stage.Refiner, "run", "other (losses, bookkeeping)")
    patch_function(profiler, pipeline_stages, "write_assets", "other (clean-up, copies)", stage="export")
    # prior set-up (the toy prior's render cache; a diffusers model's load and prompt encoding)
    patch_method(profiler, priors.ToyPriorConfig, "setup", "prior set-up (render cache load)")
    patch_method(profiler, priors.StableDiffusionConfig, "setup", "prior set-up (model load, prompts)")
    # steps of both stages
    patch_method(profiler, occupancy.OccupancyGrid, "update", "occupancy update")
    patch_function(profiler, cameras, "sample_cameras", "camera/light/shading sampling")
    patch_function(profiler, shading, "sample_lights", "camera/light/shading sampling")
    patch_function(profiler, trainer, "draw_shading", "camera/light/shading sampling")
    patch_method(profiler, renderer.VolumeRenderer, "render", "render forward (volume)")
    patch_method(profiler, base.Guidance, "__call__", "guidance call (SDS)")
    patch_function(profiler, toy, "posterior_mean", "guidance: posterior mean")
    from dreamlift.guidance import _diffusers_guidance, stable_diffusion

    patch_method(profiler, stable_diffusion.StableDiffusionGuidance, "encode", "guidance: VAE encode")
    patch_method(profiler, _diffusers_guidance.DiffusersGuidance, "unet_epsilon", "guidance: UNet")
    patch_method(profiler, torch.Tensor, "backward", "backward")
    patch_method(profiler, torch.optim.Adam, "step", "optimizer step")
    patch_method(profiler, loop.DistillationLoop, "backward_and_step", "zero_grad + finite checks")
    patch_method(profiler, loop.DistillationLoop, "save", "checkpoints", opaque=True)
    patch_method(profiler, trainer.Trainer, "write_previews", "previews", opaque=True)
    patch_method(profiler, stage.Refiner, "write_previews", "previews", opaque=True)
    patch_method(profiler, loop.DistillationLoop, "_log", "log.jsonl", opaque=True)
    # refinement
    patch_method(profiler, geometry.DMTetGeometry, "surface", "marching tets")
    patch_function(profiler, render, "render_mesh", "mesh render: normals, albedo, shading")
    patch_function(profiler, raster_torch, "project", "mesh render: project")
    patch_function(profiler, raster_torch, "rasterize", "mesh render: rasterise")
    patch_function(profiler, raster_torch, "interpolate", "mesh render: interpolate")
    patch_function(profiler, raster_torch, "antialias", "mesh render: antialias")
    patch_function(profiler, regularisers, "normal_consistency", "regularisers")
    patch_function(profiler, regularisers, "laplacian_smoothness", "regularisers")
    # export
    patch_function(profiler, mesh, "extract_mesh", "mesh: floaters, orientation")
    patch_function(profiler, grid, "sample_grid", "mesh: grid sampling", opaque=True)
    patch_function(profiler, mesh, "fit_grid_level", "mesh: level fit (volume renders)", opaque=True)
    patch_function(profiler, mesh, "marching_cubes", "mesh: marching cubes")
    patch_function(profiler, refine_export, "clean_surface", "mesh: clean refined surface")
    patch_function(profiler, texture, "apply_colour", "colour (vertex albedo)")
    patch_function(profiler, formats, "write_mesh", "GLB write")
    patch_function(profiler, refine_export, "write_mesh_turntable", "frames to uint8, chunks", stage="turntable")
    patch_function(profiler, video, "write_mp4", "mp4 encode")


IMPORTS = (
    "dreamlift.cli",
    "dreamlift.commands.text",
    "dreamlift.commands._settings",
    "dreamlift.guidance.toy",
    "dreamlift.training.trainer",
    "dreamlift.pipeline.stages",
    "dreamlift.refine.stage",
    "dreamlift.refine.export",
    "dreamlift.export",
    "dreamlift.export.video",
    "tqdm",
)


def scale_factors(config_steps: int, config_refine_steps: int, steps: int, refine_steps: int, defaults) -> dict:
    """Per (stage, phase) multipliers from the shortened job to the default one."""
    def saves(total: int, every: int) -> int:  # periodic (before the end) + the last one
        return len([s for s in range(every, total, every)]) + 1

    def previews(total: int, every: int) -> int:
        return (len(range(every, total, every)) if every else 0) + 1

    def updates(total: int, every: int) -> int:
        return len(range(0, total, every))

    d, r = defaults, defaults.refine
    occ = d.occupancy.update_every
    return {
        ("stage 1", "per step"): d.steps / steps,
        ("stage 1", "checkpoints"): saves(d.steps, d.checkpoint_every) / saves(steps, d.checkpoint_every),
        ("stage 1", "previews"): previews(d.steps, d.preview_every) / previews(steps, d.preview_every),
        ("stage 1", "occupancy update"): updates(d.steps, occ) / updates(steps, occ),
        ("refine", "per step"): r.steps / refine_steps if refine_steps else 0.0,
        ("refine", "checkpoints"): saves(r.steps, r.checkpoint_every) / saves(refine_steps, r.checkpoint_every) if refine_steps else 0.0,
        ("refine", "previews"): previews(r.steps, r.preview_every) / previews(refine_steps, r.preview_every) if refine_steps else 0.0,
    }


UNSCALED = {"prior set-up (render cache load)", "prior set-up (model load, prompts)", "other (set-up: tet grid, SDF init)", "load stage 1", "mesh: grid sampling", "mesh: level fit (volume renders)"}


def factor_for(factors: dict, stage: str, phase: str) -> float:
    if stage not in ("stage 1", "refine") or phase in UNSCALED:
        return 1.0
    if (stage, phase) in factors:
        return factors[(stage, phase)]
    return factors[(stage, "per step")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="stage-1 steps of the shortened job")
    parser.add_argument("--refine", choices=("on", "off"), default="on", help="run the refinement stage")
    parser.add_argument("--refine-steps", type=int, default=100, help="refinement steps of the shortened job")
    parser.add_argument("--prompt", default="a red cube")
    parser.add_argument("--preset", default=None, help="a named preset (default: the prior's default, toy)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])

    profiler = Profiler()
    startup_cpu = _START_CPU
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    import importlib

    for name in IMPORTS:
        importlib.import_module(name)
    profiler.add("start-up", "imports (torch, dreamlift, export deps)", cpu_seconds() - cpu0, time.perf_counter() - wall0)

    from dreamlift import cli
    from dreamlift.presets import preset_config

    instrument(profiler)
    defaults = preset_config(args.preset or "toy")  # the job's preset: its step counts and schedule are what the figures are scaled to
    refine_steps = args.refine_steps if args.refine == "on" else 0
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "run"
        argv = ["text", args.prompt, "--out", str(out), "--steps", str(args.steps), "--refine", args.refine, "--quiet"]
        if args.refine == "on":
            argv += ["--set", f"refine.steps={args.refine_steps}"]
        if args.preset:
            argv += ["--preset", args.preset]
        job = profiler.wrap(cli.main, "CLI, config, run folder", stage="job")
        cpu1, wall1 = cpu_seconds(), time.perf_counter()
        status = job(argv)
        job_cpu, job_wall = cpu_seconds() - cpu1, time.perf_counter() - wall1
        if status != 0:
            raise SystemExit(f"bench: the job exited {status}")
    load_after = " ".join(open("/proc/loadavg").read().split()[:3])

    factors = scale_factors(defaults.steps, defaults.refine.steps, args.steps, refine_steps, defaults)
    table = []
    for (stage, phase), (calls, cpu, wall) in profiler.rows.items():
        f = factor_for(factors, stage, phase)
        table.append((stage, phase, int(calls), cpu, wall, cpu * f, wall * f))
    table.append(("start-up", "interpreter start (python, site)", 1, startup_cpu, float("nan"), startup_cpu, float("nan")))
    order = {"start-up": 0, "job": 1, "stage 1": 2, "refine": 3, "export": 4, "turntable": 5}
    table.sort(key=lambda row: (order.get(row[0], 9), -row[5]))
    total_cpu = sum(row[5] for row in table)
    total_wall = sum(row[6] for row in table if math.isfinite(row[6]))

    print(f"profile of `dreamlift {' '.join(argv[:2])} ...` scaled to {defaults.steps} stage-1 steps"
          + (f" + {defaults.refine.steps} refinement steps" if refine_steps else " (refine off)"))
    print(f"measured: {args.steps} stage-1 steps" + (f", {refine_steps} refinement steps" if refine_steps else "")
          + f"; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; load before {load_before}, after {load_after}")
    print(f"job as run: CPU {job_cpu:.1f} s, wall {job_wall:.1f} s (+ start-up and imports)")
    print()
    print(f"| {'stage':8s} | {'phase':42s} | {'calls':>6s} | {'CPU s run':>9s} | {'CPU s default':>13s} | {'share':>6s} | {'wall s default':>14s} |")
    print(f"|{'-' * 10}|{'-' * 44}|{'-' * 7}:|{'-' * 10}:|{'-' * 14}:|{'-' * 7}:|{'-' * 15}:|")
    stage_totals: dict[str, float] = {}
    for stage, phase, calls, cpu, wall, cpu_d, wall_d in table:
        stage_totals[stage] = stage_totals.get(stage, 0.0) + cpu_d
        wall_text = f"{wall_d:14.2f}" if math.isfinite(wall_d) else f"{'-':>14s}"
        print(f"| {stage:8s} | {phase:42s} | {calls:6d} | {cpu:9.2f} | {cpu_d:13.2f} | {100 * cpu_d / total_cpu:5.1f}% | {wall_text} |")
    print(f"| {'total':8s} | {'':42s} | {'':6s} | {'':9s} | {total_cpu:13.2f} | {100.0:5.1f}% | {total_wall:14.2f} |")
    print()
    print("by stage (CPU s, default counts): " + ", ".join(f"{s} {v:.1f} ({100 * v / total_cpu:.0f}%)" for s, v in stage_totals.items()))
    per_step = {}
    for stage, phase, calls, cpu, wall, cpu_d, wall_d in table:
        if stage in ("stage 1", "refine") and phase not in UNSCALED and phase not in ("checkpoints", "previews"):
            per_step[stage] = per_step.get(stage, 0.0) + cpu
    steps_of = {"stage 1": args.steps, "refine": refine_steps}
    print("per step (CPU ms, excluding set-up, previews, checkpoints): "
          + ", ".join(f"{s} {1000 * v / steps_of[s]:.1f}" for s, v in per_step.items() if steps_of[s]))


if __name__ == "__main__":
    main()
