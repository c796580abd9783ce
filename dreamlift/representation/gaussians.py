"""The Gaussian representation (DreamGaussian): a :class:`~dreamlift.scene.gaussians.GaussianModel` rasterised by splatting.

Set up from ``representation`` (:class:`~dreamlift.representation.settings.GaussianRepresentationConfig`):
``init.count`` Gaussians uniform in a ball (drawn from a generator seeded with the run's seed), the
run's ``background``, and their :class:`~dreamlift.scene.gaussian_field.GaussianField` with the run's last
training render size as its ``drawn_size`` (export and the refinement fit the mesh's level to that drawing) and
the config's ``min_density``. Adam groups: one per Gaussian parameter at ``learning_rates`` (the means'
rate follows 3DGS's exponential schedule, set before every step), then the background's
parameters, if any, at ``mlp_learning_rate``.

After each step ``s`` (1-based) within ``[densify_from, densify_until]``: the training render's
view-space gradients are accumulated (:meth:`~dreamlift.scene.gaussians.GaussianModel.add_densification_stats`);
every ``densify_every`` steps the Gaussians are cloned, split and pruned, and every
``opacity_reset_every`` steps their opacities reset, the optimiser's per-row state following each
change. Checkpoint parts: ``gaussians`` (the parameters at their current count), ``densify`` (the
accumulated statistics) and ``background``, so a resumed run densifies as the uninterrupted one.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.renderer import RenderOutput
from dreamlift.rendering.shading import Lights, ShadingMode
from dreamlift.rendering.splatting import SplatRender, drawn_opacity, render_splats
from dreamlift.scene.background import Background
from dreamlift.scene.gaussians import PARAMETERS, GaussianModel

SPLATS_FILE = "splats.ply"
"""Where a Gaussian run's splats go in its run folder."""


class DensificationStats:
    """The model's accumulated gradient statistics as a checkpoint part (they are not in its ``state_dict``)."""

    def __init__(self, model: GaussianModel):
        self.model = model

    def state_dict(self) -> dict[str, Tensor]:
        return {"grad_sum": self.model.grad_sum.clone(), "grad_count": self.model.grad_count.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Load ``state`` (after the model, whose count it must have); other names or shapes raise RuntimeError."""
        if state.keys() != {"grad_sum", "grad_count"} or any(v.shape != (len(self.model),) for v in state.values()):
            raise RuntimeError("the densification statistics' names or shapes differ from the Gaussians'")
        self.model.grad_sum = state["grad_sum"].to(self.model.means.device).clone()
        self.model.grad_count = state["grad_count"].to(self.model.means.device).clone()


def splat_backend(choice: str, device: torch.device) -> str:
    """``torch`` or ``gsplat`` for ``representation.backend`` on ``device`` (``auto``: gsplat on CUDA when installed)."""
    if choice != "auto":
        return choice
    if torch.device(device).type != "cuda":
        return "torch"
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return "torch"
    return "gsplat"


class GaussianRepresentation:
    """A :class:`~dreamlift.representation.base.Representation` of 3D Gaussians (see the module docstring)."""

    def __init__(self, config, device: torch.device):
        """``config``: the run's :class:`~dreamlift.training.config.TrainConfig` (its ``representation`` is Gaussian)."""
        self.config = config
        self.settings = config.representation
        self.model = GaussianModel(self.settings.init, torch.Generator().manual_seed(config.seed)).to(device)
        drawn_size = config.training_view_at(config.steps)[0]  # the mesh's level: as last trained
        self.field = self.model.as_field(drawn_size=drawn_size, draw=drawn_opacity, min_density=self.settings.min_density)
        self.background = Background(config.background).to(device)
        self.backend = splat_backend(self.settings.backend, device)
        self._train_render: tuple[SplatRender, int] | None = None
        self._occupancy: tuple[int, OccupancyGrid] | None = None

    @property
    def occupancy(self) -> OccupancyGrid:
        """An occupancy grid of the Gaussians' density (the run's ``occupancy`` settings, twice as fine, dilated), so that
        volume renders of :attr:`field` (export's level fit, views, scores) skip empty space; made when first asked
        for and again whenever the Gaussians have changed since."""
        key = self.field.geometry_version()
        if self._occupancy is None or self._occupancy[0] != key:
            settings = dataclasses.replace(self.config.occupancy, resolution=2 * self.config.occupancy.resolution, dilate=True)
            grid = OccupancyGrid(settings, self.settings.bound, self.model.means.device)
            with torch.no_grad():
                grid.update(self.field.density, torch.Generator(device=self.model.means.device).manual_seed(self.config.seed))
            self._occupancy = (key, grid)
        return self._occupancy[1]

    def render(
        self, cameras: OrbitCameras, size: int, shading: ShadingMode, lights: Lights | None,
        background, generator: torch.Generator | None, purpose: str = "train",
    ) -> RenderOutput:
        result = render_splats(self.model.splats(), cameras, size, shading, lights, background, generator, backend=self.backend)
        if purpose == "train":
            self._train_render = (result, size)
        return result.output

    def parameter_groups(self) -> list[dict]:
        rates = self.settings.learning_rates
        groups = self.model.parameter_groups({name: getattr(rates, name) for name in PARAMETERS})
        groups[0]["lr"] = rates.means_at(1)
        background = list(self.background.parameters())
        return groups + ([{"params": background, "lr": self.config.mlp_learning_rate, "name": "background"}] if background else [])

    def before_step(self, step: int, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        for group in optimizer.param_groups:
            if group.get("name") == "means":
                group["lr"] = self.settings.learning_rates.means_at(step + 1) * group.get("lr_scale", 1.0)  # a roll-back's halving kept

    def after_step(self, step: int, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict[str, float]:
        done, settings = step + 1, self.settings
        render, self._train_render = self._train_render, None
        if not settings.densify_from <= done <= settings.densify_until:
            return {"gaussians": float(len(self.model))}
        if render is not None and render[0].means2d.grad is not None:
            self.model.add_densification_stats(render[0].means2d.grad, render[0].visible, render[1])
        log: dict[str, float] = {}
        if done % settings.densify_every == 0:
            counts = self.model.densify_and_prune(optimizer, settings.densify, generator)
            log.update({key: float(value) for key, value in counts.items()})
        if settings.opacity_reset_every and done % settings.opacity_reset_every == 0:
            self.model.reset_opacity(optimizer, settings.densify.reset_opacity)
        log["gaussians"] = float(len(self.model))
        return log

    def write_files(self, folder) -> list[str]:
        """``splats.ply``: the Gaussians as 3DGS viewers read them (:func:`~dreamlift.export.splats_ply.write_splats_ply`)."""
        from pathlib import Path

        from dreamlift.export.splats_ply import write_splats_ply

        write_splats_ply(Path(folder) / SPLATS_FILE, self.model.splats())
        return [SPLATS_FILE]

    def checkpointed(self) -> dict[str, object]:
        return {"gaussians": self.model, "densify": DensificationStats(self.model), "background": self.background}
