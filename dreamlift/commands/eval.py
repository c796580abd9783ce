"""``dreamlift eval RUN --truth "a red cube"``: scores against toy-world ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dreamlift.commands._common import add_stage_option, finite_float, positive_int
from dreamlift.errors import DreamliftError

MAX_SIZE = 256
"""Largest comparison size: the score renders 24 held-out views of the run and of the truth (more with the turn search) at this size."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a run folder")
    truth = parser.add_mutually_exclusive_group(required=True)
    truth.add_argument("--truth", help='text runs: the toy-world caption the run should have made, e.g. "a red cube"')
    truth.add_argument(
        "--truth-image-of", metavar="CAPTION|MESH",
        help='image runs: what the input showed, a toy caption ("a yellow chair") or a mesh file',
    )
    parser.add_argument("--input-azimuth", type=finite_float, default=0.0, help="image runs: the azimuth the input was seen from, degrees (default 0)")
    parser.add_argument(
        "--input-elevation", type=finite_float, default=None,
        help="image runs: its elevation (default: the run's --elevation, which it must equal)",
    )
    parser.add_argument("--truth-color", default=None, help="image runs with a mesh file: the mesh's toy colour name (default orange)")
    parser.add_argument("--size", type=positive_int, default=32, help="render size of the comparison (default 32)")
    parser.add_argument("--no-turn", action="store_true", help="score as is, without searching the best turn about +Y")
    parser.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    add_stage_option(parser, "score")


def run(args: argparse.Namespace) -> int:
    if args.size > MAX_SIZE:
        raise DreamliftError(f"--size {args.size} is too large: use at most {MAX_SIZE} (the toy world is native at 32)")
    if args.truth_image_of is not None:
        return run_image_eval(args)
    scores = text_run_scores(args.run, args.truth, size=args.size, search_turn=not args.no_turn, stage=args.stage)
    if args.json:
        print(json.dumps(scores))
        return 0
    print(f"stage           {scores['stage']} ({'refined mesh' if scores['stage'] == 2 else 'NeRF'}, step {scores['step']})")
    print(f"silhouette IoU  {scores['silhouette_iou']:.3f}")
    print(f"PSNR            {scores['psnr']:.2f} dB")
    print(f"colour error    {scores['color_error']:.3f}")
    print(f"best turn       {scores['turn']:.1f} deg")
    if scores["janus"] is not None:
        print(f"Janus failure   {'yes' if scores['janus'] else 'no'}")
    if "mesh_iou" in scores:
        print(f"mesh volume IoU {scores['mesh_iou']:.3f} (turn {scores['mesh_turn']:.1f} deg)")
        print(f"mesh Chamfer    {scores['mesh_chamfer']:.4f}")
    return 0


def text_run_scores(folder: Path, caption: str, size: int = 32, search_turn: bool = True, stage: str = "final") -> dict:
    """The scores of a text run's ``stage`` against the toy object of ``caption`` (what ``dreamlift eval --truth`` prints)."""
    from dreamlift.evaluation.scores import score_text_run
    from dreamlift.pipeline.run import Run
    from dreamlift.toyworld import parse_caption

    obj = parse_caption(caption)
    return score_text_run(Run.open(folder), obj, size=size, search_turn=search_turn, stage=stage)


def run_image_eval(args: argparse.Namespace) -> int:
    """Image runs: novel views >= 90 degrees from the input camera, and the input view (evaluation/image_scores.py)."""
    from dreamlift.evaluation.image_scores import format_image_scores, parse_truth, score_image_run
    from dreamlift.pipeline.run import Run

    truth = parse_truth(args.truth_image_of, args.truth_color)
    run = Run.open(args.run)
    asset = run.asset(args.stage)
    scores = score_image_run(run, asset, truth, args.input_azimuth, args.input_elevation, size=args.size)
    if args.json:
        print(json.dumps({**scores.as_dict(), "stage": asset.stage, "step": asset.step}))
    else:
        print(f"stage {asset.stage} ({'refined mesh' if asset.stage == 2 else 'NeRF'}, step {asset.step})")
        print(format_image_scores(scores))
    return 0
