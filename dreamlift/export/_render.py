"""The opacity the exporter renders with dreamlift's volume renderer (at :func:`~dreamlift.rendering.views.fit_views`)."""

from __future__ import annotations

from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.renderer import render_field
from dreamlift.scene.field import Field


def render_opacity(field: Field, cameras: OrbitCameras, size: int, occupancy=None) -> Tensor:
    """Rendered opacity ``(B, size, size)`` (no normals: they are not needed)."""
    return render_field(field, cameras, size, occupancy=occupancy, normals=False)["opacity"][..., 0]
