"""NeRF against 3D Gaussians on toy captions, each with and without the refinement: scores, wall time, peak memory.

For each caption and representation, as a user would, in fresh processes:

1. ``dreamlift text CAPTION --preset P --refine off`` (stage 1 alone, its mesh exported); P is ``toy``
   for the NeRF and ``toy-gaussians`` for the Gaussians (the same prior, views, steps and refinement);
2. ``dreamlift refine DIR`` (stage 2 on that stage 1).

After each, the asset is scored against the toy world's truth: the mesh's volume IoU at the best turn
and its silhouette IoU at 128 px (:mod:`bench.refine`'s scores), and the run's own render
(``dreamlift eval``'s :func:`~dreamlift.evaluation.scores.score_text_run`): silhouette IoU, colour
error and the Janus check at 32 px. Wall time and peak resident memory are those of each command's
process (its ``VmHWM``); on a shared machine the times are only indicative. Usage::

    python bench/representations.py --captions "a red cube" "a green tree" --out /tmp/bench-rep
    python bench/representations.py --out /tmp/bench-rep --json /tmp/bench-rep/rows.json      # all 24; reruns skip finished rows
    python bench/representations.py --representations gaussians --set gaussians:steps=300 --set gaussians:refine.steps=100

``--set REPR:KEY=VALUE`` passes ``--set KEY=VALUE`` to that representation's stage-1 command (a ``refine.*`` key
also reaches its ``dreamlift refine``, which reads the run's own config). With ``--json``, the rows are written after
every caption, and a rerun with the same ``--json`` skips the (caption, representation) rows it already holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refine import score  # noqa: E402
from text import default_captions  # noqa: E402

from dreamlift._atomic import write_json  # noqa: E402

PRESETS = {"nerf": "toy", "gaussians": "toy-gaussians"}


CHILD = """
import atexit, os, sys
def _peak():
    with open("/proc/self/status") as status, open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_peak)
from dreamlift.cli import main
sys.argv[0] = "dreamlift"
sys.exit(main(sys.argv[1:]))
"""
"""The command in a child that records its own peak resident memory (``VmHWM``: the process's alone, not its parent's)."""


def run(command: list[str]) -> tuple[float, float]:
    """Run ``dreamlift COMMAND``; its wall seconds and peak resident memory (MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, *command], check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, BENCH_PEAK_FILE=peak.name))
        seconds = time.perf_counter() - started
        return seconds, int(Path(peak.name).read_text()) / 1024.0


def run_scores(folder: Path, caption: str, stage: str) -> dict:
    from dreamlift.evaluation.scores import score_text_run
    from dreamlift.pipeline.run import Run
    from dreamlift.toyworld import parse_caption

    scores = score_text_run(Run.open(folder), parse_caption(caption), stage=stage)
    return {key: scores[key] for key in ("silhouette_iou", "color_error", "janus") if key in scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--representations", nargs="*", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here (after every row; a rerun skips the rows it holds)")
    parser.add_argument("--set", action="append", default=[], metavar="REPR:KEY=VALUE", help="a setting of one representation's stage 1; repeatable")
    args = parser.parse_args()
    overrides = parse_overrides(args.set, parser)
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-representations-"))
    rows = json.loads(args.json.read_text()) if args.json and args.json.exists() else []
    done = {(row["caption"], row["representation"]) for row in rows}
    for caption in args.captions or default_captions():
        for name in args.representations:
            if (caption, name) in done:
                continue
            folder = root / name / caption.replace(" ", "_")
            if folder.exists():
                shutil.rmtree(folder)  # a row the last run did not finish: start it again
            command = ["text", caption, "--out", str(folder), "--quiet", "--seed", str(args.seed), "--preset", PRESETS[name], "--refine", "off"]
            for setting in overrides[name]:
                command += ["--set", setting]
            seconds1, memory1 = run(command)
            stage1 = {**score(folder / "mesh.glb", caption), **run_scores(folder, caption, "1"), "seconds": seconds1, "peak_mib": memory1}
            seconds2, memory2 = run(["refine", str(folder), "--quiet"])
            refined = {**score(folder / "mesh.glb", caption), **run_scores(folder, caption, "2"), "seconds": seconds2, "peak_mib": memory2}
            rows.append({"caption": caption, "representation": name, "stage1": stage1, "refined": refined})
            for label, row in (("stage 1", stage1), ("refined", refined)):
                print(
                    f"{caption:20s} {name:9s} {label:7s} mesh IoU {row['iou']:.3f}  sil128 {row['silhouette']:.3f}  "
                    f"sil32 {row.get('silhouette_iou', float('nan')):.3f}  colour err {row.get('color_error', float('nan')):.3f}  "
                    f"janus {row.get('janus')}  {row['seconds']:.0f} s  {row['peak_mib']:.0f} MiB",
                    flush=True,
                )
            if args.json:
                write_json(args.json, rows)  # temporary name, then rename: a killed bench keeps the rows it had


def parse_overrides(settings: list[str], parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """``REPR:KEY=VALUE`` strings -> ``{repr: ["KEY=VALUE", ...]}`` for every representation."""
    overrides: dict[str, list[str]] = {name: [] for name in PRESETS}
    for setting in settings:
        name, _, assignment = setting.partition(":")
        if name not in PRESETS or "=" not in assignment:
            parser.error(f"--set {setting!r}: expected REPR:KEY=VALUE with REPR one of {', '.join(PRESETS)}")
        overrides[name].append(assignment)
    return overrides


if __name__ == "__main__":
    main()
