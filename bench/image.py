"""Wall time and scores of ``dreamlift image`` over the toy set (and the real meshes with ``--meshes``).

Each input is one 32×32 RGBA view (``--input-size``) rendered in the toy world's style from
``(elevation, azimuth)`` with a jittered head light (TOYWORLD.md), saved as a PNG;
the run is told only ``--elevation``. Every run goes through the command line
(``dreamlift image``) with the default preset, then is scored by
:func:`dreamlift.evaluation.image_scores.score_image_run` relative to the input
camera. Usage::

    python bench/image.py [--meshes] [--only chair,house] [--steps N] [--keep DIR] [--views 1|2|4] [--prompt] [--refine | --mesh-silhouettes]
    python bench/image.py --meshes --only spot,cow,stanford-bunny,suzanne,teapot --preset toy-zero123 --input-size 64 --refine

``--views 2`` gives the run the input view and the one opposite it (azimuth + 180),
``--views 4`` four views 90 degrees apart, all at the case's elevation, through a view
table (``--views table.csv``); the novel views are then those at least
``--margin`` degrees (default 20) from every input view. ``--prompt`` adds the case's
caption as ``--prompt`` (the toy text prior's SDS with the image prior's).

Prints one row per run (what the toy prior recognised, seconds, novel-view
silhouette IoU and PSNR at cameras >= 90 degrees from the input, input-view PSNR)
and the mean and median of each column, with the machine's load average, since the
CPU may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dreamlift import cli
from dreamlift._atomic import write_png
from dreamlift.evaluation.image_scores import MESH_SUFFIXES, parse_truth, render_mesh, score_image_run
from dreamlift.guidance.toy_view import candidates_from_json
from dreamlift.pipeline.image_inputs import CANDIDATES_FILE
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.shading import sample_lights
from dreamlift.rendering.views import novel_views
from dreamlift.toyworld import COLORS, SHAPE_NAMES, ToyObject, render
from dreamlift.pipeline.run import Run

MESH_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "eval" / "meshes"
MESH_COLOURS = {"spot": "pink", "cow": "orange", "stanford-bunny": "yellow", "suzanne": "cyan", "teapot": "blue"}


def toy_cases() -> list[dict]:
    """The 12 shapes, colours in turn, elevations 0-30 and input azimuths spread over the circle."""
    colours = list(COLORS)
    return [
        {"name": shape, "truth": f"a {colours[i % 8]} {shape}", "elevation": float((i % 4) * 10), "azimuth": -150.0 + 27.0 * i}
        for i, shape in enumerate(SHAPE_NAMES)
    ]


def mesh_cases() -> list[dict]:
    meshes = sorted((p for p in MESH_FOLDER.iterdir() if p.suffix.lower() in MESH_SUFFIXES), key=lambda p: p.stem)
    return [
        {"name": p.stem, "truth": str(p), "colour": MESH_COLOURS.get(p.stem, "orange"), "elevation": 15.0, "azimuth": 30.0 + 60.0 * i}
        for i, p in enumerate(meshes)
    ]


def input_image(truth, elevation: float, azimuth: float, seed: int, size: int = 32) -> torch.Tensor:
    """The RGBA view the run is given: toy-world style, jittered head light, ``size`` px."""
    camera = OrbitCameras.make(elevation, azimuth, 3.0, 40.0)
    lights = sample_lights(camera, generator=torch.Generator().manual_seed(seed))
    if isinstance(truth, ToyObject):
        return render(truth, camera, size, lights=lights)[0]
    return render_mesh(truth, camera, size, lights)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", action="store_true", help="also run the real meshes of shared/eval/meshes")
    parser.add_argument("--only", default=None, help="comma-separated case names to run (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--views", type=int, default=1, choices=(1, 2, 4), help="input views with known cameras (2: front and back; 4: every 90 deg)")
    parser.add_argument("--prompt", action="store_true", help="add the case's caption as --prompt")
    parser.add_argument("--margin", type=float, default=20.0, help="novel views at least this many degrees from every input view")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="a --set KEY=VALUE for every run")
    parser.add_argument("--preset", default=None, help="the runs' preset (default: the prior's default, toy-image)")
    parser.add_argument("--input-size", type=int, default=32, help="input view size in px (32: TOYWORLD's; 64 for toy-zero123, its model's size)")
    parser.add_argument(
        "--refine", action="store_true",
        help="run with --refine on (stage 2) and export; the novel-view silhouettes are then the refined mesh.glb's",
    )
    parser.add_argument("--mesh-silhouettes", action="store_true", help="export, and score the novel-view silhouettes of mesh.glb (implied by --refine)")
    args = parser.parse_args()
    cases = toy_cases() + (mesh_cases() if args.meshes else [])
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c["name"] in wanted]
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-image-"))
    root.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load_before[0]:.1f} at start; runs in {root}")
    header = f"{'case':<15} {'el':>4} {'az':>6} {'recognised as':<34} {'seconds':>8} {'novel IoU':>9} {'novel PSNR':>10} {'input PSNR':>10}"
    print(header)
    for index, case in enumerate(cases):
        truth = parse_truth(case["truth"], case.get("colour"))
        folder = root / case["name"]
        argv = ["image", *input_arguments(root, case, truth, args.views, args.seed + index, args.input_size)]
        if args.preset:
            argv += ["--preset", args.preset]
        on_mesh = args.refine or args.mesh_silhouettes
        argv += ["--out", str(folder), "--seed", str(args.seed), "--quiet"] + ([] if on_mesh else ["--no-export"])
        argv += ["--refine", "on" if args.refine else "off"]  # the toy-image preset refines by default
        if args.prompt:
            argv += ["--prompt", case["truth"]]
        for item in args.settings:
            argv += ["--set", item]
        if args.steps:
            argv += ["--steps", str(args.steps)]
        started = time.perf_counter()
        status = cli.main(argv)
        seconds = time.perf_counter() - started
        if status != 0:
            print(f"{case['name']:<15} failed with status {status}")
            continue
        scores = image_command_scores(folder, truth, case["azimuth"], args.margin, on_mesh)
        seen = recognised(folder)
        rows.append({"case": case["name"], "seconds": seconds, "seen": seen, **scores})
        print(
            f"{case['name']:<15} {case['elevation']:>4.0f} {case['azimuth']:>6.0f} {seen:<34} {seconds:>8.1f} "
            f"{scores['novel_silhouette_iou']:>9.3f} {scores['novel_psnr']:>10.2f} {scores['input_psnr']:>10.2f}",
            flush=True,
        )
    load_after = os.getloadavg()
    for label, group in (("toy set", [r for r in rows if r["case"] in SHAPE_NAMES]), ("meshes", [r for r in rows if r["case"] not in SHAPE_NAMES])):
        if not group:
            continue
        for stat, fn in (("mean", statistics.mean), ("median", statistics.median)):
            print(
                f"{label + ' ' + stat:<15} {'':>4} {'':>6} {'':<34} {fn(r['seconds'] for r in group):>8.1f} "
                f"{fn(r['novel_silhouette_iou'] for r in group):>9.3f} {fn(r['novel_psnr'] for r in group):>10.2f} "
                f"{fn(r['input_psnr'] for r in group):>10.2f}"
            )
    print(
        f"load average {load_after[0]:.1f} at the end ({os.cpu_count()} cores); novel views: the {len(novel_views())} cameras >= 90 deg "
        f"from the first input, less those within {args.margin:g} deg of any input; {args.views} input view(s)"
    )


def input_arguments(root: Path, case: dict, truth, views: int, seed: int, size: int = 32) -> list[str]:
    """The run's input: one PNG with ``--elevation``, or a view table of ``views`` PNGs 360/views degrees apart."""
    if views == 1:
        png = root / f"{case['name']}.png"
        write_png(png, input_image(truth, case["elevation"], case["azimuth"], seed, size))
        return [str(png), "--elevation", str(case["elevation"])]
    rows = ["path, elevation, azimuth"]
    for k in range(views):
        offset = 360.0 * k / views
        png = root / f"{case['name']}-{k}.png"
        write_png(png, input_image(truth, case["elevation"], case["azimuth"] + offset, seed * 16 + k, size))
        rows.append(f"{png.name}, {case['elevation']}, {offset}")
    table = root / f"{case['name']}-views.csv"
    table.write_text("\n".join(rows) + "\n")
    return ["--views", str(table)]


def image_command_scores(folder: Path, truth, azimuth: float, margin: float = 0.0, mesh_silhouettes: bool = False) -> dict:
    run = Run.open(folder)
    return score_image_run(run, run.asset(1), truth, input_azimuth=azimuth, margin=margin, mesh_silhouettes=mesh_silhouettes).as_dict()


def recognised(folder: Path) -> str:
    """What the toy view prior took the input for (its heaviest candidate)."""
    path = folder / CANDIDATES_FILE
    if not path.is_file():
        return "-"
    best = candidates_from_json(path.read_text())[0]
    return f"{best.object.color} {best.object.shape}, az {-best.turn:+.0f}"


if __name__ == "__main__":
    main()
