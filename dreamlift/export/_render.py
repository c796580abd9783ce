"""The renderer the exporter uses, and the cameras it looks from.

``render_field(field, cameras, size, shading="albedo", lights=None, background=(1, 1, 1))``
returns ``image (B,H,W,3)``, ``opacity (B,H,W,1)``, ``depth (B,H,W,1)`` and
``normals (B,H,W,3)``. Every exporter function takes ``render=None`` meaning
:func:`dreamlift.rendering.renderer.render_field`; tests may pass another function
with the same signature.
"""

from __future__ import annotations

import inspect
from typing import Callable

from torch import Tensor

from dreamlift.rendering.cameras import OrbitCameras

RenderFn = Callable[..., dict]


def resolve_render(render: RenderFn | None) -> RenderFn:
    """``render`` itself, or dreamlift's volume renderer when it is None."""
    if render is not None:
        return render
    from dreamlift.rendering.renderer import render_field

    return render_field


def fit_cameras(radius: float = 3.0, fovy: float = 40.0) -> OrbitCameras:
    """Five views for fitting the mesh level: four around at 20° elevation and one from above."""
    return OrbitCameras.make([20.0, 20.0, 20.0, 20.0, 70.0], [0.0, 90.0, 180.0, 270.0, 45.0], radius, fovy)


def call_render(render: RenderFn, field, cameras: OrbitCameras, size: int, *, occupancy=None, normals: bool = True, **kwargs) -> dict:
    """``render(field, cameras, size, **kwargs)``, adding dreamlift's optional ``occupancy=``
    (empty-space skipping) and ``normals=False`` (skip normals) when the renderer takes them."""
    try:
        accepted = inspect.signature(render).parameters
    except (TypeError, ValueError):
        accepted = {}
    if occupancy is not None and "occupancy" in accepted:
        kwargs["occupancy"] = occupancy
    if not normals and "normals" in accepted:
        kwargs["normals"] = False
    return render(field, cameras, size, **kwargs)


def render_opacity(render: RenderFn, field, cameras: OrbitCameras, size: int, occupancy=None) -> Tensor:
    """Rendered opacity ``(B, size, size)`` (normals skipped when the renderer allows)."""
    return call_render(render, field, cameras, size, occupancy=occupancy, normals=False)["opacity"][..., 0]
