"""``dreamlift batch FILE --out DIR [--workers N] [--address ADDR] [--gpus-per-run G] [--cpus-per-run C] [run options]``.

Every row of FILE (``jobs/rows.py``: .txt, .csv or .jsonl) becomes the run folder
``DIR/<name>/`` of ``dreamlift text`` (or ``dreamlift image``), run as a Ray task
(``jobs/batch.py``). The run options are passed verbatim to every row's command, and a
row's own columns override them. Rerunning the same command skips finished rows and
resumes the others from their checkpoints. The exit status is the number of failed
rows (at most 100; 0 when all finished); a bad FILE or option is an error before
anything starts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

from dreamlift.commands._common import positive_int
from dreamlift.errors import DreamliftError

FORWARDED = (
    ("--steps", "value", "stage-1 training steps of every run (default: the preset's)"),
    ("--refine-steps", "value", "stage-2 refinement steps of every run that refines (default: the preset's)"),
    ("--seed", "value", "random seed of every run (default 0)"),
    ("--prior", "value", "prior of every run (default toy)"),
    ("--model", "value", "model folder, file or hub id for real priors"),
    ("--preset", "value", "named preset of every run"),
    ("--config", "value", "a JSON/YAML config file for every run"),
    ("--set", "append", "KEY=VALUE config setting of every run (repeatable)"),
    ("--checkpoint-every", "value", "steps between checkpoints: a killed run loses at most this many"),
    ("--device", "value", "device of every run (auto, cpu, cuda)"),
    ("--no-export", "flag", "skip mesh.glb and turntable.mp4"),
    ("--refine", "value", "stage 2, mesh refinement, in every run: on or off (default: the preset's)"),
)
"""Run options of ``dreamlift text|image`` that the batch passes on: (option, how it is given, help)."""
MAX_EXIT_STATUS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="prompts: .txt (one a line), or .csv/.jsonl with a prompt or image column")
    parser.add_argument("--out", type=Path, required=True, help="folder of the batch: one run folder per row, summary.csv, index.html")
    parser.add_argument("--workers", type=positive_int, default=None, help="most runs at once (default: what the cluster's CPUs/GPUs fit)")
    parser.add_argument("--address", default=None, help="Ray cluster to join (default: start a local one for this batch)")
    parser.add_argument("--gpus-per-run", type=_gpus, default=0.0, metavar="G", help="GPUs Ray reserves per run (default 0)")
    parser.add_argument("--cpus-per-run", type=positive_int, default=1, metavar="C", help="CPUs (and torch threads) per run (default 1)")
    parser.add_argument("--retries", type=_retries, default=3, help="restarts of a run whose worker process died (default 3)")
    parser.add_argument("--no-scores", action="store_true", help="leave the toy-world scores (dreamlift eval's) out of summary.csv")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    runs = parser.add_argument_group("run options (as in 'dreamlift text'; a row's columns override them)")
    for option, how, help_text in FORWARDED:
        if how == "flag":
            runs.add_argument(option, action="store_true", help=help_text)
        else:
            runs.add_argument(option, action="append" if how == "append" else "store", default=None, help=help_text)


def forwarded_options(args: argparse.Namespace) -> list[str]:
    """The run options of ``args`` as argv, exactly as given."""
    argv: list[str] = []
    for option, how, _ in FORWARDED:
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if how == "flag":
            argv += [option] if value else []
        elif how == "append":
            for item in value or ():
                argv += [option, item]
        elif value is not None:
            argv += [option, value]
    return argv


def check_forwarded(kinds: set[str], forwarded: list[str]) -> None:
    """Parse the batch's run options as each row command would, so a bad one fails before any run starts."""
    from dreamlift.commands import build_parser

    parser = build_parser()
    for kind in sorted(kinds):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            try:
                parser.parse_args([kind, "placeholder", "--out", "placeholder", *forwarded])
            except SystemExit:
                message = stderr.getvalue().strip().splitlines()[-1:] or ["bad run options"]
                raise DreamliftError(f"run options for 'dreamlift {kind}': {message[0].removeprefix('error: ')}") from None


def run(args: argparse.Namespace) -> int:
    from dreamlift.jobs.batch import BatchOptions, import_ray, run_batch
    from dreamlift.jobs.rows import read_rows
    from dreamlift.training.run_folder import nearest_existing

    rows = read_rows(args.file)
    forwarded = forwarded_options(args)
    check_forwarded({row.kind for row in rows}, forwarded)
    if args.out.exists() and not args.out.is_dir():
        raise DreamliftError(f"--out {args.out} is a file: give a folder for the batch")
    if not nearest_existing(args.out).is_dir():
        raise DreamliftError(f"cannot create --out {args.out}: {nearest_existing(args.out)} is a file")
    from dreamlift.jobs.summary import check_batch_folder

    check_batch_folder(args.out)  # a user's own index.html or summary.csv is not overwritten (issue 28's kind)
    import_ray()
    from dreamlift.commands import run_argv

    options = BatchOptions(
        forwarded=forwarded, runner=run_argv, gallery=batch_gallery, workers=args.workers, address=args.address, cpus_per_run=args.cpus_per_run,
        gpus_per_run=args.gpus_per_run, retries=args.retries, prior=args.prior, scores=not args.no_scores,
        progress=not args.quiet,
    )
    result = run_batch(rows, args.out, options)
    done = sum(entry.status == "done" for entry in result.entries)
    print(
        f"{args.out}: {done} of {len(rows)} runs finished ({result.skipped} already before), {result.failed} failed; "
        f"see {args.out / 'summary.csv'} and {args.out / 'index.html'}"
    )
    return min(result.failed, MAX_EXIT_STATUS)


def batch_gallery(finished: list) -> str:
    """The batch's ``index.html``: the viewer's gallery page of the finished runs ``[(name, folder)]``, static."""
    from dreamlift.web.pages import gallery_page
    from dreamlift.web.runs import Run, read_run

    runs = [Run(id=name, path=folder) for name, folder in finished]
    return gallery_page([(run, read_run(run, curves=False)) for run in runs], static=True)


def _gpus(text: str) -> float:
    from dreamlift.commands._common import finite_float

    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _retries(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value
