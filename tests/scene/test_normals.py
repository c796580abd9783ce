"""The one finite-difference normal: against the analytic normal of a sphere, its signs, stencils and edge cases."""

import pytest
import torch
import torch.nn.functional as F

from dreamlift.scene.field import FieldConfig, NeRFField
from dreamlift.scene.normals import Stencil, finite_difference_normals


def sphere_density(points, radius=0.5, peak=100.0, width=0.05):
    """A soft ball: density grows inward, so its outward normal is −∇σ/‖∇σ‖ = x/‖x‖."""
    return peak * torch.sigmoid(-(points.norm(dim=-1) - radius) / width)


def angle_error(normals, points):
    """Largest angle (radians) between ``normals`` and the sphere's analytic normal ``x/‖x‖``."""
    cosine = (normals * F.normalize(points, dim=-1)).sum(-1).clamp(-1.0, 1.0)
    return float(torch.arccos(cosine).max())


@pytest.fixture
def shell_points():
    torch.manual_seed(0)
    directions = F.normalize(torch.randn(500, 3, dtype=torch.float64), dim=-1)
    radii = 0.4 + 0.2 * torch.rand(500, 1, dtype=torch.float64)  # around the edge at 0.5
    return directions * radii


def test_forward_normals_of_a_sphere_density_match_the_analytic_normal(shell_points):
    normals, (density,) = finite_difference_normals(sphere_density, shell_points, 1e-3)
    torch.testing.assert_close(density, sphere_density(shell_points))
    torch.testing.assert_close(normals.norm(dim=-1), torch.ones(500, dtype=torch.float64))
    # first order: the angle error is about step · (curvature of σ along the step) ≈ 1e-3 / width = 0.02 at worst
    assert angle_error(normals, shell_points) < 1e-2
    fine, _ = finite_difference_normals(sphere_density, shell_points, 1e-4)
    assert angle_error(fine, shell_points) < 1e-3
    assert 8 < angle_error(normals, shell_points) / angle_error(fine, shell_points) < 12


def test_tetrahedral_normals_of_a_sphere_sdf_match_the_analytic_normal(shell_points):
    sdf = lambda p: p.norm(dim=-1) - 0.5  # noqa: E731  (grows outward: the normal points up the gradient)
    normals, at_points = finite_difference_normals(sdf, shell_points, 1e-3, descending=False, stencil=Stencil.TETRAHEDRAL)
    assert at_points == ()
    # first order too, through the mixed second derivatives only (~ step / radius = 2e-3 at worst)
    assert angle_error(normals, shell_points) < 2e-3
    fine, _ = finite_difference_normals(sdf, shell_points, 1e-4, descending=False, stencil=Stencil.TETRAHEDRAL)
    assert 8 < angle_error(normals, shell_points) / angle_error(fine, shell_points) < 12


@pytest.mark.parametrize("stencil", list(Stencil))
def test_both_stencils_are_exact_for_a_linear_density(stencil):
    direction = F.normalize(torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64), dim=0)
    density = lambda p: 5.0 - 2.0 * (p @ direction)  # noqa: E731  grows against ``direction``: outward is ``direction``
    points = torch.rand(20, 3, dtype=torch.float64)
    normals, _ = finite_difference_normals(density, points, 0.1, stencil=stencil)
    torch.testing.assert_close(normals, direction.expand(20, 3), atol=1e-12, rtol=0)


def test_the_sign_follows_what_grows_inward(shell_points):
    outward, _ = finite_difference_normals(sphere_density, shell_points, 1e-3)
    inward, _ = finite_difference_normals(sphere_density, shell_points, 1e-3, descending=False)
    torch.testing.assert_close(inward, -outward)


def test_extra_outputs_ride_along_row_for_row():
    points = torch.rand(9, 3)
    calls = []

    def evaluate(p):
        calls.append(p.shape[0])
        return sphere_density(p), p * 2.0

    normals, (density, doubled) = finite_difference_normals(evaluate, points, 1e-3)
    assert calls == [36]  # one batched call: the points and their three steps
    torch.testing.assert_close(doubled, points * 2.0)
    torch.testing.assert_close(density, sphere_density(points))


def test_a_flat_function_gives_zero_normals_not_nan():
    points = torch.rand(5, 3)
    for stencil in Stencil:
        normals, _ = finite_difference_normals(lambda p: torch.ones(p.shape[0]), points, 1e-3, stencil=stencil)
        assert torch.equal(normals, torch.zeros(5, 3))


def test_the_nerf_field_uses_it_with_its_epsilon_bit_for_bit():
    torch.manual_seed(1)
    field = NeRFField(FieldConfig(normal_epsilon=0.03))
    points = torch.rand(50, 3) * 2 - 1
    density, albedo, normals = field.density_albedo_normals(points)
    expected, (d, a) = finite_difference_normals(field.forward, points, 0.03)
    assert torch.equal(normals, expected) and torch.equal(density, d) and torch.equal(albedo, a)
