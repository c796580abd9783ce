"""Argument helpers shared by the commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from dreamlift.errors import DreamliftError
from dreamlift.training.seed import SEED_RANGE, check_seed



def add_run_options(parser: argparse.ArgumentParser, device_help: str, kind: str) -> None:
    """The options every training command shares (text and image runs), the settings options included."""
    from dreamlift.commands._settings import add_settings_options

    parser.add_argument("--steps", type=positive_int, default=None, help="stage-1 (NeRF) training steps (default: the preset's)")
    parser.add_argument(
        "--refine-steps", type=positive_int, default=None, metavar="N",
        help="stage-2 (mesh refinement) steps when the run refines (refine.steps; default: the preset's)",
    )
    parser.add_argument(
        "--seed", type=seed, default=None,
        help=f"random seed, a whole number from {SEED_RANGE}; a CPU run repeats exactly (default 0)",
    )
    parser.add_argument(
        "--checkpoint-every", type=positive_int, default=None, metavar="N",
        help="steps between checkpoints (default: the preset's, 200); a crash loses at most N steps",
    )
    parser.add_argument("--device", default=None, help=device_help)
    add_threads_option(parser)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    parser.add_argument("--no-export", action="store_true", help="skip mesh.glb and turntable.mp4 at the end")
    parser.add_argument(
        "--refine", choices=("on", "off"), default=None,
        help="stage 2, mesh refinement (DMTet) after the NeRF (default: the preset's; the toy preset refines)",
    )
    parser.add_argument("--turntable-size", type=positive_int, default=None, metavar="PX", help="turntable.mp4 width and height (default 512)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings_options(parser, kind)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch's CPU threads for this run (default: DREAMLIFT_THREADS, else the CPUs the process is given)."""
    parser.add_argument(
        "--threads", type=positive_int, default=None, metavar="N",
        help="CPU threads of this run (default: $DREAMLIFT_THREADS, else the CPUs this process may use: affinity and cgroup quota)",
    )


def run_flags(args: argparse.Namespace) -> list[tuple[str, str, object]]:
    """The shared run options as ``(flag, dotted key, value)`` for :func:`~dreamlift.commands._settings.resolve_settings`."""
    export = False if args.no_export else None
    return [
        ("--steps", "steps", args.steps),
        ("--seed", "seed", args.seed),
        ("--checkpoint-every", "checkpoint_every", args.checkpoint_every),
        ("--device", "device", args.device),
        ("--no-export", "export_mesh", export),
        ("--no-export", "export_video", export),
        ("--refine", "refine.enabled", None if args.refine is None else args.refine == "on"),
        ("--refine-steps", "refine.steps", args.refine_steps),
        ("--turntable-size", "turntable_size", args.turntable_size),
    ]


def resume_options(config, args: argparse.Namespace) -> None:
    """What a resumed run may change: ``--steps``, ``--refine-steps`` and ``--checkpoint-every``; it keeps every other saved setting."""
    given = [flag for flag, value in (("--set", args.settings), ("--config", args.config), ("--preset", args.preset)) if value]
    if given:
        raise DreamliftError(
            f"a resumed run keeps its saved settings: drop {given[0]} (only --steps, --refine-steps and --checkpoint-every change a resumed run)"
        )
    if args.steps is not None:
        config.steps = args.steps
    if args.refine_steps is not None:
        config.refine.steps = args.refine_steps
    if args.checkpoint_every is not None:
        config.checkpoint_every = args.checkpoint_every


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {value}")
    return value


def seed(text: str) -> int:
    """A ``--seed``: a whole number that :func:`~dreamlift.training.seed.check_seed` accepts."""
    try:
        value = int(text)
    except ValueError:
        if text.strip().lstrip("+-").isdigit():  # more digits than int() reads
            raise argparse.ArgumentTypeError(f"a {len(text.strip())}-digit seed is out of range: use a whole number from {SEED_RANGE}") from None
        raise argparse.ArgumentTypeError(f"expected a whole number from {SEED_RANGE}, got {text[:40]!r}") from None
    try:
        return check_seed(value)
    except DreamliftError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    return value


def check_output_file(path: Path, option: str = "--out") -> None:
    """Refuse, before any work is done, an output file that cannot be written.

    The nearest existing folder on the way to ``path`` must take a new file: a write test
    (a temporary file, removed at once) catches what permissions do not show, such as
    ``/proc``, ``/sys`` or a read-only mount, even for root.
    """
    if path.is_dir():
        raise DreamliftError(f"{option} {path} is a folder: give a file name")
    from dreamlift.training.run_folder import nearest_existing, write_test

    existing = nearest_existing(Path(os.path.abspath(path)).parent)
    if not existing.is_dir():
        raise DreamliftError(f"cannot write {option} {path}: {existing} is a file, not a folder")
    try:
        write_test(existing)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DreamliftError(f"cannot write {option} {path}: {existing} cannot hold new files ({reason})") from None


def finished_line(result, *extra: str) -> str:
    """The line a finished run prints: each stage's steps, the time, what was written."""
    stages = f"{result.steps[1]} steps" + (f" + {result.steps[2]} refinement steps" if 2 in result.steps else "")
    written = ", ".join([*extra, *result.written])
    return f"{result.folder}: {stages} in {result.seconds:.1f} s; wrote {written}"


def add_stage_option(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--stage 1|2|final``: which stage of a run to ``verb`` (default final: the refined surface when there is one)."""
    parser.add_argument(
        "--stage", choices=("1", "2", "final"), default="final",
        help=f"which stage to {verb}: 1 (the NeRF), 2 (the refined mesh) or final (default: 2 when the run was refined, else 1)",
    )
