"""Run folders as the viewer sees them: which runs, which of their files may be served, what to show.

A run folder is a folder with ``config.json`` (DESIGN.md). ``find_runs`` accepts run
folders and folders of runs (one level down), and gives each run a URL-safe id.
Only the files named in ``SERVED_FILES`` and ``previews/*.png`` are ever served, and
only when they are regular files whose real path lies inside the run folder (a
symbolic link out of the folder is refused). Request paths are never joined to the
file system: they are looked up in this allow-list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dreamlift.errors import DreamliftError
from dreamlift.pipeline.logs import Series, series_from_log

SERVED_FILES = (
    "mesh.glb",
    "mesh-stage1.glb",
    "mesh.obj",
    "mesh.mtl",
    "mesh.png",
    "mesh.ply",
    "splats.ply",
    "turntable.mp4",
    "turntable.gif",
    "turntable_depth.mp4",
    "turntable_normals.mp4",
    "input.png",
    "config.json",
    "log.jsonl",
)
"""Files of a run folder the viewer serves (besides the preview images)."""
PREVIEW_FOLDERS = ("previews", "refine/previews")
"""Folders whose ``*.png`` the viewer serves: stage 1's previews and the refinement's."""
MAX_LOG_BYTES = 32 << 20
"""A log.jsonl larger than this is read only up to here."""


@dataclass
class Run:
    """A run folder and its id in URLs (``/runs/<id>/``)."""

    id: str
    path: Path


@dataclass
class RunInfo:
    """What a run page shows."""

    kind: str | None
    prompt: str | None
    settings: list[tuple[str, str]]
    """Flattened ``config.json`` settings, ``("a.b", "value")``."""
    series: Series
    """Training curves from ``log.jsonl`` (empty when not read)."""
    files: dict[str, Path]
    stages: str | None = None
    """Each stage's step and which one the final asset is (:func:`stage_summary`), or None for a damaged run."""

    @property
    def previews(self) -> list[str]:
        """Served names of stage 1's preview images, oldest first."""
        return sorted(name for name in self.files if name.startswith("previews/"))

    @property
    def refine_previews(self) -> list[str]:
        """Served names of the refinement's preview images, oldest first."""
        return sorted(name for name in self.files if name.startswith("refine/previews/"))

    @property
    def title(self) -> str:
        return self.prompt or ("image run" if self.kind == "image" else "run")


def is_run(path: Path) -> bool:
    return (path / "config.json").is_file()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "run"


def find_runs(paths: list[Path]) -> list[Run]:
    """Runs of ``paths`` (each a run folder or a folder of runs), with unique ids."""
    folders: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        if not path.is_dir():
            raise DreamliftError(f"{path} is not a folder: give a run folder (with config.json) or a folder of runs")
        if is_run(path):
            folders.append(path.resolve())
            continue
        inner = sorted(p.resolve() for p in path.iterdir() if p.is_dir() and is_run(p))
        if not inner:
            raise DreamliftError(f"{path} is neither a run folder (no config.json) nor a folder of runs: give the --out folder of a run")
        folders += inner
    runs, used = [], set()
    for folder in dict.fromkeys(folders):
        base = _slug(folder.name)
        run_id, n = base, 2
        while run_id in used:
            run_id, n = f"{base}-{n}", n + 1
        used.add(run_id)
        runs.append(Run(id=run_id, path=folder))
    return runs


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.is_file() and path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def served_files(run: Run) -> dict[str, Path]:
    """The allow-list of ``run``: served name → file (see the module docstring)."""
    files = {name: run.path / name for name in SERVED_FILES}
    for folder in PREVIEW_FOLDERS:
        previews = run.path / folder
        if previews.is_dir():
            for image in previews.glob("*.png"):
                files[f"{folder}/{image.name}"] = image
    return {name: path for name, path in files.items() if _inside(path, run.path)}


def served_file(run: Run, name: str) -> Path | None:
    """The file served as ``name``, or None: :func:`served_files` for one name, without listing the folder."""
    folder, _, preview = name.rpartition("/")
    if name not in SERVED_FILES and not (folder in PREVIEW_FOLDERS and preview.endswith(".png")):
        return None
    path = run.path / name
    return path if _inside(path, run.path) else None


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key in sorted(value):
            rows += _flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, json.dumps(value) if not isinstance(value, str) else value)]


def _read_json(path: Path) -> dict:
    """A run's JSON record, or {} when it is missing, damaged, over 1 MiB or nested too deep (the page leaves it out)."""
    from dreamlift._limits import check_size, json_or_none, read_text

    try:
        data = json_or_none(read_text(path, str(path)))
        check_size(data, str(path))
    except (OSError, ValueError, DreamliftError):
        return {}
    return data if isinstance(data, dict) else {}


def read_run(run: Run, curves: bool = True) -> RunInfo:
    """Read what a run page shows; a missing or damaged file just leaves its part out.

    ``curves=False`` skips reading ``log.jsonl`` (the gallery shows no curves).
    """
    record = _read_json(run.path / "config.json")
    settings = record.get("config") if isinstance(record.get("config"), dict) else record
    prompt = settings.get("prompt") if isinstance(settings.get("prompt"), str) and settings.get("prompt") else None
    meta = {k: v for k, v in record.items() if k != "config"} if settings is not record else {}
    files = served_files(run)
    series: Series = {}
    if curves and "log.jsonl" in files:
        with open(files["log.jsonl"], "rb") as handle:
            text = handle.read(MAX_LOG_BYTES).decode("utf-8", errors="replace")
        series = series_from_log(text.splitlines())
    kind = record.get("kind") if isinstance(record.get("kind"), str) else None
    return RunInfo(
        kind=kind, prompt=prompt, settings=_flatten(meta) + _flatten(settings), series=series, files=files, stages=stage_summary(run.path)
    )


def stage_summary(folder: Path) -> str | None:
    """``stage 1: step 600 of 600 · stage 2: step 200 of 200 · final: the refined mesh``, read through the run model
    (:class:`dreamlift.pipeline.run.Run`); None when the folder is not a readable run."""
    from dreamlift.pipeline.run import Run

    try:
        opened = Run.open(folder)
    except DreamliftError:
        return None
    parts = [f"stage 1: step {opened.stage1_step()} of {opened.config.steps}"]
    if opened.config.refine.enabled or opened.stage2_step():
        parts.append(f"stage 2: step {opened.stage2_step()} of {opened.config.refine.steps}")
    parts.append(f"final: {'the refined mesh' if opened.final_stage == 2 else 'the NeRF'}")
    return " · ".join(parts)
