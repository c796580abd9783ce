"""Run folders (DESIGN.md): creation with clear errors, and loading a finished run.

``DIR/config.json`` holds ``{"kind": "text"|"image", "format": RUN_FORMAT,
"dreamlift_version": ..., "torch_version": ..., "config": {...}}``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dreamlift.errors import DreamliftError

RUN_FORMAT = 1
"""Version of the run-folder layout; a folder of another format cannot be resumed."""


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise DreamliftError(f"cannot write to output folder {folder}: {reason}; choose another --out") from None


def prepare_run_folder(path: str | os.PathLike, kind: str, resume: bool) -> Path:
    """Check ``path`` can hold a new run (or, with ``resume``, holds a run of ``kind``)."""
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
    elif config_path.exists():
        raise DreamliftError(f"{folder} already holds a run: add --resume to continue it, or choose another --out")
    _check_writable(folder)
    return folder


def read_run_record(folder: Path) -> dict[str, Any]:
    """The parsed ``config.json`` of a run folder, with format checks."""
    config_path = Path(folder) / "config.json"
    try:
        record = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise DreamliftError(f"{folder} is not a dreamlift run folder (no config.json): give the --out folder of a run") from None
    except (OSError, ValueError) as error:
        raise DreamliftError(f"{config_path} is unreadable ({error.__class__.__name__}): the run folder is damaged") from None
    if not isinstance(record, dict) or "config" not in record:
        raise DreamliftError(f"{config_path} is not a dreamlift run record: give the --out folder of a run")
    if record.get("format") != RUN_FORMAT:
        raise DreamliftError(
            f"{folder} was written by an incompatible dreamlift (run format {record.get('format')}, this one reads {RUN_FORMAT})"
        )
    return record


@dataclass
class LoadedRun:
    """A run folder's latest scene, ready to render or export."""

    path: Path
    config: dict[str, Any]
    kind: str
    field: Any
    occupancy: Any
    step: int


def load_run(run_dir: str | os.PathLike) -> LoadedRun:
    """Load the newest good checkpoint of a run folder (field in eval mode, on the CPU)."""
    from dreamlift.rendering.occupancy import OccupancyGrid
    from dreamlift.scene.field import NeRFField
    from dreamlift.training.checkpoint import load_latest_checkpoint
    from dreamlift.training.config import TrainConfig, from_dict

    folder = Path(run_dir)
    if not folder.is_dir():
        raise DreamliftError(f"run folder {folder} does not exist: give the --out folder of a run")
    record = read_run_record(folder)
    config = from_dict(TrainConfig, record["config"])
    checkpoint, skipped = load_latest_checkpoint(folder / "checkpoints")
    if checkpoint is None:
        extra = f" ({'; '.join(skipped)})" if skipped else ""
        raise DreamliftError(f"{folder} has no usable checkpoint yet{extra}: let the run reach its first checkpoint")
    field = NeRFField(config.nerf)
    state = {k[len("field.") :]: v for k, v in checkpoint.tensors.items() if k.startswith("field.")}
    try:
        field.load_state_dict(state)
    except RuntimeError:
        raise DreamliftError(f"the checkpoint in {folder} does not match its config (field shapes differ): the folder is damaged") from None
    field.eval()
    occupancy = OccupancyGrid(config.occupancy, config.nerf.bound)
    occupancy.load_state_dict({"density": checkpoint.tensors["occupancy.density"], "mask": checkpoint.tensors["occupancy.mask"]})
    return LoadedRun(path=folder, config=record["config"], kind=record["kind"], field=field, occupancy=occupancy, step=checkpoint.step)
