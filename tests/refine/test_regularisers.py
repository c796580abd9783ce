"""The mesh regularisers against closed forms."""

import math

import pytest
import torch
import trimesh

from dreamlift.refine.regularisers import face_normals, laplacian_smoothness, mesh_edges, normal_consistency


def tensors(mesh: trimesh.Trimesh):
    return torch.tensor(mesh.vertices, dtype=torch.float64), torch.tensor(mesh.faces, dtype=torch.long)


def test_a_cube_has_two_thirds_of_its_edges_at_right_angles():
    vertices, faces = tensors(trimesh.creation.box())
    edges, edge_of = mesh_edges(faces)
    assert edges.shape == (18, 2) and edge_of.shape == (12, 3)  # 12 cube edges + 6 face diagonals
    assert float(normal_consistency(vertices, faces)) == pytest.approx(12 / 18)  # 1 − cos 90° on 12 of 18 edges, 0 on the rest


def test_a_plane_is_perfectly_consistent_and_smooth_inside():
    grid = trimesh.creation.box(extents=(2, 2, 2)).subdivide().subdivide()  # flat faces, many coplanar triangles
    vertices, faces = tensors(grid)
    normals = face_normals(vertices, faces)
    assert torch.allclose(normals.abs().max(dim=1).values, torch.ones(len(faces), dtype=torch.float64))
    consistency = float(normal_consistency(vertices, faces))
    folds = sum(1 for a, b in zip(*grid.face_adjacency.T) if abs(float(normals[a] @ normals[b])) < 0.5)
    assert consistency == pytest.approx(folds / len(grid.face_adjacency))


def test_the_laplacian_of_an_icosahedron_is_its_closed_form():
    vertices, faces = tensors(trimesh.creation.icosahedron())  # unit circumradius
    # the five neighbours of a vertex lie at cos θ = 1/√5 from it: their mean is (1/√5)·v
    assert float(laplacian_smoothness(vertices, faces)) == pytest.approx(1.0 - 1.0 / math.sqrt(5.0), rel=1e-9)
    scaled = float(laplacian_smoothness(2.5 * vertices, faces))
    assert scaled == pytest.approx(2.5 * (1.0 - 1.0 / math.sqrt(5.0)), rel=1e-9)  # world units: scales with the mesh


def plane_with_a_bump(height: float):
    """A 5×5-vertex square grid of triangles in z = 0 with its centre vertex raised to ``height``."""
    xs, ys = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    vertices = torch.stack((xs.reshape(-1), ys.reshape(-1), torch.zeros(25)), dim=1).double()
    vertices[12, 2] = height
    faces = []
    for i in range(4):
        for j in range(4):
            a, b, c, d = 5 * i + j, 5 * (i + 1) + j, 5 * (i + 1) + j + 1, 5 * i + j + 1
            faces += [(a, b, c), (a, c, d)]
    return vertices, torch.tensor(faces)


@pytest.mark.parametrize("loss", [normal_consistency, laplacian_smoothness])
def test_gradients_match_finite_differences_and_flatten_a_bump(loss):
    vertices, faces = plane_with_a_bump(0.3)
    vertices.requires_grad_(True)
    loss(vertices, faces).backward()
    step = 1e-6
    for axis in range(3):
        up, down = vertices.detach().clone(), vertices.detach().clone()
        up[12, axis] += step
        down[12, axis] -= step
        numeric = (float(loss(up, faces)) - float(loss(down, faces))) / (2 * step)
        assert float(vertices.grad[12, axis]) == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    # descending on the centre vertex alone brings it back into the plane
    centre = torch.tensor([2.0, 2.0, 0.3], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([centre], lr=0.01)
    for _ in range(200):
        optimizer.zero_grad()
        moved = torch.cat((vertices.detach()[:12], centre[None], vertices.detach()[13:]))
        loss(moved, faces).backward()
        optimizer.step()
    assert abs(float(centre.detach()[2])) < 0.03
