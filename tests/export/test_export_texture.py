"""Vertex colours and the baked UV texture match the field's albedo."""

from __future__ import annotations

import numpy as np
import trimesh

from dreamlift.export.mesh import MeshConfig, extract_mesh
from dreamlift.export.texture import ColourConfig, TextureMode, apply_colour

RED = np.array([0.86, 0.12, 0.12])
BLUE = np.array([0.15, 0.30, 0.90])


def _expected(points: np.ndarray) -> np.ndarray:
    return np.where(points[:, :1] > 0, RED, BLUE)


def test_vertex_colours_are_the_albedo(two_colour_sphere):
    extracted = extract_mesh(two_colour_sphere, MeshConfig(resolution=48))
    mesh = apply_colour(two_colour_sphere, extracted.mesh, ColourConfig(), extracted.grid.spacing)
    colours = mesh.visual.vertex_colors
    away = np.abs(mesh.vertices[:, 0]) > 0.05  # not on the colour boundary
    assert colours.shape == (len(mesh.vertices), 4) and (colours[:, 3] == 255).all()
    np.testing.assert_allclose(colours[away, :3] / 255.0, _expected(mesh.vertices[away]), atol=1 / 255)


def test_uv_texture_samples_back_to_the_albedo(two_colour_sphere):
    extracted = extract_mesh(two_colour_sphere, MeshConfig(resolution=48))
    config = ColourConfig(texture=TextureMode.UV, texture_size=256)
    mesh = apply_colour(two_colour_sphere, extracted.mesh, config, extracted.grid.spacing)
    assert isinstance(mesh.visual, trimesh.visual.TextureVisuals)
    image = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")) / 255.0
    assert image.shape == (256, 256, 3)
    assert image.std() > 0.1  # not blank: both colours present
    # every texel is filled (padding): only the two albedo colours appear
    distance = np.minimum(np.abs(image - RED).max(-1), np.abs(image - BLUE).max(-1))
    assert (distance < 2 / 255).mean() > 0.999
    # look up each vertex's UV in the image (row 0 is the top, v = 1): the colour of its side
    uv = mesh.visual.uv
    rows = np.clip(((1.0 - uv[:, 1]) * 256).astype(int), 0, 255)
    cols = np.clip((uv[:, 0] * 256).astype(int), 0, 255)
    away = np.abs(mesh.vertices[:, 0]) > 0.08
    matches = np.abs(image[rows, cols] - _expected(mesh.vertices)).max(-1) < 2 / 255
    assert matches[away].mean() > 0.99
    assert len(mesh.vertices) >= len(extracted.mesh.vertices)  # split along seams
    assert len(mesh.faces) == len(extracted.mesh.faces)
