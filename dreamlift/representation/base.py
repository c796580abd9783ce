"""What the trainer needs from stage 1's representation: one small protocol.

A :class:`Representation` renders a batch of cameras to a
:class:`~dreamlift.rendering.renderer.RenderOutput` (shading, lights and background as the
volume renderer takes them), gives the optimiser its parameter groups, runs its per-step hooks,
names its checkpointed parts, and shows itself to export and refinement as a
:class:`~dreamlift.scene.field.Field` (density and albedo at points).

Per step the trainer calls ``before_step(step, optimizer, generator)``, renders the training view with
``purpose="train"``, back-propagates and steps the optimiser, then ``after_step(step, optimizer,
generator)``, which may replace parameters (densification): it must hand the new ones to the
optimiser with their state (:meth:`~dreamlift.scene.gaussians.GaussianModel.densify_and_prune` does).
"""

from __future__ import annotations

from typing import Protocol

import torch

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.renderer import RenderOutput
from dreamlift.rendering.shading import Lights, ShadingMode
from dreamlift.scene.field import Field

PURPOSES = ("train", "reference", "preview")
"""Why a render is made: the training view (its statistics feed densification), an image run's input
view (the reference-view losses), a preview (no gradient, no jitter)."""


class Representation(Protocol):
    """Stage 1's scene as the trainer sees it (see the module docstring)."""

    background: torch.nn.Module
    """Behind the scene (:class:`~dreamlift.scene.background.Background`); checkpointed as ``background``."""
    field: Field
    """The :class:`~dreamlift.scene.field.Field` view that export and refinement read (live: it follows training)."""
    occupancy: object | None
    """Empty-space skipping for volume renders of :attr:`field` (the NeRF's grid; the Gaussians make one from their density)."""

    def render(
        self, cameras: OrbitCameras, size: int, shading: ShadingMode, lights: Lights | None,
        background, generator: torch.Generator | None, purpose: str = "train",
    ) -> RenderOutput:
        """``(B, size, size, ·)`` renders from ``cameras``; ``background`` as the volume renderer takes it (None: white)."""
        ...

    def parameter_groups(self) -> list[dict]:
        """Adam's parameter groups, each with its ``lr`` (the background's parameters included)."""
        ...

    def before_step(self, step: int, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
        """Before step ``step`` (0-based) draws its cameras (a schedule may set ``optimizer``'s rates here)."""
        ...

    def after_step(self, step: int, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict[str, float]:
        """After step ``step``'s optimiser step (``step + 1`` steps done); returns figures to log (may be empty)."""
        ...

    def write_files(self, folder) -> list[str]:
        """Write the representation's own files into the run folder at the end of stage 1 (Gaussians: ``splats.ply``); their names."""
        ...

    def checkpointed(self) -> dict[str, object]:
        """Parts by checkpoint prefix, each with ``state_dict`` / ``load_state_dict`` (loading resizes what changes size)."""
        ...

