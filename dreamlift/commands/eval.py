"""``dreamlift eval RUN --truth "a red cube"``: scores against toy-world ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dreamlift.commands._common import positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a run folder")
    parser.add_argument("--truth", required=True, help='the toy-world caption the run should have made, e.g. "a red cube"')
    parser.add_argument("--size", type=positive_int, default=32, help="render size of the comparison (default 32)")
    parser.add_argument("--no-turn", action="store_true", help="score as is, without searching the best turn about +Y")
    parser.add_argument("--json", action="store_true", help="print the scores as one JSON object")


def run(args: argparse.Namespace) -> int:
    from dreamlift.evaluation.scores import score_field
    from dreamlift.toyworld import parse_caption
    from dreamlift.training.run_folder import load_run

    obj = parse_caption(args.truth)
    loaded = load_run(args.run)
    scores = score_field(loaded.field, obj, size=args.size, occupancy=loaded.occupancy, search_turn=not args.no_turn).as_dict()
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"silhouette IoU  {scores['silhouette_iou']:.3f}")
    print(f"PSNR            {scores['psnr']:.2f} dB")
    print(f"colour error    {scores['color_error']:.3f}")
    print(f"best turn       {scores['turn']:.1f} deg")
    if scores["janus"] is not None:
        print(f"Janus failure   {'yes' if scores['janus'] else 'no'}")
    return 0
