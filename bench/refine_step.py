"""Median milliseconds of one refinement (stage 2) step on a finished run, by phase.

The refiner is set up on ``RUN`` as ``dreamlift refine RUN`` would (nothing is written to the
folder), trains ``--warm`` steps, then times ``--repeats`` steps phase by phase: the surface
(marching tetrahedra on the band), the mesh render, the prior's call, the regularisers, and the
backward pass with the optimizer step. The reference in the same process is the same steps
with ``refine.supersample=1`` (one sample per pixel), timed alternately with the default, so a
busy machine slows both alike. Usage::

    python bench/refine_step.py RUN [--repeats 20] [--warm 5]
    PYTHONPATH=OTHER_CHECKOUT python bench/refine_step.py RUN    # another tree's code on the same run

Prints a row per variant: median ms per step and per phase, and the surface's faces.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

PHASES = ("surface", "render", "prior", "regularisers", "backward+step")


def timed_step(refiner, supersample: int) -> dict[str, float]:
    """One refinement step as ``Refiner.train_step`` makes it, with each phase's wall time (ms)."""
    from dreamlift.refine.regularisers import laplacian_smoothness, mesh_edges, normal_consistency
    from dreamlift.distillation.sampling import draw_lights, draw_shading

    refine, config = refiner.config.refine, refiner.config
    marks = [time.perf_counter()]
    cameras, lights = refiner.draw_views()
    shading = draw_shading(config.shading, refiner.step, refiner.generator)
    if lights is None:
        lights = draw_lights(cameras, config.shading, refiner.generator)
    mesh = refiner.surface()
    marks.append(time.perf_counter())
    out = refiner.render(mesh, cameras, refine.size, shading, lights, supersample)
    marks.append(time.perf_counter())
    guided = refiner.guidance(out.image, cameras, progress=refiner.step / refine.steps, generator=refiner.generator)
    marks.append(time.perf_counter())
    edges = mesh_edges(mesh.faces)
    terms = {
        "sds": guided.loss,
        "normal_consistency": refine.normal_consistency * normal_consistency(mesh.vertices, mesh.faces, edges),
        "laplacian": refine.laplacian * laplacian_smoothness(mesh.vertices, mesh.faces, edges),
    }
    marks.append(time.perf_counter())
    refiner.backward_and_step(terms)
    marks.append(time.perf_counter())
    row = {phase: 1000.0 * (b - a) for phase, a, b in zip(PHASES, marks, marks[1:])}
    row["total"] = 1000.0 * (marks[-1] - marks[0])
    row["faces"] = float(mesh.faces.shape[0])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (a refined one is timed from its newest refinement checkpoint)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warm", type=int, default=5, help="steps trained first (the band and the optimizer settle)")
    args = parser.parse_args()

    from dreamlift.commands.refine import saved_inputs
    from dreamlift.pipeline.run import Run
    from dreamlift.pipeline.stages import stage2_guidance
    from dreamlift.refine.stage import Refiner

    run = Run.open(args.run)
    config = run.config
    config.refine.enabled = True
    inputs = saved_inputs(run, config, torch.device("cpu"))
    refiner = Refiner(config, args.run, stage2_guidance(config, inputs), run.stage1(finished=True), show_progress=False)
    refiner.restore()  # a refined run (the toy preset's default): its surface, as --resume would start from it; else stage 1's
    for _ in range(args.warm):
        refiner.train_step()
        refiner.step += 1
    state = copy.deepcopy((refiner.geometry.state_dict(), refiner.field.state_dict(), refiner.optimizer.state_dict()))
    variants = {f"supersample {config.refine.supersample} (default)": config.refine.supersample, "supersample 1 (reference)": 1}
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, supersample in variants.items():
            refiner.geometry.load_state_dict(state[0])
            refiner.field.load_state_dict(state[1])
            refiner.optimizer.load_state_dict(state[2])
            refiner.step = args.warm + repeat
            rows[name].append(timed_step(refiner, supersample))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.run}; medians of {args.repeats} steps, ms")
    print(f"{'variant':<28}" + "".join(f"{p:>15}" for p in (*PHASES, "total")) + f"{'faces':>9}")
    for name, samples in rows.items():
        medians = {key: statistics.median(r[key] for r in samples) for key in samples[0]}
        print(f"{name:<28}" + "".join(f"{medians[p]:>15.1f}" for p in (*PHASES, "total")) + f"{medians['faces']:>9.0f}")


if __name__ == "__main__":
    main()
