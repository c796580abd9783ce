"""GLB / OBJ / PLY: the Khronos validator accepts the GLB; trimesh reads back what was written; writes are atomic."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from dreamlift.errors import DreamliftError
from dreamlift.export import formats
from dreamlift.export.formats import srgb_to_linear, write_mesh
from dreamlift.export.mesh import MeshConfig, extract_mesh
from dreamlift.export.texture import ColourConfig, TextureMode, apply_colour, to_uint8


@pytest.fixture(scope="module")
def meshes():
    """A vertex-coloured and a UV-textured mesh of a two-colour ball with a nose at +Z."""
    import torch

    from dreamlift.export.analytic import SDFField, box_sdf, sphere_sdf, union_sdf

    red, blue = torch.tensor((0.86, 0.12, 0.12)), torch.tensor((0.15, 0.30, 0.90))
    sdf = union_sdf(sphere_sdf(radius=0.45), box_sdf((-0.08, -0.08, 0.3), (0.08, 0.08, 0.7)))
    field = SDFField(sdf, albedo=lambda p: torch.where(p[:, :1] > 0, red, blue), peak=100.0, width=0.01)
    extracted = extract_mesh(field, MeshConfig(resolution=48))
    vertex = apply_colour(field, extracted.mesh.copy(), ColourConfig(), extracted.grid.spacing)
    uv = apply_colour(field, extracted.mesh.copy(), ColourConfig(texture=TextureMode.UV, texture_size=256), extracted.grid.spacing)
    return {"vertex": vertex, "uv": uv}


def _load(path):
    return trimesh.load(path, process=False, force="mesh")


@pytest.mark.parametrize("kind", ["vertex", "uv"])
def test_glb_passes_the_khronos_validator(meshes, kind, tmp_path, gltf_validator):
    path = write_mesh(meshes[kind], tmp_path / "mesh.glb")[0]
    report = gltf_validator(path)
    issues = report["issues"]
    assert issues["numErrors"] == 0, issues["messages"]
    assert issues["numWarnings"] == 0, issues["messages"]
    assert report["info"]["totalVertexCount"] == len(meshes[kind].vertices)
    assert report["info"]["totalTriangleCount"] == len(meshes[kind].faces)
    assert report["info"]["hasTextures"] is (kind == "uv")


@pytest.mark.parametrize("suffix", ["glb", "obj", "ply"])
def test_vertex_coloured_mesh_reads_back(meshes, suffix, tmp_path):
    mesh = meshes["vertex"]
    back = _load(write_mesh(mesh, tmp_path / f"mesh.{suffix}")[-1])
    assert len(back.vertices) == len(mesh.vertices) and len(back.faces) == len(mesh.faces)
    np.testing.assert_allclose(back.bounds, mesh.bounds, atol=1e-6)
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-6)
    written = mesh.visual.vertex_colors[:, :3]
    if suffix == "glb":  # glTF's COLOR_0 is linear: the display values were converted
        written = to_uint8(srgb_to_linear(written / 255.0))
    np.testing.assert_array_equal(back.visual.vertex_colors[:, :3], written)


@pytest.mark.parametrize("suffix", ["glb", "obj"])
def test_textured_mesh_reads_back_with_its_texture(meshes, suffix, tmp_path):
    mesh = meshes["uv"]
    written = write_mesh(mesh, tmp_path / f"mesh.{suffix}")
    if suffix == "obj":
        assert [p.name for p in written] == ["mesh.png", "mesh.mtl", "mesh.obj"]
        assert "map_Kd mesh.png" in (tmp_path / "mesh.mtl").read_text()
    back = _load(written[-1])
    assert isinstance(back.visual, trimesh.visual.TextureVisuals)
    assert len(back.vertices) == len(mesh.vertices)
    np.testing.assert_allclose(back.bounds, mesh.bounds, atol=1e-6)
    np.testing.assert_allclose(back.visual.uv, mesh.visual.uv, atol=1e-6)
    image = back.visual.material.baseColorTexture if suffix == "glb" else back.visual.material.image
    pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape == (256, 256, 3) and pixels.std() > 20  # present and not blank
    np.testing.assert_array_equal(pixels, np.asarray(mesh.visual.material.baseColorTexture.convert("RGB")))
    # colours sampled at the vertices' UVs match what was baked
    np.testing.assert_array_equal(back.visual.to_color().vertex_colors, mesh.visual.to_color().vertex_colors)


def test_textured_ply_carries_vertex_colours(meshes, tmp_path):
    mesh = meshes["uv"]
    back = _load(write_mesh(mesh, tmp_path / "mesh.ply")[0])
    assert len(back.vertices) == len(mesh.vertices)
    np.testing.assert_array_equal(back.visual.vertex_colors, mesh.visual.to_color().vertex_colors)


def test_frame_is_kept_plus_y_up_front_plus_z(meshes, tmp_path):
    back = _load(write_mesh(meshes["vertex"], tmp_path / "mesh.glb")[0])
    (x0, y0, z0), (x1, y1, z1) = back.bounds
    assert z1 > 0.6 and abs(z0 + 0.45) < 0.05  # the nose points to +Z
    assert abs(x1 - 0.45) < 0.05 and abs(y1 - 0.45) < 0.05


@pytest.mark.parametrize("suffix", ["glb", "obj", "ply"])
def test_writes_are_atomic(meshes, suffix, tmp_path, monkeypatch):
    """A crash half-way through a write leaves the previous file whole and no temporary files."""
    from dreamlift import _atomic

    path = tmp_path / f"mesh.{suffix}"
    write_mesh(meshes["vertex"], path)
    before = path.read_bytes()

    def crash_half_way(target, data):
        with _atomic.atomic_open(target, "wb") as handle:
            handle.write(data[: len(data) // 2])
            raise OSError("disk full")

    monkeypatch.setattr(formats, "write_bytes", crash_half_way)
    monkeypatch.setattr(formats, "write_text", lambda target, text: crash_half_way(target, text.encode()))
    with pytest.raises(OSError, match="disk full"):
        write_mesh(meshes["vertex"], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_unknown_format_is_a_clear_error(meshes, tmp_path):
    with pytest.raises(DreamliftError, match="glb, obj, ply"):
        write_mesh(meshes["vertex"], tmp_path / "mesh.fbx")
