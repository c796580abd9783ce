"""Run folders (DESIGN.md): creation with clear errors, and loading stage 1 of a run.

``DIR/config.json`` holds ``{"kind": "text"|"image", "format": RUN_FORMAT,
"dreamlift_version": ..., "torch_version": ..., "config": {...}}``.

Every check that can fail is done before anything is written (:func:`check_run_folder`),
so a refused command leaves the disk as it was. A run folder is trusted no more than
any other input: a damaged or hand-edited ``config.json`` or a checkpoint that does
not fit its settings is a one-line :class:`DreamliftError`, never a traceback.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamlift.errors import DreamliftError

RUN_FORMAT = 2
"""Version of the run-folder layout. Format 1 (before the prior became a typed section) is read and
upgraded in memory (:func:`upgrade_format_1`); other formats cannot be resumed."""


LOCK_FILE = ".lock"
"""The run folder's writer lock (:class:`dreamlift.pipeline.lock.RunLock`): its holder's PID; left behind by a crash, harmless."""
TEMPORARY_PATTERNS = (".*.tmp", ".write-test-*")
"""Names of the temporary files a killed process can leave (``_atomic`` temp files, write tests)."""
RUN_SUBFOLDERS = (".", "checkpoints", "previews", "inputs")
"""Folders of a run that :func:`remove_stale_temporaries` tidies."""


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(folder: Path) -> None:
    """Refuse, without writing anything, a folder that cannot be created or written."""
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise DreamliftError(f"cannot write to output folder {folder}: {existing} is a file; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DreamliftError(f"cannot write to output folder {folder}: Permission denied; choose another --out")


def write_test(folder: Path) -> None:
    """Create and delete a temporary file in the existing ``folder``; an OSError says it cannot hold new files."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
        pass


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_test(folder)
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise DreamliftError(f"cannot write to output folder {folder}: {reason}; choose another --out") from None


def check_run_folder(path: str | os.PathLike, kind: str, resume: bool) -> Path:
    """Every check of :func:`prepare_run_folder`, writing nothing (call it before slow work)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise DreamliftError(f"output path {folder} is a file, not a folder: choose another --out")
    config_path = folder / "config.json"
    if resume:
        if not config_path.is_file():
            raise DreamliftError(f"nothing to resume in {folder}: it has no config.json; start a new run without --resume")
        record = read_run_record(folder)
        if record.get("kind") != kind:
            raise DreamliftError(
                f"{folder} holds a {record.get('kind')!r} run, not a {kind!r} run: resume it with 'dreamlift {record.get('kind')}'"
            )
        config = read_run_config(folder, record)
        _validate(config, config_path)
    elif config_path.exists():
        raise DreamliftError(f"{folder} already holds a run: add --resume to continue it, or choose another --out")
    else:
        _check_empty(folder)
    _check_creatable(folder)
    return folder


RUN_FILES = ("config.json", "log.jsonl", "checkpoints", "previews", "refine", "inputs", "input.png", "mesh.glb", "mesh-stage1.glb", "turntable.mp4")
"""Names a run writes in its folder (besides files named by its settings): a new run would overwrite these."""


def _check_empty(folder: Path) -> None:
    """Refuse a new run in an existing folder that holds anything (a user's own files: ``--out .``), naming a file the
    run would overwrite if there is one; temporary files and the lock file a killed dreamlift left do not count (a run
    that holds the lock now is refused by the lock, naming it)."""
    import fnmatch

    if not folder.is_dir():
        return
    try:
        names = sorted(
            p.name for p in folder.iterdir() if p.name != LOCK_FILE and not any(fnmatch.fnmatch(p.name, t) for t in TEMPORARY_PATTERNS)
        )
    except OSError as error:
        raise DreamliftError(f"cannot read output folder {folder}: {error.strerror or error.__class__.__name__}; choose another --out") from None
    if not names:
        return
    clashes = [name for name in RUN_FILES if name in names]
    if clashes:
        raise DreamliftError(
            f"{folder} is not empty and holds no dreamlift run (no config.json): a run there would overwrite {folder / clashes[0]}; "
            "choose a new or empty folder for --out"
        )
    raise DreamliftError(
        f"{folder} is not empty and holds no dreamlift run (no config.json; it has {names[0]!r}"
        f"{f' and {len(names) - 1} more' if len(names) > 1 else ''}): choose a new or empty folder for --out"
    )


def prepare_run_folder(path: str | os.PathLike, kind: str, resume: bool) -> Path:
    """Check ``path`` can hold a new run (or, with ``resume``, holds a run of ``kind``), then create it.

    The writer then takes the folder's lock, and only then, on resume, removes what a killed process
    left (:func:`remove_stale_temporaries`): another process may still be writing them.
    """
    folder = check_run_folder(path, kind, resume)
    _check_writable(folder)
    return folder


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete what a killed run leaves behind: temp files and tensor files without their JSON record.

    Only call this when no other process writes to ``folder`` (at the start of a resume).
    """
    removed = []
    for sub in RUN_SUBFOLDERS:
        where = Path(folder) / sub
        if not where.is_dir():
            continue
        for pattern in TEMPORARY_PATTERNS:
            removed.extend(p for p in where.glob(pattern) if p.is_file())
    checkpoints = Path(folder) / "checkpoints"
    if checkpoints.is_dir():
        removed.extend(p for p in checkpoints.glob("step-*.safetensors") if not p.with_suffix(".json").exists())
    for stale in removed:
        stale.unlink(missing_ok=True)
    return removed


def read_run_record(folder: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a run folder, with format checks."""
    from dreamlift._limits import parse_json, read_text

    config_path = Path(folder) / "config.json"
    try:
        record = parse_json(read_text(config_path, str(config_path)), str(config_path))
    except FileNotFoundError:
        raise DreamliftError(f"{folder} is not a dreamlift run folder (no config.json): give the --out folder of a run") from None
    except (OSError, ValueError) as error:  # ValueError: bad JSON or bad UTF-8
        raise DreamliftError(f"{config_path} is unreadable ({error.__class__.__name__}): the run folder is damaged") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise DreamliftError(f"{config_path} is not a dreamlift run record: give the --out folder of a run")
    if record.get("kind") not in ("text", "image"):
        raise DreamliftError(f"{config_path} names no known kind of run ({record.get('kind')!r}): the run folder is damaged")
    record["config"] = upgrade_config(record, folder)
    return record


def upgrade_config(record: dict[str, Any], where: Path) -> dict[str, Any]:
    """The ``config`` of a run record in this version's format (format 1 is upgraded; others are an error)."""
    if record.get("format") == RUN_FORMAT:
        return record["config"]
    if record.get("format") == 1 and isinstance(record.get("config"), dict):
        try:
            return upgrade_format_1(record["config"], record.get("kind"))
        except (TypeError, ValueError, AttributeError) as error:
            raise DreamliftError(f"{where} is damaged ({error.__class__.__name__}): start a new run") from None
    written_by = record.get("dreamlift_version")
    by = f" dreamlift {written_by}" if isinstance(written_by, str) else " another dreamlift"
    raise DreamliftError(
        f"{where} was written by{by} in run format {record.get('format')!r}; this one reads formats 1 and {RUN_FORMAT}: "
        "use that version, or start a new run in another --out"
    )


def upgrade_format_1(config: dict[str, Any], kind: str | None) -> dict[str, Any]:
    """A format-1 ``config`` (``prior`` a word, its settings in ``toy`` / ``stable_diffusion`` /
    ``deepfloyd_if`` / ``image.toy_view`` / ``image.zero123``, ``model``, ``timesteps`` and
    ``weighting`` at the top) as format 2: one ``prior`` section named by ``prior.name``."""
    config = dict(config)
    word = config.pop("prior", "toy")
    image = dict(config.pop("image", None) or {}) if kind == "image" else None
    toy_view, zero123 = (image.pop("toy_view", {}), image.pop("zero123", {})) if image is not None else ({}, {})
    sections = {
        "toy": config.pop("toy", None) or {},
        "stable-diffusion": config.pop("stable_diffusion", None) or {},
        "deepfloyd-if": config.pop("deepfloyd_if", None) or {},
    }
    model = config.pop("model", None)
    shared = {key: config.pop(key) for key in ("timesteps", "weighting") if key in config}
    if word == "toy" and image is not None:
        prior = {"name": "toy-view", **sections["toy"], **toy_view}
    elif word == "zero123":
        prior = {"name": "zero123", **{k: v for k, v in zero123.items() if k != "weighting"}}
    else:
        prior = {"name": word, **{k: v for k, v in sections.get(word, {}).items() if k != "weighting"}}
    if model:
        prior["model"] = model
    prior.update(shared)
    config["prior"] = prior
    if image is not None:
        config["image"] = image
    return config


def read_run_config(folder: Path, record: dict[str, Any] | None = None):
    """The run's :class:`~dreamlift.training.config.TrainConfig`; a damaged one is a one-line error."""
    from dreamlift.config_tree import from_dict
    from dreamlift.training.config import TrainConfig

    record = record if record is not None else read_run_record(folder)
    try:
        return from_dict(TrainConfig, record["config"])
    except DreamliftError as error:
        raise DreamliftError(f"{Path(folder) / 'config.json'} is damaged ({error}): start a new run") from None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise DreamliftError(
            f"{Path(folder) / 'config.json'} is damaged ({error.__class__.__name__}: {str(error)[:120]}): start a new run"
        ) from None


def _validate(config, config_path: Path) -> None:
    """``config.validate()``, with wrong value types (a hand-edited file) as one-line errors."""
    try:
        config.validate()
    except DreamliftError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise DreamliftError(
            f"{config_path} is damaged ({error.__class__.__name__}: {str(error)[:120]}): start a new run"
        ) from None


@dataclass
class Stage1:
    """A run folder's stage-1 scene from its newest good checkpoint (on the CPU, the field in eval mode)."""

    path: Path
    config: Any
    """The run's :class:`~dreamlift.training.config.TrainConfig`."""
    kind: str
    field: Any
    background: Any
    occupancy: Any
    step: int
    """Step of the checkpoint it was read from."""
    skipped: list[str]
    """Newer checkpoints that were damaged and passed over (empty when the newest was read)."""
    fallback: str | None = None
    """When the newest checkpoint was damaged: which it was, why, and the older step read instead
    (:func:`~dreamlift.distillation.checkpoint.fallback_note`)."""


def load_stage1(run_dir: str | os.PathLike, record: dict[str, Any] | None = None, *, finished: bool = False) -> Stage1:
    """Stage 1 of a run folder from the newest good checkpoint: its representation's field (the
    :class:`~dreamlift.scene.field.Field` view), background and occupancy grid (for Gaussians, made from their density), on the CPU.

    ``finished``: refuse a stage 1 that stopped before its ``steps`` (the refinement starts only from a
    finished one). Every failure is a one-line :class:`DreamliftError` that says what to do.
    """
    import torch

    from dreamlift.distillation.checkpoint import fallback_note, load_latest_checkpoint, prefixed

    folder = Path(run_dir)
    if not folder.is_dir():
        raise DreamliftError(f"run folder {folder} does not exist: give the --out folder of a run")
    record = record if record is not None else read_run_record(folder)
    config = read_run_config(folder, record)
    checkpoint, skipped = load_latest_checkpoint(folder / "checkpoints")
    if checkpoint is None and skipped:
        raise DreamliftError(
            f"{folder} has no usable checkpoint ({'; '.join(skipped)}): they are damaged; continue the run with --resume to write new ones"
        )
    if checkpoint is None:
        raise DreamliftError(f"{folder} has no usable checkpoint yet: let the run reach its first checkpoint")
    if finished and checkpoint.step < config.steps:
        fallback = fallback_note(checkpoint, skipped)  # a torn newest checkpoint is said as such, not as an unfinished stage 1
        if fallback is not None:
            raise DreamliftError(
                f"stage 1 of {folder} cannot be refined: {fallback}, and stage 1 asks for {config.steps} steps: "
                f"continue it with --resume (from step {checkpoint.step}) before refining"
            )
        raise DreamliftError(
            f"stage 1 of {folder} stopped at step {checkpoint.step} of {config.steps}: finish it with --resume before refining"
        )
    try:
        representation = config.representation.setup(config, torch.device("cpu"))
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as error:
        raise DreamliftError(f"{folder / 'config.json'} is damaged ({error.__class__.__name__}): start a new run") from None
    try:
        for prefix, part in representation.checkpointed().items():
            part.load_state_dict(prefixed(checkpoint.tensors, prefix))
    except (RuntimeError, KeyError):
        raise DreamliftError(
            f"the checkpoint {checkpoint.name} in {folder} does not match the run's config.json (tensor names or shapes differ): "
            "the folder is damaged or mixes two runs"
        ) from None
    field = representation.field
    field.eval()
    return Stage1(
        path=folder, config=config, kind=record["kind"], field=field, background=representation.background,
        occupancy=representation.occupancy, step=checkpoint.step, skipped=list(skipped), fallback=fallback_note(checkpoint, skipped),
    )


@dataclass
class RunProgress:
    """How far a run folder got, read from its files without loading any tensor."""

    started: bool
    """It has a readable ``config.json`` (so it is continued with ``--resume``)."""
    step: int
    """Step of its newest stage-1 checkpoint record (0: none yet)."""
    steps: int
    """Stage-1 steps its config asks for (0 when not started)."""
    finished: bool
    """Both stages trained to their steps (stage 2 when the config refines) and every asset its config exports
    (mesh.glb, turntable.mp4) is written."""
    refine_step: int = 0
    """Step of its newest refinement checkpoint record (0: none)."""
    refine_steps: int = 0
    """Refinement steps its config asks for (0: it does not refine)."""


def run_progress(run_dir: str | os.PathLike) -> RunProgress:
    """Where the run in ``run_dir`` stands; a missing or damaged folder counts as not started."""
    from dreamlift.distillation.checkpoint import newest_step

    folder = Path(run_dir)
    try:
        config = read_run_config(folder)
    except DreamliftError:
        return RunProgress(started=False, step=0, steps=0, finished=False)
    step = newest_step(folder / "checkpoints")
    refine_step = newest_step(folder / "refine" / "checkpoints")
    refine_steps = config.refine.steps if config.refine.enabled else 0
    exported = (not config.export_mesh or (folder / "mesh.glb").is_file()) and (
        not config.export_video or (folder / "turntable.mp4").is_file()
    )
    finished = step >= config.steps and refine_step >= refine_steps and exported
    return RunProgress(started=True, step=step, steps=config.steps, finished=finished, refine_step=refine_step, refine_steps=refine_steps)
