"""A run folder as one object: its kind, settings, stages and checkpoints, and its final asset.

:meth:`Run.open` reads what a folder holds without loading a tensor; :meth:`Run.asset` loads one
stage's result as a :class:`StageAsset`, which every reader of a run (``export``, ``render``,
``eval``, ``view``, the batch summary, the app) renders, scores and exports in the same way.

Stages: ``1`` is the NeRF of the first stage (``DIR/checkpoints/``), ``2`` the refined surface
(``DIR/refine/checkpoints/``). The *final* stage is 2 once the refinement has finished, else 1;
``mesh.glb`` is the final stage's mesh and ``mesh-stage1.glb`` stage 1's after a refinement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any

from dreamlift.errors import DreamliftError

STAGE_CHOICES = ("1", "2", "final")
"""What ``--stage`` takes."""
FINAL_MESH = "mesh.glb"
STAGE1_MESH = "mesh-stage1.glb"


@dataclass
class StageAsset:
    """One stage's result, ready to render, score and export (CPU, eval mode)."""

    stage: int
    step: int
    field: Any
    """The colour (stage 2) or density and colour (stage 1) field: a ``Field``."""
    occupancy: Any
    """Stage 1's occupancy grid (None for stage 2)."""
    surface: Any = None
    """Stage 2's :class:`~dreamlift.refine.asset.RefinedSurface` (None for stage 1)."""
    skipped: list = dataclass_field(default_factory=list)
    """Newer checkpoints of the stage that were damaged and passed over (empty: the newest was read)."""
    fallback: str | None = None
    """When the stage's newest checkpoint was damaged: which, why, and the older step read instead."""

    def render(self, cameras, size: int, shading: str = "lambertian", lights=None) -> dict:
        """``{"image": (B, H, W, 3) on white, "opacity": (B, H, W, 1)}`` of this stage from ``cameras``."""
        if self.surface is not None:
            out = self.surface.render(cameras, size, shading=shading, lights=lights)
            return {"image": out.image, "opacity": out.opacity}
        from dreamlift.rendering.renderer import render_field

        return render_field(self.field, cameras, size, shading=shading, lights=lights, occupancy=self.occupancy, normals=shading != "albedo")


@dataclass
class Run:
    """What a run folder holds, read from its files (no tensor is loaded until :meth:`asset`)."""

    path: Path
    record: dict
    config: Any
    """The run's :class:`~dreamlift.training.config.TrainConfig`."""

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "Run":
        """The run in ``folder``; a missing or damaged folder is a one-line error."""
        from dreamlift.training.run_folder import read_run_config, read_run_record

        path = Path(folder)
        if not path.is_dir():
            raise DreamliftError(f"run folder {path} does not exist: give the --out folder of a run")
        record = read_run_record(path)
        return cls(path=path, record=record, config=read_run_config(path, record))

    @property
    def kind(self) -> str:
        """``"text"`` or ``"image"``."""
        return self.record["kind"]

    # ------------------------------------------------------------ stages
    def stage1_step(self) -> int:
        """Step of stage 1's newest checkpoint record (0: none)."""
        from dreamlift.distillation.checkpoint import newest_step

        return newest_step(self.path / "checkpoints")

    def stage2_step(self) -> int:
        """Step of the refinement's newest checkpoint record (0: not refined)."""
        from dreamlift.refine.asset import refinement_step

        return refinement_step(self.path)

    @property
    def refined(self) -> bool:
        """The refinement has finished (its newest checkpoint is at ``refine.steps``)."""
        step = self.stage2_step()
        return step > 0 and step >= self.config.refine.steps

    @property
    def final_stage(self) -> int:
        """2 for a finished refinement, else 1."""
        return 2 if self.refined else 1

    def stage(self, choice: str | int = "final") -> int:
        """``choice`` (``1``, ``2`` or ``final``) as a stage number this run has; else a one-line error."""
        choice = str(choice)
        if choice not in STAGE_CHOICES:
            raise DreamliftError(f"unknown stage {choice!r}: choose 1, 2 or final")
        if choice == "final":
            return self.final_stage
        if choice == "2" and self.stage2_step() == 0:
            raise DreamliftError(f"{self.path} has no refined surface (stage 2): run 'dreamlift refine {self.path}', or use --stage 1")
        return int(choice)

    def mesh_file(self, stage: int) -> Path:
        """The mesh file the run wrote for ``stage``: ``mesh.glb`` for the final stage, ``mesh-stage1.glb`` for stage 1 of a refined run."""
        return self.path / (STAGE1_MESH if stage == 1 and self.final_stage == 2 else FINAL_MESH)

    # ------------------------------------------------------------ assets
    def stage1(self, finished: bool = False):
        """Stage 1's NeRF (:func:`~dreamlift.training.run_folder.load_stage1`)."""
        from dreamlift.training.run_folder import load_stage1

        return load_stage1(self.path, self.record, finished=finished)

    def asset(self, stage: str | int = "final", warn: bool = True) -> StageAsset:
        """The result of ``stage`` (``1``, ``2`` or ``final``), loaded; with ``warn``, a warning (``{path}: {fallback}``)
        when its newest checkpoint was damaged and an older step was read."""
        number = self.stage(stage)
        first = self.stage1()
        if number == 1:
            asset = StageAsset(
                stage=1, step=first.step, field=first.field, occupancy=first.occupancy, skipped=first.skipped, fallback=first.fallback
            )
        else:
            from dreamlift.refine.asset import load_refined

            refined = load_refined(self.path, self.config, first.field)
            asset = StageAsset(
                stage=2, step=refined.step, field=refined.field, occupancy=None, surface=refined, skipped=refined.skipped,
                fallback=refined.fallback,
            )
        if warn and asset.fallback is not None:
            import warnings

            warnings.warn(f"{self.path}: {asset.fallback}", stacklevel=2)
        return asset

    def lock(self):
        """The folder's writer lock (:class:`~dreamlift.pipeline.lock.RunLock`), not yet taken."""
        from dreamlift.pipeline.lock import RunLock

        return RunLock(self.path)

