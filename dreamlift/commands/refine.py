"""``dreamlift refine RUN [--steps N] [--resolution PX] [--set refine.KEY=VALUE] [--resume]``: stage 2 on a finished run.

The run's ``config.json`` gets the refinement settings (written atomically before any
work), stage 2 runs in ``RUN/refine/`` and the assets are written again from the refined
mesh (``mesh.glb``, ``mesh-stage1.glb``, ``turntable.mp4``). Like any run it checkpoints,
stops cleanly on Ctrl-C and continues with ``--resume``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dreamlift.commands._common import add_threads_option, positive_int
from dreamlift.errors import DreamliftError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="a finished run folder (the --out of dreamlift text or image)")
    parser.add_argument("--steps", type=positive_int, default=None, help="refinement steps (default: the run's refine.steps)")
    parser.add_argument("--resolution", type=positive_int, default=None, metavar="PX", help="render size of the refinement (refine.size)")
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="refine.KEY=VALUE",
        help="any refinement setting (see dreamlift text --help, section refine); repeatable",
    )
    parser.add_argument("--device", default=None, help="auto (default), cpu or cuda")
    add_threads_option(parser)
    parser.add_argument("--resume", action="store_true", help="continue the refinement in RUN/refine from its latest checkpoint")
    parser.add_argument("--no-export", action="store_true", help="skip mesh.glb and turntable.mp4 at the end")
    parser.add_argument("--turntable-size", type=positive_int, default=None, metavar="PX", help="turntable.mp4 width and height")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def refine_settings(config, args: argparse.Namespace) -> None:
    """Apply the command's settings to ``config`` (``--set`` keys must lie under ``refine.``)."""
    from dreamlift.pipeline.settings import split_setting
    from dreamlift.config_tree import set_value

    for item in args.settings:
        key, value = split_setting(item)
        if not key.startswith("refine."):
            raise DreamliftError(f"--set {key}: dreamlift refine changes only refine.* settings; stage 1's are fixed by the run")
        set_value(config, key, value)
    config.refine.enabled = True
    if args.steps is not None:
        config.refine.steps = args.steps
    if args.resolution is not None:
        config.refine.size = args.resolution
    if args.device is not None:
        config.device = args.device
    if args.turntable_size is not None:
        config.turntable_size = args.turntable_size
    if args.no_export:
        config.export_mesh = config.export_video = False


def saved_inputs(run, config, device):
    """The :class:`~dreamlift.guidance.base.GuidanceInputs` the run's prior was set up with, read back from the folder."""
    from dreamlift.guidance.base import GuidanceInputs

    if run.kind == "text":
        return GuidanceInputs(prompt=config.prompt, device=device)
    from dreamlift.pipeline.image_inputs import saved_views

    views, candidates = saved_views(run.path, config)
    return GuidanceInputs(device=device, views=views, candidates=candidates, prompt=config.prompt)


def run(args: argparse.Namespace) -> int:
    from dreamlift.distillation.sampling import resolve_device
    from dreamlift.pipeline.run import Run
    from dreamlift.pipeline.stages import plan, refine_run
    from dreamlift.refine.asset import STAGE_FOLDER

    folder = args.run
    if not folder.is_dir():
        raise DreamliftError(f"{folder} is not a folder: give the run folder of a finished dreamlift text or image run")
    run_ = Run.open(folder)
    config = run_.config
    refined_before = run_.stage2_step() > 0
    if args.resume:
        if not refined_before:
            raise DreamliftError(f"{folder} has no refinement to resume: run dreamlift refine {folder} without --resume")
        if args.settings or args.resolution is not None:
            raise DreamliftError("a resumed refinement keeps its saved settings: drop --set / --resolution (only --steps changes it)")
    elif refined_before:
        raise DreamliftError(
            f"{folder} is refined already: continue with --resume, or remove {folder / STAGE_FOLDER} to refine it again"
        )
    refine_settings(config, args)
    config.validate()
    device = resolve_device(config)
    print(f"{folder}: {plan(config, device).split('; ', 1)[1]}")
    inputs = saved_inputs(run_, config, device)
    result = refine_run(run_, config, inputs, resume=args.resume, quiet=args.quiet, threads=args.threads)
    print(f"{folder}: refined for {result.steps[2]} steps in {result.seconds:.1f} s; wrote {', '.join(result.written)}")
    return 0
