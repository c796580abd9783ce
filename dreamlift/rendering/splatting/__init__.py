"""3D Gaussian splatting: a differentiable rasteriser of 3D Gaussians in pure PyTorch (and gsplat on CUDA).

Public API::

    Splats(means, log_scales, quaternions, opacity_logits, colours)   # the rasteriser's input
    project_splats(splats, cameras, size) -> SplatProjection            # EWA projection, per camera
    render_splats(splats, cameras, size, ...) -> SplatRender            # RenderOutput + the 2D means
    drawn_opacity(splats, cameras, drawn_size, size) -> (B, size, size)  # the opacity drawn, resized

Conventions are the project's (TOYWORLD.md, :mod:`dreamlift.rendering.cameras`): world +Y up,
orbit cameras with OpenGL axes, images ``(B, H, W, C)`` in [0, 1], row 0 at the top, pixel
centres at half-integers.
"""

from dreamlift.rendering.splatting.project import Splats, SplatProjection, project_splats
from dreamlift.rendering.splatting.rasterize import SplatRender, drawn_opacity, render_splats

__all__ = ["SplatProjection", "SplatRender", "Splats", "drawn_opacity", "project_splats", "render_splats"]
