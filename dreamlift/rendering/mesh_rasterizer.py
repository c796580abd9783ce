"""Which triangle rasteriser runs: the pure-PyTorch reference or nvdiffrast on CUDA.

:class:`MeshRasterizer` has the four operations of :mod:`dreamlift.rendering.raster_torch`
and sends them to :mod:`dreamlift.rendering.raster_nvdiffrast` when nvdiffrast imports and the
tensors are on CUDA (``backend="auto"``), or where asked (``"nvdiffrast"``, an error otherwise);
``"torch"`` always runs the reference. A :class:`~dreamlift.rendering.raster_torch.Rasterized`
remembers which backend made it (``raw`` is set by nvdiffrast), and the later steps follow it.
"""

from __future__ import annotations

from enum import Enum

from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.rendering import raster_nvdiffrast, raster_torch
from dreamlift.rendering.cameras import OrbitCameras
from dreamlift.rendering.raster_torch import Rasterized


class RasterBackend(str, Enum):
    """The triangle rasteriser to use."""

    AUTO = "auto"
    """nvdiffrast when it imports and the tensors are on CUDA, else the PyTorch reference."""
    TORCH = "torch"
    """The pure-PyTorch reference (CPU or GPU)."""
    NVDIFFRAST = "nvdiffrast"
    """nvdiffrast (CUDA tensors only); an error when it is missing."""


class MeshRasterizer:
    """project → rasterize → interpolate → antialias on the chosen backend."""

    def __init__(self, backend: RasterBackend | str = RasterBackend.AUTO):
        try:
            self.backend = RasterBackend(backend)
        except ValueError:
            raise DreamliftError(f"unknown rasteriser backend {backend!r}: use one of auto, torch, nvdiffrast") from None
        self._nvdiffrast = None if self.backend is RasterBackend.AUTO else self.backend is RasterBackend.NVDIFFRAST
        if self._nvdiffrast and not raster_nvdiffrast.available():
            raise DreamliftError(f"the nvdiffrast rasteriser backend needs nvdiffrast: {raster_nvdiffrast.INSTALL_HINT}, or use backend torch")

    def uses_nvdiffrast(self, tensor: Tensor) -> bool:
        """Whether operations on ``tensor``'s device go to nvdiffrast."""
        if self._nvdiffrast is None:
            self._nvdiffrast = raster_nvdiffrast.available()
        if self._nvdiffrast and tensor.device.type != "cuda":
            if self.backend is RasterBackend.NVDIFFRAST:
                raise DreamliftError("the nvdiffrast rasteriser backend needs CUDA tensors: move the mesh to a GPU or use backend torch")
            return False
        return bool(self._nvdiffrast)

    @staticmethod
    def project(vertices: Tensor, cameras: OrbitCameras, size: int) -> Tensor:
        """:func:`raster_torch.project <dreamlift.rendering.raster_torch.project>` (one convention for both backends)."""
        return raster_torch.project(vertices, cameras, size)

    def rasterize(self, screen: Tensor, faces: Tensor, size: int) -> Rasterized:
        """Visible face, barycentrics and depth per pixel (nvdiffrast also keeps its raw output in ``raw``)."""
        if self.uses_nvdiffrast(screen):
            return raster_nvdiffrast.rasterize(screen, faces, size)
        return raster_torch.rasterize(screen, faces, size)

    def interpolate(self, attributes: Tensor, faces: Tensor, rast: Rasterized) -> Tensor:
        """Attributes ``(V, C)`` or ``(B, V, C)`` → ``(B, H, W, C)`` on the backend that made ``rast``."""
        if rast.raw is not None:
            return raster_nvdiffrast.interpolate(attributes, faces, rast)
        return raster_torch.interpolate(attributes, faces, rast)

    def antialias(self, image: Tensor, rast: Rasterized, screen: Tensor, faces: Tensor, neighbours: Tensor | None = None) -> Tensor:
        """Silhouette antialiasing on the backend that made ``rast``; ``neighbours`` (:func:`~dreamlift.rendering.raster_torch.face_neighbours`, reference only)
        saves recomputing the mesh adjacency when one mesh is antialiased several times."""
        if rast.raw is not None:
            return raster_nvdiffrast.antialias(image, rast, faces)
        return raster_torch.antialias(image, rast, screen, faces, neighbours)
