"""A 360° turntable of a field: ``turntable.mp4`` (H.264), and optionally a GIF, depth and normal videos.

The camera orbits the origin at a fixed elevation, azimuth ``360·i/frames`` for
``i < frames`` (so the loop is seamless; :func:`~dreamlift.rendering.views.turntable_views`), and renders with dreamlift's volume
renderer under a head light (TOYWORLD's shading without jitter). By default the
field is first sampled on a grid and the renderer draws the interpolated grid
(:class:`~dreamlift.export.grid.GridField`), which is much faster than a network
and visually the same at 128³.

Video: H.264 through imageio-ffmpeg, ``yuv420p`` (plays everywhere), even frame
size, ``+faststart`` for browsers. Depth frames show ``(far − depth)/(far − near)``
(near is bright) on black; normal frames show ``(n + 1)/2`` on white. Files are
written under a temporary name and renamed into place.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import imageio
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dreamlift._atomic import atomic_path, write_bytes
from dreamlift.errors import DreamliftError
from dreamlift.export.grid import FieldGrid, GridField, sample_grid
from dreamlift.export.texture import to_uint8
from dreamlift.rendering.cameras import TOY_CAMERA
from dreamlift.rendering.renderer import render_field
from dreamlift.rendering.shading import head_lights
from dreamlift.rendering.views import turntable_views
from dreamlift.scene.field import Field


@dataclass
class TurntableConfig:
    """Settings of the turntable video."""

    frames: int = 24
    """Frames per full turn."""
    size: int = 64
    """Frame width and height in pixels (rounded up to even); render time grows with its square."""
    fps: int = 12
    """Frames per second."""
    elevation: float = 15.0
    """Camera elevation, degrees."""
    radius: float = TOY_CAMERA.radius
    """Camera distance from the origin, world units."""
    fovy: float = TOY_CAMERA.fovy
    """Vertical field of view, degrees."""
    shading: str = "lambertian"
    """"lambertian" (head light), "albedo" or "textureless"."""
    ambient: float = 0.4
    """Ambient share of the head light."""
    cache_resolution: int | None = 96
    """Sample the field on this grid and render the grid (fast); None renders the field itself."""
    gif: bool = False
    """Also write ``<name>.gif``."""
    depth: bool = False
    """Also write ``<name>_depth.mp4``."""
    normals: bool = False
    """Also write ``<name>_normals.mp4``."""

    def validate(self) -> None:
        if not 2 <= int(self.frames) <= 3600:
            raise DreamliftError(f"turntable frames {self.frames} must be 2 to 3600")
        if not 16 <= int(self.size) <= 2048:
            raise DreamliftError(f"turntable size {self.size} must be 16 to 2048 pixels")
        if not 1 <= int(self.fps) <= 120:
            raise DreamliftError(f"turntable fps {self.fps} must be 1 to 120")
        if self.shading not in ("lambertian", "albedo", "textureless"):
            raise DreamliftError(f"turntable shading {self.shading!r}: choose lambertian, albedo or textureless")


FRAMES_PER_RENDER = 8
"""Turntable frames rendered in one call of the renderer."""


def _depth_frame(out: dict, k: int, config: TurntableConfig, bound: float) -> np.ndarray:
    opacity = out["opacity"][k]
    depth = out["depth"][k] / opacity.clamp_min(1e-6)
    near, far = config.radius - bound, config.radius + bound
    value = ((far - depth) / (far - near)).clamp(0.0, 1.0) * opacity
    return to_uint8(value.expand(-1, -1, 3).numpy())


def _normal_frame(out: dict, k: int) -> np.ndarray:
    opacity = out["opacity"][k]
    return to_uint8((0.5 * (out["normals"][k] + opacity) + (1.0 - opacity)).numpy())


def write_mp4(frames: list[np.ndarray], path: Path, fps: int) -> None:
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=1,
            quality=None,
            output_params=["-crf", "18", "-movflags", "+faststart"],
            ffmpeg_log_level="error",
        )
        try:
            for frame in frames:
                writer.append_data(frame)
        finally:
            writer.close()


def write_gif(frames: list[np.ndarray], path: Path, fps: int) -> None:
    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
    write_bytes(path, buffer.getvalue())


def write_turntable(
    field: Field,
    path: str | Path,
    *,
    config: TurntableConfig | None = None,
    grid: FieldGrid | None = None,
    occupancy=None,
    progress: bool = True,
) -> list[Path]:
    """Render the turntable of ``field`` and write ``path`` (an .mp4) and the extras ``config`` asks for.

    ``grid``, when given, is used instead of sampling the field again; ``occupancy``
    (the run's occupancy grid) lets the renderer skip empty space. Returns the files
    written.
    """
    config = config or TurntableConfig()
    config.validate()
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise DreamliftError(f"the turntable is written as .mp4, not {path.name!r}: give a path ending in .mp4")
    size = int(config.size) + int(config.size) % 2
    if grid is None and config.cache_resolution:
        grid = sample_grid(field, int(config.cache_resolution))
    target = GridField(grid) if grid is not None else field
    bound = grid.bound if grid is not None else 1.0
    cameras = turntable_views(config.frames, config.elevation, config.radius, config.fovy)
    colour, depth, normals = [], [], []
    needs_normals = config.normals or config.shading != "albedo"
    with tqdm(total=len(cameras), desc="turntable", unit="frame", disable=not progress) as bar:
        for start in range(0, len(cameras), FRAMES_PER_RENDER):
            chunk = cameras[start : start + FRAMES_PER_RENDER]
            lights = head_lights(chunk, float(config.ambient)) if config.shading != "albedo" else None
            with torch.no_grad():
                out = render_field(
                    target, chunk, size, occupancy=occupancy, normals=needs_normals,
                    shading=config.shading, lights=lights, background=(1.0, 1.0, 1.0),
                )
            for k in range(len(chunk)):
                colour.append(to_uint8(out["image"][k].numpy()))
                if config.depth:
                    depth.append(_depth_frame(out, k, config, bound))
                if config.normals:
                    normals.append(_normal_frame(out, k))
            bar.update(len(chunk))
    written = [path]
    write_mp4(colour, path, int(config.fps))
    if config.gif:
        written.append(path.with_suffix(".gif"))
        write_gif(colour, written[-1], int(config.fps))
    if config.depth:
        written.append(path.with_name(f"{path.stem}_depth.mp4"))
        write_mp4(depth, written[-1], int(config.fps))
    if config.normals:
        written.append(path.with_name(f"{path.stem}_normals.mp4"))
        write_mp4(normals, written[-1], int(config.fps))
    return written
