"""Several input images with known cameras, read from a small table (CSV or JSON).

Columns (case-insensitive; the aliases in brackets read stable-dreamfusion's
``--image_config`` tables as they are):

* ``path`` (``image``, ``file``), required: the image file; a relative path is
  resolved against the table's folder;
* ``elevation`` (``el``) in degrees as in TOYWORLD.md, or ``polar`` (``theta``), the
  angle from +Y, read as ``elevation = 90 − polar``: one of them is required;
* ``azimuth`` (``az``, ``phi``), required: degrees, 0 = front (+Z), 90 = from +X;
* ``radius``, optional: camera distance in dreamlift world units (default 3);
* ``fovy``, optional: vertical field of view in degrees (default 40);
* ``weight`` (``zero123_weight``), optional: relative weight of the view, ≥ 0 (default 1).

All images of a table must have one size: they are framed together, about one 3D
centre and at one scale (:func:`~dreamlift.inputs.framing.shared_windows`), so that
they keep agreeing with their cameras; ``recentre=False`` keeps them as they are.

CSV: a header line, then one row per image. JSON: a list of objects with these
keys, or ``{"views": [...]}``. Every bad row is a one-line error naming the table,
the row and what to fix.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

from dreamlift.errors import DreamliftError
from dreamlift.inputs.framing import view_windows
from dreamlift.inputs.depth import frame_depth
from dreamlift.inputs.image import MattedImage, ReferenceImage, check_load_options, framed_images, load_matted
from dreamlift.rendering.cameras import TOY_CAMERA, OrbitCameras, wrap_degrees
from dreamlift._limits import MAX_VIEWS

MAX_TABLE_BYTES = 1 << 20
"""Largest view table read (1 MiB: a few thousand rows, far more than :data:`MAX_VIEWS`)."""

_ALIASES = {
    "path": "path",
    "image": "path",
    "file": "path",
    "elevation": "elevation",
    "el": "elevation",
    "polar": "polar",
    "theta": "polar",
    "azimuth": "azimuth",
    "az": "azimuth",
    "phi": "azimuth",
    "radius": "radius",
    "fovy": "fovy",
    "weight": "weight",
    "zero123_weight": "weight",
}


@dataclass(frozen=True, eq=False)
class ViewInput:
    """One input image and the camera it was taken from."""

    image: ReferenceImage
    """The matted, recentred image."""
    camera: OrbitCameras
    """Its camera (a batch of one)."""
    weight: float = 1.0
    """Relative weight of this view (1 unless the table says otherwise)."""
    depth: Tensor | None = None
    """``(size, size)`` depth of the framed view in [0, 1] (any scale and offset; larger = farther), or None."""


def load_view_table(
    path: str | os.PathLike,
    size: int = 32,
    border_ratio: float = 0.2,
    matting: str = "auto",
    default_radius: float = TOY_CAMERA.radius,
    default_fovy: float = TOY_CAMERA.fovy,
    recentre: bool = True,
    depth: Callable[[MattedImage], Tensor] | None = None,
) -> list[ViewInput]:
    """Read the table at ``path`` and load every image it lists, with its camera, framed together (module doc)."""
    method = check_load_options(size, border_ratio, matting)
    table = Path(path).expanduser()
    if not table.is_file():
        what = "is a folder" if table.is_dir() else "does not exist"
        raise DreamliftError(f"view table {table} {what}: give a .csv or .json file")
    rows = _read_rows(table)
    if not rows:
        raise DreamliftError(f"view table {table} lists no images: add one row per image")
    if len(rows) > MAX_VIEWS:  # before any image is read: each is held at full size
        raise DreamliftError(f"view table {table} lists {len(rows)} views; an image run takes at most {MAX_VIEWS}: choose the views to keep")
    matted, cameras, weights = [], [], []
    for label, row in rows:
        where = f"{label} of {table}"
        camera, weight, image_path = _parse_row(row, where, table.parent, default_radius, default_fovy)
        try:
            image = load_matted(image_path, method)
        except DreamliftError as exc:
            raise DreamliftError(f"{where}: {exc}") from None
        first = matted[0].rgba.shape[:2] if matted else image.rgba.shape[:2]
        if image.rgba.shape[:2] != first:
            (h0, w0), (h, w) = first, image.rgba.shape[:2]
            raise DreamliftError(
                f"{where}: the image is {w}x{h} pixels but the first is {w0}x{h0}: views with known cameras are framed together, "
                "so give every image of the table the same size (crop or pad them alike)"
            )
        matted.append(image)
        cameras.append(camera)
        weights.append(weight)
    return frame_views(matted, cameras, weights, size, border_ratio, recentre, depth)


def frame_views(
    matted: list[MattedImage], cameras: list[OrbitCameras], weights: list[float], size: int, border_ratio: float, recentre: bool,
    depth: Callable[[MattedImage], Tensor] | None = None,
) -> list[ViewInput]:
    """Matted images of one size with their cameras → framed :class:`ViewInput` s (together: see the module doc).

    ``depth(matted)``, when given, returns each image's depth map at its size; it is framed like the image.
    """
    together = OrbitCameras.cat(cameras)
    alpha = torch.stack([m.rgba[..., 3] for m in matted])
    windows = view_windows(alpha, together, border_ratio, recentre)
    images = framed_images(matted, windows, size)
    depths = frame_depth(torch.stack([depth(m) for m in matted]), alpha, windows, size) if depth is not None else [None] * len(matted)
    return [ViewInput(image=i, camera=c, weight=w, depth=d) for i, c, w, d in zip(images, cameras, weights, depths)]


def load_one_view(
    path: str | os.PathLike, camera: OrbitCameras, size: int = 32, border_ratio: float = 0.2, matting: str = "auto",
    recentre: bool = True, depth: Callable[[MattedImage], Tensor] | None = None,
) -> ViewInput:
    """One image with its camera, framed as :func:`~dreamlift.inputs.load_reference_image` frames it (plus its depth)."""
    method = check_load_options(size, border_ratio, matting)
    return frame_views([load_matted(path, method)], [camera], [1.0], size, border_ratio, recentre, depth)[0]


def _read_rows(table: Path) -> list[tuple[str, dict]]:
    """``(label, {canonical column: raw value})`` per row; labels like ``line 3`` or ``entry 2``."""
    from dreamlift._limits import parse_json, read_text

    suffix = table.suffix.lower()
    try:
        text = read_text(table, f"view table {table}", MAX_TABLE_BYTES, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        raise DreamliftError(f"view table {table} cannot be read as UTF-8 text: save it as a .csv or .json text file") from None
    if suffix == ".csv":
        reader = csv.reader(text.splitlines(), skipinitialspace=True)
        try:
            lines = [(number, cells) for number, cells in enumerate(reader, start=1) if any(c.strip() for c in cells)]
        except csv.Error as exc:  # a field over csv's own limit (128 kB), a NUL byte
            raise DreamliftError(f"view table {table} is not valid CSV at line {reader.line_num} ({exc})") from None
        if not lines:
            return []
        header_line, header = lines[0]
        columns = [_canonical(name, table, f"line {header_line}") for name in header]
        rows = []
        for number, cells in lines[1:]:
            if len(cells) != len(columns):
                raise DreamliftError(
                    f"line {number} of {table} has {len(cells)} values but the header has {len(columns)}: "
                    "give one value per column"
                )
            rows.append((f"line {number}", dict(zip(columns, (c.strip() for c in cells)))))
        return rows
    if suffix == ".json":
        try:
            data = parse_json(text, f"view table {table}")
        except json.JSONDecodeError as exc:
            raise DreamliftError(f"view table {table} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(data, dict) and "views" in data:
            data = data["views"]
        if not isinstance(data, list):
            raise DreamliftError(f"view table {table} must hold a list of views (or {{\"views\": [...]}})")
        rows = []
        for index, entry in enumerate(data, start=1):
            if not isinstance(entry, dict):
                raise DreamliftError(f"entry {index} of {table} is not an object: give path, elevation, azimuth keys")
            rows.append(
                (f"entry {index}", {_canonical(k, table, f"entry {index}"): v for k, v in entry.items()})
            )
        return rows
    raise DreamliftError(f"view table {table} must end in .csv or .json, not {suffix or 'nothing'!r}")


def _canonical(name: object, table: Path, where: str) -> str:
    key = str(name).strip().lower()
    if key not in _ALIASES:
        accepted = ", ".join(sorted(set(_ALIASES)))
        raise DreamliftError(f"{where} of {table}: unknown column {str(name)!r}; accepted columns are {accepted}")
    return _ALIASES[key]


def _number(row: dict, key: str, where: str, default: float | None = None) -> float:
    raw = row.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if default is None:
            raise DreamliftError(f"{where}: {key} is missing: give it in degrees")
        return float(default)
    if isinstance(raw, bool):
        raise DreamliftError(f"{where}: {key} {raw!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise DreamliftError(f"{where}: {key} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise DreamliftError(f"{where}: {key} {raw!r} is not a finite number")
    return value


def _parse_row(
    row: dict, where: str, folder: Path, default_radius: float, default_fovy: float
) -> tuple[OrbitCameras, float, Path]:
    raw_path = row.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise DreamliftError(f"{where}: the image path is missing: give it in the path column")
    image_path = Path(raw_path.strip()).expanduser()
    if not image_path.is_absolute():
        image_path = folder / image_path
    if "elevation" in row and "polar" in row:
        raise DreamliftError(f"{where}: give elevation or polar, not both")
    if "polar" in row:
        elevation = 90.0 - _number(row, "polar", where)
    else:
        elevation = _number(row, "elevation", where)
    azimuth = _number(row, "azimuth", where)
    radius = _number(row, "radius", where, default_radius)
    fovy = _number(row, "fovy", where, default_fovy)
    weight = _number(row, "weight", where, 1.0)
    if not -90.0 <= elevation <= 90.0:
        raise DreamliftError(f"{where}: elevation {elevation:g} is outside [-90, 90] degrees")
    if radius <= 0.0:
        raise DreamliftError(f"{where}: radius {radius:g} must be > 0")
    if not 0.0 < fovy < 180.0:
        raise DreamliftError(f"{where}: fovy {fovy:g} must lie in (0, 180) degrees")
    if weight < 0.0:
        raise DreamliftError(f"{where}: weight {weight:g} must be >= 0")
    azimuth = float(wrap_degrees(azimuth))
    return OrbitCameras.make(elevation, azimuth, radius, fovy), weight, image_path
