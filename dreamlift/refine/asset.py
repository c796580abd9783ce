"""Stage 2's result read back from a run folder: the refined surface and its colour field.

``RUN/refine/checkpoints/`` holds the DMTet geometry (``geometry.sdf``, ``geometry.deform``) and the
refined colour field (``field.*``, :func:`~dreamlift.refine.colour.colour_field`) of
:class:`~dreamlift.refine.stage.Refiner`; the surface is the
marching-tetrahedra mesh of that SDF, as the refinement last saw it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
import trimesh

from dreamlift.distillation.checkpoint import fallback_note, load_latest_checkpoint, newest_step, prefixed
from dreamlift.errors import DreamliftError
from dreamlift.refine.colour import colour_field
from dreamlift.refine.export import clean_surface
from dreamlift.refine.geometry import DMTetGeometry
from dreamlift.refine.render import MeshRender, render_mesh
from dreamlift.refine.tets import SurfaceMesh, tet_grid

STAGE_FOLDER = "refine"
"""The refinement stage's sub-folder of a run folder."""


@dataclass
class RefinedSurface:
    """The refined surface (CPU) and the colour field that paints it."""

    surface: SurfaceMesh
    field: torch.nn.Module
    """The refined colour field, whose ``albedo(points (N, 3)) -> (N, 3)`` colours the surface (a NeRF field, or 3D
    Gaussians' baked :class:`~dreamlift.scene.albedo_grid.AlbedoGrid`)."""
    spacing: float
    """Edge length of the tet grid's cubes (the colour look-up's offset scale)."""
    step: int
    """Refinement step of the checkpoint it was read from."""
    skipped: list[str]
    """Newer refinement checkpoints that were damaged and passed over."""
    fallback: str | None = None
    """When the newest refinement checkpoint was damaged: which, why, and the older step read instead."""

    def mesh(self) -> trimesh.Trimesh:
        """The cleaned, outward-wound mesh that ``mesh.glb`` is made of (uncoloured)."""
        return clean_surface(self.surface)

    @torch.no_grad()
    def render(self, cameras, size: int, shading: str = "lambertian", lights=None) -> MeshRender:
        """The surface from ``cameras`` on white, ``size`` px square (:func:`~dreamlift.refine.render.render_mesh`)."""
        return render_mesh(self.surface, self.field.albedo, cameras, size, shading=shading, lights=lights)


def refinement_step(folder: Path) -> int:
    """Step of the newest refinement checkpoint record of ``folder`` (0: none), without reading tensors."""
    return newest_step(Path(folder) / STAGE_FOLDER / "checkpoints")


@torch.no_grad()
def load_refined(folder: Path, config, stage1_field) -> RefinedSurface:
    """The refined surface of ``folder`` from its newest good refinement checkpoint.

    ``config`` is the run's ``TrainConfig``; ``stage1_field`` its stage-1 field (the colour field's
    layout; copied, not changed).
    """
    where = Path(folder) / STAGE_FOLDER / "checkpoints"
    checkpoint, skipped = load_latest_checkpoint(where)
    if checkpoint is None:
        detail = f" (damaged: {'; '.join(skipped)})" if skipped else ""
        raise DreamliftError(f"{folder} has no usable refinement checkpoint{detail}: run 'dreamlift refine {folder}' (or --resume it)")
    grid = tet_grid(config.refine.tet_resolution, config.scene_bound)
    geometry = DMTetGeometry(grid, torch.zeros(grid.vertices.shape[0]), config.refine.max_shift)
    try:
        geometry.load_state_dict(prefixed(checkpoint.tensors, "geometry"))
        field = _load_colour(prefixed(checkpoint.tensors, "field"), config, stage1_field)
    except (RuntimeError, KeyError):
        raise DreamliftError(
            f"the refinement checkpoint {checkpoint.name} in {folder} does not match the run's config.json: the folder is damaged"
        ) from None
    mesh = geometry.surface()
    if mesh.faces.shape[0] == 0:
        raise DreamliftError(f"the refined surface of {folder} is empty at step {checkpoint.step}: export stage 1 instead (--stage 1)")
    field.eval()
    return RefinedSurface(
        surface=SurfaceMesh(mesh.vertices.detach().cpu(), mesh.faces.cpu()), field=field, spacing=grid.spacing, step=checkpoint.step,
        skipped=list(skipped), fallback=fallback_note(checkpoint, skipped),
    )


def _load_colour(state: dict, config, stage1_field) -> torch.nn.Module:
    """The refined colour field (CPU) with ``state`` loaded: in the layout :func:`~dreamlift.refine.colour.colour_field`
    gives, or in a copy of the stage-1 field's (a Gaussian run refined before its albedo was baked into a grid
    fine-tuned the Gaussians' colours); RuntimeError when neither fits."""
    try:
        field = colour_field(stage1_field, config, bake=False).cpu()
        field.load_state_dict(state)
        return field
    except RuntimeError:
        if not hasattr(stage1_field, "refinement_colour"):
            raise
    field = copy.deepcopy(stage1_field).cpu()
    field.load_state_dict(state)
    return field
