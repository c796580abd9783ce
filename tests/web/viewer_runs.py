"""A real run folder built from an analytic field with dreamlift's own exporter (for the viewer tests)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from dreamlift._atomic import write_json, write_png, write_text
from dreamlift.export import TurntableConfig, export_run, write_turntable
from dreamlift.export.analytic import SDFField, box_sdf, sphere_sdf, union_sdf

RED = (0.86, 0.12, 0.12)


def red_snowman_field() -> SDFField:
    """Two red balls and a box nose pointing +Z (so front and back differ)."""
    sdf = union_sdf(sphere_sdf((0.0, -0.2, 0.0), 0.4), sphere_sdf((0.0, 0.35, 0.0), 0.25), box_sdf((-0.05, 0.3, 0.2), (0.05, 0.4, 0.4)))
    return SDFField(sdf, albedo=RED, peak=100.0, width=0.02)


def make_run(folder: Path, prompt: str = "a red snowman", steps: int = 60, image: bool = False, video: bool = True) -> Path:
    """Write config.json, log.jsonl, a preview, mesh.glb and (optionally) turntable.mp4 and input.png."""
    folder.mkdir(parents=True, exist_ok=True)
    field = red_snowman_field()
    config = {"prompt": "" if image else prompt, "steps": steps, "seed": 0, "size": 32, "prior": "toy"}
    write_json(folder / "config.json", {"kind": "image" if image else "text", "format": 1, "dreamlift_version": "0.1.0", "config": config})
    rows = [json.dumps({"step": s, "loss": 2.0 * math.exp(-s / 20.0) + 0.1, "t": 0.5, "seconds": 0.1 * s}) for s in range(1, steps + 1)]
    rows.insert(10, json.dumps({"step": 10, "event": "skipped non-finite step"}))
    write_text(folder / "log.jsonl", "\n".join(rows) + "\n")
    write_png(folder / "previews" / f"step-{steps:06d}.png", np.tile(np.linspace(0, 1, 32)[None, :, None], (32, 1, 3)))
    if image:
        write_png(folder / "input.png", np.concatenate([np.ones((32, 32, 3)) * np.array(RED), np.ones((32, 32, 1))], axis=2))
    export_run(folder, field, resolution=48)
    if video:
        write_turntable(field, folder / "turntable.mp4", config=TurntableConfig(frames=2, size=32, cache_resolution=32), progress=False)
    return folder


BLUE = (0.1, 0.2, 0.9)


def make_splat_run(folder: Path) -> Path:
    """A Gaussian run's folder: :func:`make_run` plus ``splats.ply`` (dreamlift's writer) of two known Gaussians.

    A large red one (σ 0.25) at the origin and a small blue one (σ 0.06) at +X (0.45, 0, 0): seen from
    the front (+Z), the blue one is right of the red one.
    """
    import torch

    from dreamlift.export.splats_ply import write_splats_ply
    from dreamlift.rendering.splatting import Splats

    make_run(folder, video=False)
    write_splats_ply(
        folder / "splats.ply",
        Splats(
            means=torch.tensor([[0.0, 0.0, 0.0], [0.45, 0.0, 0.0]]),
            log_scales=torch.log(torch.tensor([[0.25] * 3, [0.06] * 3])),
            quaternions=torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 2),
            opacity_logits=torch.tensor([4.0, 4.0]),
            colours=torch.tensor([RED, BLUE]),
        ),
    )
    return folder
