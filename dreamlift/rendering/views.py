"""The fixed views: every set of cameras dreamlift looks from that is not drawn at random.

All are orbit cameras (:mod:`dreamlift.rendering.cameras` conventions: degrees, az 0
sees the front from +Z, az 90 from +X) at the toy world's distance and field of view,
:data:`~dreamlift.rendering.cameras.TOY_CAMERA` (radius 3, fovy 40), unless a caller
gives its own:

* preview: elevation 15°, azimuths 0, 90, 180, 270 (front, right, back, left); the
  training previews.
* held-out: elevations 5°, 25°, 45° × azimuths 22.5° + 45°·k, k < 8 (none of them a
  preview view), elevation-major; the text scores.
* janus: elevation 15°, azimuths 0 and 180 (front and back); the Janus check.
* novel: elevations 5°, 25°, 45° × azimuths 90°, 135°, 180°, 225°, 270° from the input
  camera (all at least 90° away), elevation-major; the image scores.
* fit: four views at elevation 20°, azimuths 0, 90, 180, 270, and one from 70°,
  azimuth 45; the exporter fits the mesh level to them.
* turntable: ``frames`` views at one elevation, azimuth ``360·i/frames``, ``i < frames``
  (a seamless loop); the turntable video.
"""

from __future__ import annotations

import torch

from dreamlift.rendering.cameras import TOY_CAMERA, OrbitCameras

HELD_OUT_ELEVATIONS = (5.0, 25.0, 45.0)
HELD_OUT_AZIMUTHS = tuple(22.5 + 45.0 * k for k in range(8))
NOVEL_ELEVATIONS = (5.0, 25.0, 45.0)
NOVEL_AZIMUTHS = (90.0, 135.0, 180.0, 225.0, 270.0)
"""Azimuths of the novel views relative to the input camera (degrees)."""


def _grid(elevations, azimuths) -> OrbitCameras:
    """Every elevation with every azimuth, elevation-major, at :data:`TOY_CAMERA`."""
    elevation = torch.tensor(elevations).repeat_interleave(len(azimuths))
    azimuth = torch.tensor(azimuths).repeat(len(elevations))
    return OrbitCameras.make(elevation, azimuth, TOY_CAMERA.radius, TOY_CAMERA.fovy)


def preview_views() -> OrbitCameras:
    """The four training preview cameras: front, right, back, left at elevation 15°."""
    return OrbitCameras.make(15.0, [0.0, 90.0, 180.0, 270.0], TOY_CAMERA.radius, TOY_CAMERA.fovy)


PREVIEW_VIEWS = preview_views()
"""Fixed preview cameras: front, right, back, left."""


def held_out_views() -> OrbitCameras:
    """The 24 held-out cameras of the text scores."""
    return _grid(HELD_OUT_ELEVATIONS, HELD_OUT_AZIMUTHS)


def janus_views() -> OrbitCameras:
    """Front and back at elevation 15°."""
    return OrbitCameras.make(15.0, [0.0, 180.0], TOY_CAMERA.radius, TOY_CAMERA.fovy)


def novel_views() -> OrbitCameras:
    """The 15 novel views of the image scores, in the result's frame (input camera at azimuth 0)."""
    return _grid(NOVEL_ELEVATIONS, NOVEL_AZIMUTHS)


def fit_views() -> OrbitCameras:
    """The exporter's five views for fitting the mesh level: four around at 20° elevation and one from above."""
    return OrbitCameras.make([20.0, 20.0, 20.0, 20.0, 70.0], [0.0, 90.0, 180.0, 270.0, 45.0], TOY_CAMERA.radius, TOY_CAMERA.fovy)


def turntable_views(
    frames: int, elevation: float, radius: float = TOY_CAMERA.radius, fovy: float = TOY_CAMERA.fovy
) -> OrbitCameras:
    """One camera per turntable frame, azimuth ``360·i/frames`` degrees."""
    azimuth = torch.arange(int(frames), dtype=torch.float32) * (360.0 / int(frames))
    return OrbitCameras.make(elevation, azimuth, radius, fovy)
