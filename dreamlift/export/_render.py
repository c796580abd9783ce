"""The views the exporter fits the mesh level to, and the opacity it renders there with dreamlift's volume renderer."""

from __future__ import annotations

from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.renderer import render_field
from dreamlift.scene.field import Field


def fit_cameras(radius: float = 3.0, fovy: float = 40.0) -> OrbitCameras:
    """Five views for fitting the mesh level: four around at 20° elevation and one from above."""
    return OrbitCameras.make([20.0, 20.0, 20.0, 20.0, 70.0], [0.0, 90.0, 180.0, 270.0, 45.0], radius, fovy)


def render_opacity(field: Field, cameras: OrbitCameras, size: int, occupancy=None) -> Tensor:
    """Rendered opacity ``(B, size, size)`` (no normals: they are not needed)."""
    return render_field(field, cameras, size, occupancy=occupancy, normals=False)["opacity"][..., 0]
