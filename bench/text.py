"""Run the default text job on a set of captions and print wall time and scores.

Each caption runs ``dreamlift text CAPTION --out DIR`` as a user would (a fresh
process, default settings, the toy prior's cache warm after its first use), then
scores the result with ``dreamlift eval`` against the toy world's ground truth.
Usage::

    python bench/text.py                         # 12 shapes x 2 colours
    python bench/text.py --captions "a red cube" "a yellow chair"
    python bench/text.py --steps 600 --out /tmp/bench-text --export

Prints a table (wall time, silhouette IoU, PSNR, colour error, Janus) and the
means; the medians of the times. Use ``--jobs 1`` on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = ["sphere", "cube", "cylinder", "cone", "torus", "pyramid", "snowman", "house", "chair", "table", "tree", "mushroom"]
COLOURS = [("red", "blue"), ("green", "orange"), ("yellow", "purple"), ("cyan", "pink")]


def default_captions() -> list[str]:
    captions = []
    for index, shape in enumerate(SHAPES):
        for colour in COLOURS[index % len(COLOURS)]:
            article = "an" if colour[0] in "aeiou" else "a"
            captions.append(f"{article} {colour} {shape}")
    return captions


def run_one(caption: str, out: Path, steps: int | None, export: bool, seed: int) -> dict:
    command = [sys.executable, "-m", "dreamlift.cli", "text", caption, "--out", str(out), "--quiet", "--seed", str(seed)]
    if steps:
        command += ["--steps", str(steps)]
    if not export:
        command.append("--no-export")
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    scores = subprocess.run(
        [sys.executable, "-m", "dreamlift.cli", "eval", str(out), "--truth", caption, "--json"],
        check=True, capture_output=True, text=True,
    )
    return dict(caption=caption, seconds=seconds, **json.loads(scores.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--export", action="store_true", help="also write mesh.glb and turntable.mp4 (as the default job does)")
    args = parser.parse_args()
    captions = args.captions or default_captions()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-text-"))
    rows = []
    print(f"{'caption':<22} {'seconds':>8} {'IoU':>6} {'PSNR':>6} {'colour':>7} {'turn':>6} {'Janus':>6} {'meshIoU':>8}", flush=True)
    for caption in captions:
        out = root / caption.replace(" ", "_")
        row = run_one(caption, out, args.steps, args.export, args.seed)
        rows.append(row)
        janus = "-" if row["janus"] is None else ("yes" if row["janus"] else "no")
        print(
            f"{caption:<22} {row['seconds']:>8.1f} {row['silhouette_iou']:>6.3f} {row['psnr']:>6.2f} "
            f"{row['color_error']:>7.3f} {row['turn']:>6.1f} {janus:>6} {row.get('mesh_iou', float('nan')):>8.3f}",
            flush=True,
        )
    janus_count = sum(1 for r in rows if r["janus"])
    janus_total = sum(1 for r in rows if r["janus"] is not None)
    print(
        f"{'mean':<22} {statistics.mean(r['seconds'] for r in rows):>8.1f} "
        f"{statistics.mean(r['silhouette_iou'] for r in rows):>6.3f} {statistics.mean(r['psnr'] for r in rows):>6.2f} "
        f"{statistics.mean(r['color_error'] for r in rows):>7.3f}"
    )
    if all("mesh_iou" in r for r in rows):
        print(f"mean mesh volume IoU {statistics.mean(r['mesh_iou'] for r in rows):.3f}")
    print(f"median seconds {statistics.median(r['seconds'] for r in rows):.1f}, max {max(r['seconds'] for r in rows):.1f}; "
          f"Janus failures {janus_count} of {janus_total}; runs in {root}")


if __name__ == "__main__":
    main()
