"""Stage 2: refine the stage-1 NeRF as a DMTet mesh, distilled at a higher render size (Magic3D §4).

The geometry is a tet-grid SDF with per-vertex deformations
(:class:`~dreamlift.refine.geometry.DMTetGeometry`), started from the stage-1 density at
the level the exporter fits; the colour is the stage-1 field's albedo at the surface
points, fine-tuned (it starts as stage 1's colour: the NeRF itself, or 3D Gaussians' albedo baked
into a grid once, :func:`~dreamlift.refine.colour.colour_field`). Each step: random cameras and lights
(stage 1's ranges and shading schedule) → marching tetrahedra → mesh render at ``refine.size``
(:func:`~dreamlift.refine.render.render_mesh`) → the same :class:`~dreamlift.guidance.base.Guidance` SDS loss
(the prior set up for the render size and ``refine.timesteps``) + normal consistency + Laplacian smoothness → Adam.

Files: ``DIR/refine/checkpoints/``, ``DIR/refine/log.jsonl``, ``DIR/refine/previews/``
(each preview: the four preview views shaded, above their normal maps). The stage
starts from stage 1's last checkpoint and never changes stage 1's files.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor

from dreamlift._atomic import write_png
from dreamlift.errors import DreamliftError
from dreamlift.guidance.base import Guidance
from dreamlift.refine.asset import STAGE_FOLDER
from dreamlift.refine.colour import colour_field
from dreamlift.refine.geometry import DMTetGeometry, sdf_from_density
from dreamlift.refine.regularisers import laplacian_smoothness, mesh_edges, normal_consistency
from dreamlift.refine.render import MeshRender, render_mesh
from dreamlift.refine.tets import SurfaceMesh, tet_grid
from dreamlift.refine.visibility import range_cameras, unseen_outside
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.mesh_rasterizer import MeshRasterizer
from dreamlift.rendering.shading import Lights, ShadingMode, head_lights
from dreamlift.rendering.views import PREVIEW_VIEWS
from dreamlift.scene.field import Field
from dreamlift.distillation.checkpoint import list_checkpoints
from dreamlift.distillation.loop import DistillationLoop, guidance_extras, StepRecord, adam
from dreamlift.distillation.sampling import draw_lights, draw_shading, draw_views, resolve_device



class SurfaceVanished(DreamliftError):
    """The refined SDF has no zero crossing left."""


@torch.no_grad()
def initial_sdf(field: Field, occupancy, resolution: int, bound: float, level_scale: float = 1.0) -> Tensor:
    """SDF values at the ``(resolution + 1)³`` grid vertices from the stage-1 field (see :mod:`dreamlift.refine.geometry`),
    with the surface at ``level_scale`` times the density level the exporter fits."""
    from dreamlift.export.grid import sample_grid
    from dreamlift.export.mesh import fit_grid_level

    cpu_field = copy.deepcopy(field).cpu()  # Module.cpu() moves in place: the caller's field stays where it is
    grid = sample_grid(cpu_field, resolution + 1, bound)
    fit, _, _ = fit_grid_level(cpu_field, grid, 64, occupancy)
    if fit.opaque_pixels == 0:
        raise DreamliftError("the first stage is empty (no pixel of its renders is more than half opaque): there is nothing to refine")
    return sdf_from_density(grid.density, level_scale * fit.level, 2.0 * bound / resolution)


class Refiner(DistillationLoop):
    """Stage 2 of a run folder (see the module docstring)."""

    progress_label = "refining"

    def __init__(self, config, folder: Path, guidance: Guidance, stage1, show_progress: bool = True, hooks: list | None = None):
        """``config``: the run's ``TrainConfig``; ``stage1``: its finished first stage (``field``, ``background``,
        ``occupancy``: :func:`dreamlift.training.run_folder.load_stage1`), copied, never changed."""
        refine = config.refine
        self.hooks = list(hooks or [])
        self._mesh: SurfaceMesh | None = None  # this step's surface, for the hooks' renders
        super().__init__(Path(folder) / STAGE_FOLDER, refine, show_progress)
        self.config = config
        self.folder = Path(folder)
        self.guidance = guidance
        self.device = resolve_device(config)
        self.resume_hint = f"Resume with: dreamlift refine {self.folder} --resume"
        resuming = bool(list_checkpoints(self.stage_folder / "checkpoints"))  # the checkpoint replaces the colour and the SDF
        self.field = colour_field(stage1.field, config, bake=not resuming).train().to(self.device)
        self.background = copy.deepcopy(stage1.background).train().to(self.device)
        occupancy = stage1.occupancy
        grid = tet_grid(refine.tet_resolution, config.scene_bound)
        if resuming:
            sdf = torch.zeros(grid.vertices.shape[0])
        else:
            sdf = initial_sdf(stage1.field, occupancy, refine.tet_resolution, config.scene_bound, refine.initial_level).reshape(-1)
            if refine.fill_unseen:
                sdf[unseen_outside(sdf, grid, range_cameras(config.cameras))] = -0.5 * grid.spacing
        self.geometry = DMTetGeometry(grid, sdf, refine.max_shift).to(self.device)
        colour = list(self.field.parameters())
        self.optimizer = adam(
            [
                {"params": [self.geometry.sdf], "lr": refine.sdf_learning_rate},
                {"params": [self.geometry.deform], "lr": refine.deform_learning_rate},
                {"params": colour + list(self.background.parameters()), "lr": refine.colour_learning_rate},
            ]
        )
        self.remember_learning_rates()
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self._memorised = guidance.memorised_views() if refine.cameras == "memorised" else None
        self.rasterizer = MeshRasterizer(refine.rasterizer)  # a missing nvdiffrast, when asked for, fails here

    # ------------------------------------------------------------ state
    def checkpointed(self) -> dict[str, object]:
        return {"geometry": self.geometry, "field": self.field, "background": self.background}

    # ------------------------------------------------------------ steps
    def surface(self) -> SurfaceMesh:
        mesh = self.geometry.surface()
        if mesh.faces.shape[0] == 0:
            raise SurfaceVanished(
                f"the refined surface vanished at step {self.step} (no SDF sign change left): "
                f"lower refine.sdf_learning_rate or refine with fewer steps (dreamlift refine {self.folder} --steps N)"
            )
        return mesh

    def render(self, mesh: SurfaceMesh, cameras, size: int, shading: ShadingMode, lights, supersample: int = 1) -> MeshRender:
        return render_mesh(
            mesh, self.field.albedo, cameras, size, shading=shading, lights=lights,
            background=self.background, generator=self.generator, flat=self.config.refine.flat_shading, rasterizer=self.rasterizer,
            supersample=supersample,
        )

    def draw_views(self) -> tuple[OrbitCameras, Lights | None]:
        """This step's cameras: stage 1's ranges, or among the prior's memorised views (``refine.cameras``); and,
        with ``refine.lights=memorised``, the lights those views were memorised with (else None: draw them)."""
        refine = self.config.refine
        cameras, lights = draw_views(self._memorised, self.config.cameras, refine.batch_size, self.generator)
        return cameras, (lights if refine.lights == "memorised" else None)

    def train_step(self) -> StepRecord | None:
        refine, config = self.config.refine, self.config
        cameras, lights = self.draw_views()
        shading = draw_shading(config.shading, self.step, self.generator)
        if lights is None:
            lights = draw_lights(cameras, config.shading, self.generator)
        mesh = self.surface()
        out = self.render(mesh, cameras.to(self.device), refine.size, shading, lights.to(self.device), refine.supersample)
        guided = self.guidance(out.image, cameras, progress=self.step / refine.steps, generator=self.generator)
        terms = {"sds": guided.loss}
        edges = mesh_edges(mesh.faces) if refine.normal_consistency > 0 or refine.laplacian > 0 else None  # shared by both
        if refine.normal_consistency > 0:
            terms["normal_consistency"] = refine.normal_consistency * normal_consistency(mesh.vertices, mesh.faces, edges)
        if refine.laplacian > 0:
            terms["laplacian"] = refine.laplacian * laplacian_smoothness(mesh.vertices, mesh.faces, edges)
        self._mesh = mesh
        for hook in self.hooks:  # image runs: the input views are matched by the mesh as they were by the NeRF
            terms.update(hook.losses(self.step, self))
        loss = self.backward_and_step(terms)
        if loss is None:
            return None
        extras = {f"loss_{k}": float(v.detach()) for k, v in terms.items() if k != "sds"}
        extras.update(guidance_extras(self.guidance))
        extras["faces"] = float(mesh.faces.shape[0])
        return StepRecord(
            step=self.step,
            loss=float(loss.detach()),
            sds=float(guided.loss.detach()),
            t=float(guided.timesteps.float().mean()) / self.guidance.num_train_timesteps,
            opacity=float(out.opacity.detach().mean()),
            evaluated=1.0,
            seconds=0.0,
            extras=extras,
        )

    def render_reference(self, cameras, size: int, shading: ShadingMode, lights) -> MeshRender:
        """The current mesh from an image run's input cameras, on white (the reference-view losses' render)."""
        mesh = self._mesh if self._mesh is not None else self.surface()
        return render_mesh(
            mesh, self.field.albedo, cameras, size, shading=shading, lights=lights,
            flat=self.config.refine.flat_shading, rasterizer=self.rasterizer,
        )

    # ------------------------------------------------------------ output
    @torch.no_grad()
    def render_previews(self, size: int | None = None) -> MeshRender:
        views = PREVIEW_VIEWS.to(self.device)
        return self.render(self.surface(), views, size or self.config.refine.preview_size, ShadingMode.LAMBERTIAN, head_lights(views))

    def write_previews(self) -> MeshRender:
        """The preview strip: the four views shaded, above their normal maps ``(n + 1)/2`` on white."""
        out = self.render_previews()
        shaded = torch.cat(list(out.image), dim=1)
        covered = (out.normals.norm(dim=-1, keepdim=True) > 0).float()
        normal_map = torch.cat(list(0.5 * (out.normals + 1.0) * covered + (1.0 - covered)), dim=1)
        write_png(self.stage_folder / "previews" / f"step-{self.step:06d}.png", torch.cat((shaded, normal_map), dim=0))
        return out

    def finish(self, out: MeshRender) -> dict[str, float]:
        coverage = float((out.opacity > 0.5).float().mean())
        return {"step": self.step, "coverage": coverage, "skipped_steps": self.skipped_steps, "rollbacks": self.rollbacks}

    @torch.no_grad()
    def final_surface(self) -> SurfaceMesh:
        """The refined surface, detached, on the CPU."""
        mesh = self.surface()
        return SurfaceMesh(mesh.vertices.detach().cpu(), mesh.faces.cpu())
