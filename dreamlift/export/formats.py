"""Writing a coloured mesh as GLB, OBJ (+ MTL + PNG) or PLY, atomically.

All formats keep the mesh's frame unchanged: world units, +Y up, front +Z (glTF's
own frame). Every file is written to a temporary name and renamed into place; an
OBJ's texture and material files are written before the OBJ that names them, so a
reader that finds the OBJ finds its companions.

* GLB: one mesh with normals, and either COLOR_0 vertex colours (converted from the
  albedo's display values to linear, as glTF defines COLOR_0) or a PBR material whose
  base-colour texture (sRGB, as glTF defines it) is the baked albedo (metallic 0,
  roughness 1).
* OBJ: vertex colours as the common ``v x y z r g b`` extension, or ``mtllib`` +
  ``map_Kd`` with a PNG named after the OBJ (``mesh.obj`` → ``mesh.mtl``, ``mesh.png``).
* PLY: binary, with vertex normals and colours (a textured mesh is written with its
  texture sampled at the vertices: PLY has no standard texture reference).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np
import trimesh
from trimesh.exchange.gltf import export_glb
from trimesh.exchange.obj import export_obj
from trimesh.exchange.ply import export_ply

from dreamlift._atomic import write_bytes, write_text
from dreamlift.errors import DreamliftError
from dreamlift.export.texture import MATERIAL_NAME, to_uint8


class MeshFormat(str, Enum):
    """File formats the exporter writes."""

    GLB = "glb"
    OBJ = "obj"
    PLY = "ply"


def parse_format(name: str | MeshFormat) -> MeshFormat:
    """``"glb"``/``".GLB"``/... → :class:`MeshFormat`, or a DreamliftError listing the choices."""
    if isinstance(name, MeshFormat):
        return name
    try:
        return MeshFormat(str(name).lower().lstrip("."))
    except ValueError:
        raise DreamliftError(f"unknown mesh format {name!r}: choose one of glb, obj, ply") from None


def _is_textured(mesh: trimesh.Trimesh) -> bool:
    return isinstance(mesh.visual, trimesh.visual.TextureVisuals)


_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def _finish_gltf(tree: dict) -> None:
    """Name the generator and give vertex/index buffer views their GPU target (a validator hint)."""
    from dreamlift import __version__

    tree.setdefault("asset", {})["generator"] = f"dreamlift {__version__}"
    accessors, views = tree.get("accessors", []), tree.get("bufferViews", [])
    for mesh in tree.get("meshes", []):
        for primitive in mesh.get("primitives", []):
            pairs = [(index, _ARRAY_BUFFER) for index in primitive.get("attributes", {}).values()]
            if "indices" in primitive:
                pairs.append((primitive["indices"], _ELEMENT_ARRAY_BUFFER))
            for accessor, target in pairs:
                view = accessors[accessor].get("bufferView")
                if view is not None:
                    views[view]["target"] = target


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """The sRGB decoding curve, for values in [0, 1]."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def _linear_vertex_colours(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy whose vertex colours are linear, as glTF's COLOR_0 requires (albedo is stored as display values)."""
    rgba = mesh.visual.vertex_colors
    linear = rgba.copy()
    linear[:, :3] = to_uint8(srgb_to_linear(rgba[:, :3] / 255.0))
    return trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_normals=mesh.vertex_normals, vertex_colors=linear, process=False)


def glb_bytes(mesh: trimesh.Trimesh) -> bytes:
    """The mesh as a binary glTF 2.0 file (vertex colours converted to linear for COLOR_0)."""
    if isinstance(mesh.visual, trimesh.visual.ColorVisuals) and mesh.visual.kind == "vertex":
        mesh = _linear_vertex_colours(mesh)
    scene = trimesh.Scene()
    scene.add_geometry(mesh, geom_name="dreamlift", node_name="dreamlift")
    return export_glb(scene, include_normals=True, tree_postprocessor=_finish_gltf)


def _mtl_text(texture_name: str) -> str:
    return (
        "# dreamlift: albedo texture, no lighting terms\n"
        f"newmtl {MATERIAL_NAME}\n"
        "Ka 0.0 0.0 0.0\nKd 1.0 1.0 1.0\nKs 0.0 0.0 0.0\nNs 1.0\nillum 1\n"
        f"map_Kd {texture_name}\n"
    )


def write_obj(mesh: trimesh.Trimesh, path: Path) -> list[Path]:
    """OBJ with vertex colours, or OBJ + MTL + PNG for a textured mesh."""
    if not _is_textured(mesh):
        write_text(path, export_obj(mesh, include_normals=True, include_color=True, include_texture=False))
        return [path]
    mtl_path, png_path = path.with_suffix(".mtl"), path.with_suffix(".png")
    text, files = export_obj(mesh, include_normals=True, include_texture=True, return_texture=True, mtl_name=mtl_path.name)
    texture = files.get(f"{MATERIAL_NAME}.png")
    if texture is None:
        raise RuntimeError(f"trimesh wrote no {MATERIAL_NAME}.png for a textured mesh")
    write_bytes(png_path, texture)
    write_text(mtl_path, _mtl_text(png_path.name))
    write_text(path, text)
    return [png_path, mtl_path, path]


def write_ply(mesh: trimesh.Trimesh, path: Path) -> list[Path]:
    """Binary PLY with normals and vertex colours."""
    if _is_textured(mesh):
        mesh = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_normals=mesh.vertex_normals, visual=mesh.visual.to_color(), process=False)
    write_bytes(path, export_ply(mesh, encoding="binary", vertex_normal=True))
    return [path]


def write_mesh(mesh: trimesh.Trimesh, path: str | Path, fmt: MeshFormat | str | None = None) -> list[Path]:
    """Write ``mesh`` to ``path`` (format from ``fmt`` or the suffix); return every file written."""
    path = Path(path)
    fmt = parse_format(fmt if fmt is not None else path.suffix)
    if fmt is MeshFormat.GLB:
        write_bytes(path, glb_bytes(mesh))
        return [path]
    if fmt is MeshFormat.OBJ:
        return write_obj(mesh, path)
    return write_ply(mesh, path)
