"""nvdiffrast as the fast path of :mod:`dreamlift.rendering.raster_torch` on CUDA (optional).

The same operations and results as the reference, on nvdiffrast's CUDA rasteriser
(``pip install git+https://github.com/NVlabs/nvdiffrast``). Screen coordinates from
:func:`~dreamlift.rendering.raster_torch.project` become clip space: ``x_ndc = 2x/W − 1`` and
``y_ndc = 2y/H − 1`` with ``w`` = view depth, so nvdiffrast's first output row (its
``y_ndc = −1``) is our top row and no flip is needed; ``z`` follows OpenGL's perspective
depth between :data:`NEAR` and :data:`FAR`. nvdiffrast's barycentrics ``(u, v)`` weight
corners 0 and 1 (corner 2 gets ``1 − u − v``) and are perspective-correct.

One difference from the reference: nvdiffrast clips triangles that cross the near plane
where the reference skips them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.rendering.raster_torch import NEAR_PLANE, Rasterized
from dreamlift.rendering.settings import NVDIFFRAST_INSTALL

INSTALL_HINT = NVDIFFRAST_INSTALL
NEAR = NEAR_PLANE
"""Clip-space near plane, world units (the reference's near plane)."""
FAR = 1000.0
"""Clip-space far plane, world units."""

_contexts: dict[torch.device, object] = {}


def available() -> bool:
    """nvdiffrast's PyTorch module imports (it compiles its CUDA kernels on first use)."""
    try:
        import nvdiffrast.torch  # noqa: F401
    except Exception:  # ImportError, or a broken build
        return False
    return True


def _dr():
    try:
        import nvdiffrast.torch as dr
    except Exception as error:
        raise DreamliftError(f"the nvdiffrast rasteriser backend needs nvdiffrast ({error}): {INSTALL_HINT}, or use backend torch") from error
    return dr


def _context(device: torch.device):
    if device not in _contexts:
        _contexts[device] = _dr().RasterizeCudaContext(device=device)
    return _contexts[device]


def to_clip(screen: Tensor, size: int) -> Tensor:
    """Screen ``(B, V, 3)`` (pixels, view depth) → nvdiffrast clip space ``(B, V, 4)``, differentiable."""
    x, y, w = screen.unbind(-1)
    z = (FAR + NEAR) / (FAR - NEAR) * w - 2.0 * FAR * NEAR / (FAR - NEAR)
    return torch.stack(((2.0 * x / size - 1.0) * w, (2.0 * y / size - 1.0) * w, z, w), dim=-1)


def rasterize(screen: Tensor, faces: Tensor, size: int) -> Rasterized:
    """:func:`raster_torch.rasterize <dreamlift.rendering.raster_torch.rasterize>` on nvdiffrast (CUDA tensors)."""
    dr = _dr()
    clip = to_clip(screen.float(), size).contiguous()
    tri = faces.to(device=screen.device, dtype=torch.int32).contiguous()
    raw, _ = dr.rasterize(_context(screen.device), clip, tri, resolution=[size, size])
    face = raw[..., 3].round().long() - 1
    covered = (face >= 0).unsqueeze(-1)
    u, v = raw[..., 0], raw[..., 1]
    bary = torch.stack((u, v, 1.0 - u - v), dim=-1) * covered
    depth_values = screen[..., 2:3].float().contiguous()
    depth, _ = dr.interpolate(depth_values, raw, tri)  # view depth is linear in 3D: perspective-correct weights
    return Rasterized(face=face, bary=bary, depth=depth[..., 0], raw=raw, clip=clip)


def interpolate(attributes: Tensor, faces: Tensor, rast: Rasterized) -> Tensor:
    """Attributes ``(V, C)`` or ``(B, V, C)`` at the pixels with ``dr.interpolate``."""
    tri = faces.to(device=rast.raw.device, dtype=torch.int32).contiguous()
    out, _ = _dr().interpolate(attributes.float().contiguous(), rast.raw, tri)
    return out


def antialias(image: Tensor, rast: Rasterized, faces: Tensor) -> Tensor:
    """``dr.antialias`` of ``(B, H, W, C)`` over the clip-space vertices ``rast`` was made from."""
    tri = faces.to(device=rast.raw.device, dtype=torch.int32).contiguous()
    return _dr().antialias(image.float().contiguous(), rast.raw, rast.clip, tri)
