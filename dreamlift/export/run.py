"""``export_run``: the asset files of a run folder from its trained field.

Writes ``DIR/mesh.glb`` by default (other formats and an explicit output path on
request), optionally ``DIR/turntable.mp4``, reusing one density grid for both.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Iterable

from dreamlift.errors import DreamliftError
from dreamlift.export.formats import MeshFormat, parse_format, write_mesh
from dreamlift.export.mesh import MeshConfig, extract_mesh
from dreamlift.export.texture import ColourConfig, TextureMode, apply_colour
from dreamlift.export.video import TurntableConfig, write_turntable
from dreamlift.scene.field import Field


@dataclass
class ExportResult:
    """What :func:`export_run` wrote and how the mesh came out."""

    files: list[Path]
    """Every file written (mesh files, their companions, videos)."""
    vertices: int
    faces: int
    level: float
    """Density level of the surface."""
    silhouette_iou: float
    """IoU of the mesh's silhouettes against the rendered opacity > 0.5 masks (1 is perfect)."""
    parts_removed: int
    """Floating pieces removed."""
    decimation: str | None
    """How a face budget was met, if one was given and needed."""
    seconds: dict[str, float] = dataclass_field(default_factory=dict)
    """Wall-clock seconds per stage (mesh, colour, write, turntable)."""

    def summary(self) -> str:
        """One line for the terminal."""
        names = ", ".join(str(path) for path in self.files)
        return (
            f"wrote {names}: {self.vertices} vertices, {self.faces} faces, level {self.level:.3g}, "
            f"silhouette IoU {self.silhouette_iou:.3f}, {self.parts_removed} floaters removed "
            f"({sum(self.seconds.values()):.1f} s)"
        )


def _output_paths(run_dir: Path, formats: list[MeshFormat], out: str | Path | None) -> list[tuple[MeshFormat, Path]]:
    if out is None:
        return [(fmt, run_dir / f"mesh.{fmt.value}") for fmt in formats]
    if len(formats) != 1:
        raise DreamliftError("an output path names one file: give one format with it, or leave the path out")
    out, fmt = Path(out), formats[0]
    if out.is_dir():
        return [(fmt, out / f"mesh.{fmt.value}")]
    if not out.suffix:
        return [(fmt, out.with_suffix(f".{fmt.value}"))]
    if parse_format(out.suffix) is not fmt:
        raise DreamliftError(f"the output {out.name!r} does not end in .{fmt.value}: change the path or the format")
    return [(fmt, out)]


def export_run(
    run_dir: str | Path,
    field: Field,
    *,
    formats: Iterable[str | MeshFormat] = ("glb",),
    out: str | Path | None = None,
    resolution: int | None = None,
    texture: str | TextureMode | None = None,
    faces: int | None = None,
    threshold: float | None = None,
    turntable: bool | TurntableConfig = False,
    mesh_config: MeshConfig | None = None,
    colour_config: ColourConfig | None = None,
    occupancy=None,
    progress: bool = False,
) -> ExportResult:
    """Extract, colour and write the mesh of ``field`` into ``run_dir`` (``mesh.<format>``) or ``out``.

    ``resolution``, ``texture``, ``faces`` and ``threshold`` override the matching
    fields of ``mesh_config`` / ``colour_config`` when given. ``turntable`` (True or a
    config) also writes ``run_dir/turntable.mp4`` from the same density grid.
    ``occupancy`` (the run's occupancy grid) lets the renderer skip empty space.
    Raises :class:`DreamliftError` for bad settings and for an empty field.
    """
    run_dir = Path(run_dir)
    targets = _output_paths(run_dir, [parse_format(f) for f in formats], out)
    mesh_config = dataclasses.replace(mesh_config or MeshConfig())
    colour_config = dataclasses.replace(colour_config or ColourConfig())
    for name, value in (("resolution", resolution), ("faces", faces), ("threshold", threshold)):
        if value is not None:
            setattr(mesh_config, name, value)
    if texture is not None:
        colour_config.texture = texture
    mesh_config.validate()
    colour_config.validate()

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    extracted = extract_mesh(field, mesh_config, occupancy=occupancy)
    seconds["mesh"] = time.perf_counter() - start
    start = time.perf_counter()
    mesh = apply_colour(field, extracted.mesh, colour_config, extracted.grid.spacing)
    seconds["colour"] = time.perf_counter() - start
    start = time.perf_counter()
    files: list[Path] = []
    for fmt, path in targets:
        files += write_mesh(mesh, path, fmt)
    seconds["write"] = time.perf_counter() - start
    if turntable:
        start = time.perf_counter()
        config = turntable if isinstance(turntable, TurntableConfig) else TurntableConfig()
        files += write_turntable(
            field, run_dir / "turntable.mp4", config=config, grid=extracted.grid, occupancy=occupancy, progress=progress
        )
        seconds["turntable"] = time.perf_counter() - start
    return ExportResult(
        files=files,
        vertices=len(mesh.vertices),
        faces=len(mesh.faces),
        level=extracted.level,
        silhouette_iou=extracted.silhouette_iou,
        parts_removed=extracted.parts_removed,
        decimation=extracted.decimation,
        seconds=seconds,
    )
