"""The opacity the exporter fits the mesh's level to (at :func:`~dreamlift.rendering.views.fit_views`).

A field that is drawn otherwise than by volume rendering (3D Gaussians, rasterised) gives its own drawn
opacity through a ``drawn_opacity(cameras, size)`` method, ``(B, size, size)`` or None (not drawn otherwise):
the mesh then takes the silhouettes the run was trained on. Any other field is volume rendered by dreamlift's renderer.
"""

from __future__ import annotations

from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.renderer import render_field
from dreamlift.scene.field import Field


def render_opacity(field: Field, cameras: OrbitCameras, size: int, occupancy=None) -> Tensor:
    """Rendered opacity ``(B, size, size)`` (no normals: they are not needed)."""
    drawn = getattr(field, "drawn_opacity", None)
    opacity = drawn(cameras, size) if drawn is not None else None
    if opacity is not None:
        return opacity
    return render_field(field, cameras, size, occupancy=occupancy, normals=False)["opacity"][..., 0]
