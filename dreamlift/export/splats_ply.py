"""``splats.ply``: 3D Gaussians in the standard 3DGS layout, written atomically and read with limits.

Binary little-endian PLY, one ``vertex`` element of float32 properties, in this order::

    x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3

``f_dc = (colour − 0.5) / C0`` (the degree-0 spherical-harmonic coefficient, ``C0 = 0.28209479177387814``),
``opacity`` is the logit, ``scale_*`` are logs of the standard deviations, ``rot_*`` the unit quaternion
``(w, x, y, z)``, normals zero. World frame as everywhere in dreamlift (+Y up, front +Z). The reader
takes any binary little-endian file with these properties (others, such as ``f_rest_*``, are skipped)
and refuses headers or files beyond its limits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from dreamlift._atomic import atomic_open
from dreamlift.errors import DreamliftError
from dreamlift.rendering.splatting import Splats

C0 = 0.28209479177387814
"""The degree-0 real spherical harmonic, ``1 / (2·sqrt(π))``."""
PROPERTIES = (
    "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
    "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
)  # fmt: skip
MAX_VERTICES = 10_000_000
"""The reader refuses headers that claim more Gaussians."""
MAX_BYTES = 4 << 30
"""The reader refuses larger files."""
MAX_HEADER = 64 << 10
"""The reader refuses headers longer than this many bytes."""
PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}  # fmt: skip


def write_splats_ply(path: str | os.PathLike, splats: Splats) -> None:
    """Write ``splats`` (their colours in [0, 1]) to ``path`` in the layout above, atomically."""
    with torch.no_grad():
        quaternions = torch.nn.functional.normalize(splats.quaternions.detach().double(), dim=-1)
        columns = torch.cat(
            (
                splats.means.detach().double(),
                torch.zeros(len(splats), 3, dtype=torch.float64),
                (splats.colours.detach().double() - 0.5) / C0,
                splats.opacity_logits.detach().double()[:, None],
                splats.log_scales.detach().double(),
                quaternions,
            ),
            dim=1,
        )
    body = columns.cpu().numpy().astype("<f4")
    header = ["ply", "format binary_little_endian 1.0", "comment dreamlift 3D Gaussians (3DGS layout)", f"element vertex {len(body)}"]
    header += [f"property float {name}" for name in PROPERTIES] + ["end_header"]
    with atomic_open(path, "wb") as handle:
        handle.write(("\n".join(header) + "\n").encode("ascii"))
        handle.write(body.tobytes())


def _parse_header(handle, path: Path) -> tuple[int, np.dtype, int]:
    """The vertex count, the record dtype and the header's length in bytes."""
    lines: list[str] = []
    size = 0
    while True:
        raw = handle.readline(MAX_HEADER + 1)
        size += len(raw)
        if not raw or size > MAX_HEADER:
            raise DreamliftError(f"{path} has no complete PLY header in its first {MAX_HEADER} bytes: give a splats.ply written by a 3DGS tool")
        line = raw.decode("ascii", errors="replace").strip()
        if line == "end_header":
            break
        lines.append(line)
    if not lines or lines[0] != "ply":
        raise DreamliftError(f"{path} is not a PLY file: give a splats.ply written by a 3DGS tool")
    if "format binary_little_endian 1.0" not in lines:
        raise DreamliftError(f"{path} is not a binary little-endian PLY: convert it (e.g. save it again from a 3DGS tool)")
    count, fields, element = None, [], None
    for line in lines[1:]:
        words = line.split()
        if words[0] == "element":
            element = words[1]
            if element != "vertex":
                raise DreamliftError(f"{path} has a '{element}' element besides the Gaussians: give a Gaussian-only splats.ply")
            count = int(words[2])
        elif words[0] == "property" and element == "vertex":
            if words[1] == "list" or words[1] not in PLY_TYPES:
                raise DreamliftError(f"{path}: property '{' '.join(words[1:])}' is not a scalar PLY type: give a 3DGS splats.ply")
            fields.append((words[2], "<" + PLY_TYPES[words[1]]))
    if count is None:
        raise DreamliftError(f"{path} has no vertex element: give a splats.ply written by a 3DGS tool")
    if count > MAX_VERTICES:
        raise DreamliftError(f"{path} claims {count} Gaussians, more than the {MAX_VERTICES} this reader takes: prune it first")
    missing = [name for name in PROPERTIES if name not in {f for f, _ in fields} and name not in ("nx", "ny", "nz")]
    if missing:
        raise DreamliftError(f"{path} lacks the 3DGS properties {', '.join(missing)}: give a splats.ply in the 3DGS layout")
    return count, np.dtype(fields), size


def read_splats_ply(path: str | os.PathLike) -> Splats:
    """Read a ``splats.ply`` (float32 tensors; colours ``C0·f_dc + 0.5`` clipped to [0, 1])."""
    path = Path(path)
    try:
        file_size = path.stat().st_size
        if file_size > MAX_BYTES:
            raise DreamliftError(f"{path} is {file_size} bytes, more than the {MAX_BYTES} this reader takes: prune the Gaussians first")
        with open(path, "rb") as handle:
            count, dtype, header = _parse_header(handle, path)
            if file_size != header + count * dtype.itemsize:
                raise DreamliftError(
                    f"{path} holds {file_size - header} bytes of data where its header says {count * dtype.itemsize}: the file is truncated or damaged; write it again"
                )
            records = np.fromfile(handle, dtype=dtype, count=count)
    except OSError as error:
        raise DreamliftError(f"cannot read {path} ({error.strerror or type(error).__name__}): check the path") from None

    def stack(*names: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([records[name].astype(np.float32) for name in names], axis=-1))

    return Splats(
        means=stack("x", "y", "z"),
        log_scales=stack("scale_0", "scale_1", "scale_2"),
        quaternions=stack("rot_0", "rot_1", "rot_2", "rot_3"),
        opacity_logits=stack("opacity")[:, 0],
        colours=(stack("f_dc_0", "f_dc_1", "f_dc_2") * C0 + 0.5).clamp(0.0, 1.0),
    )
