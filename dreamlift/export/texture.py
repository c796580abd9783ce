"""Colour for an extracted mesh: vertex colours, or a UV texture baked from the field.

Colours are the field's albedo (display values in [0, 1]) looked up slightly inside
the surface: ``offset`` world units against the normal, where the volume renderer's
weights concentrate and the trained albedo is meaningful.

UV texture: xatlas unwraps the mesh (vertices are split along seams); every texel
whose centre lies in a triangle of the atlas is baked by querying the field at the
3D point with the same barycentric weights; every other texel is then given the
colour of the nearest baked texel, so bilinear filtering and mip-maps never bleed
background into the seams. Image row 0 is the top; ``v = 1`` is the top row
(trimesh's convention; glTF's flip is done by the exporter).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch
import trimesh
import xatlas
from PIL import Image
from scipy import ndimage

from dreamlift.errors import DreamliftError
from dreamlift.export.grid import query_albedo
from dreamlift.rendering.raster_numpy import rasterize
from dreamlift.scene.field import Field


MATERIAL_NAME = "albedo"
"""Name of the baked material (and of its image inside an OBJ export)."""


class TextureMode(str, Enum):
    """How colour is stored on the mesh."""

    VERTEX = "vertex"
    """One RGBA colour per vertex (small files, detail limited by the mesh)."""
    UV = "uv"
    """A UV-mapped texture image (xatlas unwrap + bake)."""


@dataclass
class ColourConfig:
    """Settings of the colour step."""

    texture: TextureMode = TextureMode.VERTEX
    """Vertex colours or a UV texture."""
    texture_size: int = 1024
    """Width and height of the UV texture, pixels."""
    offset: float = 0.5
    """How far inside the surface albedo is read, in grid spacings."""
    padding: int = 2
    """Texels between charts in the atlas."""
    chart_area: float = 1.0 / 128.0
    """Largest chart as a share of the mesh's area (small charts keep xatlas fast on marching-cubes meshes)."""

    def validate(self) -> None:
        try:
            TextureMode(self.texture)
        except ValueError:
            raise DreamliftError(f"unknown texture mode {self.texture!r}: choose vertex or uv") from None
        if not 64 <= int(self.texture_size) <= 8192:
            raise DreamliftError(f"texture size {self.texture_size} must be 64 to 8192 pixels")


def _albedo_inside(field: Field, points: np.ndarray, normals: np.ndarray, offset: float) -> np.ndarray:
    inner = torch.as_tensor(points - offset * normals, dtype=torch.float32)
    return query_albedo(field, inner).numpy()


def to_uint8(colours: np.ndarray) -> np.ndarray:
    """Float colours in [0, 1] to 8-bit (round to nearest)."""
    return (np.clip(colours, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def colour_vertices(field: Field, mesh: trimesh.Trimesh, offset: float) -> trimesh.Trimesh:
    """Give ``mesh`` opaque RGBA vertex colours from the field's albedo."""
    rgb = to_uint8(_albedo_inside(field, mesh.vertices, mesh.vertex_normals, offset))
    rgba = np.concatenate((rgb, np.full((len(rgb), 1), 255, dtype=np.uint8)), axis=1)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=rgba)
    return mesh


def unwrap(mesh: trimesh.Trimesh, size: int, padding: int, chart_area: float = 1.0 / 128.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas atlas for ``mesh``: ``(vmapping (V',), faces (F, 3), uv (V', 2))``."""
    atlas = xatlas.Atlas()
    atlas.add_mesh(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32), mesh.vertex_normals.astype(np.float32))
    charts = xatlas.ChartOptions()
    charts.max_chart_area = float(chart_area * mesh.area)
    pack = xatlas.PackOptions()
    pack.resolution = int(size)
    pack.padding = int(padding)
    pack.bilinear = True
    atlas.generate(charts, pack)
    vmapping, faces, uv = atlas[0]
    return vmapping.astype(np.int64), faces.astype(np.int64), uv.astype(np.float64)


def bake_texture(field: Field, vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, uv: np.ndarray, size: int, offset: float) -> np.ndarray:
    """``(size, size, 3)`` float texture of the field's albedo over the atlas, padded everywhere."""
    pixel = np.stack((uv[:, 0] * size, (1.0 - uv[:, 1]) * size), axis=1)
    frags = rasterize(pixel[faces], size, size)
    if frags.face.size == 0:
        raise DreamliftError("the UV atlas covers no texel: give a larger texture size or use vertex colours")
    corners = faces[frags.face]  # (K, 3)
    w = frags.weights[..., None]
    points = (vertices[corners] * w).sum(1)
    normal = (normals[corners] * w).sum(1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    colours = _albedo_inside(field, points, normal, offset)
    texture = np.zeros((size, size, 3), dtype=np.float32)
    baked = np.zeros((size, size), dtype=bool)
    texture[frags.row, frags.col] = colours
    baked[frags.row, frags.col] = True
    _, (near_row, near_col) = ndimage.distance_transform_edt(~baked, return_indices=True)
    return texture[near_row, near_col]


def texture_mesh(field: Field, mesh: trimesh.Trimesh, config: ColourConfig, offset: float) -> trimesh.Trimesh:
    """A copy of ``mesh`` split along seams, with UVs and a baked albedo texture (PBR base colour)."""
    size = int(config.texture_size)
    vmapping, faces, uv = unwrap(mesh, size, int(config.padding), float(config.chart_area))
    vertices = mesh.vertices[vmapping]
    normals = mesh.vertex_normals[vmapping]
    texture = bake_texture(field, vertices, normals, faces, uv, size, offset)
    image = Image.fromarray(to_uint8(texture))
    material = trimesh.visual.material.PBRMaterial(
        name=MATERIAL_NAME, baseColorTexture=image, metallicFactor=0.0, roughnessFactor=1.0
    )
    visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return trimesh.Trimesh(vertices=vertices, faces=faces, vertex_normals=normals, visual=visual, process=False)


def apply_colour(field: Field, mesh: trimesh.Trimesh, config: ColourConfig, spacing: float) -> trimesh.Trimesh:
    """Colour ``mesh`` as ``config`` says; ``spacing`` is the grid spacing (sets the offset)."""
    config.validate()
    offset = float(config.offset) * spacing
    if TextureMode(config.texture) is TextureMode.UV:
        return texture_mesh(field, mesh, config, offset)
    return colour_vertices(field, mesh, offset)
