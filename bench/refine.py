"""Stage 2 against stage 1 on toy captions: mesh volume IoU, cube flatness, silhouettes at 128 px, wall time.

For each caption, as a user would, in fresh processes:

1. ``dreamlift text CAPTION --out DIR --refine off`` (stage 1 alone, its mesh exported),
2. the stage-1 mesh is scored (a copy is kept as ``mesh-stage1-alone.glb``),
3. ``dreamlift refine DIR`` (stage 2 on the same stage 1), and the refined ``mesh.glb`` is scored.

Both meshes are scored against the toy world's truth: volumetric IoU at the best turn
(:func:`dreamlift.evaluation.mesh_scores.score_toy_mesh`), the share of surface area whose
normal lies within 15° of a box axis (the flat faces of the cube), and silhouette IoU at
128 px from the 24 held-out cameras (the mesh as exported, rasterised, against the truth's coverage).
Usage::

    python bench/refine.py                               # the 24 captions of bench/text.py
    python bench/refine.py --captions "a red cube" --out /tmp/bench-refine
    python bench/refine.py --set refine.steps=400        # settings passed to dreamlift refine
    python bench/refine.py --out DIR --keep-stage1       # refine again the stage-1 runs an earlier bench left in DIR
    python bench/refine.py --preset toy-sd               # the learned text model (issue 27)
    python bench/refine.py --stage1-set views=random --set refine.lights=random   # the exact prior at random views and lights
    python bench/refine.py --preset toy-sd --stage1-only --stage1-set prior.guidance_scale=20   # stage 1 alone, one setting changed

Each stage is also scored by ``dreamlift eval --json`` (silhouette IoU at 32 px over the held-out views,
colour error, Janus on the asymmetric objects).

Prints one row per caption and the means (all, primitives, composites), and the median
times of stage 1 and stage 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text import default_captions  # noqa: E402

COMPOSITES = ("snowman", "house", "chair", "table", "tree", "mushroom")


def axis_aligned_share(mesh: trimesh.Trimesh, degrees: float = 15.0) -> float:
    """Share of the surface area whose face normal is within ``degrees`` of ±X, ±Y or ±Z."""
    normals, areas = mesh.face_normals, mesh.area_faces
    aligned = np.abs(normals).max(axis=1) >= np.cos(np.radians(degrees))
    return float(areas[aligned].sum() / areas.sum())


@torch.no_grad()
def silhouette_iou_128(mesh: trimesh.Trimesh, obj) -> float:
    """IoU of the mesh's coverage (as exported, no turn) with the truth's, pooled over the held-out views at 128 px."""
    from dreamlift.rendering import raster_torch
    from dreamlift.rendering.views import held_out_views
    from dreamlift.toyworld import render

    cameras = held_out_views()
    truth = render(obj, cameras, size=128, supersample=1)[..., 3] > 0.5
    vertices = torch.tensor(np.asarray(mesh.vertices), dtype=torch.float32)
    faces = torch.tensor(np.asarray(mesh.faces), dtype=torch.long)
    mine = raster_torch.rasterize(raster_torch.project(vertices, cameras, 128), faces, 128).mask
    return float((mine & truth).sum() / (mine | truth).sum())


def score(path: Path, caption: str) -> dict:
    from dreamlift.evaluation.mesh_scores import score_toy_mesh
    from dreamlift.toyworld import parse_caption

    obj = parse_caption(caption)
    mesh = trimesh.load(str(path), force="mesh", process=False)
    result = score_toy_mesh(mesh, obj)
    return {"iou": result.iou, "chamfer": result.chamfer, "flat": axis_aligned_share(mesh), "silhouette": silhouette_iou_128(mesh, obj)}


def evaluate(folder: Path, caption: str, stage: str) -> dict:
    """``dreamlift eval`` of one stage: ``iou`` (silhouettes), ``color_error``, ``janus`` (None for symmetric objects)."""
    out = subprocess.run([sys.executable, "-m", "dreamlift.cli", "eval", str(folder), "--truth", caption, "--json", "--stage", stage],
                         check=True, capture_output=True, text=True)
    scores = json.loads(out.stdout)
    return {"eval_iou": scores["silhouette_iou"], "colour": scores["color_error"], "janus": scores["janus"]}


def run(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dreamlift.cli", *command], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def janus_word(scores: dict) -> str:
    return "-" if scores["janus"] is None else ("yes" if scores["janus"] else "no")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage1-steps", type=int, default=None, help="stage-1 steps (default: the preset's)")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="refine.KEY=VALUE for dreamlift refine")
    parser.add_argument("--preset", default=None, help="the stage-1 run's preset (default: the prior's default, toy)")
    parser.add_argument("--stage1-set", dest="stage1_settings", action="append", default=[], help="KEY=VALUE for the stage-1 run")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--keep-stage1", action="store_true", help="reuse a finished stage 1 left in --out by an earlier bench (same stage-1 code)")
    parser.add_argument("--stage1-only", action="store_true", help="score stage 1 and do not refine (its columns repeat stage 1's)")
    args = parser.parse_args()
    captions = args.captions or default_captions()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-refine-"))
    rows = []
    for caption in captions:
        folder = root / caption.replace(" ", "_")
        kept = folder / "mesh-stage1-alone.glb"
        if args.keep_stage1 and kept.is_file() and (folder / "stage1-seconds").is_file():
            shutil.rmtree(folder / "refine", ignore_errors=True)  # a finished stage 1 of an earlier bench: refine it again
            (folder / "mesh-stage1.glb").unlink(missing_ok=True)
            shutil.copy(kept, folder / "mesh.glb")
            stage1_seconds = float((folder / "stage1-seconds").read_text())
        else:
            if folder.exists():
                shutil.rmtree(folder)
            stage1_command = ["text", caption, "--out", str(folder), "--quiet", "--seed", str(args.seed), "--refine", "off"]
            if args.stage1_steps:
                stage1_command += ["--steps", str(args.stage1_steps)]
            if args.preset:
                stage1_command += ["--preset", args.preset]
            stage1_command += [item for s in args.stage1_settings for item in ("--set", s)]
            stage1_seconds = run(stage1_command)
            shutil.copy(folder / "mesh.glb", kept)
            (folder / "stage1-seconds").write_text(f"{stage1_seconds:.2f}")
        before = score(folder / "mesh.glb", caption) | evaluate(folder, caption, "1")
        if args.stage1_only:
            refine_seconds, after = 0.0, before
        else:
            refine_command = ["refine", str(folder), "--quiet"] + [item for s in args.settings for item in ("--set", s)]
            refine_seconds = run(refine_command)
            after = score(folder / "mesh.glb", caption) | evaluate(folder, caption, "final")
        row = {"caption": caption, "stage1_seconds": stage1_seconds, "refine_seconds": refine_seconds, "stage1": before, "refined": after}
        rows.append(row)
        print(
            f"{caption:24s} IoU {before['iou']:.3f} -> {after['iou']:.3f}  flat {before['flat']:.2f} -> {after['flat']:.2f}  "
            f"sil128 {before['silhouette']:.3f} -> {after['silhouette']:.3f}  colour {before['colour']:.3f} -> {after['colour']:.3f}  "
            f"Janus {janus_word(before)} -> {janus_word(after)}  ({stage1_seconds:.0f} s + {refine_seconds:.0f} s)",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))

    def mean(key, stage, pick=lambda r: True):
        values = [r[stage][key] for r in rows if pick(r)]
        return statistics.mean(values) if values else float("nan")

    composite = lambda r: r["caption"].split()[-1] in COMPOSITES  # noqa: E731
    primitive = lambda r: not composite(r)  # noqa: E731
    for label, pick in (("all", lambda r: True), ("primitives", primitive), ("composites", composite)):
        print(
            f"mean {label:10s} IoU {mean('iou', 'stage1', pick):.4f} -> {mean('iou', 'refined', pick):.4f}   "
            f"sil128 {mean('silhouette', 'stage1', pick):.4f} -> {mean('silhouette', 'refined', pick):.4f}   "
            f"colour {mean('colour', 'stage1', pick):.4f} -> {mean('colour', 'refined', pick):.4f}"
        )
    for stage in ("stage1", "refined"):
        judged = [r for r in rows if r[stage]["janus"] is not None]
        print(f"Janus {stage}: {sum(1 for r in judged if r[stage]['janus'])} of {len(judged)} asymmetric captions")
    lowest = min(rows, key=lambda r: r["refined"]["iou"])
    print(f"lowest refined IoU: {lowest['caption']} {lowest['refined']['iou']:.3f}")
    cubes = [r for r in rows if r["caption"].endswith("cube")]
    for r in cubes:
        print(f"{r['caption']}: faces within 15 deg of a box axis {r['stage1']['flat']:.3f} -> {r['refined']['flat']:.3f}")
    print(
        f"median seconds: stage 1 {statistics.median(r['stage1_seconds'] for r in rows):.1f}, "
        f"refine (command, with export) {statistics.median(r['refine_seconds'] for r in rows):.1f}"
    )


if __name__ == "__main__":
    main()
