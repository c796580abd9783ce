"""Mesh extraction against closed forms: level fitted to the renders, volume, bounds, floaters, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize

from dreamlift.errors import DreamliftError
from dreamlift.export.analytic import SDFField, sphere_sdf
from dreamlift.export.mesh import Decimation, MeshConfig, extract_mesh, marching_cubes
from dreamlift.export.grid import FieldGrid


def silhouette_radius(field: SDFField, radius: float) -> float:
    """Impact parameter b where a ray's optical depth through the soft ball is ln 2 (opacity 0.5)."""

    def depth(b: float) -> float:
        sigma = lambda s: field.peak / (1.0 + math.exp((math.hypot(b, s) - radius) / field.width))  # noqa: E731
        return 2.0 * integrate.quad(sigma, 0.0, 1.0, limit=200)[0]

    return optimize.brentq(lambda b: depth(b) - math.log(2.0), radius, 0.9)


def test_level_is_fitted_to_rendered_opacity(soft_sphere):
    expected = silhouette_radius(soft_sphere, 0.5)  # ≈ 0.574, far from the 0.5 a mid-density level gives
    result = extract_mesh(soft_sphere, MeshConfig(resolution=96))
    mesh = result.mesh
    radius_from_volume = (3.0 * mesh.volume / (4.0 * math.pi)) ** (1.0 / 3.0)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert expected == pytest.approx(0.574, abs=0.005)
    assert radius_from_volume == pytest.approx(expected, abs=0.008)
    assert radii.std() < 0.003
    assert result.silhouette_iou > 0.97
    # the level is the density at the silhouette radius, nowhere near half the peak
    level_radius = 0.5 + soft_sphere.width * math.log(soft_sphere.peak / result.level - 1.0)
    assert level_radius == pytest.approx(expected, abs=0.008)


def test_box_volume_and_bounds(box_field):
    result = extract_mesh(box_field, MeshConfig(resolution=96))
    mesh = result.mesh
    # a sharp box renders at most w·ln(0.9·peak/ln 2) ≈ 0.007 beyond its faces (rays along a face)
    halo = box_field.width * math.log(0.9 * box_field.peak / math.log(2.0))
    spacing = 2.0 / 95
    assert mesh.is_watertight and result.silhouette_iou > 0.98
    assert (mesh.bounds[1] > 0.45 - spacing / 2).all() and (mesh.bounds[1] < 0.45 + halo + spacing / 2).all()
    np.testing.assert_allclose(mesh.bounds[0], -mesh.bounds[1], atol=1e-9)
    assert mesh.volume == pytest.approx((0.9 + halo) ** 3, rel=0.04)
    assert result.parts_removed == 0


def test_normals_point_outward(soft_sphere):
    mesh = extract_mesh(soft_sphere, MeshConfig(resolution=48)).mesh
    outward = np.einsum("ij,ij->i", mesh.face_normals, mesh.triangles_center)
    assert mesh.volume > 0
    assert (outward > 0).all()


def test_hollow_shell_keeps_inner_surface_facing_the_cavity():
    shell = SDFField(lambda p: (p.norm(dim=-1) - 0.5).abs() - 0.1, peak=100.0, width=0.01)
    mesh = extract_mesh(shell, MeshConfig(resolution=64, min_part_fraction=0.0)).mesh
    outer_r, inner_r = 0.6 + 0.03, 0.4 - 0.03  # roughly: both surfaces move out of the material by the fitted offset
    centres = mesh.triangles_center
    radial = np.einsum("ij,ij->i", mesh.face_normals, centres / np.linalg.norm(centres, axis=1, keepdims=True))
    outer = np.linalg.norm(centres, axis=1) > 0.5
    assert (radial[outer] > 0).all() and (radial[~outer] < 0).all()
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * (outer_r**3 - inner_r**3), rel=0.1)


def test_floaters_are_removed_and_big_parts_kept(sphere_with_floater):
    result = extract_mesh(sphere_with_floater, MeshConfig(resolution=64))
    assert result.parts_removed == 1
    assert len(result.mesh.split(only_watertight=False)) == 1
    assert result.mesh.bounds[1, 0] < 0.55
    kept = extract_mesh(sphere_with_floater, MeshConfig(resolution=64, min_part_fraction=0.0))
    assert kept.parts_removed == 0 and len(kept.mesh.split(only_watertight=False)) == 2

    from dreamlift.export.analytic import union_sdf

    twins = SDFField(union_sdf(sphere_sdf((-0.45, 0, 0), 0.3), sphere_sdf((0.45, 0, 0), 0.25)), peak=100.0, width=0.01)
    both = extract_mesh(twins, MeshConfig(resolution=64))
    assert both.parts_removed == 0 and len(both.mesh.split(only_watertight=False)) == 2


@pytest.mark.parametrize(
    "field, threshold",
    [
        (SDFField(sphere_sdf(radius=0.5), peak=0.0), None),  # nothing at all
        (SDFField(sphere_sdf(radius=0.5), peak=0.2), None),  # faint fog: never half opaque
        (SDFField(sphere_sdf(radius=0.5), peak=50.0), 80.0),  # a threshold above the peak
    ],
)
def test_empty_field_is_a_clear_error(field, threshold):
    with pytest.raises(DreamliftError) as caught:
        extract_mesh(field, MeshConfig(resolution=32, threshold=threshold))
    message = str(caught.value)
    assert "empty" in message and "--steps" in message and "--seed" in message and "--threshold" in message


def test_non_finite_density_is_a_clear_error():
    field = SDFField(lambda p: torch.full((p.shape[0],), float("nan")))
    with pytest.raises(DreamliftError, match="not finite"):
        extract_mesh(field, MeshConfig(resolution=16))


def test_given_threshold_is_used(soft_sphere):
    result = extract_mesh(soft_sphere, MeshConfig(resolution=64, threshold=50.0))
    radius = (3.0 * result.mesh.volume / (4.0 * math.pi)) ** (1.0 / 3.0)
    assert result.level == 50.0
    assert radius == pytest.approx(0.5, abs=0.01)  # σ = peak/2 exactly at the SDF's zero
    assert result.silhouette_iou < 0.9  # and the report says it does not match the renders


@pytest.mark.parametrize(
    "bad", [dict(resolution=8), dict(faces=10), dict(threshold=-1.0), dict(min_part_fraction=1.5), dict(decimation="fancy")]
)
def test_bad_settings_are_clear_errors(soft_sphere, bad):
    with pytest.raises(DreamliftError):
        extract_mesh(soft_sphere, MeshConfig(**bad))


def test_face_budget_by_coarser_grid(soft_sphere):
    full = extract_mesh(soft_sphere, MeshConfig(resolution=64))
    reduced = extract_mesh(soft_sphere, MeshConfig(resolution=64, faces=2000, decimation=Decimation.GRID))
    assert len(full.mesh.faces) > 2000 >= len(reduced.mesh.faces) > 1000
    assert reduced.decimation == "grid"
    assert reduced.mesh.volume == pytest.approx(full.mesh.volume, rel=0.05)  # level refitted on the coarse grid
    assert reduced.mesh.is_watertight


def test_quadric_decimation_names_its_package(soft_sphere, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fast_simplification" else real(name, *a))
    with pytest.raises(DreamliftError, match="pip install fast-simplification"):
        extract_mesh(soft_sphere, MeshConfig(resolution=48, faces=1000, decimation=Decimation.QUADRIC))
    auto = extract_mesh(soft_sphere, MeshConfig(resolution=48, faces=1000))  # falls back to the grid
    assert auto.decimation == "grid" and len(auto.mesh.faces) <= 1000


def test_quadric_decimation_when_installed(soft_sphere):
    pytest.importorskip("fast_simplification", reason="fast-simplification is optional (pip install fast-simplification)")
    result = extract_mesh(soft_sphere, MeshConfig(resolution=64, faces=1500, decimation=Decimation.QUADRIC))
    assert result.decimation == "quadric" and len(result.mesh.faces) <= 1500
    assert result.mesh.volume > 0


def test_marching_cubes_closes_surfaces_at_the_cube_faces():
    density = torch.full((8, 8, 8), 5.0)  # everything dense, touching every face of the cube
    mesh = marching_cubes(FieldGrid(density=density, albedo=torch.zeros(8, 8, 8, 3), bound=1.0), 1.0)
    assert mesh.is_watertight
    # the surface closes at level 1 of 5 between the last layer and the padding: 0.8 spacing out
    half = 1.0 + 0.8 * 2.0 / 7.0
    np.testing.assert_allclose(mesh.bounds, [[-half] * 3, [half] * 3], atol=1e-9)
