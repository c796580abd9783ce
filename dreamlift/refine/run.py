"""A run folder's assets after stage 1, with or without the refinement stage.

* refinement on: stage 2 runs in ``DIR/refine/`` (:class:`~dreamlift.refine.stage.Refiner`),
  ``mesh.glb`` is the refined surface coloured from the refined colour field, the
  stage-1 mesh is kept as ``mesh-stage1.glb``, and ``turntable.mp4`` is rasterised from
  the refined mesh;
* refinement off: ``mesh.glb`` is the stage-1 mesh (marching cubes of the NeRF) and
  ``turntable.mp4`` is rasterised from it.

The turntable is ``config.turntable_size`` pixels square (512 by default).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dreamlift.guidance.base import GuidanceInputs

STAGE1_MESH = "mesh-stage1.glb"
"""The stage-1 mesh of a refined run."""


def refine_guidance(config, inputs: GuidanceInputs):
    """The run's prior set up for the refinement stage (its render size and timesteps)."""
    prior = config.prior.for_refinement(config.refine.size, config.refine.timesteps)
    return prior.setup(inputs)


def run_refinement(folder: Path, config, inputs: GuidanceInputs, resume: bool, quiet: bool):
    """Run (or resume) stage 2 in ``folder/refine``; returns the finished :class:`~dreamlift.refine.stage.Refiner`."""
    refiner = make_refiner(folder, config, inputs, quiet)
    refiner.run(resume=resume)
    return refiner


def make_refiner(folder: Path, config, inputs: GuidanceInputs, quiet: bool):
    """Stage 2 of ``folder`` set up and not yet run: its prior, the stage-1 field, the initial surface.

    Writes nothing. Image runs keep their reference-view losses (the input views,
    ``config.image.loss``) in stage 2.
    """
    from dreamlift.refine.stage import Refiner

    hooks = []
    if config.image is not None and inputs.views:
        from dreamlift.training.reference import ReferenceTargets, ReferenceViewHook

        hooks.append(ReferenceViewHook(config.image.loss, ReferenceTargets.from_views(inputs.views)))
    return Refiner(config, folder, refine_guidance(config, inputs), show_progress=not quiet, hooks=hooks)


def write_assets(folder: Path, config, stage1_field, occupancy, refiner=None) -> list[str]:
    """Write ``mesh.glb`` (+ ``mesh-stage1.glb`` after refinement) and ``turntable.mp4`` as the config asks; returns their names.

    ``stage1_field`` is the stage-1 NeRF as stage 1 left it; ``refiner`` the finished stage 2, if any.
    """
    from dreamlift import export
    from dreamlift.export.texture import ColourConfig, apply_colour
    from dreamlift.export.video import TurntableConfig
    from dreamlift.refine.export import as_surface, clean_surface, write_mesh_turntable

    written: list[str] = []
    if not (config.export_mesh or config.export_video):
        return written
    stage1_field = stage1_field.cpu().eval()
    stage1 = export.extract_mesh(stage1_field, occupancy=occupancy)
    final_mesh, final_field = stage1.mesh, stage1_field
    if refiner is not None:
        final_mesh, final_field = clean_surface(refiner.final_surface()), refiner.field.cpu().eval()
    if config.export_mesh:
        if refiner is not None:
            coloured = apply_colour(final_field, final_mesh.copy(), ColourConfig(), refiner.geometry.grid.spacing)
            export.write_mesh(coloured, folder / "mesh.glb", export.MeshFormat.GLB)
            written.append("mesh.glb")
        coloured = apply_colour(stage1_field, stage1.mesh.copy(), ColourConfig(), stage1.grid.spacing)
        name = "mesh.glb" if refiner is None else STAGE1_MESH
        export.write_mesh(coloured, folder / name, export.MeshFormat.GLB)
        written.append(name)
    if config.export_video:
        with torch.no_grad():
            write_mesh_turntable(as_surface(final_mesh), final_field.albedo, folder / "turntable.mp4", TurntableConfig(size=int(config.turntable_size)))
        written.append("turntable.mp4")
    return written
