"""The refinement's colour field: what stage 2 fine-tunes as the albedo of its surface, made from stage 1's field."""

from __future__ import annotations

import copy

from torch import nn


def colour_field(stage1_field, config, bake: bool = True) -> nn.Module:
    """The colour field stage 2 fine-tunes (all its parameters; ``albedo(points (N, 3)) -> (N, 3)``), starting as stage
    1's albedo: the stage-1 field's ``refinement_colour(refine.colour_grid, scene_bound, bake)`` where it has one (3D
    Gaussians, whose albedo sums the Gaussians around each point: it baked into an
    :class:`~dreamlift.scene.albedo_grid.AlbedoGrid`), else a copy of the field itself (a NeRF: its albedo shares the
    network with its density). ``bake=False``: only the layout, for a checkpoint to be loaded into."""
    own = getattr(stage1_field, "refinement_colour", None)
    if own is None:
        return copy.deepcopy(stage1_field)
    return own(config.refine.colour_grid, config.scene_bound, bake=bake)
