"""Marching tetrahedra against closed forms: a sphere's area and volume, its derivative in the radius."""

import math

import pytest
import torch
import trimesh

from dreamlift.refine.tets import EDGE_SLOTS, TRIANGLE_COUNT, marching_tetrahedra, tet_grid


def test_the_grid_is_a_conforming_kuhn_split():
    grid = tet_grid(4, 1.0)
    assert grid.vertices.shape == (125, 3) and grid.tets.shape == (6 * 64, 4)
    corner = grid.vertices[grid.tets]
    volume = torch.det(torch.stack([corner[:, i] - corner[:, 0] for i in (1, 2, 3)], dim=1)).abs() / 6.0
    assert torch.allclose(volume.sum(), torch.tensor(8.0), atol=1e-5)  # fills the cube exactly
    assert float(volume.min()) > 0  # no degenerate tetrahedron
    # every interior face is shared by exactly two tetrahedra (conforming), boundary faces by one
    faces = torch.cat([grid.tets[:, [a, b, c]] for a, b, c in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3))]).sort(dim=1).values
    _, counts = torch.unique(faces, dim=0, return_counts=True)
    assert set(counts.tolist()) == {1, 2}
    assert int((counts == 1).sum()) == 6 * 4 * 4 * 2  # each cube face on the boundary is two triangles
    # tet_edges name the right vertex pairs
    pairs = grid.tets[:, list(EDGE_SLOTS)].sort(dim=-1).values
    assert torch.equal(grid.edges[grid.tet_edges], pairs)


def test_the_triangle_table_covers_every_sign_pattern():
    assert TRIANGLE_COUNT.tolist() == [0, 1, 1, 2, 1, 2, 2, 1, 1, 2, 2, 1, 2, 1, 1, 0]


@pytest.mark.parametrize("resolution", [32, 48])
def test_a_sphere_has_its_closed_form_area_and_volume(resolution):
    grid = tet_grid(resolution, 1.0)
    radius = 0.6
    mesh = marching_tetrahedra(grid.vertices, grid.vertices.norm(dim=1) - radius, grid)
    area, volume = float(mesh.area()), float(mesh.volume())
    spacing = grid.spacing
    # chords inside the sphere: both shortfalls are second order in the spacing
    assert 4 * math.pi * radius**2 * (1 - 3 * spacing**2) < area < 4 * math.pi * radius**2
    assert 4 / 3 * math.pi * radius**3 * (1 - 3 * spacing**2) < volume < 4 / 3 * math.pi * radius**3
    checked = trimesh.Trimesh(mesh.vertices.numpy(), mesh.faces.numpy(), process=True)
    assert checked.is_watertight and checked.is_winding_consistent and checked.volume > 0  # closed and wound outward


def test_the_volume_gradient_matches_finite_differences_and_the_closed_form():
    grid = tet_grid(40, 1.0)
    vertices = grid.vertices.double()
    distance = vertices.norm(dim=1)

    def volume(radius):
        return marching_tetrahedra(vertices, distance - radius, grid).volume()

    radius = torch.tensor(0.5537, dtype=torch.float64, requires_grad=True)
    volume(radius).backward()
    step = 1e-5
    assert float((distance - 0.5537).abs().min()) > 10 * step  # no sign flips within the difference
    numeric = (volume(torch.tensor(0.5537 + step, dtype=torch.float64)) - volume(torch.tensor(0.5537 - step, dtype=torch.float64))) / (2 * step)
    assert float(radius.grad) == pytest.approx(float(numeric), rel=1e-6)
    # the discrete surface moves with the radius as the sphere does, up to the chords' curvature error
    assert float(radius.grad) == pytest.approx(4 * math.pi * 0.5537**2, rel=0.05)


def test_vertex_positions_follow_the_deformation():
    grid = tet_grid(16, 1.0)
    sdf = grid.vertices.norm(dim=1) - 0.5
    shift = torch.tensor([0.1, -0.05, 0.02])
    moved = marching_tetrahedra(grid.vertices + shift, sdf, grid)
    still = marching_tetrahedra(grid.vertices, sdf, grid)
    assert torch.equal(moved.faces.sort(dim=1).values, still.faces.sort(dim=1).values)
    assert torch.allclose(moved.vertices - still.vertices, shift.expand_as(moved.vertices), atol=1e-6)


def test_the_narrow_band_gives_the_full_grids_surface():
    from dreamlift.refine.tets import narrow_band

    grid = tet_grid(24, 1.0)
    sdf = grid.vertices.norm(dim=1) - 0.6 + 0.05 * torch.sin(7 * grid.vertices[:, 0])
    full = marching_tetrahedra(grid.vertices, sdf, grid)
    band = narrow_band(grid, sdf, 2 * grid.spacing)
    assert band.tets.shape[0] < grid.tets.shape[0] / 3
    part = marching_tetrahedra(grid.vertices, sdf, band)
    assert part.faces.shape == full.faces.shape
    assert float(part.area()) == pytest.approx(float(full.area()), rel=1e-6)
    assert float(part.volume()) == pytest.approx(float(full.volume()), rel=1e-6)


def test_the_compacted_band_gives_the_same_mesh_point_for_point():
    from dreamlift.refine.tets import compacted, narrow_band

    grid = tet_grid(20, 1.0)
    sdf = grid.vertices.norm(dim=1) - 0.55 + 0.04 * torch.cos(5 * grid.vertices[:, 1])
    shift = 0.01 * torch.sin(3 * grid.vertices)
    band = narrow_band(grid, sdf, 2 * grid.spacing)
    small, used = compacted(band)
    assert used.shape[0] < grid.vertices.shape[0] / 3
    assert torch.equal(small.vertices, grid.vertices[used])
    whole = marching_tetrahedra(grid.vertices + shift, sdf, band)
    part = marching_tetrahedra(small.vertices + shift[used], sdf[used], small)
    assert torch.equal(part.faces, whole.faces)
    assert torch.equal(part.vertices, whole.vertices)


@pytest.mark.parametrize("level", [5.0, 2.5])
def test_the_sdf_of_a_density_puts_the_surface_on_the_densitys_level_set(level):
    """A Gaussian blob ``σ = 10·exp(−r²/(2s²))``: the level set ``σ = τ`` is the sphere ``r = s·sqrt(2 ln(10/τ))``, so
    halving the level (``refine.initial_level=0.5``) starts from a larger sphere, by the closed form."""
    import math

    from dreamlift.refine.geometry import sdf_from_density

    grid = tet_grid(48, 1.0)
    s = 0.3
    density = 10.0 * torch.exp(-grid.vertices.norm(dim=1) ** 2 / (2 * s * s)).reshape(49, 49, 49)
    sdf = sdf_from_density(density, level, grid.spacing).reshape(-1)
    mesh = marching_tetrahedra(grid.vertices, sdf, grid)
    radius = s * math.sqrt(2 * math.log(10.0 / level))
    assert float(mesh.volume()) == pytest.approx(4 / 3 * math.pi * radius**3, rel=0.02)
