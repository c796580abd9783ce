"""The NeRF representation: :class:`~dreamlift.scene.field.NeRFField` + occupancy grid + volume renderer.

Built, rendered and checkpointed exactly as stage 1 was before the representation seam (same
construction order, so the same initial weights for a seed; checkpoint prefixes ``field``,
``background``, ``occupancy``): the run's ``nerf``, ``occupancy``, ``render`` and ``background``
sections configure it. Adam groups: the encoding at ``learning_rate``; the MLP and the background at
``mlp_learning_rate``. Before every ``occupancy.update_every``-th step the occupancy grid is refreshed.
"""

from __future__ import annotations

import torch

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.occupancy import OccupancyGrid
from dreamlift.rendering.renderer import RenderOutput, VolumeRenderer
from dreamlift.rendering.shading import Lights, ShadingMode
from dreamlift.scene.background import Background
from dreamlift.scene.field import NeRFField


class NeRFRepresentation:
    """A :class:`~dreamlift.representation.base.Representation` of a NeRF (see the module docstring)."""

    def __init__(self, config, device: torch.device):
        """``config``: the run's :class:`~dreamlift.training.config.TrainConfig`."""
        self.config = config
        self.field = NeRFField(config.nerf).to(device)
        self.background = Background(config.background).to(device)
        self.occupancy = OccupancyGrid(config.occupancy, config.nerf.bound, device)
        self.renderer = VolumeRenderer(config.render, self.occupancy)

    def render(
        self, cameras: OrbitCameras, size: int, shading: ShadingMode, lights: Lights | None,
        background, generator: torch.Generator | None, purpose: str = "train",
    ) -> RenderOutput:
        return self.renderer.render(
            self.field, cameras, size, shading=shading, lights=lights, background=background, generator=generator,
            stratified=purpose != "preview",
        )

    def parameter_groups(self) -> list[dict]:
        other = list(self.field.mlp.parameters()) + list(self.background.parameters())
        return [
            {"params": list(self.field.encoding.parameters()), "lr": self.config.learning_rate},
            {"params": other, "lr": self.config.mlp_learning_rate},
        ]

    def before_step(self, step: int, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        if step % self.config.occupancy.update_every == 0:
            self.occupancy.update(self.field.density, generator)

    def after_step(self, step: int, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict[str, float]:
        return {}

    def write_files(self, folder) -> list[str]:
        return []

    def checkpointed(self) -> dict[str, object]:
        return {"field": self.field, "background": self.background, "occupancy": self.occupancy}
