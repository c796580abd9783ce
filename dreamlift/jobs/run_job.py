"""An app job's child process: ``python -m dreamlift.jobs.run_job --out DIR --spec JSON [--resume]``.

It makes the job's run through the pipeline (:func:`dreamlift.pipeline.stages.make_run`): a new run
from the spec's settings (:func:`~dreamlift.jobs.spec.spec_config`), or, with ``--resume``, the run in
``DIR`` continued with its saved settings (the spec's ``steps`` and ``checkpoint_every`` still apply,
as ``dreamlift text --resume --steps N`` does). It prints the plan, the trainer's notes and, for a
user error, one ``error: ...`` line; exit status 0 (done), 2 (an error, or stopped by a signal after
saving a checkpoint) or 130 (Ctrl-C). The worker reads its progress from the run folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dreamlift.errors import DreamliftError, main_status
from dreamlift.jobs.spec import JobSpec, spec_config

MAX_SPEC_CHARACTERS = 1 << 16


def job_config(spec: JobSpec, folder: Path, resume: bool):
    """The settings the job runs with: resolved from the spec, or the run's saved ones on ``resume``."""
    if not resume:
        return spec_config(spec)
    from dreamlift.training.run_folder import read_run_config

    config = read_run_config(folder)
    if spec.steps is not None:
        config.steps = spec.steps
    if spec.checkpoint_every is not None:
        config.checkpoint_every = spec.checkpoint_every
    config.validate()
    return config


def run_job(spec: JobSpec, folder: Path, resume: bool) -> int:
    """Make (or continue) the job's run in ``folder``; see the module docstring."""
    from dreamlift.pipeline.stages import make_run

    config = job_config(spec, folder, resume)
    views = candidates = None
    if spec.kind == "image":
        from dreamlift.pipeline.image_inputs import ImageSource, prepare_views, saved_views

        if resume:
            views, candidates = saved_views(folder, config)
        else:
            views, candidates = prepare_views(config, ImageSource(image=Path(spec.image or "")))
    result = make_run(config, folder, spec.kind, views=views, candidates=candidates, resume=resume, quiet=True, say=print)
    print(f"{folder}: done, steps {result.steps}; wrote {', '.join(result.written)}", flush=True)
    return 0


def _spec(text: str) -> JobSpec:
    if len(text) > MAX_SPEC_CHARACTERS:
        raise DreamliftError(f"the job's spec has {len(text)} characters, over {MAX_SPEC_CHARACTERS}: the queue is damaged")
    try:
        data = json.loads(text)
    except ValueError:
        raise DreamliftError("the job's spec is not JSON: the queue is damaged") from None
    if not isinstance(data, dict) or data.get("kind") not in ("text", "image"):
        raise DreamliftError("the job's spec names no kind of run: the queue is damaged")
    return JobSpec.from_dict(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dreamlift.jobs.run_job", description="one app job, through the pipeline")
    parser.add_argument("--out", type=Path, required=True, help="the job's run folder")
    parser.add_argument("--spec", required=True, help="the job's JobSpec as JSON")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    args = parser.parse_args(argv)
    return main_status(lambda: run_job(_spec(args.spec), args.out, args.resume))


if __name__ == "__main__":
    sys.exit(main())
